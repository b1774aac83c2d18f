//! Watching (issue 22) over the embedded DNS: a listing that comes, goes,
//! fails to answer and flaps between runs; the alerts that reach a real
//! webhook receiver on loopback (HMAC verified); history across restarts
//! (each run is a new service on the same store, SQLite and PostgreSQL);
//! the `watch` commands.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use mailaudit::service::store::Store;
use mailaudit::service::watch::{SIGNATURE_HEADER, WatchConfig, Webhook, Which, sign};
use mailaudit::service::{AuditRequest, Service, ServiceConfig};
use serde_json::Value;

use crate::common::{Env, Fault, LISTS};

const SECRET: &[u8] = b"a webhook secret of some length";
/// The listing the zone changes: 192.0.2.10 on bl.test.
const LISTING: &str = "10.2.0.192.bl.test";

/// A body received, and its signature header.
type Received = (Vec<u8>, Option<String>);

/// A webhook receiver on loopback: every body it got, with its signature
/// header.
#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    async fn start(&self) -> String {
        use axum::routing::post;
        let got = Arc::clone(&self.got);
        let app = axum::Router::new().route(
            "/hook",
            post(
                move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                    let got = Arc::clone(&got);
                    async move {
                        let sig = headers
                            .get(SIGNATURE_HEADER)
                            .and_then(|v| v.to_str().ok())
                            .map(String::from);
                        got.lock().unwrap().push((body.to_vec(), sig));
                        "ok"
                    }
                },
            ),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}/hook")
    }

    /// The bodies received, each checked against its signature.
    fn notices(&self) -> Vec<Value> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .map(|(body, sig)| {
                assert_eq!(
                    sig.as_deref(),
                    Some(sign(SECRET, body).as_str()),
                    "the signature verifies"
                );
                serde_json::from_slice(body).expect("a JSON body")
            })
            .collect()
    }
}

/// Watches `domain` (with `ips`, `checks` only) every `every` in `store`.
async fn watching(store: &Store, domain: &str, ips: &[&str], checks: &[&str], every: Duration) {
    mailaudit::service::watch::add(
        store,
        &ServiceConfig::default(),
        &AuditRequest {
            domain: domain.into(),
            ips: ips.iter().map(|i| i.to_string()).collect(),
            selectors: Vec::new(),
            checks: checks.iter().map(|c| c.to_string()).collect(),
        },
        every,
    )
    .await
    .expect("the watch");
}

fn kinds(notice: &Value) -> Vec<String> {
    notice["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["kind"].as_str().unwrap().to_string())
        .collect()
}

/// One run of every watch, by a service started for it on the store at
/// `url` (a restart each time), with a fresh resolver (no answer cached
/// from the run before).
async fn run_once(env: &Env, url: &str, hook: &str) -> Vec<mailaudit::service::watch::Ran> {
    let store = Store::open(url).await.expect("the store");
    let config = ServiceConfig {
        workers: 0,
        watch: WatchConfig {
            webhook: Some(Webhook {
                url: hook.to_string(),
                secret: Some(SECRET.to_vec()),
            }),
            ..WatchConfig::default()
        },
        ..ServiceConfig::default()
    };
    let service = Service::start(env.fresh(), store, config)
        .await
        .expect("the service");
    let ran = service.run_watches(Which::All).await.expect("the runs");
    service.shut_down().await;
    ran
}

/// The listing of 192.0.2.10 on bl.test as the list answers it this run.
fn answer(env: &Env, state: &str) {
    env.server.clear_faults();
    match state {
        "listed" => {}
        "clear" => env.server.set_fault(LISTING, Fault::NxDomain),
        "servfail" => env.server.set_fault(LISTING, Fault::ServFail),
        other => panic!("{other}"),
    }
}

async fn the_story(url: &str, target: &str) {
    let env = Env::new(LISTS).await.lists(&["bl.test"]);
    let receiver = Receiver::default();
    let hook = receiver.start().await;
    {
        let store = Store::open(url).await.expect("the store");
        if let Some(old) = store.watch(target).await.unwrap() {
            store.remove_watch(&old.id).await.unwrap();
        }
        watching(
            &store,
            target,
            &["192.0.2.10"],
            &["dnsbl"],
            Duration::from_secs(6 * 3600),
        )
        .await;
    }
    let step = |state: &'static str| {
        answer(&env, state);
        run_once(&env, url, &hook)
    };
    // Clear twice: where the watch starts; nothing to say.
    for _ in 0..2 {
        let ran = step("clear").await;
        assert_eq!(ran.len(), 1);
        assert!(ran[0].alerts.is_empty(), "{:?}", ran[0].alerts);
    }
    // Listed: seen once is not yet a change; twice is, once.
    let ran = step("listed").await;
    assert!(ran[0].alerts.is_empty(), "{:?}", ran[0].alerts);
    let ran = step("listed").await;
    assert_eq!(ran[0].verdict, "listed");
    assert_eq!(receiver.notices().len(), 1, "one webhook after two runs");
    // The list fails to answer: nothing said either way; listed again:
    // still what was confirmed, nothing new.
    let ran = step("servfail").await;
    assert_eq!(ran[0].verdict, "could-not-check");
    assert!(ran[0].alerts.is_empty(), "{:?}", ran[0].alerts);
    let ran = step("listed").await;
    assert!(ran[0].alerts.is_empty(), "{:?}", ran[0].alerts);
    // Delisted, with a failed run between the two that see it: one alert.
    for state in ["clear", "servfail"] {
        let ran = step(state).await;
        assert!(ran[0].alerts.is_empty(), "{state}: {:?}", ran[0].alerts);
    }
    let ran = step("clear").await;
    assert!(!ran[0].alerts.is_empty());
    assert_eq!(receiver.notices().len(), 2);
    // A flap (listed once, then clear again) sends nothing; ten unchanged
    // runs send nothing.
    let ran = step("listed").await;
    assert!(ran[0].alerts.is_empty());
    for _ in 0..10 {
        let ran = step("clear").await;
        assert!(ran[0].alerts.is_empty(), "{:?}", ran[0].alerts);
    }

    let notices = receiver.notices();
    assert_eq!(notices.len(), 2, "{notices:#?}");
    let listed = &notices[0];
    assert_eq!(listed["event"], "mailaudit.watch.alerts");
    assert_eq!(listed["watch"]["target"], target);
    assert_eq!(kinds(listed), ["newly-listed", "verdict-changed"]);
    let alert = &listed["alerts"][0];
    assert_eq!(alert["subject"], "192.0.2.10");
    assert_eq!(alert["about"], "bl.test");
    assert_eq!(alert["from"], "clear");
    assert_eq!(alert["to"], "listed");
    assert_eq!(alert["runs"], 2);
    assert_eq!(listed["alerts"][1]["from"], "ready to send");
    assert_eq!(listed["alerts"][1]["to"], "listed on blocklists");
    let delisted = &notices[1];
    assert_eq!(kinds(delisted), ["delisted", "verdict-changed"]);
    assert_eq!(delisted["alerts"][0]["subject"], "192.0.2.10");
    assert_eq!(delisted["alerts"][0]["runs"], 2);

    // The history survived every restart: 20 runs, newest first, the
    // alerts with the runs that confirmed them, each report stored.
    let store = Store::open(url).await.unwrap();
    let watch = store.watch(target).await.unwrap().expect("the watch");
    assert_eq!(watch.runs, 20);
    let runs = store.watch_runs(&watch.id, 100).await.unwrap();
    assert_eq!(runs.len(), 20);
    let alerted: Vec<usize> = runs
        .iter()
        .rev()
        .enumerate()
        .filter(|(_, r)| r.alerts != "[]")
        .map(|(n, _)| n + 1)
        .collect();
    assert_eq!(alerted, [4, 9], "the runs that confirmed a change");
    let report = store
        .report(&runs[0].audit_id, "json")
        .await
        .unwrap()
        .expect("the newest run's report");
    let report: Value = serde_json::from_str(&report).unwrap();
    assert_eq!(report["target"]["domain"], target);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_is_alerted_once_when_seen_twice_and_unknown_runs_say_nothing() {
    let (_dir, url) = crate::serve::sqlite();
    the_story(&url, "clean.test").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_keeps_the_watch_history_too() {
    let Ok(url) = std::env::var("MAILAUDIT_TEST_POSTGRES") else {
        eprintln!(
            "skipped: no PostgreSQL (set MAILAUDIT_TEST_POSTGRES=postgres://USER@HOST/DB; .ci/run starts one)"
        );
        return;
    };
    the_story(&url, "shop.test").await;
}

/// An error-level finding that appears (the SPF record is gone, twice) is
/// one "new-error" alert; its return, twice, one "resolved"; a run whose
/// SPF lookup fails says nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_that_appears_and_goes_is_alerted_once_each_way() {
    let env = Env::new(LISTS).await;
    let receiver = Receiver::default();
    let hook = receiver.start().await;
    let (_dir, url) = crate::serve::sqlite();
    {
        let store = Store::open(&url).await.unwrap();
        watching(
            &store,
            "clean.test",
            &["192.0.2.1"],
            &["spf"],
            Duration::from_secs(3600),
        )
        .await;
    }
    let mut alerts = Vec::new();
    for state in [
        "there", "there", "gone", "failing", "gone", "gone", "there", "there",
    ] {
        env.server.clear_faults();
        match state {
            "gone" => env.server.set_fault_for(
                "clean.test",
                hickory_proto::rr::RecordType::TXT,
                Fault::NoData,
            ),
            "failing" => env.server.set_fault_for(
                "clean.test",
                hickory_proto::rr::RecordType::TXT,
                Fault::ServFail,
            ),
            _ => {}
        }
        let ran = run_once(&env, &url, &hook).await;
        alerts.push(
            ran[0]
                .alerts
                .iter()
                .map(|a| format!("{} {}", a.kind.as_str(), a.about))
                .collect::<Vec<_>>(),
        );
    }
    let none: Vec<String> = Vec::new();
    assert_eq!(
        alerts,
        [
            none.clone(),
            none.clone(),
            none.clone(),
            none.clone(),
            vec![
                "new-error spf.missing".to_string(),
                "verdict-changed ".to_string()
            ],
            none.clone(),
            none.clone(),
            vec![
                "resolved spf.missing".to_string(),
                "verdict-changed ".to_string()
            ],
        ]
    );
    assert_eq!(receiver.notices().len(), 2);
}

/// The API and the pages: add (201; the same domain again, or too short
/// an interval, 400), list, runs with their alerts, the page with its
/// chart (inline SVG), remove (204, then 404).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_and_the_pages_show_watches_and_their_history() {
    use crate::serve::{Server, client, config, get_json, post_json, sqlite};
    let env = Env::new(LISTS).await;
    let (_dir, url) = sqlite();
    let server = Server::start(&env, &url, config()).await;
    let c = client();
    let body = serde_json::json!({
        "domain": "Clean.Test", "ips": ["192.0.2.1"], "checks": ["spf"], "every": "1h",
    });
    let (status, watch) = post_json(&c, &server.url("/api/v1/watches"), &body).await;
    assert_eq!(status, 201, "{watch}");
    assert_eq!(watch["target"], "clean.test");
    assert_eq!(watch["every"], "1h");
    assert_eq!(watch["runs"], 0);
    let id = watch["id"].as_str().unwrap().to_string();
    let (status, again) = post_json(&c, &server.url("/api/v1/watches"), &body).await;
    assert_eq!(status, 400);
    assert!(again["error"].as_str().unwrap().contains("watched already"));
    let mut short = body.clone();
    short["domain"] = "shop.test".into();
    short["every"] = "1m".into();
    let (status, e) = post_json(&c, &server.url("/api/v1/watches"), &short).await;
    assert_eq!(status, 400, "{e}");
    for _ in 0..2 {
        server.service().run_watches(Which::All).await.unwrap();
    }
    let (status, list) = get_json(&c, &server.url("/api/v1/watches")).await;
    assert_eq!(status, 200);
    assert_eq!(list["watches"].as_array().unwrap().len(), 1);
    assert_eq!(list["watches"][0]["last"]["verdict"], "ready-to-send");
    // Nothing is running, and the page offers to run it now.
    let (_, idle) = get_json(&c, &server.url(&format!("/api/v1/watches/{id}"))).await;
    assert_eq!(idle["running"], false);
    let (status, one) = get_json(&c, &server.url(&format!("/api/v1/watches/{id}"))).await;
    assert_eq!(status, 200);
    assert_eq!(one["runs"].as_array().unwrap().len(), 2);
    assert_eq!(one["runs"][0]["alerts"], serde_json::json!([]));
    let report = one["runs"][0]["links"]["html"].as_str().unwrap();
    assert_eq!(
        c.get(server.url(report)).send().await.unwrap().status(),
        200
    );
    let page = c
        .get(server.url(&format!("/watches/{id}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("<svg class=\"chart\""), "{page}");
    assert!(page.contains("clean.test"));
    // An alert's words come from the report (DNS data quoted in a
    // finding): escaped on the page.
    let hostile = mailaudit::service::store::WatchRun {
        audit_id: "0123456789abcdef0123456789abcdef".into(),
        ran_at: 1,
        verdict: "fix-before-sending".into(),
        score: 3,
        errors: 1,
        warnings: 0,
        unknown: 0,
        alerts: serde_json::json!([{
            "kind": "new-error", "subject": "clean.test", "about": "spf.syntax",
            "from": "absent", "to": "present",
            "summary": "spf.syntax: <script>alert(1)</script>",
            "since": "2026-12-06T00:00:00Z", "runs": 2,
        }])
        .to_string(),
    };
    let memory = server
        .service()
        .store()
        .watch(&id)
        .await
        .unwrap()
        .unwrap()
        .memory;
    server
        .service()
        .store()
        .record_watch_run(&id, &hostile, &memory)
        .await
        .unwrap();
    let page = c
        .get(server.url(&format!("/watches/{id}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!page.contains("<script>"), "{page}");
    assert!(page.contains("&lt;script&gt;"), "{page}");
    let list_page = c
        .get(server.url("/watches"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(list_page.contains(&format!("/watches/{id}")));
    // Run now: 202, and while it runs (a domain not asked about before,
    // slow answers) a second ask is 409; the run is then in the history.
    let (status, shop) = post_json(
        &c,
        &server.url("/api/v1/watches"),
        &serde_json::json!({"domain": "shop.test", "checks": ["spf", "dmarc"]}),
    )
    .await;
    assert_eq!(status, 201, "{shop}");
    let shop = shop["id"].as_str().unwrap().to_string();
    env.server.set_latency(Duration::from_millis(300));
    let run = c
        .post(server.url(&format!("/api/v1/watches/{shop}/run")))
        .send()
        .await
        .unwrap();
    assert_eq!(run.status(), 202);
    let again = c
        .post(server.url(&format!("/api/v1/watches/{shop}/run")))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 409);
    let (_, one) = get_json(&c, &server.url(&format!("/api/v1/watches/{shop}"))).await;
    assert_eq!(one["running"], true);
    let page = c
        .get(server.url(&format!("/watches/{shop}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("http-equiv=\"refresh\""),
        "it reloads itself while running"
    );
    let started = std::time::Instant::now();
    loop {
        let (_, one) = get_json(&c, &server.url(&format!("/api/v1/watches/{shop}"))).await;
        if one["running"] == false {
            assert_eq!(one["runs"].as_array().unwrap().len(), 1, "{one}");
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "{one}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    env.server.set_latency(Duration::ZERO);
    let metrics = c
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("mailaudit_watch_runs_total 3\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("mailaudit_watch_alerts_total 0\n"),
        "{metrics}"
    );
    let gone = c
        .delete(server.url(&format!("/api/v1/watches/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 204);
    let (status, _) = get_json(&c, &server.url(&format!("/api/v1/watches/{id}"))).await;
    assert_eq!(status, 404);
    server.stop().await;
}

/// Alert mail goes through a real SMTP relay over STARTTLS (the test
/// addresses' listener, its certificate trusted as --alert-smtp-ca does)
/// and arrives whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_mail_goes_through_the_relay_over_starttls() {
    use crate::test_addresses::{ZONES, arrived, new_test, setup};
    use mailaudit::service::smtp_in::server_tls;
    use mailaudit::service::watch::EmailAlerts;
    let env = Env::new(ZONES).await.lists(&[]);
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let cert = made.cert.der().clone();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(made.signing_key.serialize_der().into());
    let tls = server_tls(vec![cert.clone()], key).unwrap();
    let relay = setup(&env, |smtp, _| smtp.tls = Some(tls)).await;
    let (test_id, address) = new_test(&relay).await;

    let (_dir, url) = crate::serve::sqlite();
    {
        let store = Store::open(&url).await.unwrap();
        watching(
            &store,
            "clean.test",
            &["192.0.2.1"],
            &["spf"],
            Duration::from_secs(3600),
        )
        .await;
    }
    let config = ServiceConfig {
        workers: 0,
        watch: WatchConfig {
            confirm_runs: 1,
            email: Some(EmailAlerts {
                relay: format!("localhost:{}", relay.smtp_port()),
                from: "alerts@sender.test".into(),
                to: vec![address.clone()],
                extra_roots: vec![cert],
            }),
            ..WatchConfig::default()
        },
        ..ServiceConfig::default()
    };
    let service = Service::start(env.fresh(), Store::open(&url).await.unwrap(), config)
        .await
        .unwrap();
    service.run_watches(Which::All).await.unwrap();
    // The SPF record goes: with one run to confirm, the next run alerts.
    env.server.set_fault_for(
        "clean.test",
        hickory_proto::rr::RecordType::TXT,
        Fault::NoData,
    );
    let service2 = Service::start(
        env.fresh(),
        Store::open(&url).await.unwrap(),
        service.config().clone(),
    )
    .await
    .unwrap();
    let ran = service2.run_watches(Which::All).await.unwrap();
    assert!(!ran[0].alerts.is_empty());
    assert_eq!(ran[0].undelivered, Vec::<String>::new());
    let test = arrived(&relay, &test_id).await;
    assert_eq!(test["status"], "received");
    assert_eq!(test["report"]["target"]["domain"], "sender.test");
}

/// The per-list limits hold across watches run at once: with one question
/// in flight per list allowed, two watches of five addresses each never
/// have two questions at the list together.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_list_limits_hold_across_watches_run_together() {
    let mut blocklist = mailaudit::blocklist::BlocklistConfig::new(
        mailaudit::blocklist::catalog::Catalog::embedded(),
    );
    blocklist.explicit = vec!["bl.test".into()];
    blocklist.per_list_concurrency = 1;
    let env = Env::new(LISTS).await.blocklist(blocklist);
    let (_dir, url) = crate::serve::sqlite();
    let store = Store::open(&url).await.unwrap();
    // Different addresses: no question is shared between the two.
    for (domain, ips) in [
        ("clean.test", "192.0.2.32/30"),
        ("shop.test", "192.0.2.48/30"),
    ] {
        watching(
            &store,
            domain,
            &[ips],
            &["dnsbl"],
            Duration::from_secs(3600),
        )
        .await;
    }
    // The list's health is known first (its tests may be asked together);
    // then, with nothing cached but the health, every answer takes a while,
    // so that watches run at once would overlap at the list.
    let config = ServiceConfig {
        workers: 0,
        ..ServiceConfig::default()
    };
    let service = Service::start(env.fresh(), store, config.clone())
        .await
        .unwrap();
    service.run_watches(Which::All).await.unwrap();
    env.server.set_latency(Duration::from_millis(30));
    env.server.reset_peaks();
    let service = Service::start(env.fresh(), Store::open(&url).await.unwrap(), config)
        .await
        .unwrap();
    let ran = service.run_watches(Which::All).await.unwrap();
    assert_eq!(ran.len(), 2);
    assert_eq!(
        env.server.max_in_flight_at("bl.test"),
        1,
        "one question at the list at a time, across both watches"
    );
}

/// A mail server whose certificate comes within 14 days of expiry (the
/// SMTP probe, as `--smtp` runs it) is one `cert-expiring` alert, after
/// two runs that saw it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expiring_certificate_is_alerted_once() {
    use crate::smtp::{MX, ca_cert, cert, good};
    use crate::smtp_support::{Config, start};
    use mailaudit::facts::SmtpTarget;
    use mailaudit::smtp::{ProbeOptions, roots};
    let dns = crate::common::FaultServer::from_texts(&crate::smtp::zones()).await;
    let fine = start(good()).await;
    let expiring = start(Config::with_tls(MX, cert(&[MX], -80, 5))).await;
    let (_dir, url) = crate::serve::sqlite();
    watching(
        &Store::open(&url).await.unwrap(),
        "smtp.test",
        &[],
        &["smtp"],
        Duration::from_secs(3600),
    )
    .await;
    let mut alerts = Vec::new();
    for port in [
        fine.addr.port(),
        fine.addr.port(),
        expiring.addr.port(),
        expiring.addr.port(),
        expiring.addr.port(),
    ] {
        let config = ServiceConfig {
            workers: 0,
            smtp: Some(SmtpTarget {
                options: ProbeOptions {
                    port,
                    timeout: Duration::from_secs(3),
                    helo: "probe.mailaudit.test".into(),
                    relay_test: false,
                    slow_banner: Duration::from_millis(1500),
                    roots: Arc::new(roots(&[ca_cert()]).unwrap()),
                    reach: mailaudit::reach::Reach::Any,
                },
                sending: false,
                hosts: Vec::new(),
            }),
            ..ServiceConfig::default()
        };
        let engine = mailaudit::engine::Engine::new(
            crate::common::resolver_for(&dns),
            mailaudit::rules::Rules::embedded(),
        );
        let service = Service::start(engine, Store::open(&url).await.unwrap(), config)
            .await
            .unwrap();
        let ran = service.run_watches(Which::All).await.unwrap();
        alerts.push(
            ran[0]
                .alerts
                .iter()
                .map(|a| format!("{} {} {}", a.kind.as_str(), a.subject, a.about))
                .collect::<Vec<_>>(),
        );
    }
    let none: Vec<String> = Vec::new();
    assert_eq!(
        alerts,
        [
            none.clone(),
            none.clone(),
            none.clone(),
            vec![format!("cert-expiring {MX} (127.0.0.1) smtp.cert-expiring")],
            none.clone(),
        ]
    );
}

/// The `watch` commands: add, list, run (offline, over zone files),
/// history, remove; the errors are one line and exit 2, and a bad alert
/// flag stops `watch run` before anything runs.
#[test]
fn the_watch_commands() {
    use crate::common::mailaudit_at_root as mailaudit;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let ok = |args: &[&str]| -> String {
        let out = mailaudit(args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let refused = |args: &[&str], says: &str| {
        let out = mailaudit(args);
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    };
    let added = ok(&[
        "watch",
        "add",
        "clean.test",
        "--ip",
        "192.0.2.1",
        "--every",
        "6h",
        "--data",
        data,
    ]);
    assert!(added.starts_with("watching clean.test every 6h"), "{added}");
    refused(
        &["watch", "add", "clean.test", "--data", data],
        "clean.test is watched already",
    );
    refused(
        &["watch", "add", "shop.test", "--every", "1m", "--data", data],
        "at least 5 minutes",
    );
    refused(
        &[
            "watch",
            "add",
            "shop.test",
            "--every",
            "soon",
            "--data",
            data,
        ],
        "is not a period",
    );
    let zones = [
        "--zone",
        "tests/fixtures/zones/test.zone",
        "--zone",
        "tests/fixtures/zones/reverse.zone",
        "--no-dnsbl",
    ];
    let mut run = vec!["watch", "run", "--data", data];
    run.extend(zones);
    assert_eq!(ok(&run).trim(), "no watch was due");
    run.push("--all");
    let ran = ok(&run);
    assert!(ran.starts_with("clean.test: "), "{ran}");
    assert!(ran.contains("0 alert(s)"), "{ran}");
    let list: Value =
        serde_json::from_str(&ok(&["watch", "list", "--json", "--data", data])).unwrap();
    assert_eq!(list["watches"][0]["target"], "clean.test");
    assert_eq!(list["watches"][0]["runs"], 1);
    assert_eq!(
        list["watches"][0]["ips"],
        serde_json::json!(["192.0.2.1/32"])
    );
    let history = ok(&["watch", "history", "clean.test", "--data", data]);
    assert!(
        history.starts_with("clean.test: 1 run(s), every 6h"),
        "{history}"
    );
    for (flags, says) in [
        (
            vec!["--webhook", "ftp://hooks.test/x"],
            "not an http(s) URL",
        ),
        (
            vec![
                "--webhook",
                "https://hooks.test/x",
                "--webhook-secret-file",
                "/nonexistent",
            ],
            "--webhook-secret-file /nonexistent",
        ),
        (
            vec![
                "--alert-smtp",
                "relay.test",
                "--alert-from",
                "a@b.test",
                "--alert-to",
                "c@d.test",
            ],
            "not HOST:PORT",
        ),
        (
            vec![
                "--alert-smtp",
                "relay.test:25",
                "--alert-from",
                "nobody",
                "--alert-to",
                "c@d.test",
            ],
            "--alert-from",
        ),
        (vec!["--alert-smtp", "relay.test:25"], "--alert-from"),
    ] {
        let mut args = vec!["watch", "run", "--all", "--data", data];
        args.extend(zones);
        args.extend(flags);
        refused(&args, says);
    }
    // Nothing ran for those: still one run.
    let list: Value =
        serde_json::from_str(&ok(&["watch", "list", "--json", "--data", data])).unwrap();
    assert_eq!(list["watches"][0]["runs"], 1);
    assert_eq!(
        ok(&["watch", "remove", "clean.test", "--data", data]).trim(),
        "no longer watching clean.test"
    );
    refused(
        &["watch", "remove", "clean.test", "--data", data],
        "not watched",
    );
    refused(
        &["watch", "history", "nowhere.test", "--data", data],
        "not watched",
    );
}

/// A webhook that cannot be reached: tried three times, then the run says
/// so (and the history keeps the alert: the run is stored either way).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_webhook_is_said_and_the_run_kept() {
    let env = Env::new(LISTS).await;
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let hook = format!("http://127.0.0.1:{port}/hook");
    let (_dir, url) = crate::serve::sqlite();
    watching(
        &Store::open(&url).await.unwrap(),
        "clean.test",
        &["192.0.2.1"],
        &["spf"],
        Duration::from_secs(3600),
    )
    .await;
    run_once(&env, &url, &hook).await;
    env.server.set_fault_for(
        "clean.test",
        hickory_proto::rr::RecordType::TXT,
        Fault::NoData,
    );
    run_once(&env, &url, &hook).await;
    let ran = run_once(&env, &url, &hook).await;
    assert_eq!(ran[0].alerts.len(), 2, "{:?}", ran[0].alerts);
    assert_eq!(ran[0].undelivered.len(), 1, "{:?}", ran[0].undelivered);
    assert!(ran[0].undelivered[0].starts_with(&format!("the webhook {hook}: ")));
    let store = Store::open(&url).await.unwrap();
    let watch = store.watch("clean.test").await.unwrap().unwrap();
    let runs = store.watch_runs(&watch.id, 10).await.unwrap();
    assert_eq!(runs.len(), 3);
    assert!(runs[0].alerts.contains("new-error"));
}

/// Adding a watch counts against --rate like a submitted audit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adding_watches_counts_against_the_rate() {
    use crate::serve::{Server, client, config, post_json, sqlite};
    let env = Env::new(LISTS).await;
    let (_dir, url) = sqlite();
    let server = Server::start(
        &env,
        &url,
        ServiceConfig {
            rate_per_minute: Some(1),
            ..config()
        },
    )
    .await;
    let c = client();
    let (status, _) = post_json(
        &c,
        &server.url("/api/v1/watches"),
        &serde_json::json!({"domain": "clean.test"}),
    )
    .await;
    assert_eq!(status, 201);
    let (status, body) = post_json(
        &c,
        &server.url("/api/v1/watches"),
        &serde_json::json!({"domain": "shop.test"}),
    )
    .await;
    assert_eq!(status, 429, "{body}");
    server.stop().await;
}

//! `mailaudit serve`: the real HTTP server on a loopback port, over the
//! fixture world's DNS, with its SQLite store in a temporary directory
//! (and PostgreSQL when `MAILAUDIT_TEST_POSTGRES` names one).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mailaudit::service::store::{State as AuditState, Store};
use mailaudit::service::{Service, ServiceConfig, serve, token_hash};
use serde_json::{Value, json};
use tokio::sync::oneshot;

use crate::common::{Env, LISTS, fixture, ids};

/// A running service: its address, the service, and how to stop it.
pub struct Server {
    pub addr: SocketAddr,
    service: Arc<Service>,
    stop: Option<oneshot::Sender<()>>,
    done: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Server {
    pub async fn start(env: &Env, url: &str, config: ServiceConfig) -> Server {
        Server::with_engine(env.engine.clone(), url, config).await
    }

    pub async fn with_engine(
        engine: mailaudit::engine::Engine,
        url: &str,
        config: ServiceConfig,
    ) -> Server {
        let store = Store::open(url).await.expect("the store opens");
        let service = Service::start(engine, store, config)
            .await
            .expect("the service starts");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let addr = listener.local_addr().expect("its address");
        let (stop, stopped) = oneshot::channel::<()>();
        let done = tokio::spawn(serve(listener, service.clone(), async {
            let _ = stopped.await;
        }));
        Server {
            addr,
            service,
            stop: Some(stop),
            done,
        }
    }

    pub fn service(&self) -> &Arc<Service> {
        &self.service
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Graceful shutdown: running audits finish, waiting ones stay queued.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.done
            .await
            .expect("the server task")
            .expect("the server stops cleanly");
    }
}

pub(crate) fn client() -> reqwest::Client {
    // Plain HTTP, but reqwest's TLS side wants a crypto provider chosen.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .expect("an HTTP client")
}

/// A SQLite store in a fresh directory (kept as long as the guard).
pub fn sqlite() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let url = format!("sqlite://{}", dir.path().join("store.sqlite").display());
    (dir, url)
}

pub fn config() -> ServiceConfig {
    ServiceConfig {
        workers: 2,
        spool: std::env::temp_dir(),
        ..ServiceConfig::default()
    }
}

pub(crate) async fn post_json(c: &reqwest::Client, url: &str, body: &Value) -> (u16, Value) {
    let r = c
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("the request is answered");
    let status = r.status().as_u16();
    let text = r.text().await.expect("a body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

pub(crate) async fn get_json(c: &reqwest::Client, url: &str) -> (u16, Value) {
    let r = c.get(url).send().await.expect("the request is answered");
    let status = r.status().as_u16();
    let text = r.text().await.expect("a body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Polls the API until the audit is done or failed (30 s at most).
pub(crate) async fn finished(c: &reqwest::Client, server: &Server, id: &str) -> Value {
    let started = Instant::now();
    loop {
        let (status, body) = get_json(c, &server.url(&format!("/api/v1/audits/{id}"))).await;
        assert_eq!(status, 200, "{body}");
        if body["status"] == "done" || body["status"] == "failed" {
            return body;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "audit {id} still {} after 30 s",
            body["status"]
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// A multipart/form-data body: text fields, then files.
fn multipart(texts: &[(&str, &str)], files: &[(&str, &str, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "mailaudit-test-boundary-7d3f";
    let mut body = Vec::new();
    for (name, value) in texts {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    for (name, file, bytes) in files {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{file}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

#[tokio::test]
async fn api_round_trip_gives_the_engines_report_in_every_format() {
    let env = Env::world().await;
    let (_dir, url) = sqlite();
    let server = Server::start(&env, &url, config()).await;
    let c = client();

    let (status, accepted) = post_json(
        &c,
        &server.url("/api/v1/audits"),
        &json!({"domain": "Clean.Test.", "ips": ["192.0.2.1"]}),
    )
    .await;
    assert_eq!(status, 202, "{accepted}");
    let id = accepted["id"].as_str().expect("an id").to_string();
    assert_eq!(id.len(), 32);
    assert_eq!(accepted["status"], "queued");
    assert_eq!(accepted["links"]["self"], format!("/api/v1/audits/{id}"));
    assert_eq!(accepted["links"]["html"], format!("/audits/{id}"));

    let done = finished(&c, &server, &id).await;
    assert_eq!(done["status"], "done", "{done}");
    assert_eq!(done["domain"], "clean.test");
    let report = &done["report"];
    assert_eq!(report["schema_version"], 1);
    assert_eq!(report["target"]["domain"], "clean.test");
    assert_eq!(report["target"]["ips"][0]["ip"], "192.0.2.1");
    assert_eq!(done["verdict"], report["summary"]["verdict"]);
    // The same findings as the engine gives the CLI.
    let direct = env.audit("clean.test", &["192.0.2.1"], None).await;
    assert_eq!(ids(report), ids(&direct));

    // The permalink in the other formats.
    let (status, as_file) = get_json(&c, &server.url(&format!("/audits/{id}.json"))).await;
    assert_eq!(status, 200);
    assert_eq!(&as_file, report);
    for (ext, type_, start) in [
        ("", "text/html", "<!DOCTYPE html>"),
        (".html", "text/html", "<!DOCTYPE html>"),
        (".md", "text/markdown", "# "),
        (".csv", "text/csv", "target,"),
        (".txt", "text/plain", ""),
    ] {
        let r = c
            .get(server.url(&format!("/audits/{id}{ext}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200, "{ext}");
        let ct = r.headers()["content-type"].to_str().unwrap().to_string();
        assert!(ct.starts_with(type_), "{ext}: {ct}");
        let body = r.text().await.unwrap();
        assert!(
            body.starts_with(start),
            "{ext}: {}",
            &body[..80.min(body.len())]
        );
        assert!(body.contains("clean.test"), "{ext}");
    }

    // Listed, newest first, filtered by domain.
    let (status, list) = get_json(&c, &server.url("/api/v1/audits?domain=clean.test")).await;
    assert_eq!(status, 200);
    assert_eq!(list["audits"][0]["id"], id.as_str());
    assert_eq!(list["audits"][0]["status"], "done");
    let (_, other) = get_json(&c, &server.url("/api/v1/audits?domain=other.test")).await;
    assert_eq!(other["audits"], json!([]));

    // An identical request within the minute is the same audit.
    let (status, again) = post_json(
        &c,
        &server.url("/api/v1/audits"),
        &json!({"domain": "clean.test", "ips": ["192.0.2.1"]}),
    )
    .await;
    assert_eq!(status, 202);
    assert_eq!(again["id"], id.as_str());
    assert_eq!(again["status"], "done");
    server.stop().await;
}

#[tokio::test]
async fn blocklist_requests_check_addresses_ranges_and_domains() {
    let env = Env::new(LISTS).await.lists(&["bl.test"]);
    let (_dir, url) = sqlite();
    let server = Server::start(&env, &url, config()).await;
    let c = client();
    let (status, accepted) = post_json(
        &c,
        &server.url("/api/v1/blocklist"),
        &json!({"targets": ["127.0.0.2", "192.0.2.1"]}),
    )
    .await;
    assert_eq!(status, 202, "{accepted}");
    let done = finished(&c, &server, accepted["id"].as_str().unwrap()).await;
    assert_eq!(done["status"], "done", "{done}");
    let direct = env.blacklist(&["127.0.0.2", "192.0.2.1"], false).await;
    assert_eq!(ids(&done["report"]), ids(&direct));
    assert!(ids(&direct).iter().any(|i| i == "dnsbl.listed"), "{direct}");

    for (body, says) in [
        (json!({"targets": []}), "at least one"),
        (json!({"targets": ["not a target"]}), "target"),
        (
            json!({"targets": ["10.0.0.0/8"]}),
            "limit of 256 of this server",
        ),
        (
            json!({"targets": ["192.0.2.1"], "smtp": true}),
            "unknown field",
        ),
    ] {
        let (status, err) = post_json(&c, &server.url("/api/v1/blocklist"), &body).await;
        assert_eq!(status, 400, "{body}: {err}");
        assert!(err["error"].as_str().unwrap().contains(says), "{err}");
    }
    server.stop().await;
}

#[tokio::test]
async fn the_form_queues_an_audit_and_its_permalink_shows_progress_then_the_report() {
    let env = Env::world().await;
    // Slow answers, so the progress page is seen before the report.
    env.server.set_latency(Duration::from_millis(150));
    let (_dir, url) = sqlite();
    let server = Server::start(&env, &url, config()).await;
    let c = client();

    let page = c.get(server.url("/")).send().await.unwrap();
    assert_eq!(page.status().as_u16(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains(r#"<form method="post" action="/audits" enctype="multipart/form-data">"#)
    );
    assert!(!html.contains("<script"), "the page needs no JavaScript");
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no external assets"
    );

    let message = std::fs::read(fixture("messages/rfc8463.eml")).unwrap();
    let (type_, body) = multipart(
        &[
            ("domain", "clean.test"),
            ("ips", "192.0.2.1\r\n"),
            ("selectors", ""),
        ],
        &[
            ("message", "campaign.eml", &message),
            ("recipients", "", b""),
        ],
    );
    let r = c
        .post(server.url("/audits"))
        .header("content-type", type_)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 303);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    assert!(location.starts_with("/audits/"), "{location}");

    let progress = c.get(server.url(&location)).send().await.unwrap();
    assert_eq!(progress.status().as_u16(), 200);
    assert_eq!(progress.headers()["cache-control"], "no-store");
    let text = progress.text().await.unwrap();
    assert!(
        text.contains(r#"<meta http-equiv="refresh" content="2">"#),
        "{text}"
    );
    assert!(text.contains("clean.test"));

    let id = location.trim_start_matches("/audits/");
    let done = finished(&c, &server, id).await;
    assert_eq!(done["status"], "done");
    assert_eq!(done["report"]["target"]["messages"][0], "campaign.eml");
    let report = c
        .get(server.url(&location))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(report.contains("<title>mailaudit: "), "the HTML report");
    assert!(!report.contains("http-equiv=\"refresh\""));

    // The list page names it, with its formats.
    let list = c
        .get(server.url("/audits?domain=clean.test"))
        .send()
        .await
        .unwrap();
    let list = list.text().await.unwrap();
    assert!(list.contains(&format!("/audits/{id}.json")), "{list}");

    // A wrong field: the form again, with what is wrong, escaped.
    let r = c
        .post(server.url("/audits"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("domain=%3Cscript%3Ealert(1)%3C%2Fscript%3E.test&ips=")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let page = r.text().await.unwrap();
    assert!(!page.contains("<script>alert(1)"), "user text escaped");
    assert!(page.contains("&lt;script&gt;alert(1)"), "{page}");
    server.stop().await;
}

#[tokio::test]
async fn every_error_has_its_status_and_a_json_body() {
    let env = Env::world().await;
    let (_dir, url) = sqlite();
    let server = Server::start(
        &env,
        &url,
        ServiceConfig {
            body_limit: 4096,
            ..config()
        },
    )
    .await;
    let c = client();
    let audits = server.url("/api/v1/audits");
    for (body, says) in [
        (json!({"domain": "exa mple.test"}), "domain"),
        (json!({"domain": "clean.test", "ips": ["300.1.1.1"]}), "ips"),
        (
            json!({"domain": "clean.test", "ips": ["10.0.0.0/8"]}),
            "limit of 256",
        ),
        (
            json!({"domain": "clean.test", "selectors": ["a b"]}),
            "selectors",
        ),
        (
            json!({"domain": "clean.test", "checks": ["nope"]}),
            "unknown check",
        ),
        // The service never probes a server a request names.
        (
            json!({"domain": "clean.test", "smtp": ["10.0.0.1"]}),
            "unknown field",
        ),
        (json!({"ips": ["192.0.2.1"]}), "domain"),
    ] {
        let (status, err) = post_json(&c, &audits, &body).await;
        assert_eq!(status, 400, "{body}: {err}");
        assert!(
            err["error"].as_str().unwrap().contains(says),
            "{body}: {err}"
        );
    }
    // Not JSON at all.
    let r = c.post(&audits).body("domain=x").send().await.unwrap();
    assert_eq!(r.status().as_u16(), 400);

    // 413: a body over the limit, as JSON and as an upload.
    let big = "a".repeat(8192);
    let (status, err) = post_json(&c, &audits, &json!({"domain": big})).await;
    assert_eq!(status, 413, "{err}");
    assert!(err["error"].is_string());
    let (type_, body) = multipart(
        &[("domain", "clean.test")],
        &[("message", "big.eml", big.as_bytes())],
    );
    let r = c
        .post(&audits)
        .header("content-type", type_)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 413);
    // An upload that is not a message.
    let (type_, body) = multipart(
        &[("domain", "clean.test")],
        &[("message", "logo.png", b"\x89PNG\r\n\x1a\n")],
    );
    let r = c
        .post(&audits)
        .header("content-type", type_)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let err: Value = r.json_body().await;
    assert!(err["error"].as_str().unwrap().contains("logo.png"), "{err}");

    // 404: an id never given, a malformed one, a path that is nothing.
    for path in [
        "/api/v1/audits/0123456789abcdef0123456789abcdef",
        "/api/v1/audits/..%2F..%2Fetc",
        "/api/v1/nothing",
    ] {
        let (status, err) = get_json(&c, &server.url(path)).await;
        assert_eq!(status, 404, "{path}");
        assert!(err["error"].is_string(), "{path}: {err}");
    }
    let r = c
        .get(server.url("/audits/0123456789abcdef0123456789abcdef.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    // A bad list filter.
    let (status, _) = get_json(&c, &server.url("/api/v1/audits?limit=0")).await;
    assert_eq!(status, 400);

    // 503 once shutting down.
    server.service.close();
    let (status, err) = post_json(&c, &audits, &json!({"domain": "clean.test"})).await;
    assert_eq!(status, 503, "{err}");
    let (status, _) = get_json(&c, &server.url("/healthz")).await;
    assert_eq!(status, 503);
    server.stop().await;
}

#[tokio::test]
async fn a_full_queue_and_a_busy_client_get_429_with_retry_after() {
    let env = Env::world().await;
    env.server.set_latency(Duration::from_millis(200));
    let (_dir, url) = sqlite();
    let server = Server::start(
        &env,
        &url,
        ServiceConfig {
            workers: 1,
            queue: 2,
            ..config()
        },
    )
    .await;
    let c = client();
    let mut statuses = Vec::new();
    for n in 1..=6 {
        let r = c
            .post(server.url("/api/v1/audits"))
            .header("content-type", "application/json")
            .body(json!({"domain": "clean.test", "ips": [format!("192.0.2.{n}")]}).to_string())
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
        if r.status().as_u16() == 429 {
            assert_eq!(r.headers()["retry-after"], "30");
        }
    }
    assert!(
        statuses.contains(&202) && statuses.contains(&429),
        "{statuses:?}"
    );
    server.stop().await;

    // The per-client rate: 3 a minute.
    let env = Env::world().await;
    let (_dir, url) = sqlite();
    let server = Server::start(
        &env,
        &url,
        ServiceConfig {
            rate_per_minute: Some(3),
            ..config()
        },
    )
    .await;
    let mut statuses = Vec::new();
    for n in 1..=4 {
        let r = c
            .post(server.url("/api/v1/blocklist"))
            .header("content-type", "application/json")
            .body(json!({"targets": [format!("192.0.2.{n}")]}).to_string())
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
        if r.status().as_u16() == 429 {
            let wait: u64 = r.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!((1..=20).contains(&wait), "{wait}");
        }
    }
    assert_eq!(statuses, [202, 202, 202, 429]);
    // Reading is not limited.
    let (status, _) = get_json(&c, &server.url("/api/v1/audits")).await;
    assert_eq!(status, 200);
    server.stop().await;

    // Behind a trusted proxy (loopback here) each forwarded client has
    // its own bucket; what a client prepends to the header is ignored.
    let (_dir, url) = sqlite();
    let server = Server::start(
        &env,
        &url,
        ServiceConfig {
            rate_per_minute: Some(2),
            trusted_proxies: vec!["127.0.0.1".parse().unwrap()],
            ..config()
        },
    )
    .await;
    let mut statuses = Vec::new();
    for (n, forwarded) in [
        "198.51.100.1",
        "198.51.100.1",
        "203.0.113.9, 198.51.100.1",
        "198.51.100.2",
        "2001:db8:1:2::1",
        "2001:db8:1:2::2",
        "2001:db8:1:2::3",
    ]
    .into_iter()
    .enumerate()
    {
        let r = c
            .post(server.url("/api/v1/blocklist"))
            .header("content-type", "application/json")
            .header("x-forwarded-for", forwarded)
            .body(json!({"targets": [format!("192.0.2.{}", n + 10)]}).to_string())
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
    }
    // The third is 198.51.100.1 again; an IPv6 client is its /64.
    assert_eq!(statuses, [202, 202, 429, 202, 202, 202, 429]);
    server.stop().await;
}

#[tokio::test]
async fn a_token_is_required_on_the_api_and_a_login_on_the_page() {
    let env = Env::world().await;
    let (_dir, url) = sqlite();
    let token = "s3cret-token-for-the-tests";
    let server = Server::start(
        &env,
        &url,
        ServiceConfig {
            tokens: vec![token_hash(token)],
            ..config()
        },
    )
    .await;
    let c = client();
    let audits = server.url("/api/v1/audits");
    let body = json!({"domain": "clean.test"}).to_string();
    for auth in [None, Some("Bearer wrong-token-of-some-length"), Some(token)] {
        let mut r = c
            .post(&audits)
            .header("content-type", "application/json")
            .body(body.clone());
        if let Some(a) = auth {
            r = r.header("authorization", a);
        }
        let r = r.send().await.unwrap();
        assert_eq!(r.status().as_u16(), 401, "{auth:?}");
        assert_eq!(r.headers()["www-authenticate"], "Bearer");
        let err: Value = r.json_body().await;
        assert!(err["error"].as_str().unwrap().contains("token"));
    }
    let r = c
        .post(&audits)
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {token}"))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 202);
    let (status, _) = get_json(&c, &server.url("/metrics")).await;
    assert_eq!(status, 401);
    // Health needs no token (a load balancer asks it).
    let (status, _) = get_json(&c, &server.url("/healthz")).await;
    assert_eq!(status, 200);

    // The page: to the login, a wrong token refused, the right one let in.
    let r = c.get(server.url("/")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(r.headers()["location"], "/login");
    let login = |t: &str| {
        c.post(server.url("/login"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("token={t}"))
            .send()
    };
    assert_eq!(
        login("wrong-token-of-some-length")
            .await
            .unwrap()
            .status()
            .as_u16(),
        401
    );
    let r = login(token).await.unwrap();
    assert_eq!(r.status().as_u16(), 303);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let pair = cookie.split(';').next().unwrap();
    let r = c
        .get(server.url("/"))
        .header("cookie", pair)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    server.stop().await;
}

/// Submits `n` different audits of clean.test (by their sending IP).
async fn submit_many(c: &reqwest::Client, server: &Server, n: u8) -> Vec<String> {
    let mut out = Vec::new();
    for i in 1..=n {
        let (status, body) = post_json(
            c,
            &server.url("/api/v1/audits"),
            &json!({"domain": "clean.test", "ips": [format!("192.0.2.{i}")]}),
        )
        .await;
        assert_eq!(status, 202, "{body}");
        out.push(body["id"].as_str().unwrap().to_string());
    }
    out
}

/// The store behind `url` keeps reports across a restart, and the next
/// start runs what was accepted but not yet run.
async fn restart_keeps_and_runs(url: &str) {
    let env = Env::world().await;
    env.server.set_latency(Duration::from_millis(100));
    let one = ServiceConfig {
        workers: 1,
        ..config()
    };
    let server = Server::start(&env, url, one.clone()).await;
    let c = client();
    let first = submit_many(&c, &server, 1).await;
    finished(&c, &server, &first[0]).await;
    let waiting = submit_many(&c, &server, 4).await;
    server.stop().await;

    let store = Store::open(url).await.unwrap();
    let queued = {
        let mut n = 0;
        for id in &waiting {
            let a = store
                .get(id)
                .await
                .unwrap()
                .expect("every accepted audit is stored");
            assert_ne!(a.state, AuditState::Failed);
            n += usize::from(a.state == AuditState::Queued);
        }
        n
    };
    assert!(
        queued >= 1,
        "a graceful stop leaves the waiting audits queued"
    );
    drop(store);

    env.server.set_latency(Duration::ZERO);
    let server = Server::start(&env, url, one).await;
    for id in first.iter().chain(&waiting) {
        let done = finished(&c, &server, id).await;
        assert_eq!(done["status"], "done", "{id}: {done}");
        assert_eq!(done["report"]["target"]["domain"], "clean.test");
    }
    server.stop().await;
}

#[tokio::test]
async fn a_restart_keeps_the_reports_and_runs_the_queued_audits() {
    let (_dir, url) = sqlite();
    restart_keeps_and_runs(&url).await;
}

/// The same storage test against a real PostgreSQL, when one is named
/// (`.ci/run` starts one); without it, the skip is printed.
#[tokio::test]
async fn postgres_keeps_the_reports_and_runs_the_queued_audits() {
    let Ok(url) = std::env::var("MAILAUDIT_TEST_POSTGRES") else {
        eprintln!(
            "skipped: no PostgreSQL (set MAILAUDIT_TEST_POSTGRES=postgres://USER@HOST/DB; .ci/run starts one)"
        );
        return;
    };
    // A fresh schema each time: the test's own database.
    let store = Store::open(&url).await.expect("PostgreSQL answers");
    store.prune(i64::MAX).await.unwrap();
    drop(store);
    restart_keeps_and_runs(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_requests_are_answered_and_none_is_lost() {
    let env = Env::world().await;
    let (_dir, url) = sqlite();
    let server = Server::start(
        &env,
        &url,
        ServiceConfig {
            workers: 8,
            ..config()
        },
    )
    .await;
    let c = client();
    let mut tasks = Vec::new();
    for i in 0..200u32 {
        let c = c.clone();
        let url = server.url("/api/v1/audits");
        tasks.push(tokio::spawn(async move {
            // 100 different requests, each sent twice: folded into one.
            let ip = format!("192.0.2.{}", i % 100);
            post_json(&c, &url, &json!({"domain": "clean.test", "ips": [ip]})).await
        }));
    }
    let mut ids = std::collections::BTreeSet::new();
    for t in tasks {
        let (status, body) = t.await.unwrap();
        assert_eq!(status, 202, "{body}");
        ids.insert(body["id"].as_str().unwrap().to_string());
    }
    assert_eq!(ids.len(), 100, "identical requests are one audit");
    for id in &ids {
        assert_eq!(finished(&c, &server, id).await["status"], "done");
    }
    let (_, list) = get_json(&c, &server.url("/api/v1/audits?limit=1000")).await;
    assert_eq!(list["audits"].as_array().unwrap().len(), 100);
    let metrics = c
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("mailaudit_audits_accepted_total 100"),
        "{metrics}"
    );
    assert!(
        metrics.contains("mailaudit_audits_folded_total 100"),
        "{metrics}"
    );
    assert!(
        metrics.contains("mailaudit_audits_stored{status=\"done\"} 100"),
        "{metrics}"
    );
    assert!(metrics.contains("mailaudit_queue_depth 0"), "{metrics}");
    server.stop().await;
}

#[test]
fn serve_refuses_an_open_address_without_a_token_and_bad_flags() {
    let bin = env!("CARGO_BIN_EXE_mailaudit");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let run = |args: &[&str]| {
        std::process::Command::new(bin)
            .arg("serve")
            .args(["--data", data.to_str().unwrap()])
            .args(args)
            .output()
            .unwrap()
    };
    let short = dir.path().join("short.txt");
    std::fs::write(&short, "# one token a line\nshort\n").unwrap();
    for (args, says) in [
        (vec!["--listen", "0.0.0.0:0"], "--token-file"),
        (
            vec!["--token-file", "/nonexistent/tokens"],
            "--token-file /nonexistent/tokens",
        ),
        (vec!["--token-file", short.to_str().unwrap()], "line 2"),
        (vec!["--retention", "soon"], "soon"),
        (vec!["--rate", "0/min"], "0/min"),
        (vec!["--database", "mysql://x"], "--database"),
        (vec!["--allow-private"], "--allow-private"),
        (vec!["--web", "/tmp"], "--web /tmp"),
        (vec!["--smtp-sending"], "--smtp"),
    ] {
        let out = run(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

/// `reqwest` without its `json` feature: the body as JSON.
trait JsonBody {
    async fn json_body(self) -> Value;
}

impl JsonBody for reqwest::Response {
    async fn json_body(self) -> Value {
        serde_json::from_str(&self.text().await.expect("a body")).expect("a JSON body")
    }
}

/// docs/openapi.yaml describes the routes the service has: every path it
/// names answers (not the fallback), with the statuses docs/api.md lists.
#[tokio::test]
async fn the_openapi_file_names_the_routes_there_are() {
    use yaml_rust2::YamlLoader;
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/openapi.yaml"),
    )
    .unwrap();
    let doc = &YamlLoader::load_from_str(&text).expect("openapi.yaml parses")[0];
    let paths = doc["paths"].as_hash().expect("paths");
    let env = Env::world().await;
    let (_dir, url) = sqlite();
    let server = Server::start(&env, &url, config()).await;
    let c = client();
    let id = "0123456789abcdef0123456789abcdef";
    let mut named = Vec::new();
    for (path, ops) in paths {
        let path = path.as_str().unwrap();
        named.push(path.to_string());
        for (method, _) in ops.as_hash().unwrap() {
            let url = server.url(&path.replace("{id}", id));
            let r = match method.as_str().unwrap() {
                "get" => c.get(&url),
                "post" => c
                    .post(&url)
                    .header("content-type", "application/json")
                    .body("{}"),
                "delete" => c.delete(&url),
                other => panic!("{path}: method {other} not served"),
            };
            let r = r.send().await.unwrap();
            let body = r.text().await.unwrap();
            assert!(
                !body.contains("no such page"),
                "{method:?} {path} is not a route"
            );
        }
    }
    named.sort();
    assert_eq!(
        named,
        [
            "/api/v1/audits",
            "/api/v1/audits/{id}",
            "/api/v1/blocklist",
            "/api/v1/tests",
            "/api/v1/tests/{id}",
            "/api/v1/watches",
            "/api/v1/watches/{id}",
            "/api/v1/watches/{id}/run",
            "/healthz",
            "/metrics"
        ]
    );
    server.stop().await;
}

/// probe.test: its MX host and its MTA-STS policy host on loopback, and
/// the MX address's PTR record.
fn probe_zones() -> Vec<String> {
    vec![
        "$ORIGIN probe.test.\n$TTL 300\n@ IN SOA ns.probe.test. h.probe.test. 1 3600 600 86400 300\n@ IN NS ns.probe.test.\nns IN A 127.0.0.53\n\
         @ IN MX 10 mx.probe.test.\nmx IN A 127.0.0.1\nmta-sts IN A 127.0.0.1\n_mta-sts IN TXT \"v=STSv1; id=20261205\"\n"
            .into(),
        "$ORIGIN 127.in-addr.arpa.\n$TTL 300\n@ IN SOA ns.probe.test. h.probe.test. 1 3600 600 86400 300\n@ IN NS ns.probe.test.\n\
         1.0.0 IN PTR mx.probe.test.\n"
            .into(),
    ]
}

/// The service's probe and fetches as `serve --smtp --smtp-sending --fetch`
/// sets them, to these ports, reaching `reach`.
fn connecting(smtp_port: u16, https_port: u16, reach: mailaudit::reach::Reach) -> ServiceConfig {
    use mailaudit::smtp::{ProbeOptions, roots};
    let roots = Arc::new(roots(&[crate::smtp::ca_cert()]).unwrap());
    ServiceConfig {
        smtp: Some(mailaudit::facts::SmtpTarget {
            options: ProbeOptions {
                port: smtp_port,
                timeout: Duration::from_secs(3),
                helo: "probe.mailaudit.test".into(),
                relay_test: false,
                slow_banner: Duration::from_millis(1500),
                roots: Arc::clone(&roots),
                reach,
            },
            sending: true,
            hosts: Vec::new(),
        }),
        web: Some(mailaudit::web::WebOptions {
            port: https_port,
            timeout: Duration::from_secs(3),
            roots,
            connect_to: None,
            reach,
        }),
        ..config()
    }
}

async fn probe_engine() -> (crate::common::FaultServer, mailaudit::engine::Engine) {
    let dns = crate::common::FaultServer::from_texts(&probe_zones()).await;
    let engine = mailaudit::engine::Engine::new(
        crate::common::resolver_for(&dns),
        mailaudit::rules::Rules::embedded(),
    );
    (dns, engine)
}

/// With the probe and fetches on, a request still cannot make the server
/// connect to its own network: an internal sending IP is refused (400),
/// and a domain whose MX and policy host resolve to loopback gets
/// `unknown` for both, with the reason, and no connection is tried.
#[tokio::test]
async fn a_request_cannot_make_the_server_connect_to_internal_addresses() {
    use mailaudit::reach::Reach;
    let smtp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let https = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let config = connecting(
        smtp.local_addr().unwrap().port(),
        https.local_addr().unwrap().port(),
        Reach::Public,
    );
    let (_dns, engine) = probe_engine().await;
    let (_dir, url) = sqlite();
    let server = Server::with_engine(engine, &url, config).await;
    let c = client();

    for (ip, what) in [
        ("10.0.0.5", "10.0.0.5 is a private address"),
        ("127.0.0.1", "127.0.0.1 is a loopback address"),
        ("169.254.169.254", "cloud metadata"),
        ("fe80::1", "link-local"),
        ("::ffff:192.168.1.1", "private"),
        ("100.64.0.0/30", "100.64.0.0 is a shared address"),
    ] {
        let (status, body) = post_json(
            &c,
            &server.url("/api/v1/audits"),
            &json!({"domain": "probe.test", "ips": [ip]}),
        )
        .await;
        assert_eq!(status, 400, "{ip}: {body}");
        let error = body["error"].as_str().unwrap();
        assert!(error.starts_with("ips: "), "{error}");
        assert!(error.contains(what), "{ip}: {error}");
    }

    let (status, accepted) = post_json(
        &c,
        &server.url("/api/v1/audits"),
        &json!({"domain": "probe.test", "checks": ["smtp", "mta-sts"]}),
    )
    .await;
    assert_eq!(status, 202, "{accepted}");
    let done = finished(&c, &server, accepted["id"].as_str().unwrap()).await;
    let report = &done["report"];
    let probe = crate::common::finding(report, "smtp.not-probed");
    assert!(
        probe["evidence"]["addresses"][0]
            .as_str()
            .unwrap()
            .contains("127.0.0.1 is a loopback address"),
        "{probe}"
    );
    let fetch = crate::common::finding(report, "mta-sts.policy-not-fetched");
    assert!(
        fetch["evidence"]["reason"]
            .as_str()
            .unwrap()
            .contains("127.0.0.1 is a loopback address"),
        "{fetch}"
    );
    // Neither is a verdict about the domain: both checks are unknown.
    assert_eq!(report["checks"]["smtp"]["status"], "unknown");
    assert_eq!(report["checks"]["mta-sts"]["status"], "unknown");
    assert!(!ids(report).iter().any(|i| i == "smtp.unreachable"));
    // Nothing knocked on either port.
    for listener in [&smtp, &https] {
        let knocked = tokio::time::timeout(Duration::from_millis(200), listener.accept()).await;
        assert!(knocked.is_err(), "a connection was made");
    }
    // The form says what the server connects to.
    let page = c
        .get(server.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("public addresses only"), "{page}");
    server.stop().await;
}

/// `--allow-private`: the operator's own (loopback) servers are probed
/// and fetched from, and an internal sending IP is accepted.
#[tokio::test]
async fn the_operator_may_allow_internal_addresses() {
    use crate::https_support::Answer;
    use mailaudit::reach::Reach;
    let smtp = crate::smtp_support::start(crate::smtp_support::Config::with_tls(
        "mx.probe.test",
        crate::smtp::cert(&["mx.probe.test"], -1, 90),
    ))
    .await;
    let https = crate::https_support::start(
        crate::smtp::cert(&["mta-sts.probe.test"], -1, 90),
        Answer {
            status: 200,
            content_type: "text/plain",
            body: "version: STSv1\r\nmode: enforce\r\nmx: mx.probe.test\r\nmax_age: 604800\r\n"
                .into(),
        },
    )
    .await;
    let config = connecting(smtp.addr.port(), https.addr.port(), Reach::Any);
    let (_dns, engine) = probe_engine().await;
    let (_dir, url) = sqlite();
    let server = Server::with_engine(engine, &url, config).await;
    let c = client();
    let (status, accepted) = post_json(
        &c,
        &server.url("/api/v1/audits"),
        &json!({"domain": "probe.test", "ips": ["127.0.0.1"], "checks": ["smtp", "mta-sts"]}),
    )
    .await;
    assert_eq!(status, 202, "{accepted}");
    let done = finished(&c, &server, accepted["id"].as_str().unwrap()).await;
    let report = &done["report"];
    let found = ids(report);
    assert!(!found.iter().any(|i| i == "smtp.unreachable"), "{found:?}");
    assert!(
        !found.iter().any(|i| i.starts_with("mta-sts.")),
        "{found:?}"
    );
    assert_eq!(report["checks"]["smtp"]["status"], "pass", "{report:#}");
    assert_eq!(report["checks"]["mta-sts"]["status"], "pass", "{report:#}");
    server.stop().await;
}

//! Test addresses (issue 21): the service with its SMTP listener on
//! loopback over the fixture world's DNS; real messages sent with a real
//! SMTP client (signed with the test keys, with and without STARTTLS,
//! through a relay that adds its Received field); and, without SMTP, the
//! scenarios of the `smtp-in.*`, `received.*` and `spam-filter.*`
//! findings on `Request::received` (as `message --received` builds it).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mailaudit::engine::Request;
use mailaudit::message::received::{Connection, Tls, Trust};
use mailaudit::service::smtp_in::{SmtpInConfig, listen, server_tls};
use mailaudit::service::{ServiceConfig, TestAddresses};
use rustls::pki_types::CertificateDer;
use serde_json::Value;

use crate::common::{Env, Fault, ids};
use crate::messages::{FOOTER, LU, SIGNED_HEADERS, bulk, loaded, rsa, sign};
use crate::serve::{Server, client, config, finished, get_json, post_json, sqlite};
use crate::smtp_client::{Client, relay};

pub(crate) const ZONES: &[&str] = &[
    "zones/test.zone",
    "zones/reverse.zone",
    "zones/reverse6.zone",
    "zones/loopback.zone",
];

const DOMAIN: &str = "audit.test";

/// A campaign message of sender.test, signed with its key (s2048) over
/// the unsubscribe headers; `extra` goes into the header.
pub(crate) fn campaign(extra: &str) -> String {
    let msg = bulk(&format!("{LU}{extra}"), FOOTER)
        .replace("news@shop.test", "news@sender.test")
        .replace("shop.test/", "sender.test/")
        .replace("@shop.test", "@sender.test");
    sign(rsa("rsa2048"), "sender.test", "s2048", SIGNED_HEADERS, &msg)
}

/// The service, its SMTP listener, and the certificate it offers.
pub(crate) struct Setup {
    pub(crate) server: Server,
    smtp: SocketAddr,
    cert: CertificateDer<'static>,
    _dir: tempfile::TempDir,
}

pub(crate) async fn setup(
    env: &Env,
    tweak: impl FnOnce(&mut SmtpInConfig, &mut ServiceConfig),
) -> Setup {
    let made = rcgen::generate_simple_self_signed(vec![DOMAIN.to_string()]).expect("a certificate");
    let cert = made.cert.der().clone();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(made.signing_key.serialize_der().into());
    let mut smtp = SmtpInConfig {
        hostname: DOMAIN.into(),
        tls: Some(server_tls(vec![cert.clone()], key).expect("the TLS configuration")),
        ..SmtpInConfig::default()
    };
    let mut service = ServiceConfig {
        tests: Some(TestAddresses {
            mail_domain: DOMAIN.into(),
            lifetime: Duration::from_secs(3600),
            trusted_relays: Vec::new(),
        }),
        ..config()
    };
    tweak(&mut smtp, &mut service);
    let (dir, url) = sqlite();
    let server = Server::start(env, &url, service).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let addr = listener.local_addr().expect("its address");
    tokio::spawn(listen(listener, Arc::clone(server.service()), smtp));
    Setup {
        server,
        smtp: addr,
        cert,
        _dir: dir,
    }
}

impl Setup {
    /// The listener's port.
    pub(crate) fn smtp_port(&self) -> u16 {
        self.smtp.port()
    }
}

/// A new test address through the API: (id, address).
pub(crate) async fn new_test(s: &Setup) -> (String, String) {
    let (status, body) = post_json(&client(), &s.server.url("/api/v1/tests"), &Value::Null).await;
    assert_eq!(status, 201, "{body}");
    let address = body["address"].as_str().expect("an address").to_string();
    assert!(
        address.starts_with("test-") && address.ends_with("@audit.test"),
        "{address}"
    );
    assert_eq!(body["status"], "waiting");
    (body["id"].as_str().unwrap().to_string(), address)
}

/// Sends `message` from `helo`/`from` to `to`, with STARTTLS or not:
/// every reply after the greeting.
pub(crate) async fn deliver(
    s: &Setup,
    tls: bool,
    helo: &str,
    from: &str,
    to: &[&str],
    message: &str,
) -> Vec<(u16, String)> {
    let (mut c, greeting) = Client::connect(s.smtp).await;
    assert_eq!(greeting.0, 220, "{greeting:?}");
    let ehlo = c.command(&format!("EHLO {helo}")).await;
    assert_eq!(ehlo.0, 250);
    assert!(ehlo.1.contains("STARTTLS"), "{ehlo:?}");
    if tls {
        let (tls_client, again) = c.starttls(&s.cert, DOMAIN, helo).await;
        assert_eq!(again.0, 250);
        assert!(
            !again.1.contains("STARTTLS"),
            "offered again after the handshake"
        );
        c = tls_client;
    }
    let replies = c.send(from, to, message.as_bytes()).await;
    c.command("QUIT").await;
    replies
}

/// Polls the test until a message arrived and its audit is done: the
/// test's JSON.
pub(crate) async fn arrived(s: &Setup, id: &str) -> Value {
    let c = client();
    let started = Instant::now();
    loop {
        let (status, body) = get_json(&c, &s.server.url(&format!("/api/v1/tests/{id}"))).await;
        assert_eq!(status, 200, "{body}");
        if let Some(first) = body["messages"].as_array().and_then(|m| m.first()) {
            let done = finished(&c, &s.server, first["id"].as_str().unwrap()).await;
            assert_eq!(done["status"], "done", "{done}");
            let (_, body) = get_json(&c, &s.server.url(&format!("/api/v1/tests/{id}"))).await;
            return body;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "nothing arrived: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_message_over_tls_is_audited_from_the_address_that_sent_it() {
    let env = Env::new(ZONES).await;
    let s = setup(&env, |_, _| {}).await;
    let (id, address) = new_test(&s).await;
    let replies = deliver(
        &s,
        true,
        "out.sender.test",
        "bounces@sender.test",
        &[&address],
        &campaign(""),
    )
    .await;
    assert_eq!(
        replies.iter().map(|r| r.0).collect::<Vec<_>>(),
        [250, 250, 354, 250],
        "{replies:?}"
    );
    assert!(replies[3].1.contains("queued as"), "{replies:?}");

    let test = arrived(&s, &id).await;
    assert_eq!(test["status"], "received");
    let report = &test["report"];
    assert_eq!(report["target"]["domain"], "sender.test");
    // The connecting address is the sending IP, judged as receivers do.
    let delivery = &report["checks"]["smtp-in"];
    assert_eq!(delivery["status"], "pass", "{delivery:#}");
    assert!(
        delivery["client"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:")
    );
    assert_eq!(delivery["helo"], "out.sender.test");
    assert_eq!(delivery["mail_from"], "bounces@sender.test");
    assert_eq!(delivery["spf_mail_from"]["result"], "pass");
    assert_eq!(delivery["spf_helo"]["result"], "pass");
    assert!(
        delivery["iprev"]
            .as_str()
            .unwrap()
            .starts_with("pass (out.sender.test")
    );
    assert!(
        delivery["tls"].as_str().unwrap().starts_with("TLSv1."),
        "{delivery}"
    );
    // DKIM, DMARC and alignment as for `message`, with the real envelope.
    let m = &report["checks"]["message"][0];
    assert_eq!(m["dkim"][0]["result"], "pass", "{m:#}");
    assert_eq!(m["dmarc"]["result"], "pass");
    assert_eq!(m["dmarc"]["spf"]["ip"], "127.0.0.1");
    assert_eq!(m["dmarc"]["spf"]["mail_from"], "bounces@sender.test");
    assert_eq!(m["dmarc"]["aligned_spf"], true);
    // The path: the delivery to us, over TLS, is the sender.
    let path = &report["checks"]["received"]["messages"][0];
    let hops = path["hops"].as_array().unwrap();
    assert_eq!(hops.len(), 1, "{path:#}");
    assert_eq!(hops[0]["ours"], true);
    assert_eq!(hops[0]["tls"], true);
    assert_eq!(path["sender"], 0);
    assert_eq!(
        report["checks"]["ptr"]["status"], "pass",
        "{:#}",
        report["checks"]["ptr"]
    );
    let found = ids(report);
    for absent in [
        "smtp-in.spf-not-pass",
        "smtp-in.helo-spf-fail",
        "received.no-tls-hop",
        "message.dmarc-fail",
        "ptr.helo-mismatch",
    ] {
        assert!(!found.iter().any(|f| f == absent), "{absent} in {found:?}");
    }
    // The test's page shows the address and links the report.
    let page = client()
        .get(s.server.url(&format!("/tests/{id}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains(&address) && page.contains("/audits/"),
        "{page}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_tls_through_a_relay_the_path_has_both_hops_and_says_what_was_clear() {
    let env = Env::new(ZONES).await;
    let s = setup(&env, |_, _| {}).await;
    let (id, address) = new_test(&s).await;
    // The client hands the message to the relay; the relay (on loopback,
    // as out.sender.test) delivers it to the test address without TLS.
    let relay = relay("out.sender.test", s.smtp).await;
    let (mut c, greeting) = Client::connect(relay).await;
    assert_eq!(greeting.0, 220);
    c.command("EHLO app.sender.test").await;
    let replies = c
        .send("bounces@sender.test", &[&address], campaign("").as_bytes())
        .await;
    assert_eq!(replies.last().unwrap().0, 250, "{replies:?}");

    let test = arrived(&s, &id).await;
    let report = &test["report"];
    let path = &report["checks"]["received"]["messages"][0];
    let hops = path["hops"].as_array().unwrap();
    assert_eq!(hops.len(), 2, "{path:#}");
    // Oldest first: the relay's hop (from the client), then ours.
    assert_eq!(hops[0]["from"], "app.sender.test");
    assert_eq!(hops[0]["by"], "out.sender.test");
    assert_eq!(hops[0]["tls"], false);
    assert_eq!(hops[0]["trusted"], false, "the sender's side wrote it");
    assert_eq!(hops[1]["ours"], true);
    assert_eq!(hops[1]["from"], "out.sender.test");
    assert_eq!(path["sender"], 1);
    assert_eq!(
        report["checks"]["smtp-in"]["spf_mail_from"]["result"],
        "pass"
    );
    // The relay's hop is on loopback (not counted); ours was clear.
    let f = crate::common::finding(report, "received.no-tls-hop");
    let hops_named = f["evidence"]["hops"].as_array().unwrap();
    assert_eq!(hops_named.len(), 1, "{f:#}");
    assert_eq!(hops_named[0]["ours"], true);
    assert!(report["checks"]["smtp-in"]["tls"].is_null());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_listener_refuses_what_is_not_a_live_test_address() {
    let env = Env::new(ZONES).await;
    let s = setup(&env, |smtp, _| smtp.max_size = 4096).await;
    let (id, address) = new_test(&s).await;
    let (mut c, _) = Client::connect(s.smtp).await;
    c.command("EHLO out.sender.test").await;
    assert_eq!(c.command("MAIL FROM:<a@sender.test>").await.0, 250);
    // Unknown address, another domain (never relays), a lookalike.
    assert_eq!(c.command("RCPT TO:<test-nothere@audit.test>").await.0, 550);
    assert_eq!(c.command("RCPT TO:<someone@example.org>").await.0, 550);
    assert_eq!(c.command("RCPT TO:<postmaster@audit.test>").await.0, 550);
    assert_eq!(c.command("RCPT TO:<a@b@audit.test>").await.0, 550);
    // DATA without a recipient it took.
    assert_eq!(c.command("DATA").await.0, 503);
    assert_eq!(c.command("RSET").await.0, 250);
    // A declared size over the limit, then a message over it.
    assert_eq!(
        c.command("MAIL FROM:<a@sender.test> SIZE=100000").await.0,
        552
    );
    let big = format!(
        "{}{}",
        campaign(""),
        "x".repeat(70).repeat(80).chars().collect::<String>()
    );
    let big = big.replace(&"x".repeat(70), &format!("{}\r\n", "x".repeat(70)));
    let replies = c.send("a@sender.test", &[&address], big.as_bytes()).await;
    assert_eq!(replies.last().unwrap().0, 552, "{replies:?}");
    c.command("QUIT").await;

    // An expired test.
    let store = s.server.service().store();
    store
        .insert_test(&mailaudit::service::store::TestRow {
            id: "0".repeat(32),
            local_part: "test-expired".into(),
            created_at: 0,
            expires_at: 1,
        })
        .await
        .unwrap();
    let (mut c, _) = Client::connect(s.smtp).await;
    c.command("EHLO out.sender.test").await;
    c.command("MAIL FROM:<a@sender.test>").await;
    let expired = c.command("RCPT TO:<test-expired@audit.test>").await;
    assert_eq!(expired.0, 550);
    assert!(expired.1.contains("expired"), "{expired:?}");
    // Nothing was stored for the live test.
    let (_, body) = get_json(&client(), &s.server.url(&format!("/api/v1/tests/{id}"))).await;
    assert_eq!(body["messages"].as_array().unwrap().len(), 0, "{body}");
    assert_eq!(body["status"], "waiting");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_drips_or_floods_is_cut_off_with_nothing_stored() {
    let env = Env::new(ZONES).await;
    let s = setup(&env, |smtp, _| {
        smtp.max_size = 4096;
        smtp.command_timeout = Duration::from_secs(1);
        smtp.session_limit = Duration::from_secs(3);
    })
    .await;
    let (id, address) = new_test(&s).await;

    // Drip: a byte every 400 ms keeps each read alive; the session limit
    // ends it.
    let (mut c, _) = Client::connect(s.smtp).await;
    c.command("EHLO out.sender.test").await;
    c.command("MAIL FROM:<a@sender.test>").await;
    c.command(&format!("RCPT TO:<{address}>")).await;
    assert_eq!(c.command("DATA").await.0, 354);
    let started = Instant::now();
    let mut cut = false;
    for _ in 0..100 {
        if c.write(b"x").await.is_err() {
            cut = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(400)).await;
        if started.elapsed() > Duration::from_secs(6) {
            break;
        }
    }
    if !cut {
        // The write side may still be open; the server has gone.
        cut = c.reply().await.0 == 0;
    }
    assert!(cut, "a dripping client was not cut off");
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "cut off after {:?}",
        started.elapsed()
    );

    // Flood: far past the size limit in one DATA.
    let (mut c, _) = Client::connect(s.smtp).await;
    c.command("EHLO out.sender.test").await;
    c.command("MAIL FROM:<a@sender.test>").await;
    c.command(&format!("RCPT TO:<{address}>")).await;
    assert_eq!(c.command("DATA").await.0, 354);
    let line = format!("{}\r\n", "y".repeat(998));
    let mut refused = None;
    for _ in 0..64 {
        if c.write(line.as_bytes()).await.is_err() {
            break;
        }
    }
    let r = c.reply().await;
    if r.0 != 0 {
        refused = Some(r.0);
    }
    assert!(matches!(refused, Some(552) | None), "{r:?}");
    assert_eq!(
        c.reply().await.0,
        0,
        "the connection is closed after a flood"
    );

    // Neither left anything.
    let (_, body) = get_json(&client(), &s.server.url(&format!("/api/v1/tests/{id}"))).await;
    assert_eq!(body["messages"].as_array().unwrap().len(), 0, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_concurrent_sessions_are_all_taken() {
    let env = Env::new(ZONES).await;
    let s = Arc::new(
        setup(&env, |smtp, service| {
            smtp.max_per_client = 200;
            service.workers = 4;
        })
        .await,
    );
    let (id, address) = new_test(&s).await;
    let message = Arc::new(campaign(""));
    let mut sessions = Vec::new();
    for n in 0..100 {
        let (s, address, message) = (s.clone(), address.clone(), message.clone());
        sessions.push(tokio::spawn(async move {
            let (mut c, greeting) = Client::connect(s.smtp).await;
            assert_eq!(greeting.0, 220, "session {n}: {greeting:?}");
            c.command("EHLO out.sender.test").await;
            let replies = c
                .send("bounces@sender.test", &[&address], message.as_bytes())
                .await;
            c.command("QUIT").await;
            replies.last().unwrap().0
        }));
    }
    for (n, session) in sessions.into_iter().enumerate() {
        assert_eq!(session.await.unwrap(), 250, "session {n}");
    }
    let (_, body) = get_json(&client(), &s.server.url(&format!("/api/v1/tests/{id}"))).await;
    assert_eq!(body["messages"].as_array().unwrap().len(), 100, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_headers_and_envelope_reach_no_page_or_terminal_raw() {
    let env = Env::new(ZONES).await;
    let s = setup(&env, |_, _| {}).await;
    let (id, address) = new_test(&s).await;
    let hostile = "Received: from <script>alert(1)</script> ([192.0.2.9])\r\n\tby \u{1b}[31mred\u{1b}[0m with ESMTP; Fri, 27 Nov 2026 09:00:00 +0000\r\n\
                   Authentication-Results: <img src=x onerror=alert(2)>; dkim=pass\r\n";
    let msg = campaign("").replacen(
        "Subject: Autumn offers",
        &format!("Subject: \u{1b}]0;owned\u{7} <b>bold</b>\r\n{hostile}X-Pad: 1"),
        1,
    );
    let replies = deliver(
        &s,
        false,
        "<i>helo</i>",
        "bounces@sender.test",
        &[&address],
        &msg,
    )
    .await;
    assert_eq!(replies.last().unwrap().0, 250, "{replies:?}");
    let test = arrived(&s, &id).await;
    let audit = test["messages"][0]["id"].as_str().unwrap().to_string();
    let c = client();
    let html = c
        .get(s.server.url(&format!("/audits/{audit}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for raw in [
        "<script>alert(1)",
        "<img src=x",
        "<i>helo</i>",
        "<b>bold</b>",
    ] {
        assert!(!html.contains(raw), "{raw} reached the page raw");
    }
    let text = c
        .get(s.server.url(&format!("/audits/{audit}.txt")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !text.contains('\u{1b}') && !text.contains('\u{7}'),
        "a control character reached the text report"
    );
    let md = c
        .get(s.server.url(&format!("/audits/{audit}.md")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!md.contains("<script>"), "raw HTML in the Markdown report");
    // A HELO that a spreadsheet would run as a formula: no CSV cell of the
    // report starts with one (today the CSV's rows are findings, and no
    // finding's cell starts with the HELO; this holds the day one does).
    let (id, address) = new_test(&s).await;
    let replies = deliver(
        &s,
        false,
        "=HYPERLINK(\"http://x\")",
        "bounces@sender.test",
        &[&address],
        &msg,
    )
    .await;
    assert_eq!(replies.last().unwrap().0, 250, "{replies:?}");
    let test = arrived(&s, &id).await;
    let audit = test["messages"][0]["id"].as_str().unwrap().to_string();
    let csv = c
        .get(s.server.url(&format!("/audits/{audit}.csv")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut cells = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(csv.as_bytes());
    for row in cells.records() {
        for cell in row.unwrap().iter() {
            assert!(
                !cell.starts_with(['=', '+', '-', '@']),
                "a CSV cell a spreadsheet would run: {cell:?}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_addresses_are_off_unless_the_operator_turns_them_on() {
    let env = Env::new(ZONES).await;
    let (_dir, url) = sqlite();
    let server = Server::start(&env, &url, config()).await;
    let (status, body) = post_json(&client(), &server.url("/api/v1/tests"), &Value::Null).await;
    assert_eq!(status, 404, "{body}");
    assert!(body["error"].as_str().unwrap().contains("--smtp-listen"));
    let (status, _) = get_json(
        &client(),
        &server.url(&format!("/api/v1/tests/{}", "a".repeat(32))),
    )
    .await;
    assert_eq!(status, 404);
}

// ------------------------------------------------------------------------
// The findings, without SMTP: Request::received with a connection.

/// A connection from loopback as out.sender.test, with TLS.
fn connection(mail_from: &str, helo: &str, tls: bool) -> Connection {
    Connection {
        client_ip: "127.0.0.1".parse().unwrap(),
        client_port: 40000,
        helo: helo.into(),
        mail_from: mail_from.into(),
        recipients: vec!["test-x@audit.test".into()],
        tls: tls.then(|| Tls {
            version: "TLSv1.3".into(),
            cipher: "TLS13_AES_128_GCM_SHA256".into(),
        }),
        // 2026-11-27 10:05:00, five minutes after the message's Date.
        received_at: 1_795_773_900,
        receiver: DOMAIN.into(),
    }
}

/// The operator's own relays.
fn relays(cidr: &str) -> Trust {
    Trust {
        relays: vec![cidr.parse().unwrap()],
        authserv_id: None,
    }
}

async fn received(env: &Env, c: Connection, message: &str) -> Value {
    let req = Request::received(loaded("arrived.eml", message), Some(c), Trust::default());
    env.run(&req).await
}

/// The scenario that triggers `id` (coverage.rs asks for each).
pub async fn scenario(id: &str) -> Value {
    let env = Env::new(ZONES).await;
    let good = campaign("");
    match id {
        "smtp-in.spf-not-pass" => {
            received(
                &env,
                connection("b@bounce.sender.test", "out.sender.test", true),
                &good,
            )
            .await
        }
        "smtp-in.helo-spf-fail" => {
            received(
                &env,
                connection("b@sender.test", "badhelo.sender.test", true),
                &good,
            )
            .await
        }
        "smtp-in.dns-error" => {
            env.server.set_fault_for(
                "bounce.sender.test",
                hickory_proto::rr::RecordType::TXT,
                Fault::ServFail,
            );
            received(
                &env,
                connection("b@bounce.sender.test", "out.sender.test", true),
                &good,
            )
            .await
        }
        "smtp-in.sender-unknown" => {
            // Handed over by the operator's own MTA (trusted), with no
            // Received field naming anyone before it.
            let req = Request::received(
                loaded("arrived.eml", &good),
                Some(connection("b@sender.test", "mx.audit.test", true)),
                relays("127.0.0.1/32"),
            );
            env.run(&req).await
        }
        "received.no-tls-hop" => {
            received(
                &env,
                connection("b@sender.test", "out.sender.test", false),
                &good,
            )
            .await
        }
        "received.slow-hop" => {
            // A hop 40 minutes before the delivery to us.
            let hop = "Received: from app.sender.test (app.sender.test [192.0.2.77])\r\n\tby out.sender.test with ESMTPS id A1; Fri, 27 Nov 2026 09:25:00 +0000\r\n";
            received(
                &env,
                connection("b@sender.test", "out.sender.test", true),
                &format!("{hop}{good}"),
            )
            .await
        }
        "spam-filter.unavailable" => {
            let mut req = Request::received(
                loaded("arrived.eml", &good),
                Some(connection("b@sender.test", "out.sender.test", true)),
                Trust::default(),
            );
            // A port nothing listens on: refused, for real.
            let closed = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap();
            req.target.rspamd = Some(mailaudit::rspamd::Rspamd {
                url: format!("http://{closed}"),
                timeout: Duration::from_secs(5),
            });
            env.run(&req).await
        }
        "spam-filter.flagged" => {
            let Some(rspamd) = crate::rspamd_support::start(env.server.addr()) else {
                return serde_json::json!({"skipped": "rspamd is not installed"});
            };
            // Unsigned, no Message-ID or Date, from an address without
            // reverse DNS: rspamd adds up enough to act.
            let spammy = "From: Winner <winner@bounce.sender.test>\r\nTo: you@example.net\r\nSubject: YOU HAVE WON $$$ CLAIM NOW!!!\r\nContent-Type: text/html\r\n\r\n<html><body><a href=\"http://192.0.2.66/claim\">CLICK HERE NOW</a> viagra casino bitcoin</body></html>\r\n";
            let mut c = connection("winner@bounce.sender.test", "[192.0.2.66]", false);
            c.client_ip = "192.0.2.99".parse().unwrap();
            let mut req =
                Request::received(loaded("spammy.eml", spammy), Some(c), Trust::default());
            req.target.rspamd = Some(mailaudit::rspamd::Rspamd {
                url: rspamd.url.clone(),
                timeout: Duration::from_secs(30),
            });
            env.run(&req).await
        }
        other => panic!("no scenario for {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_delivery_triggers_none_of_the_new_findings() {
    let env = Env::new(ZONES).await;
    let doc = received(
        &env,
        connection("b@sender.test", "out.sender.test", true),
        &campaign(""),
    )
    .await;
    let found = ids(&doc);
    for id in found.iter() {
        assert!(
            !(id.starts_with("smtp-in.")
                || id.starts_with("received.")
                || id.starts_with("spam-filter.")),
            "{id} on a clean delivery: {found:?}"
        );
    }
    assert_eq!(doc["checks"]["smtp-in"]["status"], "pass");
    assert_eq!(doc["checks"]["received"]["status"], "pass");
    assert_eq!(doc["checks"]["spam-filter"]["status"], "skipped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_rspamd_scores_the_message_as_a_section_of_its_own() {
    let env = Env::new(ZONES).await;
    let Some(rspamd) = crate::rspamd_support::start(env.server.addr()) else {
        return;
    };
    let mut req = Request::received(
        loaded("arrived.eml", &campaign("")),
        Some(connection("b@sender.test", "out.sender.test", true)),
        Trust::default(),
    );
    req.target.rspamd = Some(mailaudit::rspamd::Rspamd {
        url: rspamd.url.clone(),
        timeout: Duration::from_secs(30),
    });
    let doc = env.run(&req).await;
    let asked = &doc["checks"]["spam-filter"];
    let opinion = &asked["messages"][0]["opinion"];
    assert!(opinion["score"].is_number(), "{asked:#}");
    assert!(opinion["action"].is_string());
    assert!(!opinion["symbols"].as_array().unwrap().is_empty());
}

/// Behind the operator's own MTA (a trusted relay on 127.0.0.1): the
/// sender is the host the MTA's Received field names, judged as if it had
/// connected (SPF for the envelope from it, its HELO, its PTR and
/// listings); the MTA is shown as the way it came.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_relay_the_sender_is_the_host_before_it() {
    let env = Env::new(ZONES).await;
    let hop = "Received: from mail.bounce.sender.test (mail.bounce.sender.test [192.0.2.1])\r\n\tby mx.audit.test with ESMTPS (TLS1.3) id Q1; Fri, 27 Nov 2026 10:04:00 +0000\r\n";
    let req = Request::received(
        loaded("arrived.eml", &format!("{hop}{}", campaign(""))),
        Some(connection("b@bounce.sender.test", "mx.audit.test", false)),
        relays("127.0.0.1/32"),
    );
    assert_eq!(
        req.target.ips,
        ["192.0.2.1".parse::<std::net::IpAddr>().unwrap()]
    );
    assert_eq!(req.target.helo.as_deref(), Some("mail.bounce.sender.test"));
    let doc = env.run(&req).await;
    let d = &doc["checks"]["smtp-in"];
    assert_eq!(d["client"], "192.0.2.1", "{d:#}");
    assert_eq!(d["via"], "127.0.0.1:40000");
    assert_eq!(d["helo"], "mail.bounce.sender.test");
    assert_eq!(d["spf_mail_from"]["result"], "pass", "{d:#}");
    assert_eq!(d["tls"], "TLSv1.3", "{d:#}");
    assert_eq!(doc["target"]["ips"][0]["ip"], "192.0.2.1");
    assert!(
        !ids(&doc).iter().any(|i| i.starts_with("smtp-in.")),
        "{:?}",
        ids(&doc)
    );
    // The same message, the relay not trusted: it is the sender (and SPF
    // for bounce.sender.test does not pass from it).
    let req = Request::received(
        loaded("arrived.eml", &format!("{hop}{}", campaign(""))),
        Some(connection("b@bounce.sender.test", "mx.audit.test", false)),
        Trust::default(),
    );
    let doc = env.run(&req).await;
    assert_eq!(doc["checks"]["smtp-in"]["client"], "127.0.0.1:40000");
    assert!(doc["checks"]["smtp-in"].get("via").is_none());
    assert!(ids(&doc).contains(&"smtp-in.spf-not-pass".to_string()));
    // Nothing before the relay: unknown, never judged from the relay.
    let doc = scenario("smtp-in.sender-unknown").await;
    assert_eq!(
        doc["checks"]["smtp-in"]["status"], "unknown",
        "{:#}",
        doc["checks"]["smtp-in"]
    );
    assert_eq!(doc["checks"]["smtp-in"]["sender"], serde_json::Value::Null);
    assert_ne!(doc["verdict"], "ready-to-send");
}

/// The listener with `--smtp-listen-trusted-relay`: a message the relay
/// hands over is judged from the host before it, end to end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_listener_reads_the_sender_behind_its_trusted_relay() {
    let env = Env::new(ZONES).await;
    let s = setup(&env, |_, service| {
        if let Some(t) = service.tests.as_mut() {
            t.trusted_relays = vec!["127.0.0.1/32".parse().unwrap()];
        }
    })
    .await;
    let (id, address) = new_test(&s).await;
    let hop = "Received: from mail.bounce.sender.test (mail.bounce.sender.test [192.0.2.1])\r\n\tby mx.audit.test with ESMTPS id Q1; Fri, 27 Nov 2026 10:04:00 +0000\r\n";
    let replies = deliver(
        &s,
        true,
        "mx.audit.test",
        "b@bounce.sender.test",
        &[&address],
        &format!("{hop}{}", campaign("")),
    )
    .await;
    assert_eq!(replies.last().unwrap().0, 250, "{replies:?}");
    let test = arrived(&s, &id).await;
    let d = &test["report"]["checks"]["smtp-in"];
    assert_eq!(d["client"], "192.0.2.1", "{d:#}");
    assert!(d["via"].as_str().unwrap().starts_with("127.0.0.1:"));
    assert_eq!(d["spf_mail_from"]["result"], "pass");
}

/// `--smtp-listen-lmtp`: LHLO (EHLO refused), and after the data one reply
/// for each recipient, in order: two test addresses, two audits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_lmtp_each_recipient_gets_its_reply() {
    let env = Env::new(ZONES).await;
    let s = setup(&env, |smtp, service| {
        smtp.lmtp = true;
        if let Some(t) = service.tests.as_mut() {
            t.trusted_relays = vec!["127.0.0.1/32".parse().unwrap()];
        }
    })
    .await;
    let (first, a) = new_test(&s).await;
    let (second, b) = new_test(&s).await;
    let (mut c, greeting) = Client::connect(s.smtp).await;
    assert_eq!(greeting.0, 220);
    assert!(greeting.1.contains("LMTP"), "{greeting:?}");
    assert_eq!(c.command("EHLO mx.audit.test").await.0, 500);
    let lhlo = c.command("LHLO mx.audit.test").await;
    assert_eq!(lhlo.0, 250, "{lhlo:?}");
    assert_eq!(c.command("MAIL FROM:<b@bounce.sender.test>").await.0, 250);
    assert_eq!(c.command(&format!("RCPT TO:<{a}>")).await.0, 250);
    assert_eq!(c.command("RCPT TO:<test-nothere@audit.test>").await.0, 550);
    assert_eq!(c.command(&format!("RCPT TO:<{b}>")).await.0, 250);
    assert_eq!(c.command("DATA").await.0, 354);
    let hop = "Received: from mail.bounce.sender.test (mail.bounce.sender.test [192.0.2.1])\r\n\tby mx.audit.test with ESMTPS id Q1; Fri, 27 Nov 2026 10:04:00 +0000\r\n";
    let body = format!("{hop}{}", campaign("")).replace("\r\n.", "\r\n..");
    c.write(format!("{body}.\r\n").as_bytes()).await.unwrap();
    // One reply per recipient taken, in order.
    let one = c.reply().await;
    let two = c.reply().await;
    assert_eq!(one.0, 250, "{one:?}");
    assert!(one.1.contains(&format!("<{a}>")), "{one:?}");
    assert_eq!(two.0, 250, "{two:?}");
    assert!(two.1.contains(&format!("<{b}>")), "{two:?}");
    c.command("QUIT").await;
    for id in [first, second] {
        let test = arrived(&s, &id).await;
        let d = &test["report"]["checks"]["smtp-in"];
        assert_eq!(d["client"], "192.0.2.1", "{d:#}");
        assert_eq!(d["spf_mail_from"]["result"], "pass");
    }
}

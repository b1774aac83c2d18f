//! DKIM keys and the message scan: fixture messages signed here with the
//! test keys of tests/fixtures/dkim, whose public halves are in test.zone.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::Duration;

use crate::common::Fault;
use mail_auth::common::crypto::{Ed25519Key, RsaKey, Sha256, SigningKey};
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dkim::DkimSigner;
use mailaudit::engine::Request;
use mailaudit::message::Loaded;
use mailaudit::report::json;
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject;
use serde_json::Value;

use crate::common::{Env, LISTS, fixture, ids};

pub(crate) const SIGNED_HEADERS: &[&str] = &[
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
];

pub(crate) fn rsa(name: &str) -> RsaKey<Sha256> {
    let der = PrivateKeyDer::from_pem_file(fixture(&format!("dkim/{name}.pem"))).expect("test key");
    RsaKey::<Sha256>::from_key_der(der).expect("rsa key")
}

pub(crate) fn ed25519() -> Ed25519Key {
    let der = PrivateKeyDer::from_pem_file(fixture("dkim/ed25519.pem")).expect("test key");
    Ed25519Key::from_pkcs8_der(der.secret_der()).expect("ed25519 key")
}

/// Prepends a DKIM-Signature made with `key` to `msg`.
pub(crate) fn sign<K: SigningKey>(
    key: K,
    domain: &str,
    selector: &str,
    headers: &[&str],
    msg: &str,
) -> String {
    let sig = DkimSigner::from_key(key)
        .domain(domain)
        .selector(selector)
        .headers(headers.iter().copied())
        .sign(msg.as_bytes())
        .expect("sign");
    format!("{}{msg}", sig.to_header())
}

/// A bulk message from shop.test; `extra` headers go after Message-ID.
pub(crate) fn bulk(extra: &str, html_body: &str) -> String {
    format!(
        "From: Shop News <news@shop.test>\r\n\
         To: customer@example.net\r\n\
         Subject: Autumn offers\r\n\
         Date: Fri, 27 Nov 2026 10:00:00 +0000\r\n\
         Message-ID: <20261127100000.1@shop.test>\r\n\
         {extra}\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/alternative; boundary=\"b1\"\r\n\
         \r\n\
         --b1\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         \r\n\
         Our autumn offers are here: https://shop.test/offers\r\n\
         \r\n\
         --b1\r\n\
         Content-Type: text/html; charset=utf-8\r\n\
         \r\n\
         <html><body><p>Our autumn offers are <a href=\"https://shop.test/offers\">here</a>.</p>{html_body}</body></html>\r\n\
         \r\n\
         --b1--\r\n"
    )
}

pub(crate) const LU: &str = "List-Unsubscribe: <https://shop.test/u/abc123>, <mailto:unsubscribe@shop.test?subject=abc123>\r\n\
                  List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n";
pub(crate) const FOOTER: &str =
    "<p><a href=\"https://shop.test/u/abc123\">Unsubscribe</a> from these emails.</p>";

/// A bulk message of shop.test signed with its 2048-bit key (selector
/// s2048), covering the unsubscribe headers.
pub(crate) fn shop_signed(extra: &str, html_body: &str) -> String {
    sign(
        rsa("rsa2048"),
        "shop.test",
        "s2048",
        SIGNED_HEADERS,
        &bulk(extra, html_body),
    )
}

/// A bulk message of shop.test signed with its 2048-bit key, with an l=
/// tag: the signature covers only the body as it is now.
pub(crate) fn shop_signed_with_length() -> String {
    let msg = bulk(LU, FOOTER);
    let sig = DkimSigner::from_key(rsa("rsa2048"))
        .domain("shop.test")
        .selector("s2048")
        .headers(SIGNED_HEADERS.iter().copied())
        .body_length(true)
        .sign(msg.as_bytes())
        .expect("sign");
    format!("{}{msg}", sig.to_header())
}

/// A bulk message of shop.test signed by an unrelated domain: its DKIM
/// passes but does not align with the From domain.
pub(crate) fn unrelated_signed() -> String {
    sign(
        rsa("other2048"),
        "unrelated.test",
        "s2048",
        SIGNED_HEADERS,
        &bulk(LU, FOOTER),
    )
}

/// A bulk message of shop.test whose signature leaves out the unsubscribe
/// headers.
pub(crate) fn unsigned_post() -> String {
    sign(
        rsa("rsa2048"),
        "shop.test",
        "s2048",
        &["From", "To", "Subject", "Date", "Message-ID"],
        &bulk(LU, FOOTER),
    )
}

pub(crate) fn loaded(name: &str, text: &str) -> Loaded {
    Loaded {
        path: format!("{name}.eml"),
        bytes: text.as_bytes().to_vec(),
        size: text.len() as u64,
        truncated: false,
    }
}

/// An audit of `domain` running only `checks`, with nothing else set.
pub(crate) fn request(domain: &str, checks: &[&str]) -> Request {
    let mut req = Request::audit(domain);
    req.checks = Some(
        checks
            .iter()
            .map(|c| c.to_string())
            .collect::<BTreeSet<_>>(),
    );
    req
}

pub(crate) async fn run(env: &Env, req: Request) -> Value {
    json::to_value(&env.engine.run(&req).await)
}

/// The message check alone on one message of shop.test.
pub(crate) async fn scan_one(env: &Env, name: &str, text: &str) -> Value {
    scan(env, "shop.test", vec![loaded(name, text)], &["message"]).await
}

pub(crate) async fn scan(env: &Env, domain: &str, messages: Vec<Loaded>, checks: &[&str]) -> Value {
    let mut req = request(domain, checks);
    req.target.ips = vec!["192.0.2.1".parse::<IpAddr>().unwrap()];
    req.target.helo = Some("mx.clean.test".into());
    req.target.mail_from = Some("bounces@shop.test".into());
    req.target.messages = messages;
    run(env, req).await
}

pub(crate) fn message_findings(doc: &Value) -> Vec<String> {
    ids(doc)
        .into_iter()
        .filter(|i| i.starts_with("message."))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_good_bulk_message_passes_everything() {
    let env = Env::world().await;
    let msg = bulk(LU, FOOTER);
    let msg = sign(rsa("rsa2048"), "shop.test", "s2048", SIGNED_HEADERS, &msg);
    let msg = sign(ed25519(), "shop.test", "ed", SIGNED_HEADERS, &msg);
    let doc = scan(
        &env,
        "shop.test",
        vec![loaded("good", &msg)],
        &["message", "dkim"],
    )
    .await;
    assert_eq!(
        message_findings(&doc),
        Vec::<String>::new(),
        "{:#}",
        doc["findings"]
    );
    let m = &doc["checks"]["message"][0];
    assert_eq!(m["status"], "pass");
    assert_eq!(m["from_domain"], "shop.test");
    let results: Vec<&str> = m["dkim"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["result"].as_str().unwrap())
        .collect();
    assert_eq!(results, ["pass", "pass"], "{:#}", m["dkim"]);
    assert_eq!(m["dmarc"]["result"], "pass");
    assert_eq!(m["dmarc"]["aligned_dkim"], true);
    assert_eq!(m["dmarc"]["aligned_spf"], true);
    assert_eq!(m["dmarc"]["policy"], "reject");
    assert_eq!(m["dmarc"]["spf"]["result"], "pass");
    assert_eq!(m["list_unsubscribe"]["one_click"], true);
    assert_eq!(m["list_unsubscribe"]["signed"], true);
    assert_eq!(m["unsubscribe_link"]["found"], true);
    assert_eq!(m["unsubscribe_link"]["url"], "https://shop.test/u/abc123");
    assert_eq!(doc["target"]["messages"][0], "good.eml");
    // The key check picked up both selectors from the signatures.
    let sels: Vec<(&str, &str, u64)> = doc["checks"]["dkim"]["selectors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["selector"].as_str().unwrap(),
                s["source"].as_str().unwrap(),
                s["key_bits"].as_u64().unwrap(),
            )
        })
        .collect();
    // In header order: the Ed25519 signature was added last, so it is first.
    assert_eq!(sels, [("ed", "message", 256), ("s2048", "message", 2048)]);
    assert_eq!(doc["checks"]["dkim"]["status"], "pass");
    // mail-auth asked nothing itself: every key came through our resolver.
    assert_eq!(
        doc["stats"]["queries"].as_u64().unwrap(),
        env.server.total_queries() as u64
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_changed_after_signing_is_invalid() {
    let env = Env::world().await;
    let msg = shop_signed(LU, FOOTER);
    let tampered = msg.replace("Our autumn offers are here", "Our winter offers are here");
    let doc = scan_one(&env, "tampered", &tampered).await;
    let found = message_findings(&doc);
    assert!(
        found.contains(&"message.dkim-invalid".to_string()),
        "{found:?}"
    );
    // The envelope (192.0.2.1, bounces@shop.test) passes SPF in alignment,
    // so DMARC still passes on SPF.
    let dmarc = &doc["checks"]["message"][0]["dmarc"];
    assert_eq!(dmarc["aligned_spf"], true, "{dmarc:#}");
    assert_eq!(dmarc["result"], "pass");
    assert!(!found.contains(&"message.dmarc-fail".to_string()));
    // Without the envelope, nothing aligned passes: DMARC fails.
    let mut req = request("shop.test", &["message"]);
    req.target.messages = vec![loaded("tampered", &tampered)];
    let doc = run(&env, req).await;
    assert_eq!(doc["checks"]["message"][0]["dmarc"]["result"], "fail");
    assert!(message_findings(&doc).contains(&"message.dmarc-fail".to_string()));
    let sig = &doc["checks"]["message"][0]["dkim"][0];
    assert_ne!(sig["result"], "pass");
    assert!(
        sig["reason"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("body hash"),
        "{sig}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_click_headers_must_be_signed() {
    let env = Env::world().await;
    let doc = scan_one(&env, "unsigned-post", &unsigned_post()).await;
    assert_eq!(
        message_findings(&doc),
        ["message.one-click-unsigned"],
        "{:#}",
        doc["findings"]
    );
    assert_eq!(
        doc["checks"]["message"][0]["list_unsubscribe"]["signed"],
        false
    );
    assert_eq!(doc["checks"]["message"][0]["dkim"][0]["result"], "pass");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mailto_only_is_not_one_click() {
    let env = Env::world().await;
    let lu = "List-Unsubscribe: <mailto:unsubscribe@shop.test?subject=abc123>\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n";
    let msg = shop_signed(lu, FOOTER);
    let doc = scan_one(&env, "mailto", &msg).await;
    assert!(message_findings(&doc).contains(&"message.one-click-no-https".to_string()));
    assert_eq!(
        doc["checks"]["message"][0]["list_unsubscribe"]["one_click"],
        false
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unrelated_signing_domain_fails_dmarc() {
    let env = Env::world().await;
    let msg = unrelated_signed();
    // No SPF evidence either: the envelope sender is not known to align.
    let mut req = request("shop.test", &["message"]);
    req.target.messages = vec![loaded("unrelated", &msg)];
    let doc = run(&env, req).await;
    let m = &doc["checks"]["message"][0];
    assert_eq!(m["dkim"][0]["result"], "pass");
    assert_eq!(m["dkim"][0]["domain"], "unrelated.test");
    assert_eq!(m["dmarc"]["result"], "fail");
    assert_eq!(m["dmarc"]["aligned_dkim"], false);
    assert!(message_findings(&doc).contains(&"message.dmarc-fail".to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_without_an_unsubscribe_link_is_reported() {
    let env = Env::world().await;
    let msg = shop_signed(LU, "<p>Thanks for reading.</p>");
    let doc = scan_one(&env, "nolink", &msg).await;
    assert_eq!(message_findings(&doc), ["message.unsubscribe-link-missing"]);
    assert_eq!(
        doc["checks"]["message"][0]["unsubscribe_link"]["found"],
        false
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsigned_and_malformed_messages() {
    let env = Env::world().await;
    let no_lu = bulk("", "<p>Nothing here.</p>");
    let broken = "From: a@shop.test, b@shop.test\r\nSubject: one\r\nSubject: two\r\nList-Unsubscribe: https://shop.test/u\r\n\r\nHello\r\n";
    let bad_post = bulk(
        "List-Unsubscribe: <https://shop.test/u/1>\r\nList-Unsubscribe-Post: yes\r\n",
        FOOTER,
    );
    let doc = scan(
        &env,
        "shop.test",
        vec![
            loaded("no-lu", &no_lu),
            loaded("broken", broken),
            loaded("bad-post", &bad_post),
        ],
        &["message"],
    )
    .await;
    let per_file = |file: &str| -> Vec<String> {
        doc["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["subject"] == file)
            .map(|f| f["id"].as_str().unwrap().to_string())
            .collect()
    };
    let a = per_file("no-lu.eml");
    for id in [
        "message.dkim-missing",
        "message.list-unsubscribe-missing",
        "message.unsubscribe-link-missing",
    ] {
        assert!(a.contains(&id.to_string()), "{id}: {a:?}");
    }
    let b = per_file("broken.eml");
    for id in [
        "message.from-invalid",
        "message.date-missing",
        "message.message-id-missing",
        "message.duplicate-header",
        "message.list-unsubscribe-invalid",
    ] {
        assert!(b.contains(&id.to_string()), "{id}: {b:?}");
    }
    let c = per_file("bad-post.eml");
    assert!(
        c.contains(&"message.list-unsubscribe-invalid".to_string()),
        "{c:?}"
    );
    let statuses: Vec<&str> = doc["checks"]["message"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["fail", "fail", "fail"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_unsubscribe_without_post_lacks_one_click() {
    let env = Env::world().await;
    let lu = "List-Unsubscribe: <https://shop.test/u/abc123>\r\n";
    let msg = shop_signed(lu, FOOTER);
    let doc = scan_one(&env, "nopost", &msg).await;
    assert_eq!(message_findings(&doc), ["message.one-click-missing"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_lookup_failures_are_unknown() {
    let env = Env::world().await;
    env.server
        .set_fault("s2048._domainkey.shop.test", Fault::ServFail);
    let msg = shop_signed(LU, FOOTER);
    let doc = scan_one(&env, "dnsfail", &msg).await;
    let found = message_findings(&doc);
    assert!(
        found.contains(&"message.dns-error".to_string()),
        "{found:?}"
    );
    assert!(
        !found.contains(&"message.dkim-invalid".to_string()),
        "{found:?}"
    );
    assert_eq!(
        doc["checks"]["message"][0]["dkim"][0]["result"],
        "temperror"
    );
    assert_eq!(doc["checks"]["message"][0]["status"], "unknown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rfc8463_example_verifies() {
    let env = Env::new(&["zones/test.zone", "dkim/football.example.com.zone"]).await;
    let text = std::fs::read_to_string(fixture("messages/rfc8463.eml")).unwrap();
    let mut req = request("football.example.com", &["message"]);
    req.target.messages = vec![loaded("rfc8463", &text)];
    let doc = run(&env, req).await;
    let sigs = doc["checks"]["message"][0]["dkim"].as_array().unwrap();
    assert_eq!(sigs.len(), 2);
    for s in sigs {
        assert_eq!(s["result"], "pass", "{s}");
    }
    assert_eq!(sigs[0]["algorithm"], "ed25519-sha256");
    assert_eq!(sigs[1]["algorithm"], "rsa-sha256");
}

pub(crate) async fn keys(env: &Env, domain: &str, selectors: &[&str]) -> Value {
    let mut req = request(domain, &["dkim"]);
    req.target.selectors = selectors.iter().map(|s| s.to_string()).collect();
    run(env, req).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dkim_key_findings() {
    let env = Env::world().await;
    let doc = keys(
        &env,
        "keys.test",
        &[
            "s1024", "s512", "revoked", "testing", "sha1", "broken", "nope", "good",
        ],
    )
    .await;
    let found = ids(&doc);
    for id in [
        "dkim.key-weak",
        "dkim.key-too-short",
        "dkim.key-revoked",
        "dkim.testing",
        "dkim.sha1",
        "dkim.syntax",
        "dkim.key-missing",
    ] {
        assert!(found.contains(&id.to_string()), "{id}: {found:?}");
    }
    assert!(!found.contains(&"dkim.no-key-found".to_string()));
    let by_sel = |s: &str| -> Value {
        doc["checks"]["dkim"]["selectors"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["selector"] == s)
            .cloned()
            .unwrap()
    };
    assert_eq!(by_sel("s1024")["key_bits"], 1024);
    assert_eq!(by_sel("s512")["key_bits"], 512);
    assert_eq!(by_sel("revoked")["status"], "revoked");
    assert_eq!(by_sel("testing")["testing"], true);
    assert_eq!(by_sel("sha1")["flags"], serde_json::json!(["sha1-only"]));
    assert_eq!(by_sel("broken")["status"], "invalid");
    assert_eq!(by_sel("nope")["status"], "missing");
    assert_eq!(by_sel("good")["status"], "found");
    assert_eq!(by_sel("good")["key_type"], "rsa");
    assert_eq!(by_sel("good")["source"], "argument");
    // The severities follow RFC 8301.
    let sev = |id: &str| {
        doc["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["id"] == id)
            .unwrap()["severity"]
            .clone()
    };
    assert_eq!(sev("dkim.key-too-short"), "error");
    assert_eq!(sev("dkim.key-weak"), "warning");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_key_found_lists_what_was_tried() {
    let env = Env::world().await;
    let doc = keys(&env, "nokey.test", &[]).await;
    let f = crate::common::finding(&doc, "dkim.no-key-found");
    let tried = f["evidence"]["selectors_tried"].as_array().unwrap();
    assert!(tried.len() >= 30);
    assert!(tried.iter().any(|s| s == "selector1"));
    // The wildcard TXT record at *._domainkey is not mistaken for a key.
    assert!(
        doc["checks"]["dkim"]["selectors"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(doc["checks"]["dkim"]["status"], "fail");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_named_selector_that_times_out_is_unknown() {
    let env = Env::world().await;
    env.server
        .set_fault("good._domainkey.keys.test", Fault::Drop);
    let doc = keys(&env, "keys.test", &["good"]).await;
    assert!(ids(&doc).contains(&"dkim.dns-error".to_string()));
    assert_eq!(doc["checks"]["dkim"]["status"], "unknown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_selector_probe_is_one_round_trip() {
    // The default limit of questions in flight (64) is above the probe.
    // Each answer held back 1 s (a timeout well above it): ample time
    // for every probe to be sent before the first answer, even on a busy
    // 2-core machine.
    let env = Env::with(crate::common::WORLD, |c| {
        c.concurrency = mailaudit::dns::DnsConfig::default().concurrency;
        c.timeout = Duration::from_secs(5);
    })
    .await;
    env.server.set_latency(Duration::from_secs(1));
    let doc = keys(&env, "probe.test", &[]).await;
    let sels = doc["checks"]["dkim"]["selectors"].as_array().unwrap();
    assert_eq!(sels.len(), 1);
    assert_eq!(sels[0]["selector"], "selector2");
    assert_eq!(sels[0]["source"], "probe");
    let tried = doc["checks"]["dkim"]["selectors_tried"].as_u64().unwrap();
    assert!(tried >= 30);
    // Every probe was in flight at the same time: one round trip, not
    // thirty (the server saw them all at once while each waited 1 s).
    assert!(
        env.server.max_in_flight() as u64 >= tried,
        "{} < {tried}",
        env.server.max_in_flight()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_domains_go_to_the_domain_blocklists() {
    let env = Env::new(LISTS).await.lists(&["multi.surbl.org"]);
    let msg = bulk(
        LU,
        &format!("{FOOTER}<p><a href=\"https://bad.example/promo\">Promo</a></p>"),
    );
    let mut req = request("shop.test", &["message", "dnsbl"]);
    req.target.messages = vec![loaded("links", &msg)];
    let doc = run(&env, req).await;
    assert_eq!(
        doc["checks"]["message"][0]["link_domains"],
        serde_json::json!(["shop.test", "bad.example"])
    );
    let listed = crate::common::finding(&doc, "dnsbl.listed");
    assert_eq!(listed["subject"], "bad.example");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn np_applies_to_subdomains_that_do_not_exist() {
    // RFC 9989 §4.7: np= is the policy for a From domain below the policy
    // domain that does not exist (no A, AAAA or MX); sp= for one that does.
    let env = Env::world().await;
    for (from, want) in [
        ("ghost.npd.test", "reject"),
        ("real.npd.test", "quarantine"),
    ] {
        let msg = bulk(LU, FOOTER).replace("news@shop.test", &format!("news@{from}"));
        let mut req = request(from, &["message"]);
        req.target.messages = vec![loaded("np", &msg)];
        let doc = run(&env, req).await;
        let dmarc = &doc["checks"]["message"][0]["dmarc"];
        assert_eq!(dmarc["domain"], "npd.test", "{from}");
        assert_eq!(dmarc["policy"], want, "{from}: {dmarc:#}");
        assert_eq!(dmarc["result"], "fail", "{from}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relaxed_and_strict_alignment() {
    // From: news@news.<parent>, signed d=<parent>. Relaxed alignment
    // (RFC 9989 §4.4.1) takes the same organisational domain; strict
    // (adkim=s) needs the very same domain.
    let env = Env::world().await;
    for (parent, want) in [("relax.test", "pass"), ("align.test", "fail")] {
        let msg = bulk(LU, FOOTER).replace("news@shop.test", &format!("news@news.{parent}"));
        let msg = sign(rsa("rsa2048"), parent, "s2048", SIGNED_HEADERS, &msg);
        let mut req = request(&format!("news.{parent}"), &["message"]);
        req.target.messages = vec![loaded("align", &msg)];
        let doc = run(&env, req).await;
        let m = &doc["checks"]["message"][0];
        assert_eq!(m["dkim"][0]["result"], "pass", "{parent}: {m:#}");
        assert_eq!(m["dmarc"]["result"], want, "{parent}: {:#}", m["dmarc"]);
        assert_eq!(m["dmarc"]["aligned_dkim"], want == "pass", "{parent}");
    }
}

/// A message to one person without List-Unsubscribe is not bulk mail: the
/// consent finding needs a sign of a mass mailing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_recipient_without_list_unsubscribe_is_not_called_bulk() {
    let env = crate::common::Env::world().await;
    let doc = scan_one(&env, "personal", &bulk("", FOOTER)).await;
    let ids = crate::common::ids(&doc);
    assert!(
        ids.contains(&"message.list-unsubscribe-missing".to_string()),
        "{ids:?}"
    );
    assert!(
        !ids.contains(&"message.bulk-without-unsubscribe".to_string()),
        "{ids:?}"
    );
    let doc = scan_one(&env, "massmail", &bulk("Precedence: list\r\n", FOOTER)).await;
    let f = crate::common::finding(&doc, "message.bulk-without-unsubscribe");
    assert_eq!(f["evidence"]["signs"][0], "Precedence: list");
    assert_eq!(f["advice"]["topic"], "consent");
    // The checklist's consent row points at it.
    let consent = doc["checklist"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["topic"] == "consent")
        .unwrap();
    assert_eq!(consent["status"], "not-met", "{consent}");
}

/// Issue 18.4: past the 50th link domain, the domains are not looked up;
/// the run says so and the blocklist check is unknown, never clear.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_domains_past_the_cap_leave_the_blocklists_unknown() {
    let env = Env::new(LISTS).await.lists(&["multi.surbl.org"]);
    let links: String = (0..60)
        .map(|i| format!("<p><a href=\"https://d{i}.clean.test/\">{i}</a></p>"))
        .collect();
    let msg = bulk(LU, &format!("{FOOTER}{links}"));
    let mut req = request("shop.test", &["message", "dnsbl"]);
    req.target.messages = vec![loaded("links", &msg)];
    let doc = run(&env, req).await;
    let cap = crate::common::finding(&doc, "run.cap-reached");
    assert_eq!(cap["evidence"]["limit"], 50, "{cap:#}");
    assert_eq!(cap["evidence"]["found"], 61, "{cap:#}");
    assert_eq!(crate::common::status(&doc, "dnsbl"), "unknown");
    assert!(!ids(&doc).contains(&"dnsbl.listed".to_string()));
}

/// Issue 18.7: with several sending IPs and no Received header naming
/// one, SPF (and so DMARC through SPF) is judged for each: a message not
/// aligned by DKIM fails DMARC from the address SPF does not authorise,
/// and passes from the one it does; the result is the worst.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dmarc_through_spf_is_judged_for_every_sending_ip() {
    let env = Env::world().await;
    let mut req = request("shop.test", &["message"]);
    req.target.messages = vec![loaded("unrelated", &unrelated_signed())];
    req.target.mail_from = Some("bounce@shop.test".into());
    req.target.ips = vec!["192.0.2.1".parse().unwrap(), "192.0.2.99".parse().unwrap()];
    let doc = run(&env, req).await;
    let dmarc = &doc["checks"]["message"][0]["dmarc"];
    assert_eq!(dmarc["result"], "fail", "{dmarc:#}");
    let per_ip = dmarc["per_ip"].as_array().expect("per_ip");
    assert_eq!(per_ip.len(), 2);
    assert_eq!(per_ip[0]["spf"]["ip"], "192.0.2.1");
    assert_eq!(per_ip[0]["result"], "pass", "{dmarc:#}");
    assert_eq!(per_ip[1]["spf"]["ip"], "192.0.2.99");
    assert_eq!(per_ip[1]["spf"]["result"], "fail");
    assert_eq!(per_ip[1]["result"], "fail");
    let f = crate::common::finding(&doc, "message.dmarc-fail");
    assert_eq!(
        f["evidence"]["ips_failing"],
        serde_json::json!(["192.0.2.99"])
    );
    assert_eq!(
        f["evidence"]["ips_passing"],
        serde_json::json!(["192.0.2.1"])
    );
    assert!(
        f["summary"].as_str().unwrap().contains("192.0.2.99"),
        "{f:#}"
    );
    // One address, as before: no per_ip.
    let mut req = request("shop.test", &["message"]);
    req.target.messages = vec![loaded("unrelated", &unrelated_signed())];
    req.target.mail_from = Some("bounce@shop.test".into());
    req.target.ips = vec!["192.0.2.1".parse().unwrap()];
    let doc = run(&env, req).await;
    let dmarc = &doc["checks"]["message"][0]["dmarc"];
    assert_eq!(dmarc["result"], "pass", "{dmarc:#}");
    assert!(dmarc.get("per_ip").is_none());
}

//! Hostile SPF trees over real DNS: each finishes with a bounded number of
//! questions (the walk's caps, docs/limits.md) and the right findings.

use mailaudit::dns::{Dns, DnsConfig};
use mailaudit::engine::{Engine, Request};
use mailaudit::facts::spf::{WALK_CAP, WALK_QUESTIONS};
use mailaudit::report::json;
use mailaudit::rules::Rules;
use serde_json::Value;

use crate::common::{FaultServer, TIMEOUT, finding, status};

/// A zone for `hostile.test` from its records (zone-file lines).
fn zone(lines: &[String]) -> String {
    let mut z = String::from(
        "$ORIGIN hostile.test.\n$TTL 300\n@ IN SOA ns.hostile.test. h.hostile.test. 1 3600 600 86400 300\n@ IN NS ns.hostile.test.\nns IN A 192.0.2.53\n",
    );
    for l in lines {
        z.push_str(l);
        z.push('\n');
    }
    z
}

/// A TXT record's text as quoted strings of at most 255 octets.
fn txt(text: &str) -> String {
    text.as_bytes()
        .chunks(255)
        .map(|c| format!("\"{}\"", String::from_utf8_lossy(c)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Audits `domain` (SPF only, one sending IP) against `lines`; returns the
/// report and the questions the server received.
async fn audit(domain: &str, lines: &[String]) -> (Value, u32) {
    let server = FaultServer::from_texts(&[zone(lines)]).await;
    let dns = Dns::new(DnsConfig {
        nameservers: vec![server.addr()],
        timeout: TIMEOUT,
        retries: 1,
        concurrency: 64,
        scope: None,
    })
    .unwrap();
    let engine = Engine::new(dns, Rules::embedded());
    let mut req = Request::audit(domain);
    req.target.ips = vec!["192.0.2.1".parse().unwrap()];
    req.checks = Some(["spf".to_string()].into());
    let doc = json::to_value(&engine.run(&req).await);
    (doc, server.total_queries())
}

/// The most questions an SPF-only audit may ask: the walk's budget, the
/// root's TXT, the domain's MX (whether it exists), and one IP's
/// evaluation (10 lookups, each at most an MX and 10 hosts' A).
const BOUND: u32 = WALK_QUESTIONS + 2 + 10 * 12;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_name_include_fan() {
    let fan: Vec<String> = (0..1000)
        .map(|i| format!("include:i{i}.hostile.test"))
        .collect();
    let mut lines = vec![format!(
        "fan IN TXT {}",
        txt(&format!("v=spf1 {} -all", fan.join(" ")))
    )];
    for i in 0..1000 {
        lines.push(format!("i{i} IN TXT \"v=spf1 a:h{i}.hostile.test -all\""));
    }
    let (doc, asked) = audit("fan.hostile.test", &lines).await;
    eprintln!("1,000-name include fan: {asked} questions");
    assert!(asked <= BOUND, "{asked} questions");
    let f = finding(&doc, "spf.lookup-limit");
    assert!(f["evidence"]["lookups"].as_u64().unwrap() >= 1000);
    assert_eq!(f["evidence"]["walk_capped"], true);
    assert_eq!(
        doc["checks"]["spf"]["evaluations"][0]["result"],
        "permerror"
    );
    assert_eq!(status(&doc, "spf"), "fail");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fifty_deep_include_chain() {
    let mut lines = Vec::new();
    for i in 0..50 {
        lines.push(format!(
            "c{i} IN TXT \"v=spf1 include:c{}.hostile.test -all\"",
            i + 1
        ));
    }
    lines.push("c50 IN TXT \"v=spf1 ip4:192.0.2.1 -all\"".into());
    let (doc, asked) = audit("c0.hostile.test", &lines).await;
    eprintln!("50-deep include chain: {asked} questions");
    assert!(asked <= BOUND, "{asked} questions");
    assert!(
        asked <= WALK_CAP + 15,
        "a chain costs one question per level it follows: {asked}"
    );
    let f = finding(&doc, "spf.lookup-limit");
    assert!(f["evidence"]["lookups"].as_u64().unwrap() > 10);
    // The 11th include is the one a receiver stops at.
    let e = &doc["checks"]["spf"]["evaluations"][0];
    assert_eq!(e["result"], "permerror");
    assert!(e["reason"].as_str().unwrap().contains("lookup 11"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_term_record() {
    // a and mx terms, a thousand of them: counted from the text.
    let terms: Vec<String> = (0..1000)
        .map(|i| {
            if i % 2 == 0 {
                format!("a:n{i}.hostile.test")
            } else {
                format!("mx:n{i}.hostile.test")
            }
        })
        .collect();
    let lines = vec![format!(
        "wide IN TXT {}",
        txt(&format!("v=spf1 {} -all", terms.join(" ")))
    )];
    let (doc, asked) = audit("wide.hostile.test", &lines).await;
    eprintln!("1,000-term record: {asked} questions");
    assert!(asked <= BOUND, "{asked} questions");
    let f = finding(&doc, "spf.lookup-limit");
    assert_eq!(f["evidence"]["lookups"], 1000);
    assert_eq!(f["evidence"]["walk_capped"], true);
    let e = &doc["checks"]["spf"]["evaluations"][0];
    assert_eq!(e["result"], "permerror", "{e}");
}

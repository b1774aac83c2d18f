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
    run(domain, lines, &["spf"], &["192.0.2.1"]).await
}

/// Audits `domain` (the given checks) against `lines`, with these sending
/// IPs or, when none, the inferred ones; the report and the questions
/// asked.
async fn run(domain: &str, lines: &[String], checks: &[&str], ips: &[&str]) -> (Value, u32) {
    let server = FaultServer::from_texts(&[zone(lines)]).await;
    let dns = Dns::new(DnsConfig {
        nameservers: vec![server.addr()],
        timeout: TIMEOUT,
        retries: 1,
        concurrency: 64,
        scope: None,
        trust_anchor: None,
    })
    .unwrap();
    let engine = Engine::new(dns, Rules::embedded());
    let mut req = Request::audit(domain);
    req.target.ips = ips.iter().map(|ip| ip.parse().unwrap()).collect();
    req.checks = Some(checks.iter().map(|c| c.to_string()).collect());
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

/// Audits `domain` (the given checks, sending IPs inferred) against
/// `lines`; the report and the questions asked.
async fn audit_checks(domain: &str, lines: &[String], checks: &[&str]) -> (Value, u32) {
    run(domain, lines, checks, &[]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_single_address_terms_infer_at_most_64_ips() {
    // Regression: one SPF record of 1,000 ip4: terms made 1,000 inferred
    // sending IPs, each then checked (PTR, blocklists): tens of thousands
    // of questions. --max-addresses did not apply to inferred IPs.
    let terms: Vec<String> = (0..1000)
        .map(|i| format!("ip4:198.51.{}.{}", i / 250, i % 250))
        .collect();
    let lines = vec![format!(
        "many IN TXT {}",
        txt(&format!("v=spf1 {} -all", terms.join(" ")))
    )];
    let (doc, asked) = audit_checks("many.hostile.test", &lines, &["ptr"]).await;
    eprintln!("1,000 single-address terms, PTR: {asked} questions");
    assert_eq!(doc["target"]["ips"].as_array().unwrap().len(), 64);
    assert!(asked <= 8 + 64, "{asked} questions");
    let f = finding(&doc, "run.cap-reached");
    assert_eq!(f["evidence"]["found"], 1000);
    assert_eq!(f["evidence"]["limit"], 64);
    assert_eq!(
        status(&doc, "ptr"),
        "unknown",
        "never clean on part of the IPs"
    );
    assert_eq!(doc["summary"]["status"], "unknown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_mx_hosts_are_followed_to_32() {
    // Regression: 1,000 MX hosts were all looked up (and their addresses
    // checked on every list).
    let mut lines: Vec<String> = (0..1000)
        .map(|i| format!("mxs IN MX 10 m{i}.hostile.test."))
        .collect();
    lines.push("mxs IN TXT \"v=spf1 -all\"".into());
    for i in 0..1000 {
        lines.push(format!("m{i} IN A 203.0.113.{}", i % 250));
    }
    let (doc, asked) = audit_checks("mxs.hostile.test", &lines, &["mx"]).await;
    eprintln!("1,000 MX hosts: {asked} questions");
    assert!(asked <= 8 + 32 * 2, "{asked} questions");
    assert_eq!(doc["checks"]["mx"]["hosts"].as_array().unwrap().len(), 32);
    assert_eq!(finding(&doc, "run.cap-reached")["evidence"]["limit"], 32);
    assert_eq!(status(&doc, "mx"), "unknown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_report_destinations_are_checked_to_10() {
    // Regression: 2,500 external rua addresses made 2,561 questions.
    let rua: Vec<String> = (0..2500)
        .map(|i| format!("mailto:r@d{i}.example"))
        .collect();
    let lines = vec![format!(
        "_dmarc.rua IN TXT {}",
        txt(&format!("v=DMARC1; p=reject; rua={}", rua.join(",")))
    )];
    let (doc, asked) = audit_checks("rua.hostile.test", &lines, &["dmarc"]).await;
    eprintln!("2,500 report destinations: {asked} questions");
    assert!(asked <= 8 + 10, "{asked} questions");
    assert_eq!(finding(&doc, "run.cap-reached")["evidence"]["limit"], 10);
    assert_eq!(status(&doc, "dmarc"), "unknown");
}

/// Issue 18.4: an address with more PTR names than are followed, none of
/// the followed ones confirming it, is unknown (the cap is said), never
/// "not forward-confirmed": the 11th name does confirm it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ptr_names_past_the_cap_are_never_not_confirmed() {
    let mut lines: Vec<String> = (0..11)
        .map(|i| format!("n{i} IN A 198.51.100.{}", 100 + i))
        .collect();
    lines[10] = "n10 IN A 198.51.100.7".into();
    let mut reverse = String::from(
        "$ORIGIN 100.51.198.in-addr.arpa.\n$TTL 300\n@ IN SOA ns.hostile.test. h.hostile.test. 1 3600 600 86400 300\n@ IN NS ns.hostile.test.\n",
    );
    for i in 0..11 {
        reverse.push_str(&format!("7 IN PTR n{i}.hostile.test.\n"));
    }
    let server = FaultServer::from_texts(&[zone(&lines), reverse]).await;
    let dns = Dns::new(DnsConfig {
        nameservers: vec![server.addr()],
        timeout: TIMEOUT,
        retries: 1,
        concurrency: 64,
        scope: None,
        trust_anchor: None,
    })
    .unwrap();
    let engine = Engine::new(dns, Rules::embedded());
    let mut req = Request::audit("hostile.test");
    req.target.ips = vec!["198.51.100.7".parse().unwrap()];
    req.checks = Some(["ptr".to_string()].into());
    let doc = json::to_value(&engine.run(&req).await);
    let names = doc["checks"]["ptr"]["ips"][0]["names"].as_array().unwrap();
    assert_eq!(names.len(), 11);
    if names[..10].iter().any(|n| n == "n10.hostile.test") {
        // The server put the confirming name among the first ten.
        eprintln!("the confirming PTR name came among the first ten");
        assert_eq!(status(&doc, "ptr"), "pass");
        return;
    }
    assert_eq!(status(&doc, "ptr"), "unknown", "{:#}", doc["findings"]);
    let cap = finding(&doc, "run.cap-reached");
    assert_eq!(cap["evidence"]["limit"], 10, "{cap:#}");
    assert!(
        !doc["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["id"] == "ptr.not-forward-confirmed"),
        "{:#}",
        doc["findings"]
    );
}

/// Issue 18.4: the MX-host cap leaves every check that reads the MX hosts
/// unknown: MTA-STS, TLS-RPT and DANE too, not only MX, PTR, SPF and the
/// blocklists.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mx_cap_leaves_the_transport_checks_unknown() {
    let mut lines: Vec<String> = (0..40)
        .map(|i| format!("mxs IN MX 10 m{i}.hostile.test."))
        .collect();
    lines.push("_smtp._tls.mxs IN TXT \"v=TLSRPTv1; rua=mailto:tls@hostile.test\"".into());
    for i in 0..40 {
        lines.push(format!("m{i} IN A 203.0.113.{i}"));
    }
    let (doc, _) = audit_checks("mxs.hostile.test", &lines, &["tls-rpt", "mta-sts"]).await;
    assert_eq!(finding(&doc, "run.cap-reached")["evidence"]["limit"], 32);
    for check in ["tls-rpt", "mta-sts"] {
        assert_eq!(
            status(&doc, check),
            "unknown",
            "{check}: {:#}",
            doc["checks"][check]
        );
    }
}

//! DNS faults over real DNS: a timeout, SERVFAIL or REFUSED makes the
//! affected check unknown with a *.dns-error finding, never pass.

use crate::common::Fault;
use hickory_proto::rr::RecordType;

use crate::common::{Env, WORLD, finding, ids, status};

fn assert_unknown(doc: &serde_json::Value, check: &str, id: &str, outcome: &str) {
    assert_eq!(
        status(doc, check),
        "unknown",
        "{check}: {:#}",
        doc["findings"]
    );
    let f = finding(doc, id);
    assert_eq!(f["evidence"]["outcome"], outcome, "{f:#}");
    // The run is unknown, unless another check found an error.
    let other_failed = doc["checks"]
        .as_object()
        .unwrap()
        .iter()
        .any(|(id, c)| id != check && c["status"] == "fail");
    let want = if other_failed { "fail" } else { "unknown" };
    assert_eq!(doc["summary"]["status"], want, "{:#}", doc["findings"]);
    assert!(doc["summary"]["unknown"].as_u64().unwrap() >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spf_timeout_is_unknown() {
    let env = Env::world().await;
    env.server
        .set_fault_for("clean.test", RecordType::TXT, Fault::Drop);
    let doc = env
        .audit("clean.test", &["192.0.2.1"], Some("mx.clean.test"))
        .await;
    assert_unknown(&doc, "spf", "spf.dns-error", "timeout");
    assert_eq!(
        doc["checks"]["spf"]["evaluations"][0]["result"],
        "temperror"
    );
    assert!(!ids(&doc).contains(&"spf.missing".to_string()));
    assert_eq!(doc["stats"]["by_outcome"]["timeout"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spf_include_servfail_is_unknown() {
    let env = Env::world().await;
    env.server.set_fault("broken.test", Fault::ServFail);
    let doc = env.audit("dnserr.test", &["192.0.2.1"], None).await;
    assert_unknown(&doc, "spf", "spf.dns-error", "servfail");
    assert_eq!(
        doc["checks"]["spf"]["evaluations"][0]["result"],
        "temperror"
    );
    assert!(!ids(&doc).contains(&"spf.include-no-spf".to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dmarc_servfail_is_unknown() {
    let env = Env::world().await;
    env.server.set_fault("_dmarc.clean.test", Fault::ServFail);
    let doc = env
        .audit("clean.test", &["192.0.2.1"], Some("mx.clean.test"))
        .await;
    assert_unknown(&doc, "dmarc", "dmarc.dns-error", "servfail");
    assert!(!ids(&doc).contains(&"dmarc.missing".to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dmarc_parent_timeout_is_unknown() {
    // No record at the domain, and its parent does not answer: the walk
    // cannot say the domain has no policy.
    let env = Env::world().await;
    env.server.set_fault("_dmarc.test", Fault::Drop);
    let doc = env.audit("nodmarc.test", &["192.0.2.1"], None).await;
    assert_unknown(&doc, "dmarc", "dmarc.dns-error", "timeout");
    assert!(!ids(&doc).contains(&"dmarc.missing".to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mx_refused_is_unknown() {
    let env = Env::world().await;
    env.server
        .set_fault_for("clean.test", RecordType::MX, Fault::Refused);
    let doc = env
        .audit("clean.test", &["192.0.2.1"], Some("mx.clean.test"))
        .await;
    assert_unknown(&doc, "mx", "mx.dns-error", "refused");
    assert!(!ids(&doc).contains(&"mx.missing".to_string()));
    // The SPF mx term needs the same answer: SPF is unknown too, not failed.
    assert_eq!(status(&doc, "spf"), "unknown");
    assert_eq!(doc["checks"]["spf"]["evaluations"][0]["result"], "pass");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mx_host_timeout_is_unknown() {
    let env = Env::world().await;
    env.server.set_fault("mx.clean.test", Fault::Drop);
    let doc = env.audit("clean.test", &["192.0.2.1"], None).await;
    assert_unknown(&doc, "mx", "mx.dns-error", "timeout");
    assert!(!ids(&doc).contains(&"mx.no-address".to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ptr_faults_are_unknown() {
    let env = Env::world().await;
    env.server
        .set_fault("1.2.0.192.in-addr.arpa", Fault::Refused);
    let doc = env
        .audit("clean.test", &["192.0.2.1"], Some("mx.clean.test"))
        .await;
    assert_unknown(&doc, "ptr", "ptr.dns-error", "refused");
    assert!(!ids(&doc).contains(&"ptr.missing".to_string()));

    let env = Env::world().await;
    env.server.set_fault("1.2.0.192.in-addr.arpa", Fault::Drop);
    let doc = env
        .audit("clean.test", &["192.0.2.1"], Some("mx.clean.test"))
        .await;
    assert_unknown(&doc, "ptr", "ptr.dns-error", "timeout");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_answers_are_retried_over_tcp() {
    let env = Env::world().await;
    env.server
        .set_fault_for("long.test", RecordType::TXT, Fault::Truncate);
    let doc = env.audit("long.test", &["192.0.2.1"], None).await;
    assert_eq!(doc["checks"]["spf"]["evaluations"][0]["result"], "pass");
    assert!(
        doc["checks"]["spf"]["record"]
            .as_str()
            .unwrap()
            .ends_with("ip4:192.0.2.1 -all")
    );
    assert!(!ids(&doc).contains(&"spf.dns-error".to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_answers_within_the_timeout_are_used() {
    let env = Env::world().await;
    env.server.set_fault(
        "_dmarc.clean.test",
        Fault::Delay(std::time::Duration::from_millis(100)),
    );
    let doc = env
        .audit("clean.test", &["192.0.2.1"], Some("mx.clean.test"))
        .await;
    assert_eq!(status(&doc, "dmarc"), "pass");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_outside_the_loaded_zones_are_not_checked_offline() {
    let env = Env::with(WORLD, |c| {
        c.scope = Some(vec!["test".into(), "2.0.192.in-addr.arpa".into()]);
    })
    .await;
    let doc = env.audit("offline.test", &["192.0.2.1"], None).await;
    assert_unknown(&doc, "spf", "spf.dns-error", "not_checked");
    assert_eq!(doc["stats"]["by_outcome"]["not_checked"], 1);
    assert_eq!(
        env.server
            .queries_for("_spf.elsewhere.example", RecordType::TXT),
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn own_dmarc_and_mx_timeouts_are_unknown() {
    let env = Env::world().await;
    env.server.set_fault("_dmarc.clean.test", Fault::Drop);
    env.server
        .set_fault_for("clean.test", RecordType::MX, Fault::Drop);
    let doc = env
        .audit("clean.test", &["192.0.2.1"], Some("mx.clean.test"))
        .await;
    assert_unknown(&doc, "dmarc", "dmarc.dns-error", "timeout");
    assert_unknown(&doc, "mx", "mx.dns-error", "timeout");
    assert!(!ids(&doc).contains(&"mx.missing".to_string()));
    assert!(!ids(&doc).contains(&"dmarc.missing".to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dkim_probe_timeout_is_unknown() {
    // The domain's key is found by the probe, but one probed selector does
    // not answer: it might hold a weak or revoked key.
    let env = Env::world().await;
    env.server
        .set_fault("selector1._domainkey.clean.test", Fault::Drop);
    let doc = env
        .audit("clean.test", &["192.0.2.1"], Some("mx.clean.test"))
        .await;
    assert_unknown(&doc, "dkim", "dkim.dns-error", "timeout");
    assert!(!ids(&doc).contains(&"dkim.no-key-found".to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forward_confirmation_timeout_is_unknown() {
    // The PTR answers; the A lookup of its name does not.
    let env = Env::world().await;
    env.server
        .set_fault_for("mx.clean.test", RecordType::A, Fault::Drop);
    let doc = env
        .audit("clean.test", &["192.0.2.1"], Some("mx.clean.test"))
        .await;
    assert_unknown(&doc, "ptr", "ptr.dns-error", "timeout");
    assert!(!ids(&doc).contains(&"ptr.not-forward-confirmed".to_string()));
    assert!(!ids(&doc).contains(&"ptr.helo-mismatch".to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocklist_health_test_timeout_is_unknown() {
    let env = Env::new(crate::common::LISTS).await.lists(&["bl.test"]);
    env.server.set_fault("2.0.0.127.bl.test", Fault::Drop);
    let doc = env.blacklist(&["192.0.2.1", "192.0.2.10"], false).await;
    assert_eq!(status(&doc, "dnsbl"), "unknown", "{:#}", doc["findings"]);
    for ip in ["192.0.2.1", "192.0.2.10"] {
        assert_eq!(
            crate::common::result(&doc, ip, "bl.test")["status"],
            "unknown"
        );
    }
    assert_eq!(doc["checks"]["dnsbl"]["counts"]["clear"], 0);
    assert!(
        finding(&doc, "dnsbl.list-unhealthy")["evidence"]["reason"]
            .as_str()
            .unwrap()
            .contains("timed out")
    );
}

//! MTA-STS over real DNS and a real HTTPS server on loopback, with
//! certificates made at test time: one scenario per finding and a clean
//! policy that triggers none.

use std::time::Duration;

use mailaudit::engine::{Engine, Request};
use mailaudit::reach::Reach;
use mailaudit::report::json;
use mailaudit::rules::Rules;
use mailaudit::smtp::roots;
use mailaudit::web::WebOptions;
use serde_json::Value;

use crate::common::{Fault, FaultServer, ids};
use crate::https_support::{Answer, start};
use crate::smtp::cert;

const GOOD_POLICY: &str = "version: STSv1\r\nmode: enforce\r\nmx: mx1.sts.test\r\nmx: *.backup.sts.test\r\nmax_age: 604800\r\n";

fn zone(record: &str) -> String {
    format!(
        "$ORIGIN sts.test.\n$TTL 300\n@ IN SOA ns.sts.test. h.sts.test. 1 3600 600 86400 300\n@ IN NS ns.sts.test.\nns IN A 127.0.0.53\n\
         @ IN MX 10 mx1.sts.test.\n@ IN MX 20 b1.backup.sts.test.\nmx1 IN A 192.0.2.25\nb1.backup IN A 192.0.2.26\n\
         mta-sts IN A 127.0.0.1\n{record}\n"
    )
}

pub struct Setup {
    pub record: &'static str,
    pub answer: Answer,
    /// Names the certificate is for (None: the policy host's).
    pub cert_names: Option<&'static [&'static str]>,
    pub expired: bool,
    pub trust: bool,
    pub no_server: bool,
    pub fault: Option<(&'static str, Fault)>,
    pub reach: Reach,
}

impl Setup {
    pub fn policy(body: &str) -> Setup {
        Setup {
            record: "_mta-sts IN TXT \"v=STSv1; id=20261128\"",
            answer: Answer {
                status: 200,
                content_type: "text/plain",
                body: body.to_string(),
            },
            cert_names: None,
            expired: false,
            trust: true,
            no_server: false,
            fault: None,
            reach: Reach::Any,
        }
    }
}

pub async fn run(s: Setup) -> Value {
    let names = s.cert_names.unwrap_or(&["mta-sts.sts.test"]);
    let tls = if s.expired {
        cert(names, -100, -10)
    } else {
        cert(names, -1, 90)
    };
    let server = start(tls, s.answer).await;
    let port = if s.no_server {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    } else {
        server.addr.port()
    };
    let dns_server = FaultServer::from_texts(&[zone(s.record)]).await;
    if let Some((name, fault)) = s.fault {
        dns_server.set_fault(name, fault);
    }
    let dns = crate::common::resolver_for(&dns_server);
    let extra = if s.trust {
        vec![crate::smtp::ca_cert()]
    } else {
        Vec::new()
    };
    let mut req = Request::audit("sts.test");
    req.checks = Some(["mta-sts".to_string()].into());
    req.target.web = Some(WebOptions {
        connect_to: None,
        port,
        timeout: Duration::from_secs(3),
        roots: std::sync::Arc::new(roots(&extra).unwrap()),
        reach: s.reach,
    });
    let doc = json::to_value(&Engine::new(dns, Rules::embedded()).run(&req).await);
    drop(server);
    doc
}

pub async fn scenario(id: &str) -> Value {
    let setup = match id {
        "mta-sts.missing" => Setup {
            record: "",
            ..Setup::policy(GOOD_POLICY)
        },
        "mta-sts.invalid-record" => Setup {
            record: "_mta-sts IN TXT \"v=STSv1; id=not-valid!\"",
            ..Setup::policy(GOOD_POLICY)
        },
        "mta-sts.policy-unreachable" => Setup {
            no_server: true,
            ..Setup::policy(GOOD_POLICY)
        },
        // A service (reaching public addresses only) and a policy host on
        // loopback: not fetched, unknown.
        "mta-sts.policy-not-fetched" => Setup {
            reach: Reach::Public,
            ..Setup::policy(GOOD_POLICY)
        },
        "mta-sts.policy-cert-invalid" => Setup {
            cert_names: Some(&["www.sts.test"]),
            ..Setup::policy(GOOD_POLICY)
        },
        "mta-sts.policy-invalid" => Setup::policy("<html>Welcome to nginx!</html>"),
        "mta-sts.mode-testing" => Setup::policy(&GOOD_POLICY.replace("enforce", "testing")),
        "mta-sts.mode-none" => Setup::policy("version: STSv1\r\nmode: none\r\nmax_age: 86400\r\n"),
        "mta-sts.max-age-short" => Setup::policy(&GOOD_POLICY.replace("604800", "3600")),
        "mta-sts.mx-not-covered" => {
            Setup::policy(&GOOD_POLICY.replace("mx: *.backup.sts.test\r\n", ""))
        }
        "mta-sts.dns-error" => Setup {
            fault: Some(("mta-sts.sts.test", Fault::ServFail)),
            ..Setup::policy(GOOD_POLICY)
        },
        other => panic!("no MTA-STS scenario for {other}"),
    };
    run(setup).await
}

fn sts_ids(doc: &Value) -> Vec<String> {
    ids(doc)
        .into_iter()
        .filter(|i| i.starts_with("mta-sts."))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_enforced_policy_that_covers_every_mx_passes() {
    let doc = run(Setup::policy(GOOD_POLICY)).await;
    assert_eq!(sts_ids(&doc), Vec::<String>::new(), "{:#}", doc["findings"]);
    let c = &doc["checks"]["mta-sts"];
    assert_eq!(c["status"], "pass", "{c:#}");
    assert_eq!(c["mode"], "enforce");
    assert_eq!(c["max_age"], 604800);
    assert_eq!(c["uncovered"], serde_json::json!([]));
    assert_eq!(doc["passed"]["mta-sts"].as_array().unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_problem_is_its_finding_and_only_that() {
    for id in [
        "mta-sts.missing",
        "mta-sts.invalid-record",
        "mta-sts.policy-unreachable",
        "mta-sts.policy-not-fetched",
        "mta-sts.policy-cert-invalid",
        "mta-sts.policy-invalid",
        "mta-sts.mode-testing",
        "mta-sts.mode-none",
        "mta-sts.max-age-short",
        "mta-sts.mx-not-covered",
        "mta-sts.dns-error",
    ] {
        let doc = scenario(id).await;
        assert_eq!(sts_ids(&doc), [id], "{id}: {:#}", doc["findings"]);
    }
    // An untrusted or expired certificate is as bad as a wrong name.
    for setup in [
        Setup {
            trust: false,
            ..Setup::policy(GOOD_POLICY)
        },
        Setup {
            expired: true,
            ..Setup::policy(GOOD_POLICY)
        },
    ] {
        let doc = run(setup).await;
        assert_eq!(
            sts_ids(&doc),
            ["mta-sts.policy-cert-invalid"],
            "{:#}",
            doc["findings"]
        );
    }
    // A redirect is not followed; a JSON content type is a warning.
    let mut moved = Setup::policy(GOOD_POLICY);
    moved.answer.status = 301;
    let doc = run(moved).await;
    assert_eq!(sts_ids(&doc), ["mta-sts.policy-unreachable"]);
    let mut json_type = Setup::policy(GOOD_POLICY);
    json_type.answer.content_type = "application/json";
    let doc = run(json_type).await;
    assert_eq!(sts_ids(&doc), ["mta-sts.policy-invalid"]);
    assert_eq!(
        crate::common::finding(&doc, "mta-sts.policy-invalid")["severity"],
        "warning"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_that_is_not_fetched_is_not_judged() {
    let env = crate::common::Env::world().await;
    let mut req = Request::audit("clean.test");
    req.checks = Some(["mta-sts".to_string()].into());
    let doc = env.run(&req).await;
    let c = &doc["checks"]["mta-sts"];
    assert_eq!(c["status"], "skipped", "{c:#}");
    assert!(
        c["reason"].as_str().unwrap().contains("not fetched"),
        "{c:#}"
    );
    assert_eq!(doc["passed"].get("mta-sts"), None);
}

/// Issue 18.5: with the MX lookup failed, which hosts the policy must
/// cover is unknown: never a pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_mx_lookup_leaves_coverage_unknown() {
    let doc = run(Setup {
        fault: Some(("sts.test", Fault::ServFail)),
        ..Setup::policy(GOOD_POLICY)
    })
    .await;
    let c = &doc["checks"]["mta-sts"];
    assert_eq!(c["status"], "unknown", "{c:#}");
    assert_eq!(
        sts_ids(&doc),
        ["mta-sts.dns-error"],
        "{:#}",
        doc["findings"]
    );
}

/// Issue 18.5: no TLS-RPT record, no MTA-STS, and the MX hosts' TLSA
/// lookups failed: whether DANE is deployed (and so how much the missing
/// record matters) is unknown, never "no DANE".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_rpt_with_a_failed_tlsa_lookup_is_unknown() {
    let server = FaultServer::from_texts(&[zone("")]).await;
    let engine = Engine::new(crate::common::resolver_for(&server), Rules::embedded());
    let mut req = Request::audit("sts.test");
    req.checks = Some(["tls-rpt".to_string()].into());
    let clean = json::to_value(&engine.run(&req).await);
    assert_eq!(
        clean["checks"]["tls-rpt"]["status"], "pass",
        "{:#}",
        clean["findings"]
    );
    server.set_fault("_25._tcp.mx1.sts.test", Fault::ServFail);
    let engine = Engine::new(crate::common::resolver_for(&server), Rules::embedded());
    let doc = json::to_value(&engine.run(&req).await);
    assert_eq!(
        doc["checks"]["tls-rpt"]["status"], "unknown",
        "{:#}",
        doc["findings"]
    );
    assert_eq!(ids(&doc), ["tls-rpt.missing", "tls-rpt.dns-error"]);
}

//! BIMI over real DNS and a real HTTPS server on loopback serving the
//! logo: one scenario per finding and a good logo that triggers none.

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
use crate::smtp::{ca_cert, cert};

const LOGO: &str = r#"<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" version="1.2" baseProfile="tiny-ps" viewBox="0 0 10 10"><title>Example</title><rect width="10" height="10"/></svg>"#;

const RECORD: &str = "default._bimi IN TXT \"v=BIMI1; l=https://logo.bimi.test/logo.svg\"";
const ENFORCED: &str = "_dmarc IN TXT \"v=DMARC1; p=reject; rua=mailto:d@bimi.test\"";

struct Setup {
    record: &'static str,
    dmarc: &'static str,
    answer: Answer,
    fault: Option<(&'static str, Fault)>,
    reach: Reach,
}

fn setup() -> Setup {
    Setup {
        record: RECORD,
        dmarc: ENFORCED,
        answer: Answer {
            status: 200,
            content_type: "image/svg+xml",
            body: LOGO.into(),
        },
        fault: None,
        reach: Reach::Any,
    }
}

async fn run(s: Setup) -> Value {
    let server = start(cert(&["logo.bimi.test"], -1, 90), s.answer).await;
    let zone = format!(
        "$ORIGIN bimi.test.\n$TTL 300\n@ IN SOA ns.bimi.test. h.bimi.test. 1 3600 600 86400 300\n@ IN NS ns.bimi.test.\nns IN A 127.0.0.53\n\
         @ IN MX 10 mx.bimi.test.\nmx IN A 192.0.2.25\nlogo IN A 127.0.0.1\n{}\n{}\n",
        s.record, s.dmarc
    );
    let dns_server = FaultServer::from_texts(&[zone]).await;
    if let Some((name, fault)) = s.fault {
        dns_server.set_fault(name, fault);
    }
    let dns = crate::common::resolver_for(&dns_server);
    let mut req = Request::audit("bimi.test");
    req.checks = Some(["bimi".to_string()].into());
    req.target.web = Some(WebOptions {
        connect_to: None,
        port: server.addr.port(),
        timeout: Duration::from_secs(3),
        roots: std::sync::Arc::new(roots(&[ca_cert()]).unwrap()),
        reach: s.reach,
    });
    json::to_value(&Engine::new(dns, Rules::embedded()).run(&req).await)
}

pub async fn scenario(id: &str) -> Value {
    let s = match id {
        "bimi.missing" => Setup {
            record: "",
            ..setup()
        },
        "bimi.invalid-record" => Setup {
            record: "default._bimi IN TXT \"v=BIMI1; l=http://logo.bimi.test/logo.svg\"",
            ..setup()
        },
        "bimi.dmarc-not-enforced" => Setup {
            dmarc: "_dmarc IN TXT \"v=DMARC1; p=none; rua=mailto:d@bimi.test\"",
            ..setup()
        },
        "bimi.logo-unreachable" => {
            let mut s = setup();
            s.answer.status = 404;
            s
        }
        // A service (reaching public addresses only) and a logo host on
        // loopback: not fetched, unknown.
        "bimi.logo-not-fetched" => Setup {
            reach: Reach::Public,
            ..setup()
        },
        "bimi.logo-not-tiny-ps" => {
            let mut s = setup();
            s.answer.body = LOGO.replace("tiny-ps", "tiny");
            s
        }
        "bimi.dns-error" => Setup {
            fault: Some(("default._bimi.bimi.test", Fault::ServFail)),
            ..setup()
        },
        other => panic!("no BIMI scenario for {other}"),
    };
    run(s).await
}

fn bimi_ids(doc: &Value) -> Vec<String> {
    ids(doc)
        .into_iter()
        .filter(|i| i.starts_with("bimi."))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tiny_ps_logo_under_enforced_dmarc_passes() {
    let doc = run(setup()).await;
    assert_eq!(
        bimi_ids(&doc),
        Vec::<String>::new(),
        "{:#}",
        doc["findings"]
    );
    assert_eq!(doc["checks"]["bimi"]["status"], "pass");
    assert_eq!(doc["checks"]["bimi"]["logo_ok"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_problem_is_its_finding_and_only_that() {
    for id in [
        "bimi.missing",
        "bimi.invalid-record",
        "bimi.dmarc-not-enforced",
        "bimi.logo-unreachable",
        "bimi.logo-not-fetched",
        "bimi.logo-not-tiny-ps",
        "bimi.dns-error",
    ] {
        let doc = scenario(id).await;
        assert_eq!(bimi_ids(&doc), [id], "{id}: {:#}", doc["findings"]);
    }
    // A logo with a script is refused too.
    let mut s = setup();
    s.answer.body = LOGO.replace("<title>", "<script>alert(1)</script><title>");
    assert_eq!(bimi_ids(&run(s).await), ["bimi.logo-not-tiny-ps"]);
}

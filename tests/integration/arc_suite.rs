//! The public ARC validation suite (ValiMail's arc_test_suite, its
//! `arc-draft-validation-tests.yml`, in the OpenSPF suite's YAML style)
//! run through the ARC check over real DNS: each scenario's
//! `txt-records` are served by the embedded server, each test's message is
//! validated by the `arc` check as in an audit, and its chain result must
//! be the suite's `cv` (None, Pass, Fail).
//!
//! The suite is not copied into this repository: its repository carries no
//! licence. Point `MAILAUDIT_ARC_SUITE` at a copy of the file to run it
//! (docs/conformance.md says where to get it and which commit was run);
//! without it the test says it was skipped.

use std::sync::Arc;
use std::time::Duration;

use hickory_proto::rr::rdata::TXT;
use hickory_proto::rr::{RData, Record};
use mailaudit::dns::server::ZoneServer;
use mailaudit::dns::{Dns, DnsConfig};
use mailaudit::engine::{Engine, Request};
use mailaudit::message::Loaded;
use mailaudit::report::json;
use mailaudit::rules::Rules;
use yaml_rust2::{Yaml, YamlLoader};

use crate::conformance::{ScenarioDns, name, text};

/// The scenario's key records. The suite writes long values folded over
/// lines; the line breaks are not part of the record. Values longer than a
/// DNS character-string are split as a zone file would split them.
fn scenario_dns(records: &Yaml) -> ScenarioDns {
    let mut dns = ScenarioDns::default();
    let Some(map) = records.as_hash() else {
        return dns;
    };
    for (owner, value) in map {
        let owner = text(owner).to_ascii_lowercase();
        let owner = owner.trim_end_matches('.').to_string();
        let Some(owner_n) = name(&owner) else {
            continue;
        };
        let value: String = text(value).split(['\n', '\r']).collect();
        if value.trim() == "TIMEOUT" {
            dns.timeouts.push(owner);
            continue;
        }
        let chunks = value
            .as_bytes()
            .chunks(255)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect();
        dns.records
            .entry(owner)
            .or_default()
            .push(Record::from_rdata(
                owner_n,
                300,
                RData::TXT(TXT::new(chunks)),
            ));
    }
    dns
}

struct Outcome {
    id: String,
    want: String,
    got: String,
    reason: String,
}

impl Outcome {
    /// The suite's `None` is no chain: a message without ARC header
    /// fields, or a file with no header at all to read one from (which
    /// mailaudit calls `unreadable`, and says why).
    fn passes(&self) -> bool {
        self.want == self.got || (self.want == "none" && self.got == "unreadable")
    }
}

/// The suite's message as the bytes a receiver holds: CRLF line ends.
fn message(y: &Yaml) -> Vec<u8> {
    let lf = match y {
        Yaml::BadValue | Yaml::Null => String::new(),
        other => text(other),
    };
    lf.replace("\r\n", "\n").replace('\n', "\r\n").into_bytes()
}

async fn run_suite(path: &std::path::Path) -> Vec<Outcome> {
    let suite = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("MAILAUDIT_ARC_SUITE {}: {e}", path.display()));
    let docs = YamlLoader::load_from_str(&suite).expect("the suite parses");
    let mut out = Vec::new();
    for doc in &docs {
        let scenario = doc["description"]
            .as_str()
            .unwrap_or("?")
            .trim()
            .to_string();
        let records = match &doc["txt-records"] {
            Yaml::BadValue => &doc["txt_records"],
            r => r,
        };
        let interceptor = Arc::new(scenario_dns(records));
        let server = ZoneServer::start_with(Vec::new(), Some(interceptor))
            .await
            .expect("server");
        let domain = doc["domain"].as_str().unwrap_or("example.org");
        let Some(tests) = doc["tests"].as_hash() else {
            continue;
        };
        for (test_name, t) in tests {
            // A fresh resolver and engine for each test: no key is shared.
            let dns = Dns::new(DnsConfig {
                nameservers: vec![server.addr()],
                timeout: Duration::from_millis(700),
                retries: 1,
                concurrency: 16,
                scope: None,
                trust_anchor: None,
            })
            .expect("resolver");
            let engine = Engine::new(dns, Rules::embedded());
            let bytes = message(&t["message"]);
            let mut req = Request::audit(domain);
            req.checks = Some(["arc".to_string()].into());
            req.target.messages = vec![Loaded {
                path: text(test_name),
                size: bytes.len() as u64,
                bytes,
                truncated: false,
            }];
            let doc = json::to_value(&engine.run(&req).await);
            let chain = &doc["checks"]["arc"]["messages"][0];
            out.push(Outcome {
                id: format!("{scenario} / {}", text(test_name)),
                want: text(&t["cv"]).to_ascii_lowercase(),
                got: chain["result"]
                    .as_str()
                    .unwrap_or("(no result)")
                    .to_string(),
                reason: chain["reason"].as_str().unwrap_or_default().to_string(),
            });
        }
    }
    out
}

/// Cases we do not pass: the case, the result mailaudit gives and why
/// (also in docs/conformance.md). Empty: none is known.
const EXCEPTIONS: &[(&str, &str, &str)] = &[];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_public_arc_validation_suite() {
    let Some(path) = std::env::var_os("MAILAUDIT_ARC_SUITE") else {
        eprintln!(
            "skipped: the public ARC suite is not in this repository (no licence); set \
             MAILAUDIT_ARC_SUITE to a copy of arc-draft-validation-tests.yml (docs/conformance.md)"
        );
        return;
    };
    let results = run_suite(std::path::Path::new(&path)).await;
    assert!(!results.is_empty(), "the suite holds no test");
    let failed: Vec<&Outcome> = results.iter().filter(|o| !o.passes()).collect();
    for o in &failed {
        eprintln!(
            "MISS {}: want {}, got {} ({})",
            o.id, o.want, o.got, o.reason
        );
    }
    eprintln!(
        "ARC validation suite: {} of {} pass",
        results.len() - failed.len(),
        results.len()
    );
    for o in &failed {
        assert!(
            EXCEPTIONS
                .iter()
                .any(|(id, got, _)| *id == o.id && *got == o.got),
            "{} ({}) is not a documented exception",
            o.id,
            o.got
        );
    }
}

//! The OpenSPF RFC 7208 test suite (tests/fixtures/conformance, BSD
//! licence beside it), run through the library over real DNS: each
//! scenario's zone data is served by the embedded server (an interceptor
//! that answers every question from the scenario, TIMEOUT entries by not
//! answering), and each test's transaction is evaluated as a receiver
//! would (`check_transaction`).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::{A, AAAA, CNAME, MX, PTR, SOA, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use mailaudit::dns::server::{Intercept, Interceptor, ZoneServer};
use mailaudit::dns::{Dns, DnsConfig};
use mailaudit::facts::spf::check_transaction;
use yaml_rust2::{Yaml, YamlLoader};

use crate::common::fixture;

/// One scenario's DNS: records by lower-case name, and the names whose
/// other types time out.
///
/// Two conventions of the suite's drivers are kept: TIMEOUT at a name makes
/// the types it has no record of time out (its records still answer), and
/// `NONE` stands for no record. One thing the zone data leaves out is
/// served as the real DNS has it: every top-level domain exists (an SOA
/// record), since mailaudit asks a TLD before it believes an NXDOMAIN.
#[derive(Default)]
pub(crate) struct ScenarioDns {
    pub(crate) records: HashMap<String, Vec<Record>>,
    pub(crate) timeouts: Vec<String>,
}

#[async_trait::async_trait]
impl Interceptor for ScenarioDns {
    async fn intercept(&self, name: &str, rtype: RecordType, _tcp: bool) -> Intercept {
        if rtype == RecordType::SOA && !name.contains('.') {
            let tld = self::name(name).expect("tld");
            let soa = SOA::new(tld.clone(), tld.clone(), 1, 3600, 600, 86400, 300);
            return Intercept::Answer(vec![Record::from_rdata(tld, 300, RData::SOA(soa))]);
        }
        let has_type = self
            .records
            .get(name)
            .is_some_and(|rrs| rrs.iter().any(|r| r.record_type() == rtype));
        if !has_type && self.timeouts.iter().any(|t| t == name) {
            return Intercept::Silence;
        }
        match self.records.get(name) {
            None => Intercept::Rcode(ResponseCode::NXDomain),
            Some(rrs) => {
                let cname: Vec<Record> = rrs
                    .iter()
                    .filter(|r| r.record_type() == RecordType::CNAME)
                    .cloned()
                    .collect();
                if !cname.is_empty() && rtype != RecordType::CNAME {
                    return Intercept::Answer(cname);
                }
                Intercept::Answer(
                    rrs.iter()
                        .filter(|r| r.record_type() == rtype)
                        .cloned()
                        .collect(),
                )
            }
        }
    }
}

pub(crate) fn text(y: &Yaml) -> String {
    match y {
        Yaml::String(s) => s.clone(),
        Yaml::Integer(i) => i.to_string(),
        Yaml::Real(r) => r.clone(),
        Yaml::Boolean(b) => b.to_string(),
        other => panic!("not a scalar: {other:?}"),
    }
}

/// A name from its labels as written (the suite has names with spaces and
/// percent signs, which the presentation-format parser refuses).
pub(crate) fn name(s: &str) -> Option<Name> {
    let mut n = Name::from_labels(s.trim_end_matches('.').split('.').map(str::as_bytes)).ok()?;
    n.set_fqdn(true);
    Some(n)
}

fn txt(value: &Yaml) -> TXT {
    match value {
        Yaml::Array(parts) => TXT::new(parts.iter().map(text).collect()),
        other => TXT::new(vec![text(other)]),
    }
}

/// The scenario's zone data as records; SPF-type records are served as
/// TXT where a name has no TXT record of its own (the suite's convention
/// for drivers of implementations that ask for TXT only).
fn scenario_dns(zonedata: &Yaml) -> ScenarioDns {
    let mut dns = ScenarioDns::default();
    let Some(zones) = zonedata.as_hash() else {
        return dns;
    };
    for (owner, entries) in zones {
        let owner_s = text(owner).to_ascii_lowercase();
        let owner_s = owner_s.trim_end_matches('.').to_string();
        let Some(owner_n) = name(&owner_s) else {
            continue;
        };
        let mut rrs: Vec<Record> = Vec::new();
        let mut spf: Vec<TXT> = Vec::new();
        let mut has_txt = false;
        for entry in entries.as_vec().into_iter().flatten() {
            if let Yaml::String(s) = entry
                && s == "TIMEOUT"
            {
                dns.timeouts.push(owner_s.clone());
                continue;
            }
            let Some(map) = entry.as_hash() else { continue };
            for (k, v) in map {
                // Any TXT entry, NONE included, means the SPF-type records
                // are not copied to TXT.
                if text(k) == "TXT" {
                    has_txt = true;
                }
                if matches!(v, Yaml::String(s) if s == "NONE") {
                    continue;
                }
                let data = match text(k).as_str() {
                    "A" => text(v).parse().ok().map(|ip| RData::A(A(ip))),
                    "AAAA" => text(v).parse().ok().map(|ip| RData::AAAA(AAAA(ip))),
                    "TXT" => Some(RData::TXT(txt(v))),
                    "SPF" => {
                        spf.push(txt(v));
                        None
                    }
                    "MX" => {
                        let v = v.as_vec().expect("MX [pref, host]");
                        let pref = v[0].as_i64().unwrap_or(0) as u16;
                        name(&text(&v[1])).map(|h| RData::MX(MX::new(pref, h)))
                    }
                    "PTR" => name(&text(v)).map(|n| RData::PTR(PTR(n))),
                    "CNAME" => name(&text(v)).map(|n| RData::CNAME(CNAME(n))),
                    _ => None,
                };
                if let Some(d) = data {
                    rrs.push(Record::from_rdata(owner_n.clone(), 300, d));
                }
            }
        }
        if !has_txt {
            for t in spf {
                rrs.push(Record::from_rdata(owner_n.clone(), 300, RData::TXT(t)));
            }
        }
        dns.records.entry(owner_s).or_default().extend(rrs);
    }
    dns
}

struct Outcome {
    id: String,
    spec: String,
    want: Vec<String>,
    got: String,
    reason: String,
    /// The explanation the case expects ("DEFAULT": the receiver's own),
    /// and ours.
    want_explanation: Option<String>,
    explanation: Option<String>,
}

impl Outcome {
    fn passes(&self) -> bool {
        self.want.contains(&self.got)
            && match &self.want_explanation {
                None => true,
                Some(w) if w == "DEFAULT" => self.explanation.is_none(),
                Some(w) => self.explanation.as_ref() == Some(w),
            }
    }
}

/// Runs every test of the suite; returns each test's outcome.
async fn run_suite() -> Vec<Outcome> {
    let text_yaml = std::fs::read_to_string(fixture("conformance/rfc7208-tests.yml")).unwrap();
    let docs = YamlLoader::load_from_str(&text_yaml).expect("the suite parses");
    let mut out = Vec::new();
    for doc in &docs {
        let scenario = doc["description"].as_str().unwrap_or("?").to_string();
        let interceptor = Arc::new(scenario_dns(&doc["zonedata"]));
        let server = ZoneServer::start_with(Vec::new(), Some(interceptor))
            .await
            .expect("server");
        let Some(tests) = doc["tests"].as_hash() else {
            continue;
        };
        for (test_name, t) in tests {
            // A fresh resolver for each test: no answer is shared.
            let dns = Dns::new(DnsConfig {
                nameservers: vec![server.addr()],
                timeout: Duration::from_millis(500),
                retries: 0,
                concurrency: 32,
                scope: None,
                trust_anchor: None,
            })
            .unwrap();
            let ip: IpAddr = text(&t["host"]).parse().expect("host");
            let mail_from = text(&t["mailfrom"]);
            let helo = text(&t["helo"]);
            let want: Vec<String> = match &t["result"] {
                Yaml::Array(list) => list.iter().map(text).collect(),
                one => vec![text(one)],
            };
            let e = check_transaction(&dns, ip, &mail_from, &helo).await;
            out.push(Outcome {
                id: format!("{scenario} / {}", text(test_name)),
                spec: match &t["spec"] {
                    Yaml::Array(list) => list.iter().map(text).collect::<Vec<_>>().join(", "),
                    Yaml::BadValue => String::new(),
                    one => text(one),
                },
                want,
                got: e.result.as_str().to_string(),
                reason: e.matched.or(e.reason).unwrap_or_default(),
                // The explanation is shown with a fail only.
                want_explanation: match &t["explanation"] {
                    Yaml::BadValue => None,
                    _ if e.result.as_str() != "fail" => None,
                    w => Some(text(w)),
                },
                explanation: e.explanation,
            });
        }
    }
    out
}

/// Cases we do not pass: the case, the result mailaudit gives (the only
/// way it may fail) and the reason (also in docs/conformance.md).
const EXCEPTIONS: &[(&str, &str, &str)] = &[(
    "Macro expansion rules / v-macro-ip6",
    "fail",
    "the result (fail) is right; the explanation writes the IPv6 nibbles of %{i} in lower case, \
     as RFC 7208 §7.4's own example does (1.0.b.c.0...ip6), where the suite expects upper case",
)];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openspf_rfc7208_suite() {
    let results = run_suite().await;
    assert_eq!(results.len(), 203, "the whole suite ran");
    let failed: Vec<&Outcome> = results.iter().filter(|o| !o.passes()).collect();
    for o in &failed {
        eprintln!(
            "MISS {} (RFC 7208 §{}): want {:?} {:?}, got {} {:?} ({})",
            o.id, o.spec, o.want, o.want_explanation, o.got, o.explanation, o.reason
        );
    }
    let passed = results.len() - failed.len();
    eprintln!("OpenSPF RFC 7208 suite: {passed} of {} pass", results.len());
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
    // An exception that no longer fails is stale: it goes.
    for (id, _, _) in EXCEPTIONS {
        assert!(
            failed.iter().any(|o| o.id == *id),
            "{id} passes now: remove its exception here and in docs/conformance.md"
        );
    }
}

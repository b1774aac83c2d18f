//! DNSSEC and DANE over a signed root served by the embedded server: the
//! chain of trust starts at a root key made at test time (the trust
//! anchor), as a receiver's validating resolver starts at IANA's.
//!
//! The root delegates `signed.test` (signed, with its DS), `bogus.test`
//! (signed, but the root's DS is for another key: the commonest real
//! breakage, after a key change or a move of DNS host) and `plain.test`
//! (unsigned, delegated without DS). Each child has an MX host `mx.<child>`
//! at 127.0.0.1, where the DANE tests run a real SMTP server.

use std::io::Write;
use std::time::Duration;

use hickory_proto::rr::RecordType;
use mailaudit::dns::dnssec::{Validation, ZoneKey};
use mailaudit::dns::server::Zone;
use mailaudit::dns::{Dns, DnsConfig};
use mailaudit::engine::{Engine, Request};
use mailaudit::facts::SmtpTarget;
use mailaudit::report::json;
use mailaudit::rules::Rules;
use mailaudit::smtp::{ProbeOptions, roots};
use serde_json::Value;
use sha2::Digest;

use crate::common::{Fault, TIMEOUT, finding, ids, status};
use crate::faults_support::FaultServer;
use crate::smtp_support::{Config, Tls, start};

pub struct World {
    pub server: FaultServer,
    pub anchor: tempfile::NamedTempFile,
}

fn soa(origin: &str) -> String {
    format!(
        "$ORIGIN {origin}\n$TTL 300\n@ IN SOA ns.{o} h.{o} 1 3600 600 86400 300\n@ IN NS ns.{o}\n",
        o = if origin == "." {
            "root-servers.test."
        } else {
            origin
        }
    )
}

pub const CHILDREN: [&str; 3] = ["signed.test", "bogus.test", "plain.test"];

/// How the world's trust is broken, if at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trust {
    /// The anchor is the root's key and every zone but `plain.test` is
    /// signed.
    Sound,
    /// The anchor is a key the root does not use.
    WrongAnchor,
    /// The zones are served without any DNSSEC records, as by a plain
    /// authoritative server or a resolver that strips them.
    Stripped,
}

/// The world; `extra(child)` is added to each child zone.
pub async fn world(extra: impl Fn(&str) -> String, trust: Trust) -> World {
    let wrong_anchor = trust == Trust::WrongAnchor;
    let sign = |zone: Zone, key: ZoneKey| {
        if trust == Trust::Stripped {
            zone
        } else {
            zone.signed(key)
        }
    };
    let root = ZoneKey::generate().unwrap();
    let signed = ZoneKey::generate().unwrap();
    let bogus = ZoneKey::generate().unwrap();
    let other = ZoneKey::generate().unwrap();
    let mut root_text = soa(".");
    // The reverse tree exists (the SMTP probe asks PTR), unsigned here.
    root_text.push_str("arpa. IN NS ns.arpa.\n");
    for child in CHILDREN {
        root_text.push_str(&format!("{child}. IN NS ns.{child}.\n"));
    }
    root_text.push_str(&format!("{}\n", signed.ds_line("signed.test").unwrap()));
    root_text.push_str(&format!("{}\n", other.ds_line("bogus.test").unwrap()));
    let child = |origin: &str| {
        let text = format!(
            "{}ns IN A 127.0.0.53\n@ IN MX 10 mx.{origin}.\nmx IN A 127.0.0.1\n@ IN TXT \"v=spf1 ip4:127.0.0.1 -all\"\n_dmarc IN TXT \"v=DMARC1; p=reject\"\n{}\n",
            soa(&format!("{origin}.")),
            extra(origin)
        );
        Zone::parse(&text, origin).unwrap()
    };
    let zones = vec![
        sign(Zone::parse(&root_text, "root").unwrap(), root.clone()),
        sign(child("signed.test"), signed),
        sign(child("bogus.test"), bogus),
        child("plain.test"),
    ];
    let anchor_key = if wrong_anchor { &other } else { &root };
    let mut anchor = tempfile::NamedTempFile::new().unwrap();
    writeln!(anchor, "{}", anchor_key.dnskey_line(".").unwrap()).unwrap();
    World {
        server: FaultServer::from_zones(zones).await,
        anchor,
    }
}

impl World {
    pub fn dns(&self) -> Dns {
        Dns::new(DnsConfig {
            nameservers: vec![self.server.addr()],
            timeout: TIMEOUT,
            retries: 1,
            concurrency: 16,
            scope: None,
            trust_anchor: Some(self.anchor.path().to_path_buf()),
        })
        .unwrap()
    }
}

/// How one audit runs.
pub struct Setup {
    pub domain: &'static str,
    pub checks: &'static [&'static str],
    /// A TLSA record (its data) at `_25._tcp.mx.<child>` of every child.
    pub tlsa: Option<String>,
    /// Serve SMTP at the MX hosts with this certificate and probe them.
    pub smtp: Option<Tls>,
    pub fault: Option<(&'static str, Fault)>,
    /// A fault on one type only.
    pub fault_for: Option<(&'static str, RecordType, Fault)>,
    pub trust: Trust,
}

impl Setup {
    pub fn of(domain: &'static str, checks: &'static [&'static str]) -> Setup {
        Setup {
            domain,
            checks,
            tlsa: None,
            smtp: None,
            fault: None,
            fault_for: None,
            trust: Trust::Sound,
        }
    }
}

/// The SMTP probe of the test server on `port` (`hosts`: named hosts, as
/// `mailaudit smtp` gives them; empty: the MX hosts).
fn probe(port: u16, hosts: Vec<String>) -> SmtpTarget {
    SmtpTarget {
        options: ProbeOptions {
            port,
            timeout: Duration::from_secs(3),
            helo: "probe.mailaudit.test".into(),
            relay_test: false,
            slow_banner: Duration::from_millis(300),
            roots: std::sync::Arc::new(roots(&[crate::smtp::ca_cert()]).unwrap()),
            reach: mailaudit::reach::Reach::Any,
        },
        sending: false,
        hosts,
    }
}

pub async fn run(s: Setup) -> Value {
    let tlsa = s.tlsa.clone();
    let w = world(
        move |_| match &tlsa {
            Some(data) => format!("_25._tcp.mx IN TLSA {data}"),
            None => String::new(),
        },
        s.trust,
    )
    .await;
    if let Some((name, fault)) = s.fault {
        w.server.set_fault(name, fault);
    }
    if let Some((name, rtype, fault)) = s.fault_for {
        w.server.set_fault_for(name, rtype, fault);
    }
    let server = match &s.smtp {
        Some(tls) => Some(start(Config::with_tls("mx.signed.test", tls.clone())).await),
        None => None,
    };
    let mut req = Request::audit(s.domain);
    req.checks = Some(s.checks.iter().map(|c| c.to_string()).collect());
    if let Some(server) = &server {
        req.target.smtp = Some(probe(server.addr.port(), Vec::new()));
    }
    let doc = json::to_value(&Engine::new(w.dns(), Rules::embedded()).run(&req).await);
    drop(server);
    doc
}

/// A certificate for the MX host, and the `3 1 1` TLSA data of its key.
fn cert_and_tlsa() -> (Tls, String) {
    let tls = crate::smtp::cert(&["mx.signed.test"], -1, 90);
    let Tls::Cert(chain, _) = &tls else {
        unreachable!()
    };
    let (_, leaf) = x509_parser::parse_x509_certificate(&chain[0]).unwrap();
    let digest = sha2::Sha256::digest(leaf.tbs_certificate.subject_pki.raw);
    (
        tls,
        format!("3 1 1 {}", data_encoding::HEXLOWER.encode(&digest)),
    )
}

fn of_check(doc: &Value, prefix: &str) -> Vec<String> {
    ids(doc)
        .into_iter()
        .filter(|i| i.starts_with(prefix))
        .collect()
}

pub async fn scenario(id: &str) -> Value {
    let dnssec = &["dnssec"];
    let dane = &["dane"];
    let other_key = format!("3 1 1 {}", "ab".repeat(32));
    let setup = match id {
        "dnssec.unsigned" => Setup::of("plain.test", dnssec),
        "dnssec.bogus" => Setup::of("bogus.test", dnssec),
        "dnssec.dns-error" => Setup {
            fault: Some(("signed.test", Fault::ServFail)),
            ..Setup::of("signed.test", dnssec)
        },
        "dane.tlsa-unsigned" => Setup {
            tlsa: Some(other_key),
            ..Setup::of("plain.test", dane)
        },
        "dane.tlsa-bogus" => Setup {
            tlsa: Some(other_key),
            ..Setup::of("bogus.test", dane)
        },
        "dane.tlsa-invalid" => Setup {
            tlsa: Some("3 1 1 abcd".into()),
            ..Setup::of("signed.test", dane)
        },
        "dane.tlsa-unusable" => Setup {
            tlsa: Some(format!("1 1 1 {}", "ab".repeat(32))),
            ..Setup::of("signed.test", dane)
        },
        "dane.tlsa-mismatch" => Setup {
            tlsa: Some(other_key),
            smtp: Some(cert_and_tlsa().0),
            ..Setup::of("signed.test", dane)
        },
        "dane.dns-error" => Setup {
            tlsa: Some(other_key),
            fault: Some(("_25._tcp.mx.signed.test", Fault::ServFail)),
            ..Setup::of("signed.test", dane)
        },
        other => panic!("no DNSSEC or DANE scenario for {other}"),
    };
    run(setup).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validation_follows_the_chain_from_the_anchor() {
    let w = world(|_| String::new(), Trust::Sound).await;
    let dns = w.dns();
    let cases = [
        ("signed.test", RecordType::SOA, "secure"),
        ("signed.test", RecordType::TLSA, "secure"),
        ("nothere.signed.test", RecordType::A, "secure"),
        ("plain.test", RecordType::SOA, "insecure"),
        ("plain.test", RecordType::TLSA, "insecure"),
        ("bogus.test", RecordType::SOA, "bogus"),
        ("bogus.test", RecordType::MX, "bogus"),
    ];
    for (name, rtype, want) in cases {
        let got = match dns.validate(name, rtype).await.validation {
            Validation::Secure => "secure",
            Validation::Insecure => "insecure",
            Validation::Bogus(_) => "bogus",
            Validation::Unknown(why) => panic!("{name} {rtype}: unknown: {why}"),
        };
        assert_eq!(got, want, "{name} {rtype}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_zone_that_validates_passes_and_says_so() {
    let doc = run(Setup::of("signed.test", &["dnssec", "spf"])).await;
    assert_eq!(of_check(&doc, "dnssec."), Vec::<String>::new());
    assert_eq!(status(&doc, "dnssec"), "pass");
    assert_eq!(status(&doc, "spf"), "pass");
    assert!(
        doc["passed"]["dnssec"][0]
            .as_str()
            .unwrap()
            .contains("validate"),
        "{:#}",
        doc["passed"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsigned_zone_is_info_and_nothing_else_changes() {
    let doc = run(Setup::of("plain.test", &["dnssec", "spf"])).await;
    assert_eq!(of_check(&doc, "dnssec."), ["dnssec.unsigned"]);
    assert_eq!(finding(&doc, "dnssec.unsigned")["severity"], "info");
    assert_eq!(status(&doc, "spf"), "pass");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bogus_zone_is_an_error_and_makes_what_read_the_zone_unknown() {
    let doc = run(Setup::of("bogus.test", &["dnssec", "spf", "dmarc", "mx"])).await;
    assert_eq!(of_check(&doc, "dnssec."), ["dnssec.bogus"]);
    assert_eq!(finding(&doc, "dnssec.bogus")["severity"], "error");
    for check in ["spf", "dmarc", "mx"] {
        assert_eq!(status(&doc, check), "unknown", "{check}");
        let reason = doc["checks"][check]["reason"].as_str().unwrap_or("");
        assert!(reason.contains("dnssec.bogus"), "{check}: {reason}");
    }
    // The checklist's DNS row names it.
    let row = doc["checklist"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["topic"] == "dns-records")
        .unwrap();
    assert_eq!(row["status"], "not-met", "{row}");
    assert!(
        row["detail"].as_str().unwrap().contains("dnssec.bogus"),
        "{row}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_without_its_signature_in_a_signed_zone_is_bogus() {
    // The chain is sound; one answer comes back unsigned (a server that
    // lost its signatures, or a forged answer): receivers reject it.
    let doc = run(Setup {
        fault_for: Some(("signed.test", RecordType::TXT, Fault::Unsigned)),
        ..Setup::of("signed.test", &["dnssec"])
    })
    .await;
    assert_eq!(of_check(&doc, "dnssec."), ["dnssec.bogus"]);
    let reason = finding(&doc, "dnssec.bogus")["evidence"]["reason"].to_string();
    assert!(reason.contains("signed.test TXT"), "{reason}");
    assert!(!reason.contains("MX"), "only the TXT answer: {reason}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_root_that_does_not_validate_makes_it_unknown_never_bogus() {
    // As through a resolver that strips signatures: the root's own keys
    // fail, so nothing below is judged.
    for domain in CHILDREN {
        let doc = run(Setup {
            trust: Trust::WrongAnchor,
            ..Setup::of(domain, &["dnssec", "spf"])
        })
        .await;
        assert_eq!(of_check(&doc, "dnssec."), ["dnssec.dns-error"], "{domain}");
        assert_eq!(status(&doc, "dnssec"), "unknown");
        assert!(
            finding(&doc, "dnssec.dns-error")["summary"]
                .as_str()
                .unwrap()
                .contains("root"),
        );
        assert_eq!(status(&doc, "spf"), "pass", "{domain}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_lookup_is_unknown_not_unsigned() {
    for id in ["dnssec.dns-error", "dane.dns-error"] {
        let doc = scenario(id).await;
        let check = id.split('.').next().unwrap();
        assert_eq!(of_check(&doc, &format!("{check}.")), [id]);
        assert_eq!(status(&doc, check), "unknown");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tlsa_record_that_matches_the_presented_certificate_passes() {
    let (tls, data) = cert_and_tlsa();
    let doc = run(Setup {
        tlsa: Some(data),
        smtp: Some(tls),
        ..Setup::of("signed.test", &["dane"])
    })
    .await;
    assert_eq!(of_check(&doc, "dane."), Vec::<String>::new());
    assert_eq!(status(&doc, "dane"), "pass");
    let host = &doc["checks"]["dane"]["hosts"][0];
    assert_eq!(host["dnssec"]["proof"], "secure", "{host:#}");
    assert_eq!(host["matched"][0]["matched"], true, "{host:#}");
    assert!(
        doc["passed"]["dane"][0]
            .as_str()
            .unwrap()
            .contains("matches")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_dane_scenario_gives_its_finding_alone() {
    // The status each one leaves: DANE senders defer or refuse (fail), or
    // DANE is simply not in force (warn).
    for (id, expected) in [
        ("dane.tlsa-unsigned", "warn"),
        ("dane.tlsa-bogus", "fail"),
        ("dane.tlsa-invalid", "warn"),
        ("dane.tlsa-unusable", "warn"),
        ("dane.tlsa-mismatch", "fail"),
    ] {
        let doc = scenario(id).await;
        assert_eq!(of_check(&doc, "dane."), [id], "{:#}", doc["checks"]["dane"]);
        assert_eq!(status(&doc, "dane"), expected, "{id}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_tlsa_records_in_a_signed_or_unsigned_zone_is_no_finding() {
    for domain in ["signed.test", "plain.test"] {
        let doc = run(Setup::of(domain, &["dane"])).await;
        assert_eq!(of_check(&doc, "dane."), Vec::<String>::new(), "{domain}");
        // DANE is optional: nothing published is nothing wrong (the
        // lookups answered, so it is not unknown either).
        assert_eq!(status(&doc, "dane"), "pass", "{domain}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mailaudit_smtp_matches_the_named_hosts_tlsa_records() {
    let (tls, data) = cert_and_tlsa();
    let w = world(move |_| format!("_25._tcp.mx IN TLSA {data}"), Trust::Sound).await;
    let server = start(Config::with_tls("mx.signed.test", tls)).await;
    let req = Request {
        kind: mailaudit::report::model::RunKind::Smtp,
        target: mailaudit::facts::Target {
            smtp: Some(probe(
                server.addr.port(),
                vec!["mx.signed.test".into(), "127.0.0.1".into()],
            )),
            ..Default::default()
        },
        checks: None,
        deadline: None,
    };
    let doc = json::to_value(&Engine::new(w.dns(), Rules::embedded()).run(&req).await);
    assert_eq!(status(&doc, "dane"), "pass", "{:#}", doc["checks"]["dane"]);
    let hosts = doc["checks"]["dane"]["hosts"].as_array().unwrap();
    // TLSA records belong to host names: the address is not looked up.
    assert_eq!(hosts.len(), 1);
    assert_eq!(hosts[0]["matched"][0]["matched"], true);
}

/// Issue 18.1: through a resolver that cannot validate the root (a wrong
/// anchor, or servers that give no DNSSEC records at all), DANE is
/// unknown with the DNSSEC check's own reason, never bogus or failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dane_is_unknown_when_the_root_does_not_validate() {
    for trust in [Trust::WrongAnchor, Trust::Stripped] {
        for domain in CHILDREN {
            let doc = run(Setup {
                trust,
                tlsa: Some(format!("3 1 1 {}", "ab".repeat(32))),
                ..Setup::of(domain, &["dnssec", "dane"])
            })
            .await;
            let what = format!("{trust:?} {domain}");
            assert_eq!(status(&doc, "dnssec"), "unknown", "{what}");
            assert_eq!(
                status(&doc, "dane"),
                "unknown",
                "{what}: {:#}",
                doc["checks"]["dane"]
            );
            assert_eq!(of_check(&doc, "dane."), ["dane.dns-error"], "{what}");
            let dnssec = finding(&doc, "dnssec.dns-error")["evidence"]["reason"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let dane = finding(&doc, "dane.dns-error")["evidence"]["reason"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            assert!(dane.contains("root"), "{what}: {dane}");
            assert_eq!(dane, dnssec, "{what}: the same reason");
        }
    }
}

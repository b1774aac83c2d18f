//! DANE for SMTP (RFC 7672): TLSA records at `_25._tcp.<mx host>`. They
//! count only when DNSSEC validates them: a sender that supports DANE
//! ignores records in an unsigned zone, defers mail when the answer is
//! bogus, and (with a usable record) delivers only over TLS to a server
//! whose certificate matches one. With `--smtp`, the certificate each MX
//! host presented is matched against its records.

use futures::future::join_all;
use serde::Serialize;

use crate::checks::{Ran, check};
use crate::dns::Rdata;
use crate::dns::dnssec::Validation;
use crate::facts::Facts;
use crate::findings::{self as ids, Finding};
use crate::records::tlsa;
use crate::report::model::{Block, Detail, about};

check! {
    Dane {
        id: "dane",
        title: "DANE",
        description: "TLSA records of the MX hosts (_25._tcp), validated with DNSSEC, and with --smtp matched against the certificates they present",
        domain_records: true,
        judges_dnssec: true,
        reads: &[Fact::MxHosts, Fact::SmtpProbes],
        kinds: &[RunKind::Audit, RunKind::Smtp],
        rows: &[Row::DnsRecords { required: false }],
    }
    fn run(facts) {
        if !facts.dns.validates() {
            return Ran::skipped(crate::dns::OFFLINE_NO_ROOT);
        }
        // `mailaudit smtp HOST...`: the named hosts.
        if let Some(named) = facts.target.smtp.as_ref().map(|t| &t.hosts)
            && !named.is_empty()
        {
            let hosts = named
                .iter()
                .filter(|h| h.parse::<std::net::IpAddr>().is_err())
                .cloned()
                .collect::<Vec<_>>();
            if hosts.is_empty() {
                return Ran::skipped(
                    "only addresses were named: TLSA records belong to host names",
                );
            }
            let (report, findings) = run(facts, hosts).await;
            return Ran::done(report, findings);
        }
        let mx = facts.mx().await;
        if let Some(failed) = mx.lookup.failed() {
            return Ran::done(
                DaneReport { hosts: Vec::new() },
                vec![failed.finding(ids::DANE_DNS_ERROR, facts.domain())],
            );
        }
        let hosts: Vec<String> = mx
            .hosts
            .iter()
            .filter(|h| !h.name.is_empty())
            .map(|h| h.name.clone())
            .collect();
        if hosts.is_empty() {
            return Ran::skipped("the domain has no MX hosts to publish TLSA records for");
        }
        let (report, findings) = run(facts, hosts).await;
        Ran::done(report, findings)
    }
}

/// What the DANE check found, per MX host.
#[derive(Debug, Clone, Serialize)]
pub struct DaneReport {
    pub hosts: Vec<DaneHost>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DaneHost {
    pub host: String,
    /// `_25._tcp.<host>`.
    pub name: String,
    /// How the TLSA answer validated.
    #[serde(serialize_with = "crate::report::json::proof")]
    pub dnssec: Validation,
    /// The TLSA records, as published.
    pub tlsa: Vec<String>,
    /// With `--smtp`: whether a usable record matched the certificate
    /// chain each probed address presented (`None`: no chain to compare).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub matched: Vec<Matched>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Matched {
    pub address: std::net::IpAddr,
    pub matched: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why_not_compared: Option<String>,
}

async fn run(facts: &Facts<'_>, hosts: Vec<String>) -> (DaneReport, Vec<Finding>) {
    // The probes (none without --smtp) run beside the TLSA validation.
    let (answers, probes) = futures::join!(
        join_all(hosts.iter().map(|h| facts.tlsa_validated(h))),
        facts.smtp_probes()
    );
    let mut report = DaneReport { hosts: Vec::new() };
    let mut findings = Vec::new();
    for (host, (name, answer)) in hosts.into_iter().zip(answers) {
        let texts: Vec<String> = answer
            .records
            .iter()
            .filter_map(|r| match &r.data {
                Rdata::Other(_, text) => Some(text.clone()),
                _ => None,
            })
            .collect();
        let mut entry = DaneHost {
            host: host.clone(),
            name: name.clone(),
            dnssec: answer.validation.clone(),
            tlsa: texts.clone(),
            matched: Vec::new(),
        };
        match &answer.validation {
            Validation::Unknown(why) => findings.push(
                Finding::new(
                    ids::DANE_DNS_ERROR,
                    &host,
                    format!("Whether {host} publishes DANE (TLSA at {name}) is unknown: {why}."),
                )
                .with("name", &name)
                .with("reason", why)
                .unknown(),
            ),
            Validation::Bogus(why) => findings.push(
                Finding::new(
                    ids::DANE_TLSA_BOGUS,
                    &host,
                    format!("The TLSA answer for {name} does not validate ({why}): senders that use DANE defer mail to {host} until it does."),
                )
                .with("name", &name)
                .with("reason", why),
            ),
            Validation::Insecure if !texts.is_empty() => findings.push(
                Finding::new(
                    ids::DANE_TLSA_UNSIGNED,
                    &host,
                    format!("{name} publishes {} TLSA record(s), but its zone is not DNSSEC-signed: senders ignore them, so they protect nothing.", texts.len()),
                )
                .with("name", &name)
                .with("records", &texts),
            ),
            Validation::Insecure => {}
            Validation::Secure => {
                let (usable, mut problems) = judge(&host, &name, &texts);
                findings.append(&mut problems);
                if !usable.is_empty() {
                    for p in probes.items.iter().filter(|p| p.host == host) {
                        let m = compare(&usable, p);
                        if m.matched == Some(false) {
                            findings.push(
                                Finding::new(
                                    ids::DANE_TLSA_MISMATCH,
                                    &host,
                                    format!("The certificate {host} ({}) presents matches none of the TLSA records at {name}: senders that use DANE will not deliver to it.", p.address),
                                )
                                .with("name", &name)
                                .with("address", p.address.to_string())
                                .with("records", &texts),
                            );
                        }
                        entry.matched.push(m);
                    }
                }
            }
        }
        report.hosts.push(entry);
    }
    (report, findings)
}

/// The usable records of a validated TLSA set, and the findings about the
/// rest.
fn judge(host: &str, name: &str, texts: &[String]) -> (Vec<tlsa::Tlsa>, Vec<Finding>) {
    let mut usable = Vec::new();
    let mut findings = Vec::new();
    let mut unusable = Vec::new();
    for t in texts {
        match tlsa::parse(t) {
            Ok(r) if r.usable() => usable.push(r),
            Ok(_) => unusable.push(t.clone()),
            Err(why) => findings.push(
                Finding::new(
                    ids::DANE_TLSA_INVALID,
                    host,
                    format!("A TLSA record at {name} cannot be used: {why}."),
                )
                .with("name", name)
                .with("record", t),
            ),
        }
    }
    if !unusable.is_empty() && usable.is_empty() {
        findings.push(
            Finding::new(
                ids::DANE_TLSA_UNUSABLE,
                host,
                format!("The TLSA records at {name} all use PKIX usages (0 or 1), which SMTP senders treat as unusable (RFC 7672 §3.1.3): DANE is not in force for {host}."),
            )
            .with("name", name)
            .with("records", &unusable),
        );
    }
    (usable, findings)
}

fn compare(usable: &[tlsa::Tlsa], p: &crate::smtp::Probe) -> Matched {
    let why = if p.unreachable.is_some() {
        Some("port 25 did not answer".to_string())
    } else if p.chain.is_empty() {
        Some("no certificate was presented (no STARTTLS or no handshake)".to_string())
    } else {
        None
    };
    Matched {
        address: p.address,
        matched: why
            .is_none()
            .then(|| usable.iter().any(|t| t.matches(&p.chain))),
        why_not_compared: why,
    }
}

impl Detail for DaneReport {
    fn wire(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("serialises")
    }

    fn headline(&self) -> String {
        let with = self
            .hosts
            .iter()
            .filter(|h| h.dnssec == Validation::Secure && !h.tlsa.is_empty())
            .count();
        match (with, self.hosts.len()) {
            (_, 0) => "no MX hosts".into(),
            (0, n) => format!("no validated TLSA records ({n} MX host(s))"),
            (w, n) => format!("TLSA records validated for {w} of {n} MX host(s)"),
        }
    }

    fn blocks(&self) -> Vec<Block> {
        if self.hosts.is_empty() {
            return Vec::new();
        }
        vec![Block::Table {
            title: "TLSA records of the MX hosts".into(),
            head: vec![
                "MX host".into(),
                "DNSSEC".into(),
                "TLSA".into(),
                "Certificate".into(),
            ],
            rows: self
                .hosts
                .iter()
                .map(|h| {
                    vec![
                        h.host.clone(),
                        h.dnssec.to_string(),
                        if h.tlsa.is_empty() {
                            "none".into()
                        } else {
                            h.tlsa.join("; ")
                        },
                        h.matched
                            .iter()
                            .map(|m| match (m.matched, &m.why_not_compared) {
                                (Some(true), _) => format!("{}: matches", m.address),
                                (Some(false), _) => format!("{}: matches no record", m.address),
                                (None, why) => format!(
                                    "{}: not compared ({})",
                                    m.address,
                                    why.as_deref().unwrap_or("")
                                ),
                            })
                            .collect::<Vec<_>>()
                            .join("; "),
                    ]
                })
                .collect(),
        }]
    }

    fn passed(&self, findings: &[&Finding]) -> Vec<String> {
        self.hosts
            .iter()
            .filter(|h| {
                h.dnssec == Validation::Secure && !h.tlsa.is_empty() && !about(findings, &h.host)
            })
            .map(|h| {
                let compared = h.matched.iter().filter(|m| m.matched == Some(true)).count();
                if compared > 0 {
                    format!(
                        "{}: validated TLSA records, and the certificate presented matches",
                        h.host
                    )
                } else {
                    format!("{}: validated, usable TLSA records", h.host)
                }
            })
            .collect()
    }
}

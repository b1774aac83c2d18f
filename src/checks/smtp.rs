//! SMTP: the domain's mail servers as a sender meets them on port 25:
//! banner and EHLO name against their forward-confirmed reverse DNS,
//! STARTTLS, the TLS version and the certificate (trusted, naming the
//! host, not expired or about to), a slow greeting, and (asked for) an open
//! relay. Off unless `--smtp`: many networks block outbound port 25, and a
//! blocked port is `unknown`, never a failure of the server.

use std::net::IpAddr;

use serde::Serialize;

use crate::checks::{Ran, check};
use crate::facts::Facts;
use crate::findings::{self as ids, Finding};
use crate::report::model::{Block, Detail, about};
use crate::smtp::{EXPIRING_DAYS, Probe, ProbeOptions, TlsSession};

check! {
    Smtp {
        id: "smtp",
        title: "SMTP servers",
        description: "the MX hosts on port 25 (with --smtp): banner, EHLO, STARTTLS, TLS version and certificate, open relay (opt-in)",
        domain_records: true,
        reads: &[Fact::MxHosts, Fact::SmtpProbes, Fact::ReverseDns],
        kinds: &[RunKind::Audit, RunKind::Smtp],
        rows: &[Row::DnsRecords { required: false }],
    }
    fn run(facts) {
        let Some(target) = &facts.target.smtp else {
            return Ran::skipped(
                "not asked: give --smtp (off by default, as many networks block outbound port 25)",
            );
        };
        let (report, findings) = run(facts, target).await;
        Ran::done(report, findings)
    }
}

/// What the SMTP check found.
#[derive(Debug, Clone)]
pub struct SmtpReport {
    pub probes: Vec<Probe>,
    /// The forward-confirmed PTR names of each probed address.
    pub ptr_names: Vec<(IpAddr, Vec<String>)>,
}

async fn run(facts: &Facts<'_>, target: &crate::facts::SmtpTarget) -> (SmtpReport, Vec<Finding>) {
    let probed = facts.smtp_probes().await;
    let mut findings: Vec<Finding> = probed
        .failed
        .iter()
        .map(|(subject, f)| f.finding(ids::SMTP_DNS_ERROR, subject))
        .collect();
    let probes = probed.items.clone();
    let opts = &target.options;
    let mut report = SmtpReport {
        probes: Vec::new(),
        ptr_names: Vec::new(),
    };
    let (refused, tried): (Vec<&Probe>, Vec<&Probe>) = probes.iter().partition(|p| p.not_allowed);
    if !refused.is_empty() {
        findings.push(not_probed(&refused, opts.port));
    }
    let reached = tried.iter().filter(|p| p.unreachable.is_none()).count();
    if reached == 0 && !tried.is_empty() {
        findings.push(none_reached(&tried, opts.port));
    }
    for p in tried {
        let subject = format!("{} ({})", p.host, p.address);
        if let Some(why) = &p.unreachable {
            if reached > 0 {
                findings.push(
                    Finding::new(
                        ids::SMTP_UNREACHABLE,
                        &subject,
                        format!("{subject} did not answer on port {}: {why}, while other MX addresses did.", p.port),
                    )
                    .with("reason", why)
                    .unknown(),
                );
            }
            continue;
        }
        findings.extend(conversation(p, &subject, opts));
        if p.banner.is_some() && p.ehlo_name.is_some() {
            let (own, names) = names_given(facts, p, &subject).await;
            findings.extend(own);
            if let Some(names) = names {
                report.ptr_names.push((p.address, names));
            }
        }
        if let Some(tls) = &p.tls {
            findings.extend(tls_findings(p, tls, &subject));
        }
    }
    report.probes = probes;
    (report, findings)
}

/// `smtp.not-probed` (unknown): addresses this run may not connect to
/// (a service reaches only public ones), so what is there is unseen.
fn not_probed(probes: &[&Probe], port: u16) -> Finding {
    Finding::new(
        ids::SMTP_NOT_PROBED,
        format!("port {port}"),
        format!(
            "{} address(es) were not probed on port {port}: they are not public addresses, and this server connects only to public ones. What the mail servers there do is unknown.",
            probes.len(),
        ),
    )
    .with(
        "addresses",
        probes
            .iter()
            .map(|p| format!("{} ({}): {}", p.address, p.host, p.unreachable.as_deref().unwrap_or("")))
            .collect::<Vec<_>>(),
    )
    .unknown()
}

/// `smtp.unreachable` (unknown) when no address answered: most often the
/// network mailaudit runs on blocks outbound port 25.
fn none_reached(probes: &[&Probe], port: u16) -> Finding {
    let text = format!(
        "None of the {} addresses answered on port {port}: the network mailaudit runs on may block outbound port {port} (many ISPs and clouds do), or the servers are down. Run the probe from a host that can send mail.",
        probes.len(),
    );
    Finding::new(ids::SMTP_UNREACHABLE, format!("port {port}"), text)
        .with(
            "addresses",
            probes
                .iter()
                .map(|p| {
                    format!(
                        "{} ({}): {}",
                        p.address,
                        p.host,
                        p.unreachable.as_deref().unwrap_or("")
                    )
                })
                .collect::<Vec<_>>(),
        )
        .unknown()
}

/// What the conversation itself showed: it broke off, a slow greeting, no
/// STARTTLS, an open relay.
fn conversation(p: &Probe, subject: &str, opts: &ProbeOptions) -> Vec<Finding> {
    let mut findings = Vec::new();
    if let Some(e) = &p.error {
        findings.push(
            Finding::new(
                ids::SMTP_CONVERSATION_FAILED,
                subject,
                format!("The SMTP conversation with {subject} broke off: {e}; what came after is unknown."),
            )
            .with("error", e)
            .unknown(),
        );
    }
    if let Some(ms) = p.banner_ms
        && ms > opts.slow_banner.as_millis() as u64
    {
        findings.push(
            Finding::new(
                ids::SMTP_SLOW_BANNER,
                subject,
                format!(
                    "{subject} took {:.1} s to greet: senders wait, and some give up or defer.",
                    ms as f64 / 1000.0
                ),
            )
            .with("milliseconds", ms),
        );
    }
    if p.error.is_none() && p.ehlo_name.is_some() && !p.starttls {
        findings.push(
            Finding::new(
                ids::SMTP_NO_STARTTLS,
                subject,
                format!("{subject} does not offer STARTTLS: mail to it travels unencrypted, and Gmail marks it so."),
            )
            .with("extensions", &p.extensions),
        );
    }
    if p.open_relay == Some(true) {
        findings.push(
            Finding::new(
                ids::SMTP_OPEN_RELAY,
                subject,
                format!("{subject} accepted a recipient at a domain it has nothing to do with, from an empty sender: it is an open relay (the test sent no message)."),
            )
            .with("rcpt", "relay-test@mailaudit.invalid"),
        );
    }
    findings
}

/// The banner's and EHLO's names against the address's forward-confirmed
/// PTR names (the reverse DNS fact): the findings, and the confirmed names
/// when the PTR lookup answered.
async fn names_given(
    facts: &Facts<'_>,
    p: &Probe,
    subject: &str,
) -> (Vec<Finding>, Option<Vec<String>>) {
    let mut findings = Vec::new();
    let rdns = facts.reverse(p.address).await;
    if let Some(f) = rdns.ptr.failed() {
        return (vec![f.finding(ids::SMTP_DNS_ERROR, subject)], None);
    }
    let names = rdns.confirmed();
    let banner = p
        .banner
        .as_deref()
        .and_then(|b| b.split_whitespace().next())
        .map(|w| w.trim_end_matches('.').to_ascii_lowercase());
    let mut wrong: Vec<String> = Vec::new();
    for n in [banner, p.ehlo_name.clone()].into_iter().flatten() {
        match rdns.confirms(&n) {
            Some(true) => {}
            Some(false) => {
                if !wrong.contains(&n) {
                    wrong.push(n);
                }
            }
            // Past the cap on PTR names followed, or its forward lookup
            // failed: not judged.
            None => match rdns.forward.iter().find(|l| l.name == n) {
                Some(l) => {
                    if let Some(f) = l.failed() {
                        findings.push(f.finding(ids::SMTP_DNS_ERROR, subject));
                    }
                }
                None => facts.note_ptr_names_cap(rdns.names.len()),
            },
        }
    }
    if !wrong.is_empty() {
        findings.push(
            Finding::new(
                ids::SMTP_BANNER_NAME,
                subject,
                if names.is_empty() {
                    format!("{subject} calls itself {}, but its address has no forward-confirmed PTR name.", wrong.join(" / "))
                } else {
                    format!("{subject} calls itself {}, not its forward-confirmed PTR name {}.", wrong.join(" / "), names.join(", "))
                },
            )
            .with("names_given", &wrong)
            .with("ptr_names", &names),
        );
    }
    (findings, Some(names))
}

/// The TLS session after STARTTLS: the version, the handshake, the
/// certificate (trusted, naming the host, not expired or about to).
fn tls_findings(p: &Probe, tls: &TlsSession, subject: &str) -> Vec<Finding> {
    let mut findings = Vec::new();
    if tls.too_old {
        findings.push(
            Finding::new(
                ids::SMTP_TLS_OLD,
                subject,
                format!(
                    "{subject} offers STARTTLS but no TLS version of 1.2 or later: {}.",
                    tls.failed.as_deref().unwrap_or("")
                ),
            )
            .with("error", &tls.failed),
        );
    } else if let Some(why) = &tls.failed {
        findings.push(
            Finding::new(
                ids::SMTP_TLS_FAILED,
                subject,
                format!("The TLS handshake with {subject} after STARTTLS failed: {why}."),
            )
            .with("error", why),
        );
    }
    if let Some(c) = &tls.certificate {
        let evidence = |f: Finding| {
            f.with("subject", &c.subject)
                .with("issuer", &c.issuer)
                .with("names", &c.names)
                .with("not_after", &c.not_after)
        };
        if !c.trusted {
            findings.push(evidence(Finding::new(
                ids::SMTP_CERT_UNTRUSTED,
                subject,
                format!(
                    "The certificate of {subject} does not lead to a trusted authority: {}.",
                    c.untrusted_because.as_deref().unwrap_or("unknown issuer")
                ),
            )));
        }
        if !c.name_matches && p.host.parse::<IpAddr>().is_err() {
            findings.push(evidence(Finding::new(
                ids::SMTP_CERT_NAME_MISMATCH,
                subject,
                format!(
                    "The certificate of {subject} is for {}, not for {}.",
                    if c.names.is_empty() {
                        "no name".to_string()
                    } else {
                        c.names.join(", ")
                    },
                    p.host
                ),
            )));
        }
        if c.days_left < 0 {
            findings.push(evidence(Finding::new(
                ids::SMTP_CERT_EXPIRED,
                subject,
                format!("The certificate of {subject} expired on {}.", c.not_after),
            )));
        } else if c.days_left < EXPIRING_DAYS {
            findings.push(
                evidence(Finding::new(
                    ids::SMTP_CERT_EXPIRING,
                    subject,
                    format!(
                        "The certificate of {subject} expires on {} ({} days from now).",
                        c.not_after, c.days_left
                    ),
                ))
                .with("days_left", c.days_left),
            );
        }
    }
    findings
}

impl Detail for SmtpReport {
    fn wire(&self) -> serde_json::Value {
        serde_json::to_value(SmtpV1 {
            probes: self.probes.iter().map(ProbeV1::from).collect(),
            ptr_names: self
                .ptr_names
                .iter()
                .map(|(address, names)| PtrNamesV1 {
                    address: *address,
                    names,
                })
                .collect(),
        })
        .expect("serialises")
    }

    fn headline(&self) -> String {
        let reached = self
            .probes
            .iter()
            .filter(|p| p.unreachable.is_none())
            .count();
        let tls = self
            .probes
            .iter()
            .filter(|p| p.tls.as_ref().is_some_and(|t| t.version.is_some()))
            .count();
        format!(
            "{} of {} address(es) answered on port {}; {} with TLS",
            reached,
            self.probes.len(),
            self.probes.first().map_or(25, |p| p.port),
            tls
        )
    }

    fn blocks(&self) -> Vec<Block> {
        if self.probes.is_empty() {
            return Vec::new();
        }
        vec![Block::Table {
            title: "Mail servers on the SMTP port".into(),
            head: [
                "Host",
                "Address",
                "Banner",
                "STARTTLS",
                "TLS",
                "Certificate",
            ]
            .map(String::from)
            .into(),
            rows: self
                .probes
                .iter()
                .map(|p| {
                    let tls = p.tls.as_ref();
                    vec![
                        p.host.clone(),
                        p.address.to_string(),
                        p.unreachable
                            .clone()
                            .or_else(|| p.banner.clone())
                            .unwrap_or_default(),
                        if p.unreachable.is_some() {
                            String::new()
                        } else if p.starttls {
                            "yes".into()
                        } else {
                            "no".into()
                        },
                        tls.map(|t| {
                            t.version
                                .clone()
                                .or_else(|| t.failed.clone())
                                .unwrap_or_default()
                        })
                        .unwrap_or_default(),
                        tls.and_then(|t| t.certificate.as_ref())
                            .map(|c| {
                                format!(
                                    "{} (until {}{}{})",
                                    c.names.join(", "),
                                    c.not_after,
                                    if c.trusted { "" } else { ", untrusted" },
                                    if c.name_matches { "" } else { ", wrong name" }
                                )
                            })
                            .unwrap_or_default(),
                    ]
                })
                .collect(),
        }]
    }

    fn passed(&self, findings: &[&Finding]) -> Vec<String> {
        self.probes
            .iter()
            .filter(|p| p.unreachable.is_none() && p.error.is_none())
            .filter(|p| !about(findings, &format!("{} ({})", p.host, p.address)))
            .filter_map(|p| {
                let tls = p.tls.as_ref()?;
                let c = tls.certificate.as_ref()?;
                Some(format!(
                    "{} ({}): STARTTLS with {}, a trusted certificate for {} valid until {}",
                    p.host,
                    p.address,
                    tls.version.as_deref()?,
                    p.host,
                    c.not_after
                ))
            })
            .collect()
    }
}

// ---- The JSON form, schema v1 (docs/json.md), apart from the probe's own
// types so that a change to them cannot change the contract.

#[derive(Serialize)]
struct SmtpV1<'a> {
    probes: Vec<ProbeV1<'a>>,
    ptr_names: Vec<PtrNamesV1<'a>>,
}

#[derive(Serialize)]
struct PtrNamesV1<'a> {
    address: IpAddr,
    names: &'a [String],
}

#[derive(Serialize)]
struct ProbeV1<'a> {
    host: &'a str,
    address: IpAddr,
    port: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    unreachable: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    banner: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    banner_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ehlo_name: Option<&'a str>,
    extensions: &'a [String],
    starttls: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    tls: Option<TlsV1<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    open_relay: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
}

#[derive(Serialize)]
struct TlsV1<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cipher: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    failed: Option<&'a str>,
    too_old: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    certificate: Option<CertificateV1<'a>>,
}

#[derive(Serialize)]
struct CertificateV1<'a> {
    subject: &'a str,
    issuer: &'a str,
    names: &'a [String],
    not_after: &'a str,
    days_left: i64,
    trusted: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    untrusted_because: Option<&'a str>,
    name_matches: bool,
}

impl<'a> From<&'a Probe> for ProbeV1<'a> {
    fn from(p: &'a Probe) -> Self {
        ProbeV1 {
            host: &p.host,
            address: p.address,
            port: p.port,
            unreachable: p.unreachable.as_deref(),
            banner: p.banner.as_deref(),
            banner_ms: p.banner_ms,
            ehlo_name: p.ehlo_name.as_deref(),
            extensions: &p.extensions,
            starttls: p.starttls,
            tls: p.tls.as_ref().map(|t| TlsV1 {
                version: t.version.as_deref(),
                cipher: t.cipher.as_deref(),
                failed: t.failed.as_deref(),
                too_old: t.too_old,
                certificate: t.certificate.as_ref().map(|c| CertificateV1 {
                    subject: &c.subject,
                    issuer: &c.issuer,
                    names: &c.names,
                    not_after: &c.not_after,
                    days_left: c.days_left,
                    trusted: c.trusted,
                    untrusted_because: c.untrusted_because.as_deref(),
                    name_matches: c.name_matches,
                }),
            }),
            open_relay: p.open_relay,
            error: p.error.as_deref(),
        }
    }
}

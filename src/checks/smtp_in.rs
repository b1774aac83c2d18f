//! The delivery to a test address, as a receiver judges it: the SMTP
//! connection mailaudit's listener saw (client address and port, its
//! reverse DNS, HELO, MAIL FROM, recipients, TLS, time), and SPF computed
//! for that connection as receivers compute it (RFC 7208 `check_host`
//! for the MAIL FROM identity, and for the HELO identity). The address's
//! PTR and HELO match are the PTR check's (the connecting address is the
//! run's sending IP), its listings the blocklist check's, DKIM and DMARC
//! with this envelope the message check's.

use serde::Serialize;

use crate::checks::{Ran, check};
use crate::facts::Facts;
use crate::facts::reverse::Confirmation;
use crate::facts::spf::{self, SpfResult};
use crate::findings::Finding;
use crate::message::received::{Connection, Tls};
use crate::report::model::{Block, Detail};

crate::check_finding_ids! {
    /// SPF for the envelope sender, from the address that connected, is
    /// not pass.
    SMTP_IN_SPF_NOT_PASS = "smtp-in.spf-not-pass",
    /// SPF for the HELO name fails for the address that connected.
    SMTP_IN_HELO_SPF_FAIL = "smtp-in.helo-spf-fail",
    /// A lookup failed: SPF for the connection is unknown.
    SMTP_IN_DNS_ERROR = "smtp-in.dns-error",
    /// The message came through one of the operator's trusted relays and
    /// no Received field names the host before it: who sent it is unknown.
    SMTP_IN_SENDER_UNKNOWN = "smtp-in.sender-unknown",
}

check! {
    /// The connection that delivered a message to a test address.
    SmtpIn {
        id: "smtp-in",
        title: "Delivery to the test address",
        description: "the SMTP connection that delivered the message to a test address (address, reverse DNS, HELO, MAIL FROM, TLS) and SPF computed for it as a receiver does",
        reads: &[Fact::ReverseDns],
        findings: FINDINGS,
    }
    fn run(facts) {
        let Some(c) = facts.target.connection.as_ref() else {
            return Ran::skipped("no delivery to a test address: the connection facts come from mailaudit serve --smtp-listen");
        };
        if !facts.target.trust.relays_to(c.client_ip) {
            return run(facts, c, None).await;
        }
        // Handed over by one of the operator's own relays (an MTA in front
        // of the listener): the sender is the host the path names before
        // them, as the relays recorded it.
        let via = format!("{}:{}", c.client_ip, c.client_port);
        match facts.messages.first().and_then(|m| m.path.sending_hop()).filter(|h| !h.ours) {
            Some(h) if h.ip.is_some() => {
                let sent = Connection {
                    client_ip: h.ip.expect("checked"),
                    client_port: 0,
                    helo: h.from.clone().unwrap_or_default(),
                    tls: (h.tls == Some(true)).then(|| Tls {
                        version: h.tls_version.clone().unwrap_or_else(|| "TLS".into()),
                        cipher: String::new(),
                    }),
                    received_at: h.at.unwrap_or(c.received_at),
                    receiver: h.by.clone().unwrap_or_else(|| c.receiver.clone()),
                    ..c.clone()
                };
                run(facts, &sent, Some(via)).await
            }
            _ => {
                let reason = format!(
                    "the message came through the trusted relay {} and no Received field names the host that handed it over",
                    c.client_ip
                );
                let finding = Finding::new(
                    SMTP_IN_SENDER_UNKNOWN,
                    c.client_ip.to_string(),
                    format!("Who sent the message is unknown: {reason}; SPF, reverse DNS and listings of the sender were not judged."),
                )
                .with("via", &via)
                .unknown();
                Ran::done(Unseen { via, sender: None, reason }, vec![finding])
            }
        }
    }
}

async fn run(facts: &Facts<'_>, c: &Connection, via: Option<String>) -> Ran {
    let subject = c.client_ip.to_string();
    let (rdns, mfrom, helo) = futures::join!(
        facts.reverse(c.client_ip),
        spf::check_transaction(&facts.dns, c.client_ip, &c.mail_from, &c.helo),
        // The HELO identity: postmaster@HELO (RFC 7208 §2.3), when the
        // name is a domain at all.
        async {
            let name = c.helo.trim().trim_end_matches('.');
            if name.contains('.') && !name.starts_with('[') {
                Some(
                    spf::check_transaction(
                        &facts.dns,
                        c.client_ip,
                        &format!("postmaster@{name}"),
                        name,
                    )
                    .await,
                )
            } else {
                None
            }
        }
    );
    let mut findings = Vec::new();
    let mail_from_domain = match c.mail_from.rsplit_once('@') {
        Some((_, d)) => d.to_ascii_lowercase(),
        None => c.helo.to_ascii_lowercase(),
    };
    let identity = if c.mail_from.is_empty() {
        format!("the null sender (HELO {})", c.helo)
    } else {
        c.mail_from.clone()
    };
    match mfrom.result {
        SpfResult::Pass => {}
        SpfResult::Temperror => findings.push(
            Finding::new(
                SMTP_IN_DNS_ERROR,
                &subject,
                format!(
                    "SPF for {identity} from {} could not be computed: {}.",
                    c.client_ip,
                    mfrom.reason.as_deref().unwrap_or("a lookup failed")
                ),
            )
            .with("identity", "mfrom")
            .with("reason", &mfrom.reason)
            .unknown(),
        ),
        other => findings.push(
            Finding::new(
                SMTP_IN_SPF_NOT_PASS,
                &subject,
                format!(
                    "SPF for {identity} from {} is {}{}: receivers do not count SPF for this message{}.",
                    c.client_ip,
                    other.as_str(),
                    mfrom
                        .reason
                        .as_deref()
                        .map(|r| format!(" ({r})"))
                        .unwrap_or_default(),
                    if other == SpfResult::Fail {
                        ", and some reject it"
                    } else {
                        ""
                    }
                ),
            )
            .with("ip", c.client_ip)
            .with("mail_from", &c.mail_from)
            .with("domain", &mail_from_domain)
            .with("result", other.as_str())
            .with("matched", &mfrom.matched),
        ),
    }
    if let Some(h) = &helo {
        match h.result {
            SpfResult::Fail | SpfResult::Softfail => findings.push(
                Finding::new(
                    SMTP_IN_HELO_SPF_FAIL,
                    &subject,
                    format!(
                        "SPF for the HELO name {} from {} is {}.",
                        c.helo,
                        c.client_ip,
                        h.result.as_str()
                    ),
                )
                .with("helo", &c.helo)
                .with("result", h.result.as_str()),
            ),
            SpfResult::Temperror => findings.push(
                Finding::new(
                    SMTP_IN_DNS_ERROR,
                    &subject,
                    format!(
                        "SPF for the HELO name {} could not be computed: {}.",
                        c.helo,
                        h.reason.as_deref().unwrap_or("a lookup failed")
                    ),
                )
                .with("identity", "helo")
                .with("reason", &h.reason)
                .unknown(),
            ),
            _ => {}
        }
    }
    let iprev = match rdns.confirmation() {
        Confirmation::Confirmed(names) => format!("pass ({})", names.join(", ")),
        Confirmation::NotConfirmed if rdns.names.is_empty() => "fail (no PTR record)".into(),
        Confirmation::NotConfirmed => format!(
            "fail ({} does not resolve back to the address)",
            rdns.names.join(", ")
        ),
        Confirmation::Failed(f) => format!("temperror ({} {}: {})", f.name, f.rtype, f.outcome),
        Confirmation::Capped { names } => format!("unknown ({names} PTR names, not all followed)"),
    };
    let detail = Delivery {
        client: if via.is_some() {
            c.client_ip.to_string()
        } else {
            format!("{}:{}", c.client_ip, c.client_port)
        },
        via,
        iprev,
        helo: c.helo.clone(),
        mail_from: c.mail_from.clone(),
        recipients: c.recipients.clone(),
        tls: c
            .tls
            .as_ref()
            .map(|t| format!("{} {}", t.version, t.cipher).trim_end().to_string()),
        received_at: time::OffsetDateTime::from_unix_timestamp(c.received_at)
            .ok()
            .and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .unwrap_or_default(),
        spf_mail_from: SpfFor {
            domain: mail_from_domain,
            result: mfrom.result,
            reason: mfrom.reason.clone(),
        },
        spf_helo: helo.as_ref().map(|h| SpfFor {
            domain: c.helo.trim_end_matches('.').to_ascii_lowercase(),
            result: h.result,
            reason: h.reason.clone(),
        }),
    };
    Ran::done(detail, findings)
}

/// The JSON `checks.smtp-in` entry.
#[derive(Debug, Serialize)]
pub struct Delivery {
    /// address:port (the address alone when `via` is set)
    pub client: String,
    /// The operator's trusted relay (address:port) that handed the
    /// message to the listener; the client is the host before it, as the
    /// path names it. Absent for a direct delivery.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
    /// Forward-confirmed reverse DNS of the address, as receivers record
    /// it (`iprev`, RFC 8601 §3): pass, fail, temperror, with the names.
    pub iprev: String,
    pub helo: String,
    pub mail_from: String,
    pub recipients: Vec<String>,
    /// TLS version and cipher; `None`: no STARTTLS.
    pub tls: Option<String>,
    pub received_at: String,
    pub spf_mail_from: SpfFor,
    /// `None`: the HELO name is no domain (an address literal).
    pub spf_helo: Option<SpfFor>,
}

#[derive(Debug, Serialize)]
pub struct SpfFor {
    pub domain: String,
    pub result: SpfResult,
    pub reason: Option<String>,
}

impl Detail for Delivery {
    fn wire(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("serialises")
    }

    fn headline(&self) -> String {
        format!(
            "from {} (HELO {}), SPF {}",
            self.client,
            self.helo,
            self.spf_mail_from.result.as_str()
        )
    }

    fn blocks(&self) -> Vec<Block> {
        let none = |s: &str| {
            if s.is_empty() {
                "<> (the null sender)".to_string()
            } else {
                s.to_string()
            }
        };
        vec![Block::Lines {
            title: "The connection".into(),
            items: vec![
                match &self.via {
                    Some(v) => format!("Client: {} (through your relay {v})", self.client),
                    None => format!("Client: {}", self.client),
                },
                format!("Reverse DNS (iprev): {}", self.iprev),
                format!("HELO: {}", self.helo),
                format!("MAIL FROM: {}", none(&self.mail_from)),
                format!("RCPT TO: {}", self.recipients.join(", ")),
                format!(
                    "TLS: {}",
                    self.tls.as_deref().unwrap_or("none (no STARTTLS)")
                ),
                format!("Received: {}", self.received_at),
                format!(
                    "SPF (MAIL FROM {}): {}",
                    self.spf_mail_from.domain,
                    self.spf_mail_from.result.as_str()
                ),
                match &self.spf_helo {
                    Some(h) => format!("SPF (HELO {}): {}", h.domain, h.result.as_str()),
                    None => "SPF (HELO): not computed, the HELO name is no domain".into(),
                },
            ],
        }]
    }

    fn passed(&self, _findings: &[&Finding]) -> Vec<String> {
        let mut out = Vec::new();
        if self.spf_mail_from.result == SpfResult::Pass {
            out.push(format!(
                "SPF passes for {} from {}",
                self.spf_mail_from.domain, self.client
            ));
        }
        if let Some(tls) = &self.tls {
            out.push(format!("delivered over TLS ({tls})"));
        }
        out
    }
}

/// The JSON `checks.smtp-in` entry when the sender could not be told: the
/// relay it came through, and why.
#[derive(Debug, Serialize)]
pub struct Unseen {
    pub via: String,
    /// Always null: who sent it is unknown.
    pub sender: Option<String>,
    pub reason: String,
}

impl Detail for Unseen {
    fn wire(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("serialises")
    }

    fn headline(&self) -> String {
        format!("through your relay {}, sender unknown", self.via)
    }

    fn blocks(&self) -> Vec<Block> {
        vec![Block::Lines {
            title: "The connection".into(),
            items: vec![
                format!("Through your relay: {}", self.via),
                format!("Sender: unknown ({})", self.reason),
            ],
        }]
    }

    fn passed(&self, _findings: &[&Finding]) -> Vec<String> {
        Vec::new()
    }
}

//! The message scan: each `.eml` read without DNS when the run starts
//! ([`crate::message::scan`]), then, per message, its DKIM signatures
//! verified through our resolver, what they cover, and DMARC for its From
//! domain ([`verify`]).

mod verify;

use std::net::IpAddr;

use futures::future::join_all;
use serde::Serialize;

use crate::checks::{Ran, check};
use crate::facts::spf::SpfResult;
use crate::findings::Status;
use crate::records::dmarc::Policy;
use crate::report::model::{Block, Detail};

check! {
    Message {
        id: "message",
        title: "Messages",
        description: "each scanned message: DKIM signatures, DMARC alignment, List-Unsubscribe and one-click, unsubscribe link, RFC 5322 basics",
        kinds: &[RunKind::Audit, RunKind::Message],
        rows: &[Row::Unsubscribe, Row::DnsRecords { required: false }],
        per_item: true,
    }
    fn run(facts) {
        if facts.messages.is_empty() {
            return Ran::skipped("no message was given");
        }
        let results = join_all(facts.messages.iter().map(|p| verify::verify(p, facts))).await;
        let mut reports = Vec::new();
        let mut findings = Vec::new();
        for (r, mut f) in results {
            reports.push(r);
            findings.append(&mut f);
        }
        Ran::done(Messages(reports), findings)
    }
}

/// Every scanned message, in the order given.
#[derive(Debug)]
pub struct Messages(pub Vec<MessageReport>);

impl Detail for Messages {
    fn wire(&self) -> serde_json::Value {
        serde_json::to_value(&self.0).expect("serialises")
    }

    fn item_status(&self, item: &str) -> Option<crate::findings::Status> {
        self.0.iter().find(|m| m.file == item).map(|m| m.status)
    }

    fn headline(&self) -> String {
        self.0
            .iter()
            .map(MessageReport::line)
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn blocks(&self) -> Vec<Block> {
        vec![Block::Table {
            title: "Messages".into(),
            head: vec![
                "File".into(),
                "Subject".into(),
                "Status".into(),
                "DKIM".into(),
                "DMARC".into(),
                "One-click (signed)".into(),
                "Unsubscribe link".into(),
            ],
            rows: self
                .0
                .iter()
                .map(|m| {
                    let yes = |b: bool| if b { "yes" } else { "no" };
                    vec![
                        m.file.clone(),
                        m.subject.as_deref().map(shortened).unwrap_or_default(),
                        m.status.as_str().into(),
                        if m.dkim.is_empty() {
                            "none".into()
                        } else {
                            m.dkim
                                .iter()
                                .map(|s| format!("{}={}", s.domain, s.result))
                                .collect::<Vec<_>>()
                                .join(", ")
                        },
                        m.dmarc.as_ref().map_or("none".into(), |d| {
                            // Each address only when they differ.
                            if d.per_ip.iter().all(|e| e.result == d.result) {
                                d.result.clone()
                            } else {
                                let each: Vec<String> = d
                                    .per_ip
                                    .iter()
                                    .map(|e| format!("{} from {}", e.result, e.spf.ip))
                                    .collect();
                                format!("{} ({})", d.result, each.join(", "))
                            }
                        }),
                        format!(
                            "{} ({})",
                            yes(m.list_unsubscribe.one_click),
                            yes(m.list_unsubscribe.signed)
                        ),
                        yes(m.unsubscribe_link.found).into(),
                    ]
                })
                .collect(),
        }]
    }

    fn passed(&self, _findings: &[&crate::findings::Finding]) -> Vec<String> {
        let mut out = Vec::new();
        for m in &self.0 {
            for s in m.dkim.iter().filter(|s| s.result == "pass") {
                out.push(format!(
                    "{}: the DKIM signature of {} (selector {}) verifies",
                    m.file, s.domain, s.selector
                ));
            }
            if let Some(d) = m.dmarc.as_ref().filter(|d| d.result == "pass") {
                let by = match (d.aligned_dkim, d.aligned_spf) {
                    (true, Some(true)) => "DKIM and SPF",
                    (true, _) => "DKIM",
                    _ => "SPF",
                };
                out.push(format!(
                    "{}: DMARC passes for {} (aligned {by})",
                    m.file,
                    d.domain.as_deref().unwrap_or("the From domain")
                ));
            }
            let u = &m.list_unsubscribe;
            if u.one_click && u.signed {
                out.push(format!(
                    "{}: one-click unsubscribe (RFC 8058), both headers signed",
                    m.file
                ));
            }
            if m.unsubscribe_link.found {
                out.push(format!(
                    "{}: a visible unsubscribe link in the body{}",
                    m.file,
                    m.unsubscribe_link
                        .url
                        .as_deref()
                        .map(|u| format!(" ({u})"))
                        .unwrap_or_default()
                ));
            }
        }
        out
    }
}

/// A subject as a table shows it: at most 60 characters.
fn shortened(subject: &str) -> String {
    const MAX: usize = 60;
    if subject.chars().count() <= MAX {
        subject.to_string()
    } else {
        let mut s: String = subject.chars().take(MAX - 1).collect();
        s.push('…');
        s
    }
}

impl MessageReport {
    fn line(&self) -> String {
        format!("{}: {}", self.file, self.status.as_str())
    }
}

/// What the scan of one message found: the JSON `checks.message[]` entry.
#[derive(Debug, Clone, Serialize)]
pub struct MessageReport {
    pub file: String,
    pub status: Status,
    pub size: u64,
    /// Only the first part of the file was read (see `read_limit`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_limit: Option<u64>,
    pub from_domain: Option<String>,
    pub subject: Option<String>,
    pub dkim: Vec<SignatureReport>,
    pub dmarc: Option<MessageDmarc>,
    pub list_unsubscribe: UnsubscribeHeaders,
    pub unsubscribe_link: UnsubscribeLink,
    pub link_domains: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SignatureReport {
    pub domain: String,
    pub selector: String,
    pub algorithm: String,
    /// pass, fail, neutral, permerror, temperror, none or unknown.
    pub result: String,
    pub reason: Option<String>,
    /// The header fields the signature covers (h=).
    pub signed_headers: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct MessageDmarc {
    /// pass, fail, none, temperror or unknown.
    pub result: String,
    pub domain: Option<String>,
    pub policy: Option<Policy>,
    pub aligned_dkim: bool,
    /// `None` when SPF could not be evaluated (no sending IP or envelope
    /// sender). With several sending IPs: the first one's (`per_ip` has
    /// each).
    pub aligned_spf: Option<bool>,
    pub spf: Option<MessageSpf>,
    /// With several sending IPs (`--ip`, no Received header naming one):
    /// SPF and DMARC as a receiver computes them for each; `result` is the
    /// worst of them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub per_ip: Vec<DmarcForIp>,
}

/// DMARC for a message sent from one address.
#[derive(Debug, Clone, Serialize)]
pub struct DmarcForIp {
    pub spf: MessageSpf,
    pub aligned_spf: Option<bool>,
    /// pass, fail or unknown.
    pub result: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct MessageSpf {
    pub ip: IpAddr,
    pub mail_from: String,
    pub result: SpfResult,
}

#[derive(Debug, Clone, Serialize)]
pub struct UnsubscribeHeaders {
    pub uris: Vec<String>,
    /// List-Unsubscribe-Post is right and an HTTPS address is there.
    pub one_click: bool,
    /// Both headers are covered by a DKIM signature that verifies.
    pub signed: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct UnsubscribeLink {
    pub found: bool,
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matched: Option<String>,
}

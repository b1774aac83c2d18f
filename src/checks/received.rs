//! The Received path of each message: every hop's sending host and
//! address, the receiving host, the protocol and whether it was encrypted
//! (`with ESMTPS`, a TLS version named), and the time between hops; for a
//! message delivered to a test address, the connection we saw is the
//! last hop. Which hop sent the message is read as receivers read it
//! ([`crate::message::received`]): the first from the top not from the
//! reader's own relays.
//!
//! `Authentication-Results` and ARC results written before the message
//! reached the reader (or us) are shown, never taken as verdicts: the
//! sender can write anything there. Our own verdicts are the message,
//! SPF and ARC checks'.

use serde::Serialize;

use crate::checks::{Ran, check};
use crate::facts::Facts;
use crate::findings::Finding;
use crate::message::received::{Hop, Path, SLOW_HOP_SECS};
use crate::report::model::{Block, Detail};

crate::check_finding_ids! {
    /// A hop between two machines was not encrypted.
    RECEIVED_NO_TLS_HOP = "received.no-tls-hop",
    /// A hop took longer than SLOW_HOP_SECS.
    RECEIVED_SLOW_HOP = "received.slow-hop",
}

check! {
    /// The Received path of each message.
    ReceivedPath {
        id: "received",
        title: "Received path",
        description: "the hops each message took (Received fields, and the connection that delivered it to a test address): hosts, addresses, TLS, delays; others' Authentication-Results shown, not trusted",
        kinds: &[RunKind::Audit, RunKind::Message],
        findings: FINDINGS,
    }
    fn run(facts) {
        run(facts)
    }
}

fn run(facts: &Facts<'_>) -> Ran {
    if facts.messages.is_empty() {
        return Ran::skipped("no message was given");
    }
    let mut paths = Vec::new();
    let mut findings = Vec::new();
    for m in &facts.messages {
        let file = m.loaded.path.as_str();
        findings.extend(judge(file, &m.path));
        paths.push(MessagePath {
            file: file.to_string(),
            path: m.path.clone(),
        });
    }
    if paths.iter().all(|p| p.path.hops.is_empty()) {
        return Ran::skipped(
            "no message has a Received field: it was not sent yet (a draft or a copy from the sender's own folder)",
        );
    }
    Ran::done(Paths(paths), findings)
}

/// The findings of one message's path.
fn judge(file: &str, path: &Path) -> Vec<Finding> {
    let mut findings = Vec::new();
    let clear: Vec<(usize, &Hop)> = path
        .hops
        .iter()
        .enumerate()
        .filter(|(_, h)| h.tls == Some(false) && h.over_a_network())
        .collect();
    if !clear.is_empty() {
        let names: Vec<String> = clear.iter().map(|(i, h)| hop_name(*i, h)).collect();
        findings.push(
            Finding::new(
                RECEIVED_NO_TLS_HOP,
                file,
                format!(
                    "{} of the message's path crossed a network unencrypted: {}.",
                    if clear.len() == 1 {
                        "One hop".to_string()
                    } else {
                        hops(clear.len())
                    },
                    names.join("; ")
                ),
            )
            .with(
                "hops",
                clear
                    .iter()
                    .map(|(i, h)| serde_json::json!({"hop": i + 1, "from": h.from, "ip": h.ip, "by": h.by, "with": h.with, "ours": h.ours}))
                    .collect::<Vec<_>>(),
            ),
        );
    }
    let slow: Vec<(usize, &Hop)> = path
        .hops
        .iter()
        .enumerate()
        .filter(|(_, h)| h.delay.is_some_and(|d| d > SLOW_HOP_SECS))
        .collect();
    if !slow.is_empty() {
        findings.push(
            Finding::new(
                RECEIVED_SLOW_HOP,
                file,
                format!(
                    "The message waited on its way: {}.",
                    slow.iter()
                        .map(|(i, h)| format!(
                            "{} after {}",
                            hop_name(*i, h),
                            duration(h.delay.unwrap_or(0))
                        ))
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
            )
            .with("threshold_seconds", SLOW_HOP_SECS)
            .with(
                "hops",
                slow.iter()
                    .map(|(i, h)| serde_json::json!({"hop": i + 1, "from": h.from, "by": h.by, "delay_seconds": h.delay}))
                    .collect::<Vec<_>>(),
            ),
        );
    }
    findings
}

/// "hop 2 (out.esp.test [192.0.2.10] to mx.example)".
fn hop_name(i: usize, h: &Hop) -> String {
    let from = match (&h.from, h.ip) {
        (Some(f), Some(ip)) => format!("{f} [{ip}]"),
        (Some(f), None) => f.clone(),
        (None, Some(ip)) => format!("[{ip}]"),
        (None, None) => "an unnamed host".into(),
    };
    let to = if h.ours {
        "this test address".to_string()
    } else {
        h.by.clone().unwrap_or_else(|| "an unnamed host".into())
    };
    format!("hop {} ({from} to {to})", i + 1)
}

/// 754 -> "12 min 34 s".
fn duration(secs: i64) -> String {
    match secs {
        s if s < 0 => format!("{s} s (the clocks disagree)"),
        s if s < 60 => format!("{s} s"),
        s if s < 3600 => format!("{} min {} s", s / 60, s % 60),
        s => format!("{} h {} min", s / 3600, (s % 3600) / 60),
    }
}

/// The path of one message: the JSON `checks.received[]` entry.
#[derive(Debug, Serialize)]
pub struct MessagePath {
    pub file: String,
    #[serde(flatten)]
    pub path: Path,
}

#[derive(Debug)]
pub struct Paths(pub Vec<MessagePath>);

impl Detail for Paths {
    fn wire(&self) -> serde_json::Value {
        serde_json::json!({ "messages": &self.0 })
    }

    fn headline(&self) -> String {
        self.0
            .iter()
            .map(|m| {
                let sender = m
                    .path
                    .sending_hop()
                    .and_then(|h| h.ip)
                    .map(|ip| format!(", sent from {ip}"))
                    .unwrap_or_default();
                format!("{}: {}{sender}", m.file, hops(m.path.hops.len()))
            })
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn blocks(&self) -> Vec<Block> {
        let mut blocks = Vec::new();
        for m in &self.0 {
            let rows = m
                .path
                .hops
                .iter()
                .enumerate()
                .map(|(i, h)| {
                    let sender = if m.path.sender == Some(i) {
                        " (sender)"
                    } else {
                        ""
                    };
                    vec![
                        format!("{}{sender}", i + 1),
                        h.from.clone().unwrap_or_else(|| "-".into()),
                        h.ip.map(|ip| ip.to_string()).unwrap_or_else(|| "-".into()),
                        if h.ours {
                            "this test address".into()
                        } else {
                            h.by.clone().unwrap_or_else(|| "-".into())
                        },
                        match (h.tls, &h.tls_version) {
                            (Some(true), Some(v)) => format!("yes ({v})"),
                            (Some(true), None) => "yes".into(),
                            (Some(false), _) => "no".into(),
                            (None, _) => "-".into(),
                        },
                        h.with.clone().unwrap_or_else(|| "-".into()),
                        h.delay.map(duration).unwrap_or_else(|| "-".into()),
                        if h.ours {
                            "seen by us".into()
                        } else if h.trusted {
                            "yes".into()
                        } else {
                            "no (the sender's side)".into()
                        },
                    ]
                })
                .collect();
            blocks.push(Block::Table {
                title: format!("Received path of {}, oldest hop first", m.file),
                head: [
                    "Hop", "From", "Address", "By", "TLS", "Protocol", "Delay", "Believed",
                ]
                .map(String::from)
                .to_vec(),
                rows,
            });
            if !m.path.auth_results.is_empty() {
                blocks.push(Block::Table {
                    title: format!(
                        "Authentication results written into {} (shown, not taken as verdicts unless your own)",
                        m.file
                    ),
                    head: ["Field", "Written by", "Results", "Trusted"]
                        .map(String::from)
                        .to_vec(),
                    rows: m
                        .path
                        .auth_results
                        .iter()
                        .map(|a| {
                            vec![
                                a.field.clone(),
                                a.authserv_id.clone(),
                                a.results.join(" "),
                                if a.trusted {
                                    "yes (your --authserv-id)".into()
                                } else {
                                    "no".into()
                                },
                            ]
                        })
                        .collect(),
                });
            }
            let mut notes = Vec::new();
            if m.path.unreadable > 0 {
                notes.push(format!(
                    "{} Received field(s) could not be read as a hop and are not shown.",
                    m.path.unreadable
                ));
            }
            if m.path.capped {
                notes.push(format!(
                    "Only the newest {} hops were read.",
                    crate::message::received::MAX_HOPS
                ));
            }
            if !notes.is_empty() {
                blocks.push(Block::Lines {
                    title: "Notes".into(),
                    items: notes,
                });
            }
        }
        blocks
    }

    fn passed(&self, findings: &[&Finding]) -> Vec<String> {
        let mut out = Vec::new();
        for m in &self.0 {
            let mine: Vec<&&Finding> = findings.iter().filter(|f| f.subject == m.file).collect();
            let network: Vec<&Hop> = m.path.hops.iter().filter(|h| h.over_a_network()).collect();
            if !network.is_empty()
                && network.iter().all(|h| h.tls == Some(true))
                && !mine.iter().any(|f| f.id == RECEIVED_NO_TLS_HOP)
            {
                out.push(format!(
                    "{}: every hop across a network was encrypted ({})",
                    m.file,
                    hops(network.len())
                ));
            }
        }
        out
    }
}

/// "1 hop", "3 hops".
fn hops(n: usize) -> String {
    if n == 1 {
        "1 hop".into()
    } else {
        format!("{n} hops")
    }
}

//! ARC (RFC 8617): the Authenticated Received Chain of each scanned
//! message, validated as a receiver validates it (§5.2): the sets numbered
//! 1..n without a gap, cv=none on the first seal and cv=pass on every
//! later one, the newest ARC-Message-Signature and every ARC-Seal verified
//! against the keys they name. A forwarder or mailing list adds a set so
//! that the receiver after it can trust the authentication results it saw
//! before it changed the message; a chain that does not validate is
//! ignored, and a message that fails DMARC after forwarding is then judged
//! on DMARC alone.
//!
//! mail-auth validates; the keys come from the signing-keys fact (our
//! resolver), so a failed lookup is `unknown`, never a broken chain. A
//! message without ARC headers has no chain, which is no finding: only
//! mail that passed through an intermediary carries one.

use mail_auth::arc::ArcError;
use mail_auth::{AuthenticatedMessage, DkimResult, MessageAuthenticator, Parameters};
use serde::Serialize;

use crate::checks::{Ran, check};
use crate::facts::Facts;
use crate::facts::signing_keys::SigningKeys;
use crate::findings::Finding;
use crate::message::scan::Scanned;
use crate::report::model::{Block, Detail};

crate::check_finding_ids! {
    /// The chain does not validate.
    ARC_FAIL = "arc.fail",
    /// A key lookup failed: whether the chain validates is unknown.
    ARC_DNS_ERROR = "arc.dns-error",
    /// Only part of the file was read: the chain was not validated.
    ARC_NOT_VERIFIED = "arc.not-verified",
}

check! {
    /// The ARC chain of each scanned message.
    ArcChain {
        id: "arc",
        title: "ARC chain",
        description: "the ARC chain of each scanned message (RFC 8617): its seals and newest message signature, validated as a receiver does",
        kinds: &[RunKind::Audit, RunKind::Message],
        findings: FINDINGS,
    }
    fn run(facts) {
        if facts.messages.is_empty() {
            return Ran::skipped("no message was given");
        }
        let mut chains = Vec::new();
        let mut findings = Vec::new();
        for scanned in &facts.messages {
            let (chain, own) = validate(facts, scanned).await;
            chains.push(chain);
            findings.extend(own);
        }
        if chains.iter().all(|c| c.sets == 0) && findings.is_empty() {
            // Nothing to validate is no verdict: only mail that passed an
            // intermediary carries a chain.
            return Ran::Skipped {
                reason: "no message carries an ARC chain (only mail that passed a forwarder or list that seals does)".into(),
                detail: Some(Box::new(Chains(chains))),
            };
        }
        Ran::done(Chains(chains), findings)
    }
}

/// The chain of one message, as validated.
#[derive(Debug, Clone, Serialize)]
pub struct Chain {
    pub file: String,
    /// `pass`, `fail`, `none` (no ARC headers), `unknown` (a key lookup
    /// failed, or the file was not read whole), or `unreadable` (not a
    /// message).
    pub result: &'static str,
    /// Why, when not `pass` or `none`.
    pub reason: Option<String>,
    /// The ARC sets it carries (the highest instance).
    pub sets: usize,
    /// Who sealed each set, oldest first.
    pub sealers: Vec<Sealer>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Sealer {
    pub instance: u32,
    pub domain: String,
    pub selector: String,
}

async fn validate(facts: &Facts<'_>, scanned: &Scanned<'_>) -> (Chain, Vec<Finding>) {
    let file = scanned.loaded.path.as_str();
    let mut chain = Chain {
        file: file.to_string(),
        result: "unreadable",
        reason: scanned.problem.clone(),
        sets: 0,
        sealers: Vec::new(),
    };
    let Some(parsed) = &scanned.parsed else {
        // message.unparseable says so.
        return (chain, Vec::new());
    };
    let auth = AuthenticatedMessage::from_parsed(parsed, &scanned.loaded.bytes, false);
    chain.sets = auth.as_headers.len().max(auth.ams_headers.len());
    chain.sealers = auth
        .as_headers
        .iter()
        .map(|h| Sealer {
            instance: h.header.i,
            domain: h.header.d.to_ascii_lowercase(),
            selector: h.header.s.to_ascii_lowercase(),
        })
        .collect();
    chain.sealers.sort_by_key(|s| s.instance);
    if chain.sets == 0 && !auth.has_arc_errors {
        chain.result = "none";
        chain.reason = None;
        return (chain, Vec::new());
    }
    if scanned.loaded.truncated {
        let read = scanned.loaded.bytes.len();
        chain.result = "unknown";
        chain.reason = Some(format!("only the first {read} bytes were read"));
        let finding = Finding::new(
            ARC_NOT_VERIFIED,
            file,
            format!(
                "The ARC chain of {file} was not validated: only the first {read} bytes of the file were read."
            ),
        )
        .with("bytes_read", read)
        .with("size", scanned.loaded.size)
        .unknown();
        return (chain, vec![finding]);
    }

    // Every key the chain names (the sets' message signatures and seals),
    // asked at once through our resolver.
    let keys = SigningKeys::fetch(
        &facts.dns,
        auth.ams_headers
            .iter()
            .map(|h| (h.header.s.as_str(), h.header.d.as_str()))
            .chain(
                auth.as_headers
                    .iter()
                    .map(|h| (h.header.s.as_str(), h.header.d.as_str())),
            ),
    )
    .await;
    let output = MessageAuthenticator(facts.dns.hickory().clone())
        .verify_arc(Parameters::new(&auth).with_txt_cache(&keys.cache))
        .await;
    let failed: Vec<(&str, &crate::dns::Outcome)> = keys.failed().collect();
    let verdict = match output.result() {
        DkimResult::Pass => None,
        DkimResult::None => {
            chain.result = "none";
            return (chain, Vec::new());
        }
        // A key lookup that failed: the chain is not judged.
        DkimResult::TempError(_) => Some(("unknown", None)),
        _ if !failed.is_empty() => Some(("unknown", None)),
        // Every other outcome is a chain that does not validate (§5.2:
        // a malformed set, a gap, a wrong cv=, a signature or seal that
        // does not verify, a body changed after the newest signature).
        DkimResult::Fail(e) | DkimResult::Neutral(e) | DkimResult::PermError(e) => {
            Some(("fail", Some(describe(e))))
        }
    };
    let Some((result, reason)) = verdict else {
        chain.result = "pass";
        chain.reason = None;
        return (chain, Vec::new());
    };
    chain.result = result;
    chain.reason = reason.clone();
    let findings = match reason {
        Some(why) => vec![
            Finding::new(
                ARC_FAIL,
                file,
                format!(
                    "The ARC chain of {file} ({} set(s)) does not validate: {why}. Receivers ignore what its intermediaries vouched for.",
                    chain.sets
                ),
            )
            .with("reason", &why)
            .with("sets", chain.sets)
            .with(
                "sealers",
                chain
                    .sealers
                    .iter()
                    .map(|s| format!("i={} {}", s.instance, s.domain))
                    .collect::<Vec<_>>(),
            ),
        ],
        None => failed
            .iter()
            .map(|(name, outcome)| {
                Finding::lookup_failed(ARC_DNS_ERROR, file, name, "TXT", outcome)
            })
            .collect(),
    };
    if let Some(f) = findings.first()
        && f.id == ARC_DNS_ERROR
    {
        chain.reason = Some(f.summary.clone());
    }
    (chain, findings)
}

/// An ARC failure in words.
fn describe(e: &mail_auth::Error) -> String {
    match e {
        mail_auth::Error::Arc(ArcError::InvalidInstance(i)) => {
            format!("the sets are not numbered 1 to n (instance {i})")
        }
        mail_auth::Error::Arc(ArcError::InvalidCV) => {
            "a seal's cv= is wrong: the first must say none, every later one pass (a hop that says fail ends the chain)".into()
        }
        mail_auth::Error::Arc(ArcError::BrokenChain) => {
            "the ARC header fields do not form complete sets".into()
        }
        mail_auth::Error::Arc(ArcError::FailedBodyHashMatch) => {
            "the body changed after the newest ARC-Message-Signature".into()
        }
        other => other.to_string(),
    }
}

/// The chain of every scanned message, in the order given.
#[derive(Debug)]
pub struct Chains(pub Vec<Chain>);

impl Detail for Chains {
    fn wire(&self) -> serde_json::Value {
        serde_json::json!({ "messages": self.0 })
    }

    fn headline(&self) -> String {
        self.0
            .iter()
            .map(|c| match c.sets {
                0 => format!("{}: no ARC chain", c.file),
                n => format!("{}: {} ({n} set(s))", c.file, c.result),
            })
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn blocks(&self) -> Vec<Block> {
        vec![Block::Table {
            title: "ARC chains".into(),
            head: ["File", "Result", "Sets", "Sealed by"]
                .map(String::from)
                .to_vec(),
            rows: self
                .0
                .iter()
                .map(|c| {
                    vec![
                        c.file.clone(),
                        match &c.reason {
                            Some(why) => format!("{} ({why})", c.result),
                            None => c.result.to_string(),
                        },
                        c.sets.to_string(),
                        c.sealers
                            .iter()
                            .map(|s| format!("i={} {} (s={})", s.instance, s.domain, s.selector))
                            .collect::<Vec<_>>()
                            .join(", "),
                    ]
                })
                .collect(),
        }]
    }

    fn passed(&self, _findings: &[&Finding]) -> Vec<String> {
        self.0
            .iter()
            .filter(|c| c.result == "pass")
            .map(|c| {
                format!(
                    "The ARC chain of {} ({} set(s)) validates: seals and the newest message signature verify.",
                    c.file, c.sets
                )
            })
            .collect()
    }
}

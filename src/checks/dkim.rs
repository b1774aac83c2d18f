//! DKIM keys of the audited domain: the selectors the user named, those the
//! scanned messages are signed with, and a probe of common selectors, all
//! asked at once (one round trip, however long the probe list).

use futures::future::join_all;
use serde::Serialize;

use crate::checks::Context;
use crate::dns::Outcome;
use crate::findings::{self as ids, Finding};
use crate::records::dkim::{DkimKey, KeyType, looks_like_dkim};

/// RFC 8301 §3.2: verifiers must not accept shorter RSA keys.
pub const MIN_BITS: usize = 1024;
/// RFC 8301 §3.2: signers should use at least this.
pub const RECOMMENDED_BITS: usize = 2048;

/// Where a selector came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Argument,
    Message,
    Probe,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyStatus {
    /// A usable key.
    Found,
    /// A named selector with no key.
    Missing,
    Revoked,
    Invalid,
    /// The lookup failed.
    Unknown,
}

#[derive(Debug, Clone, Serialize)]
pub struct SelectorReport {
    pub selector: String,
    pub status: KeyStatus,
    pub source: Source,
    pub key_type: Option<KeyType>,
    pub key_bits: Option<usize>,
    pub testing: bool,
    pub flags: Vec<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DkimReport {
    pub selectors: Vec<SelectorReport>,
    /// How many selectors were asked in all.
    pub selectors_tried: usize,
}

pub async fn run(
    ctx: &Context,
    named: &[String],
    from_messages: &[String],
) -> (DkimReport, Vec<Finding>) {
    let domain = ctx.domain.as_str();
    let mut wanted: Vec<(String, Source)> = Vec::new();
    let mut add = |s: &str, src: Source| {
        let s = s.trim().to_ascii_lowercase();
        if !s.is_empty() && !wanted.iter().any(|(w, _)| *w == s) {
            wanted.push((s, src));
        }
    };
    for s in named {
        add(s, Source::Argument);
    }
    for s in from_messages {
        add(s, Source::Message);
    }
    for s in &ctx.rules.dkim_selectors {
        add(s, Source::Probe);
    }
    let answers = join_all(
        wanted
            .iter()
            .map(|(s, _)| ctx.dns.txt(&format!("{s}._domainkey.{domain}"))),
    )
    .await;

    let mut findings = Vec::new();
    let mut selectors = Vec::new();
    let mut probe_failures: Vec<(String, Outcome)> = Vec::new();
    for ((selector, source), answer) in wanted.iter().zip(answers) {
        let name = format!("{selector}._domainkey.{domain}");
        let subject = format!("{domain} (selector {selector})");
        if !answer.is_definitive() {
            if *source == Source::Probe {
                probe_failures.push((name, (*answer).clone()));
                continue;
            }
            findings.push(Finding::lookup_failed(
                ids::DKIM_DNS_ERROR,
                &subject,
                &name,
                "TXT",
                &answer,
            ));
            selectors.push(entry(selector, *source, KeyStatus::Unknown, None));
            continue;
        }
        let keys: Vec<String> = answer
            .txt()
            .iter()
            .map(|t| String::from_utf8_lossy(t).into_owned())
            .filter(|t| looks_like_dkim(t))
            .collect();
        if keys.is_empty() {
            if *source != Source::Probe {
                findings.push(
                    Finding::new(
                        ids::DKIM_KEY_MISSING,
                        &subject,
                        format!(
                            "No DKIM key at {name} ({}), though {}.",
                            answer.describe(),
                            match source {
                                Source::Message => "a scanned message is signed with this selector",
                                _ => "the selector was named with --selector",
                            }
                        ),
                    )
                    .with("name", &name)
                    .with("lookup", answer.kind())
                    .with("source", source),
                );
                selectors.push(entry(selector, *source, KeyStatus::Missing, None));
            }
            continue;
        }
        if keys.len() > 1 {
            findings.push(
                Finding::new(
                    ids::DKIM_SYNTAX,
                    &subject,
                    format!(
                        "{name} holds {} key records; verifiers may pick either.",
                        keys.len()
                    ),
                )
                .with("records", &keys),
            );
        }
        let key = DkimKey::parse(&keys[0]);
        let mut e = entry(selector, *source, KeyStatus::Found, Some(&key));
        if !key.problems.is_empty() {
            e.status = KeyStatus::Invalid;
            findings.push(
                Finding::new(
                    ids::DKIM_SYNTAX,
                    &subject,
                    format!(
                        "The DKIM key record at {name} is invalid: {}",
                        key.problems.join("; ")
                    ),
                )
                .with("record", &key.raw)
                .with("problems", &key.problems),
            );
        } else if key.revoked {
            e.status = KeyStatus::Revoked;
            findings.push(
                Finding::new(
                    ids::DKIM_KEY_REVOKED,
                    &subject,
                    format!("The DKIM key at {name} is revoked (empty p=)."),
                )
                .with("record", &key.raw)
                .with("source", source),
            );
        } else if let (Some(KeyType::Rsa), Some(bits)) = (&key.key_type, key.bits) {
            if bits < MIN_BITS {
                findings.push(
                    Finding::new(
                        ids::DKIM_KEY_TOO_SHORT,
                        &subject,
                        format!("The DKIM key at {name} is {bits}-bit RSA; receivers reject keys under {MIN_BITS} bits."),
                    )
                    .with("bits", bits),
                );
            } else if bits < RECOMMENDED_BITS {
                findings.push(
                    Finding::new(
                        ids::DKIM_KEY_WEAK,
                        &subject,
                        format!("The DKIM key at {name} is {bits}-bit RSA; {RECOMMENDED_BITS} bits are recommended."),
                    )
                    .with("bits", bits),
                );
            }
        }
        if key.testing {
            findings.push(
                Finding::new(
                    ids::DKIM_TESTING,
                    &subject,
                    format!("The DKIM key at {name} is in testing mode (t=y)."),
                )
                .with("record", &key.raw),
            );
        }
        if key.sha1_only() {
            findings.push(
                Finding::new(
                    ids::DKIM_SHA1,
                    &subject,
                    format!("The DKIM key at {name} allows only SHA-1 (h=sha1)."),
                )
                .with("record", &key.raw),
            );
        }
        selectors.push(e);
    }

    let any_key = selectors.iter().any(|s| {
        matches!(
            s.status,
            KeyStatus::Found | KeyStatus::Revoked | KeyStatus::Invalid
        )
    });
    if !any_key {
        if let Some((name, outcome)) = probe_failures.first() {
            findings.push(Finding::lookup_failed(
                ids::DKIM_DNS_ERROR,
                domain,
                name,
                "TXT",
                outcome,
            ));
        } else if !selectors.iter().any(|s| s.status == KeyStatus::Unknown) {
            findings.push(
                Finding::new(
                    ids::DKIM_NO_KEY_FOUND,
                    domain,
                    format!(
                        "No DKIM key found for {domain} under any of {} selectors tried.",
                        wanted.len()
                    ),
                )
                .with(
                    "selectors_tried",
                    wanted.iter().map(|(s, _)| s.as_str()).collect::<Vec<_>>(),
                ),
            );
        }
    }
    (
        DkimReport {
            selectors,
            selectors_tried: wanted.len(),
        },
        findings,
    )
}

fn entry(
    selector: &str,
    source: Source,
    status: KeyStatus,
    key: Option<&DkimKey>,
) -> SelectorReport {
    let mut flags = Vec::new();
    if let Some(k) = key {
        if k.revoked {
            flags.push("revoked");
        }
        if k.testing {
            flags.push("testing");
        }
        if k.strict {
            flags.push("strict");
        }
        if k.sha1_only() {
            flags.push("sha1-only");
        }
    }
    SelectorReport {
        selector: selector.to_string(),
        status,
        source,
        key_type: key.and_then(|k| k.key_type.clone()),
        key_bits: key.and_then(|k| k.bits),
        testing: key.is_some_and(|k| k.testing),
        flags,
        record: key.map(|k| k.raw.clone()),
    }
}

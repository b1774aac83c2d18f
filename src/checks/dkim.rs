//! DKIM keys of the audited domain: the selectors the user named, those the
//! scanned messages are signed with, and a probe of common selectors (the
//! key lookups are a fact, asked at once); type, size and flags of each key
//! found.

use serde::Serialize;

use crate::checks::{Ran, check};
use crate::facts::dkim::Source;
use crate::facts::{Facts, FailedLookup};
use crate::findings::{self as ids, Finding};
use crate::records::dkim::{DkimKey, KeyType, looks_like_dkim};
use crate::report::model::{Block, Detail};

check! {
    Dkim {
        id: "dkim",
        title: "DKIM keys",
        description: "the domain's DKIM keys: named selectors, selectors of scanned messages and a probe of common ones; type, size, flags",
        domain_records: true,
        reads: &[Fact::DkimKeys],
        rows: &[Row::DnsRecords { required: true }],
    }
    fn run(facts) {
        Ran::from(run(facts).await)
    }
}

impl Detail for DkimReport {
    fn wire(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("serialises")
    }

    fn headline(&self) -> String {
        let sels: Vec<String> = self
            .selectors
            .iter()
            .map(|k| match (&k.key_type, k.key_bits) {
                (Some(t), Some(bits)) => format!(
                    "{} ({} {bits}, {})",
                    k.selector,
                    t.as_str(),
                    k.status.as_str()
                ),
                _ => format!("{} ({})", k.selector, k.status.as_str()),
            })
            .collect();
        format!(
            "{} [{} selectors tried]",
            if sels.is_empty() {
                "no key found".to_string()
            } else {
                sels.join(", ")
            },
            self.selectors_tried
        )
    }

    fn blocks(&self) -> Vec<Block> {
        if self.selectors.is_empty() {
            return Vec::new();
        }
        vec![Block::Table {
            title: "Selectors".into(),
            head: vec![
                "Selector".into(),
                "Status".into(),
                "Source".into(),
                "Key".into(),
                "Flags".into(),
            ],
            rows: self
                .selectors
                .iter()
                .map(|k| {
                    vec![
                        k.selector.clone(),
                        k.status.as_str().into(),
                        format!("{:?}", k.source).to_lowercase(),
                        match (&k.key_type, k.key_bits) {
                            (Some(t), Some(b)) => format!("{} {b} bits", t.as_str()),
                            (Some(t), None) => t.as_str().into(),
                            _ => String::new(),
                        },
                        k.flags.join(", "),
                    ]
                })
                .collect(),
        }]
    }

    fn passed(&self, findings: &[&Finding]) -> Vec<String> {
        self.selectors
            .iter()
            .filter(|k| {
                let suffix = format!(" (selector {})", k.selector);
                k.status == KeyStatus::Found
                    && !k.testing
                    && !findings.iter().any(|f| f.subject.ends_with(&suffix))
            })
            .map(|k| {
                let key = match (&k.key_type, k.key_bits) {
                    (Some(KeyType::Rsa), Some(b)) => format!("a {b}-bit RSA key"),
                    (Some(KeyType::Rsa), None) => "an RSA key".into(),
                    (Some(KeyType::Ed25519), _) => "an Ed25519 key".into(),
                    _ => "a key".into(),
                };
                format!("Selector {} publishes {key}", k.selector)
            })
            .collect()
    }
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

impl KeyStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyStatus::Found => "found",
            KeyStatus::Missing => "missing",
            KeyStatus::Revoked => "revoked",
            KeyStatus::Invalid => "invalid",
            KeyStatus::Unknown => "unknown",
        }
    }
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

async fn run(facts: &Facts<'_>) -> (DkimReport, Vec<Finding>) {
    let domain = facts.domain();
    let wanted = facts.dkim_keys().await;

    let mut findings = Vec::new();
    let mut selectors = Vec::new();
    let mut probe_failures: Vec<FailedLookup> = Vec::new();
    for k in wanted.iter() {
        let (selector, source, answer) = (&k.selector, &k.source, &k.lookup.outcome);
        let name = k.lookup.name.clone();
        let subject = format!("{domain} (selector {selector})");
        let txt = match answer.txt() {
            Ok(txt) => txt,
            Err(_) => {
                let failed = k.lookup.failed().expect("failed");
                if *source == Source::Probe {
                    probe_failures.push(failed);
                    continue;
                }
                findings.push(failed.finding(ids::DKIM_DNS_ERROR, &subject));
                selectors.push(entry(selector, *source, KeyStatus::Unknown, None));
                continue;
            }
        };
        let keys: Vec<String> = txt
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
        } else if key.revoked {
            e.status = KeyStatus::Revoked;
        }
        findings.extend(
            key.findings(&name, &subject)
                .into_iter()
                .map(|f| match f.id {
                    ids::DKIM_KEY_REVOKED => f.with("source", source),
                    _ => f,
                }),
        );
        selectors.push(e);
    }

    let any_key = selectors.iter().any(|s| {
        matches!(
            s.status,
            KeyStatus::Found | KeyStatus::Revoked | KeyStatus::Invalid
        )
    });
    // A probed selector that did not answer may hold a key (weak,
    // revoked, in testing): the check cannot vouch for the domain's keys.
    if let Some(first) = probe_failures.first() {
        let mut f = first.finding(ids::DKIM_DNS_ERROR, domain);
        if probe_failures.len() > 1 {
            f.summary = format!(
                "{} probed selectors could not be checked; the first, {}",
                probe_failures.len(),
                f.summary
            );
        }
        findings.push(
            f.with(
                "selectors",
                probe_failures
                    .iter()
                    .map(|p| p.name.as_str())
                    .collect::<Vec<_>>(),
            ),
        );
    }
    if !any_key
        && probe_failures.is_empty()
        && !selectors.iter().any(|s| s.status == KeyStatus::Unknown)
    {
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
                wanted
                    .iter()
                    .map(|k| k.selector.as_str())
                    .collect::<Vec<_>>(),
            ),
        );
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

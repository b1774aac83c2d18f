//! The recipient list (`mailaudit recipients FILE`, `audit --recipients`):
//! the symptoms of addresses nobody gave, counted over the list, each a
//! finding whose severity follows its share of the list (thresholds in
//! `rules/recipients.toml`). See [`crate::recipients`].

use serde::Serialize;

use crate::checks::{Ran, check};
use crate::findings::{self as ids, Finding, Severity};
use crate::recipients::{self, ReasonCount, Summary};
use crate::report::model::{Block, Detail};

check! {
    Recipients {
        id: "recipients",
        title: "Recipient list",
        description: "the recipient list (with --recipients): invalid addresses, dead and mistyped domains, role accounts, disposable addresses, duplicates, listed domains",
        kinds: &[RunKind::Audit, RunKind::Recipients],
        rows: &[Row::Consent],
    }
    fn run(facts) {
        let Some(input) = &facts.target.recipients else {
            return Ran::skipped("no recipient list was given: add --recipients FILE");
        };
        let rules = &facts.rules.recipients;
        let lists = facts.blocklist.as_deref();
        match recipients::check(&facts.dns, rules, lists, input).await {
            Ok(summary) => {
                let findings = findings(&summary, rules);
                Ran::done(RecipientsReport(summary), findings)
            }
            Err(why) => Ran::skipped(format!("the list could not be read: {why}")),
        }
    }
}

/// What the recipients check found.
#[derive(Debug, Clone)]
pub struct RecipientsReport(pub Summary);

fn findings(s: &Summary, rules: &crate::rules::recipients::RecipientRules) -> Vec<Finding> {
    s.reasons
        .iter()
        .map(|r| {
            let t = rules.thresholds.get(r.id).copied().unwrap_or(
                crate::rules::recipients::Threshold {
                    warning: 0.0,
                    error: 100.0,
                },
            );
            let severity = if r.share > t.error {
                Severity::Error
            } else if r.share > t.warning {
                Severity::Warning
            } else {
                Severity::Info
            };
            let f = Finding::new(r.id, &s.file, summary(s, r))
                .with("rows", r.rows)
                .with("share_percent", r.share)
                .with("of_rows", s.rows)
                .with("thresholds", t)
                .with("examples", &r.examples);
            if r.id == ids::RECIPIENTS_DNS_ERROR {
                f.unknown()
            } else {
                f.severity(severity)
            }
        })
        .collect()
}

fn summary(s: &Summary, r: &ReasonCount) -> String {
    let n = format!("{} of {} rows ({}%)", r.rows, s.rows, r.share);
    let eg = r
        .examples
        .first()
        .map(|e| format!(" (e.g. row {}: {})", e.row, e.detail))
        .unwrap_or_default();
    match r.id {
        ids::RECIPIENTS_INVALID_SYNTAX => {
            format!("{n} are not valid addresses{eg}: they cannot be delivered.")
        }
        ids::RECIPIENTS_DOMAIN_NXDOMAIN => {
            format!("{n} are at domains that do not exist{eg}: every message to them bounces.")
        }
        ids::RECIPIENTS_NO_MAIL_EXCHANGER => format!(
            "{n} are at domains with no mail exchanger (no MX and no address){eg}: every message to them bounces."
        ),
        ids::RECIPIENTS_NULL_MX => format!(
            "{n} are at domains that publish a null MX (RFC 7505){eg}: they accept no mail."
        ),
        ids::RECIPIENTS_DNS_ERROR => format!(
            "For {n} the domain could not be fully checked{eg}: what a failed lookup hid is unknown (they stay in the clean list)."
        ),
        ids::RECIPIENTS_TYPO_DOMAIN => format!(
            "{n} are at likely typos of common mailbox domains{eg}: suggestions only, nothing is rewritten."
        ),
        ids::RECIPIENTS_DISPOSABLE => format!(
            "{n} are at disposable-address services{eg}: addresses made to get past a sign-up form, rarely read."
        ),
        ids::RECIPIENTS_ROLE_ACCOUNT => format!(
            "{n} are role accounts{eg}: mailboxes of a function, which rarely subscribed themselves and complain."
        ),
        ids::RECIPIENTS_LISTED_DOMAIN => {
            format!("{n} are at domains on domain blocklists{eg}.")
        }
        _ => {
            format!("{n} repeat an earlier row's mailbox{eg}: they would get every message twice.")
        }
    }
}

impl Detail for RecipientsReport {
    fn wire(&self) -> serde_json::Value {
        let s = &self.0;
        serde_json::to_value(RecipientsV1 {
            file: &s.file,
            column: &s.column,
            rows: s.rows,
            domains: s.domains,
            reasons: s
                .reasons
                .iter()
                .map(|r| ReasonV1 {
                    id: r.id,
                    rows: r.rows,
                    share: r.share,
                    examples: r
                        .examples
                        .iter()
                        .map(|e| ExampleV1 {
                            row: e.row,
                            address: &e.address,
                            detail: &e.detail,
                        })
                        .collect(),
                })
                .collect(),
            flagged_rows: s.flagged_rows,
            deliverable_rows: s.deliverable_rows,
            domains_listing_unknown: s.domains_listing_unknown,
            lists: &s.lists,
            flagged_file: s.flagged_file.as_deref(),
            clean_file: s.clean_file.as_deref(),
        })
        .expect("serialises")
    }

    fn headline(&self) -> String {
        let s = &self.0;
        format!(
            "{}: {} rows, {} domains; {} flagged, {} deliverable",
            s.file, s.rows, s.domains, s.flagged_rows, s.deliverable_rows
        )
    }

    fn blocks(&self) -> Vec<Block> {
        let s = &self.0;
        let mut blocks = vec![Block::Table {
            title: format!(
                "Rows by reason (of {}; address column: {})",
                s.rows, s.column
            ),
            head: vec![
                "Reason".into(),
                "Rows".into(),
                "Share".into(),
                "First rows".into(),
            ],
            rows: s
                .reasons
                .iter()
                .map(|r| {
                    vec![
                        r.id.to_string(),
                        r.rows.to_string(),
                        format!("{}%", r.share),
                        r.examples
                            .iter()
                            .map(|e| format!("{}: {} ({})", e.row, e.address, e.detail))
                            .collect::<Vec<_>>()
                            .join("; "),
                    ]
                })
                .collect(),
        }];
        let mut lines = Vec::new();
        if let Some(f) = &s.flagged_file {
            lines.push(format!("flagged rows: {f}"));
        }
        if let Some(f) = &s.clean_file {
            lines.push(format!(
                "clean list ({} rows, without undeliverable and duplicate rows): {f}",
                s.deliverable_rows
            ));
        }
        if !s.lists.is_empty() {
            lines.push(format!("domain blocklists asked: {}", s.lists.join(", ")));
        }
        if s.domains_listing_unknown > 0 {
            lines.push(format!(
                "{} domain(s) could not be checked on every blocklist",
                s.domains_listing_unknown
            ));
        }
        if !lines.is_empty() {
            blocks.push(Block::Lines {
                title: "Files and lists".into(),
                items: lines,
            });
        }
        blocks
    }

    fn passed(&self, findings: &[&Finding]) -> Vec<String> {
        let s = &self.0;
        if s.rows == 0 {
            return Vec::new();
        }
        let none = |id: &str| !findings.iter().any(|f| f.id == id);
        let mut out = Vec::new();
        if none(ids::RECIPIENTS_INVALID_SYNTAX) {
            out.push(format!("All {} addresses are valid", s.rows));
        }
        if none(ids::RECIPIENTS_DOMAIN_NXDOMAIN)
            && none(ids::RECIPIENTS_NO_MAIL_EXCHANGER)
            && none(ids::RECIPIENTS_NULL_MX)
            && none(ids::RECIPIENTS_DNS_ERROR)
        {
            out.push(format!("All {} domains accept mail", s.domains));
        }
        for (id, what) in [
            (
                ids::RECIPIENTS_TYPO_DOMAIN,
                "No likely typos of common domains",
            ),
            (ids::RECIPIENTS_DISPOSABLE, "No disposable addresses"),
            (ids::RECIPIENTS_ROLE_ACCOUNT, "No role accounts"),
            (ids::RECIPIENTS_DUPLICATE, "No duplicates"),
        ] {
            if none(id) {
                out.push(what.to_string());
            }
        }
        if none(ids::RECIPIENTS_LISTED_DOMAIN)
            && !s.lists.is_empty()
            && s.domains_listing_unknown == 0
        {
            out.push(format!("No domain on {}", s.lists.join(", ")));
        }
        out
    }
}

// ---- The JSON form, schema v1 (docs/json.md), apart from the recipient
// engine's types so that a change to them cannot change the contract.

#[derive(Serialize)]
struct RecipientsV1<'a> {
    file: &'a str,
    column: &'a str,
    rows: u64,
    domains: u64,
    reasons: Vec<ReasonV1<'a>>,
    flagged_rows: u64,
    deliverable_rows: u64,
    domains_listing_unknown: u64,
    lists: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    flagged_file: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    clean_file: Option<&'a str>,
}

#[derive(Serialize)]
struct ReasonV1<'a> {
    id: &'static str,
    rows: u64,
    share: f64,
    examples: Vec<ExampleV1<'a>>,
}

#[derive(Serialize)]
struct ExampleV1<'a> {
    row: u64,
    address: &'a str,
    detail: &'a str,
}

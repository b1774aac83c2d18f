//! Watching (issue 22): what a target's runs saw, remembered between runs,
//! and the alerts that do not flap.
//!
//! Each run is read into observations of the things watched: every
//! (address or domain, list) pair a list answered for (listed or clear),
//! every error-level finding and every expiring certificate (present, or
//! absent when its check reached a verdict on that subject), and the
//! verdict. What a run could not see is no observation at all: an
//! `unknown` result is never a change, and it neither confirms nor breaks
//! a change under way.
//!
//! A change is confirmed, and alerted once, when the same new state is
//! seen in `confirm_runs` runs that saw it (2 by default); a change back
//! before then sends nothing. The state a watch starts from is adopted
//! without an alert: the first report shows it.
//!
//! This module knows nothing of storage or delivery: the memory is a
//! serde value the caller keeps (the service's store), the alerts are
//! values the caller sends (docs/monitoring.md).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::blocklist::{BlocklistReport, ListingEvidence, ResultStatus};
use crate::findings::{BLOCKLIST_LISTED, Severity, Status};
use crate::report::baseline::Now;
use crate::report::model::{Report, Verdict};

/// The finding that says a certificate expires soon (within
/// [`crate::smtp::EXPIRING_DAYS`] days): alerted whatever its severity.
pub const CERT_EXPIRING: &str = "smtp.cert-expiring";

/// Runs that must see a change before it is alerted, by default.
pub const CONFIRM_RUNS: u32 = 2;

/// What is watched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum What {
    /// A subject on a list (`about` is the list's zone).
    Listing,
    /// An error-level finding, or an expiring certificate (`about` is the
    /// finding's ID).
    Finding,
    /// The report's verdict.
    Verdict,
}

/// One thing watched.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Key {
    pub what: What,
    /// The address or domain (empty for the verdict).
    pub subject: String,
    /// The list zone, or the finding ID (empty for the verdict).
    pub about: String,
}

/// A change seen but not yet confirmed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    pub state: String,
    /// Runs that saw it (runs that could not see are not counted).
    pub runs: u32,
    /// When it was first seen (the report's `generated_at`).
    pub since: String,
}

/// What the watch remembers of one thing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub key: Key,
    /// The check the thing belongs to (`dnsbl`, `smtp`, ...).
    pub check: String,
    /// The state confirmed (and alerted, unless it was the first seen).
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<Pending>,
    /// Words for the alert: the list's name, the finding's summary.
    #[serde(default)]
    pub label: String,
}

/// What a watch remembers between runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Memory {
    pub entries: Vec<Entry>,
    /// The checks that have reached a verdict in some run: a finding of
    /// theirs seen later is new, not merely first seen.
    #[serde(default)]
    pub checks_seen: BTreeSet<String>,
}

/// Why an alert is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    NewlyListed,
    Delisted,
    NewError,
    Resolved,
    CertExpiring,
    VerdictChanged,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::NewlyListed => "newly-listed",
            Kind::Delisted => "delisted",
            Kind::NewError => "new-error",
            Kind::Resolved => "resolved",
            Kind::CertExpiring => "cert-expiring",
            Kind::VerdictChanged => "verdict-changed",
        }
    }
}

/// One confirmed change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    pub kind: Kind,
    pub subject: String,
    /// The list zone, or the finding ID (empty for the verdict).
    pub about: String,
    pub from: String,
    pub to: String,
    /// The change in words (raw text: whoever shows it escapes it).
    pub summary: String,
    /// When the new state was first seen.
    pub since: String,
    /// Runs that saw it before it was sent.
    pub runs: u32,
}

/// What one run could see: a state for each thing it saw, with the words
/// and the check it belongs to.
struct Seen {
    state: String,
    check: String,
    label: String,
}

const LISTED: &str = "listed";
const CLEAR: &str = "clear";
const PRESENT: &str = "present";
const ABSENT: &str = "absent";

/// Whether a finding is watched: an error about something seen, or an
/// expiring certificate; listings are watched as listings.
fn watched(id: &str, severity: Severity, unknown: bool) -> bool {
    !unknown && id != BLOCKLIST_LISTED && (severity == Severity::Error || id == CERT_EXPIRING)
}

/// The observations of `report` for the things `memory` knows and those
/// the report shows.
fn observe(report: &Report, memory: &Memory) -> BTreeMap<Key, Seen> {
    let mut seen = BTreeMap::new();
    // Listings: listed (its finding), or clear (the list answered so).
    for f in &report.findings {
        if f.finding.id != BLOCKLIST_LISTED || f.finding.unknown {
            continue;
        }
        let Some(zone) = crate::blocklist::zone_of(&f.finding) else {
            continue;
        };
        let list = ListingEvidence::of(&f.finding)
            .map(|l| l.list)
            .unwrap_or_default();
        seen.insert(
            Key {
                what: What::Listing,
                subject: f.finding.subject.clone(),
                about: zone.to_string(),
            },
            Seen {
                state: LISTED.into(),
                check: f.finding.check().into(),
                label: list,
            },
        );
    }
    if let Some(b) = report.detail_of::<BlocklistReport>() {
        for r in b.results.iter().filter(|r| r.status == ResultStatus::Clear) {
            seen.entry(Key {
                what: What::Listing,
                subject: r.subject.clone(),
                about: r.zone.clone(),
            })
            .or_insert(Seen {
                state: CLEAR.into(),
                check: "dnsbl".into(),
                label: String::new(),
            });
        }
    }
    // Findings present now.
    for f in &report.findings {
        if !watched(f.finding.id, f.severity, f.finding.unknown) {
            continue;
        }
        seen.insert(
            Key {
                what: What::Finding,
                subject: f.finding.subject.clone(),
                about: f.finding.id.to_string(),
            },
            Seen {
                state: PRESENT.into(),
                check: f.finding.check().into(),
                label: f.finding.summary.clone(),
            },
        );
    }
    // Findings remembered and gone: absent only where their check reached
    // a verdict on that subject this time.
    for e in &memory.entries {
        if e.key.what == What::Finding
            && !seen.contains_key(&e.key)
            && report.seen_again(&e.check, &e.key.subject)
        {
            seen.insert(
                e.key.clone(),
                Seen {
                    state: ABSENT.into(),
                    check: e.check.clone(),
                    label: e.label.clone(),
                },
            );
        }
    }
    // The verdict, unless it is that something could not be seen.
    let verdict = report.verdict();
    if verdict != Verdict::CouldNotCheck {
        seen.insert(
            Key {
                what: What::Verdict,
                subject: String::new(),
                about: String::new(),
            },
            Seen {
                state: verdict.label().into(),
                check: String::new(),
                label: String::new(),
            },
        );
    }
    seen
}

/// Reads one run into `memory`: the changes confirmed by it, to be
/// alerted. `confirm_runs` (at least 1) runs that see a change confirm it.
pub fn step(memory: &mut Memory, report: &Report, confirm_runs: u32) -> Vec<Alert> {
    let confirm_runs = confirm_runs.max(1);
    let at = report
        .generated_at
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let seen = observe(report, memory);
    let mut alerts = Vec::new();
    let mut entries: BTreeMap<Key, Entry> = memory
        .entries
        .drain(..)
        .map(|e| (e.key.clone(), e))
        .collect();
    for (key, now) in seen {
        let Some(entry) = entries.get_mut(&key) else {
            // First sight. A finding of a check that reached a verdict
            // before (without it) is a change from absent; anything else
            // is where the watch starts from.
            let from_absent = key.what == What::Finding
                && now.state == PRESENT
                && memory.checks_seen.contains(&now.check);
            if key.what == What::Finding && now.state == ABSENT {
                continue;
            }
            let mut entry = Entry {
                key: key.clone(),
                check: now.check.clone(),
                state: now.state.clone(),
                pending: None,
                label: now.label.clone(),
            };
            if from_absent {
                entry.state = ABSENT.into();
                entry.pending = Some(Pending {
                    state: now.state.clone(),
                    runs: 1,
                    since: at.clone(),
                });
                if confirm_runs == 1 {
                    alerts.push(confirm(&mut entry));
                }
            }
            entries.insert(key, entry);
            continue;
        };
        if !now.label.is_empty() {
            entry.label = now.label.clone();
        }
        if now.state == entry.state {
            // Back where it was (or never left): nothing to say.
            entry.pending = None;
            continue;
        }
        let runs = match &entry.pending {
            Some(p) if p.state == now.state => p.runs + 1,
            _ => 1,
        };
        let since = match &entry.pending {
            Some(p) if p.state == now.state => p.since.clone(),
            _ => at.clone(),
        };
        entry.pending = Some(Pending {
            state: now.state,
            runs,
            since,
        });
        if runs >= confirm_runs {
            alerts.push(confirm(entry));
        }
    }
    // A finding confirmed absent is forgotten (absent is what its check
    // reaching a verdict means); everything else is kept.
    entries
        .retain(|_, e| !(e.key.what == What::Finding && e.state == ABSENT && e.pending.is_none()));
    memory.entries = entries.into_values().collect();
    for c in &report.checks {
        if matches!(c.status, Status::Pass | Status::Warn | Status::Fail) {
            memory.checks_seen.insert(c.id.to_string());
        }
    }
    alerts
}

/// Makes the pending state of `entry` its state: the alert for it.
fn confirm(entry: &mut Entry) -> Alert {
    let pending = entry.pending.take().expect("a pending change");
    let from = std::mem::replace(&mut entry.state, pending.state.clone());
    let key = &entry.key;
    let (kind, summary) = match key.what {
        What::Listing if pending.state == LISTED => (
            Kind::NewlyListed,
            format!(
                "{} is listed on {} ({})",
                key.subject, entry.label, key.about
            ),
        ),
        What::Listing => (
            Kind::Delisted,
            format!(
                "{} is no longer listed on {} ({})",
                key.subject, entry.label, key.about
            ),
        ),
        What::Finding if pending.state == PRESENT => (
            if key.about == CERT_EXPIRING {
                Kind::CertExpiring
            } else {
                Kind::NewError
            },
            format!("{}: {}", key.about, entry.label),
        ),
        What::Finding => (
            Kind::Resolved,
            format!(
                "{} resolved for {} (was: {})",
                key.about, key.subject, entry.label
            ),
        ),
        What::Verdict => (
            Kind::VerdictChanged,
            format!("the verdict changed from {from} to {}", pending.state),
        ),
    };
    Alert {
        kind,
        subject: key.subject.clone(),
        about: key.about.clone(),
        from,
        to: pending.state,
        summary,
        since: pending.since,
        runs: pending.runs,
    }
}

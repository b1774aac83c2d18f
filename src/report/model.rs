//! The report model every renderer reads: each check's typed detail, the
//! findings with their severities settled and advice attached, and the
//! summary they add up to.
//!
//! A check's detail is a type of its own implementing [`Detail`]: it knows
//! its frozen JSON form (schema v1) and how it reads to a person, as
//! [`Block`]s that the text and HTML renderers lay out the same way for
//! every check. So a new check renders everywhere without a renderer
//! knowing it.

use std::fmt::Debug;
use std::time::Duration;

use crate::dns::StatsSnapshot;
use crate::facts::SendingIp;
use crate::findings::{self as ids, Finding, Severity, Status};
use crate::rules::Advice;

/// Anything, as [`std::any::Any`]: lets the report find a check's typed
/// detail ([`Report::detail_of`]) without a renderer reading JSON.
pub trait AsAny {
    fn as_any(&self) -> &dyn std::any::Any;
}

impl<T: std::any::Any> AsAny for T {
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// A check's typed result, as the report shows it.
pub trait Detail: Send + Sync + Debug + AsAny {
    /// Its entry in the JSON report, schema v1 (without `status`, which
    /// the report adds): built from the check's own wire types.
    fn wire(&self) -> serde_json::Value;
    /// One line for the check table.
    fn headline(&self) -> String;
    /// Its evidence for people, in order.
    fn blocks(&self) -> Vec<Block> {
        Vec::new()
    }
    /// What the check saw and found right, one sentence each, given the
    /// check's own findings (so that nothing a finding is about is also
    /// said to have passed). Only what was seen: a lookup that failed
    /// passes nothing.
    fn passed(&self, _findings: &[&Finding]) -> Vec<String> {
        Vec::new()
    }
    /// For a check with one entry per item (the messages): the status of
    /// the item `item`.
    fn item_status(&self, _item: &str) -> Option<Status> {
        None
    }
}

/// Whether any of a check's findings has one of these IDs.
pub fn any_of(findings: &[&Finding], ids: &[&str]) -> bool {
    findings.iter().any(|f| ids.contains(&f.id))
}

/// Whether any of a check's findings is about this subject.
pub fn about(findings: &[&Finding], subject: &str) -> bool {
    findings.iter().any(|f| f.subject == subject)
}

/// A piece of evidence every human format can lay out.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Block {
    /// Labelled lines.
    Lines { title: String, items: Vec<String> },
    /// A table with a header row.
    Table {
        title: String,
        head: Vec<String>,
        rows: Vec<Vec<String>>,
    },
    /// A tree (the SPF include tree).
    Tree { title: String, root: TreeItem },
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TreeItem {
    pub text: String,
    pub children: Vec<TreeItem>,
}

/// A finding with its severity settled and its advice attached.
#[derive(Debug, Clone)]
pub struct ResolvedFinding {
    pub finding: Finding,
    pub severity: Severity,
    pub advice: Advice,
}

impl ResolvedFinding {
    /// The steps to show for this finding: a listing's own delisting steps
    /// (the list's removal page, the date the address came into service)
    /// when it has them, else every step of its advice.
    pub fn steps(&self) -> Vec<String> {
        match crate::blocklist::ListingEvidence::of(&self.finding) {
            Some(l) if !l.delisting_steps.is_empty() => l.delisting_steps,
            _ => self.advice.steps.clone(),
        }
    }
}

/// One check in the report.
#[derive(Debug)]
pub struct CheckReport {
    pub id: &'static str,
    pub title: &'static str,
    pub status: Status,
    /// Why it was skipped, or why it could not reach a verdict when no
    /// finding of its own says so.
    pub reason: Option<String>,
    /// Its JSON entry is one entry per item (messages).
    pub per_item: bool,
    /// The checklist rows it counts for.
    pub rows: &'static [Row],
    /// `None` when it did not run.
    pub detail: Option<Box<dyn Detail>>,
}

impl CheckReport {
    /// Its line in the check table: why it was skipped or could not reach a
    /// verdict, else its detail's headline.
    pub fn line(&self) -> String {
        match (&self.detail, &self.reason) {
            (_, Some(reason)) => reason.clone(),
            (Some(d), None) => d.headline(),
            (None, None) => String::new(),
        }
    }
}

/// One check's part of the report ([`Report::sections`]).
pub struct CheckSection<'a> {
    pub check: &'a CheckReport,
    /// Its findings with their numbers in "What to do first".
    pub findings: Vec<(usize, &'a ResolvedFinding)>,
    pub blocks: Vec<Block>,
    pub passed: Vec<String>,
}

/// The row of the prevention checklist (`report::checklist`) a check
/// counts for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Row {
    /// An unsubscribe link in every message (the message scan).
    Unsubscribe,
    /// Mail only recipients who asked for it (the recipient list).
    Consent,
    /// Every DNS record right. `required`: the row is not met until the
    /// check ran (SPF, DKIM, DMARC, PTR, MX, MTA-STS, TLS-RPT); the others
    /// count when they ran.
    DnsRecords { required: bool },
    /// Not listed on blocklists.
    Blocklist,
}

/// Which command made the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunKind {
    Audit,
    Message,
    Blocklist,
    /// `mailaudit smtp HOST|IP...`.
    Smtp,
    /// `mailaudit recipients FILE`.
    Recipients,
}

/// What was audited.
#[derive(Debug, Clone, Default)]
pub struct ReportTarget {
    pub domain: Option<String>,
    pub ips: Vec<SendingIp>,
    /// Lookups that failed while the sending IPs were inferred: the list
    /// may be incomplete.
    pub ips_failed: Vec<String>,
    pub messages: Vec<String>,
    /// `blocklist`: the targets as given.
    pub subjects: Vec<String>,
    /// The recipient list, as named.
    pub recipients: Option<String>,
}

/// The whole report.
#[derive(Debug)]
pub struct Report {
    pub kind: RunKind,
    pub generated_at: time::OffsetDateTime,
    pub duration: Duration,
    pub target: ReportTarget,
    pub checks: Vec<CheckReport>,
    /// Run-level findings (`dns.*`, `domain.*`) first, then each check's
    /// in registry order.
    pub findings: Vec<ResolvedFinding>,
    pub stats: StatsSnapshot,
    /// How the report was made, for whoever reads it later.
    pub made: Made,
    /// The mailbox providers' requirements, row by row.
    pub requirements: Vec<RequirementRow>,
    /// What changed since `--baseline` (set by the caller).
    pub changes: Option<Changes>,
}

/// A row's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ItemStatus {
    Met,
    NotMet,
    /// Looked at, but a lookup it needed failed.
    Unknown,
    /// Not looked at in this run; the detail says how to.
    NotChecked,
    /// Only the sender can tell; the detail says what to look at.
    YourCall,
}

impl ItemStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ItemStatus::Met => "met",
            ItemStatus::NotMet => "not met",
            ItemStatus::Unknown => "unknown",
            ItemStatus::NotChecked => "not checked",
            ItemStatus::YourCall => "your call",
        }
    }
}

/// One rule and where the report leaves it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RequirementRow {
    pub rule: String,
    pub gmail: String,
    pub yahoo: String,
    pub outlook: String,
    pub status: ItemStatus,
    /// The findings that make it not met, distinct IDs.
    pub findings: Vec<String>,
    /// Why the status is what it is, when the findings do not say.
    pub detail: String,
}

impl RequirementRow {
    /// What the status rests on, in a few words: the findings, or why.
    pub fn because(&self) -> String {
        if self.findings.is_empty() {
            self.detail.clone()
        } else {
            format!("see {}", self.findings.join(", "))
        }
    }
}

/// How a report was made: enough for a reader of a support ticket to tell
/// a live audit from one against zone files, and which catalogue spoke.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Made {
    /// The command line as given (the binary sets it; empty otherwise).
    pub command: Vec<String>,
    /// `live` (the resolvers below) or `offline` (zone files only).
    pub dns: &'static str,
    /// The resolvers asked (live), as `IP` or `IP:port`.
    pub resolvers: Vec<String>,
    /// The zone files served (offline; the binary sets them).
    pub zone_files: Vec<String>,
    /// `--web DIR`: where HTTPS fetches were served from (added within
    /// JSON v1; absent otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub web_root: Option<String>,
    /// The blocklist catalogue, when the blocklist check could run.
    pub catalogue: Option<CatalogueUsed>,
}

impl Made {
    /// The command line as one line a shell would take back: arguments
    /// with spaces or quotes in single quotes.
    pub fn command_line(&self) -> String {
        self.command
            .iter()
            .map(|a| {
                let plain = !a.is_empty()
                    && a.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_./:=@,+%".contains(c));
                if plain {
                    a.clone()
                } else {
                    format!("'{}'", a.replace('\'', r"'\''"))
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Where the answers came from, in words.
    pub fn source_line(&self) -> String {
        if self.dns == "offline" {
            let files = if self.zone_files.is_empty() {
                "zone files".to_string()
            } else {
                format!("zone files {}", self.zone_files.join(", "))
            };
            let web = self
                .web_root
                .as_deref()
                .map(|w| format!("; HTTPS from the files of {w}, served for this run"))
                .unwrap_or_default();
            format!("offline: {files}{web} (nothing asked of live DNS)")
        } else if self.resolvers.is_empty() {
            "live DNS".to_string()
        } else {
            format!("live DNS through {}", self.resolvers.join(", "))
        }
    }

    /// The catalogue, in words, when the blocklist check could run.
    pub fn catalogue_line(&self) -> Option<String> {
        self.catalogue.as_ref().map(|c| {
            format!(
                "{} ({} lists{})",
                c.source,
                c.lists,
                c.updated
                    .as_deref()
                    .map(|d| format!(", facts checked {d}"))
                    .unwrap_or_default()
            )
        })
    }
}

/// The blocklist catalogue a report used.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CatalogueUsed {
    /// A path, or `(built-in) rules/dnsbl.toml`.
    pub source: String,
    /// When its facts were last checked, if it says.
    pub updated: Option<String>,
    /// Lists in it (asked or not).
    pub lists: usize,
}

impl Report {
    /// The overall verdict: the worst status of the checks that ran and of
    /// the run-level findings; `pass` only when nothing is unknown.
    pub fn status(&self) -> Status {
        let checks = self
            .checks
            .iter()
            .map(|c| c.status)
            .filter(|s| *s != Status::Skipped);
        // Findings of no check in the report: the run's own (dns.*,
        // domain.*).
        let run_level = Status::from_findings(
            self.findings
                .iter()
                .filter(|f| !self.checks.iter().any(|c| c.id == f.finding.check()))
                .map(|f| (f.severity, f.finding.unknown)),
        );
        checks.chain([run_level]).max().unwrap_or(Status::Pass)
    }

    pub fn count(&self, severity: Severity) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == severity)
            .count()
    }

    /// Checks that could not reach a verdict.
    pub fn unknown_checks(&self) -> usize {
        self.checks
            .iter()
            .filter(|c| c.status == Status::Unknown)
            .count()
    }

    /// The worst finding severity, if any.
    pub fn worst(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).max()
    }

    /// The typed detail of type `T` among the checks', if one ran.
    pub fn detail_of<T: 'static>(&self) -> Option<&T> {
        self.checks
            .iter()
            .filter_map(|c| c.detail.as_deref())
            .find_map(|d| d.as_any().downcast_ref::<T>())
    }

    pub fn check(&self, id: &str) -> Option<&CheckReport> {
        self.checks.iter().find(|c| c.id == id)
    }

    /// Each check as the human formats lay it out after "What to do
    /// first": its findings (numbered as there), its evidence, then what
    /// passed. Skipped checks are left out (the check table says why).
    pub fn sections(&self) -> Vec<CheckSection<'_>> {
        let order = self.by_priority();
        self.checks
            .iter()
            .filter(|c| c.status != Status::Skipped)
            .map(|c| CheckSection {
                check: c,
                findings: order
                    .iter()
                    .enumerate()
                    .filter(|(_, f)| f.finding.check() == c.id)
                    .map(|(n, f)| (n + 1, *f))
                    .collect(),
                blocks: c.detail.iter().flat_map(|d| d.blocks()).collect(),
                passed: self.passed(c),
            })
            .collect()
    }

    /// What a check saw and found right ([`Detail::passed`]); nothing for a
    /// check that was skipped.
    pub fn passed(&self, check: &CheckReport) -> Vec<String> {
        let Some(detail) = &check.detail else {
            return Vec::new();
        };
        if check.status == Status::Skipped {
            return Vec::new();
        }
        let own: Vec<&Finding> = self
            .findings
            .iter()
            .map(|f| &f.finding)
            .filter(|f| f.check() == check.id)
            .collect();
        detail.passed(&own)
    }

    /// The findings in the order to act on them: by severity, then by
    /// impact (a resolver that cannot be believed, a listing, mail refused
    /// for the sending IPs, a missing PTR: [`IMPACT`]), then as reported.
    pub fn by_priority(&self) -> Vec<&ResolvedFinding> {
        self.priority_order()
            .into_iter()
            .map(|i| &self.findings[i])
            .collect()
    }

    /// [`Report::by_priority`] as indices into `findings`.
    pub fn priority_order(&self) -> Vec<usize> {
        let rank = |id: &str| IMPACT.iter().position(|i| *i == id).unwrap_or(IMPACT.len());
        let mut order: Vec<usize> = (0..self.findings.len()).collect();
        // A stable sort keeps the report's order among equals.
        order.sort_by_key(|&i| {
            let f = &self.findings[i];
            (std::cmp::Reverse(f.severity), rank(f.finding.id))
        });
        order
    }

    /// The counts behind the verdict, in words: "status fail; 3 error(s),
    /// 5 warning(s), 0 info; 0 check(s) unknown".
    pub fn counts_line(&self) -> String {
        format!(
            "status {}; {} error(s), {} warning(s), {} info; {} check(s) unknown",
            self.status().as_str(),
            self.count(Severity::Error),
            self.count(Severity::Warning),
            self.count(Severity::Info),
            self.unknown_checks()
        )
    }

    /// The distinct IDs, sorted, of the findings `keep` accepts.
    pub fn distinct_ids(&self, keep: impl Fn(&ResolvedFinding) -> bool) -> Vec<&'static str> {
        let mut ids: Vec<&'static str> = self
            .findings
            .iter()
            .filter(|f| keep(f))
            .map(|f| f.finding.id)
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// An error about something seen, not about a failure to see.
    fn known_errors(&self) -> bool {
        self.findings
            .iter()
            .any(|f| f.severity == Severity::Error && !f.finding.unknown)
    }

    /// What the report tells its reader, in a few words (docs/scoring.md):
    /// a listing first (mail is being refused now), then errors (fix them
    /// before sending), then anything not seen (never "ready" without
    /// having looked), else ready to send.
    pub fn verdict(&self) -> Verdict {
        let listed = self.findings.iter().any(|f| {
            f.finding.id == crate::findings::BLOCKLIST_LISTED && f.severity >= Severity::Warning
        });
        if listed {
            Verdict::Listed
        } else if self.known_errors() {
            Verdict::FixBeforeSending
        } else if self.status() == Status::Unknown {
            Verdict::CouldNotCheck
        } else {
            Verdict::ReadyToSend
        }
    }

    /// A score from 0 to 10 by the rule in docs/scoring.md: 10, less 3 for
    /// each kind of error, 1 for each kind of warning (3 at most) and 1 for
    /// each check that could not reach a verdict; at most 4 with a listing
    /// on a major list, 6 with any error, 8 with anything unknown.
    pub fn score(&self) -> u8 {
        let kinds = |severity: Severity| {
            self.distinct_ids(|f| f.severity == severity && !f.finding.unknown)
                .len() as i64
        };
        let unknown = self.unknown_checks() as i64
            + i64::from(self.status() == Status::Unknown && self.unknown_checks() == 0);
        let mut score = 10 - 3 * kinds(Severity::Error) - kinds(Severity::Warning).min(3) - unknown;
        let major_listing = self.findings.iter().any(|f| {
            f.finding.id == crate::findings::BLOCKLIST_LISTED && f.severity == Severity::Error
        });
        for (applies, cap) in [
            (major_listing, 4),
            (self.known_errors(), 6),
            (self.status() == Status::Unknown, 8),
        ] {
            if applies {
                score = score.min(cap);
            }
        }
        score.clamp(0, 10) as u8
    }
}

/// Finding IDs that come first among findings of the same severity, most
/// urgent first: what makes the rest unreliable, then what makes mail be
/// refused now.
pub const IMPACT: &[&str] = &[
    ids::DNS_RESOLVER_BROKEN,
    ids::DNS_RESOLVER_UNREACHABLE,
    ids::DOMAIN_NXDOMAIN,
    ids::BLOCKLIST_LISTED,
    ids::SPF_IP_NOT_AUTHORIZED,
    ids::MESSAGE_DMARC_FAIL,
    ids::SPF_PERMERROR,
    ids::SPF_LOOKUP_LIMIT,
    ids::PTR_MISSING,
    ids::MX_MISSING,
    ids::SPF_MISSING,
    ids::DMARC_MISSING,
    ids::MESSAGE_DKIM_INVALID,
    ids::MESSAGE_DKIM_MISSING,
    ids::MESSAGE_BULK_WITHOUT_UNSUBSCRIBE,
    ids::MESSAGE_LIST_UNSUBSCRIBE_MISSING,
    ids::MESSAGE_ONE_CLICK_MISSING,
];

/// The report's verdict (docs/scoring.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Listed on a blocklist (at the warning severity or above).
    Listed,
    /// Errors that stop or endanger delivery.
    FixBeforeSending,
    /// Something could not be seen; nothing else is wrong as far as seen.
    CouldNotCheck,
    /// Everything checked, no error.
    ReadyToSend,
}

impl Verdict {
    /// As the human formats say it.
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Listed => "listed on blocklists",
            Verdict::FixBeforeSending => "fix before sending",
            Verdict::CouldNotCheck => "could not check everything",
            Verdict::ReadyToSend => "ready to send",
        }
    }
}

// ---- What changed since a baseline report (computed by `baseline.rs`).

/// A finding of one report, as the other report knows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FindingRef {
    pub id: String,
    pub subject: String,
    pub summary: String,
}

/// A listing: a subject on a list.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Listing {
    pub subject: String,
    pub zone: String,
    pub list: String,
}

/// What changed since the baseline.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Changes {
    /// When the baseline was made (its `generated_at`).
    pub since: String,
    /// Findings now that the baseline did not have (listings apart).
    pub new: Vec<FindingRef>,
    /// Baseline findings gone now, their check having reached a verdict.
    pub resolved: Vec<FindingRef>,
    /// Baseline listings now answered "clear" by the same list.
    pub delisted: Vec<Listing>,
    /// Listings now that the baseline did not have.
    pub newly_listed: Vec<Listing>,
    /// Baseline findings and listings gone now but not seen to be gone:
    /// their check or list could not be asked or did not answer.
    pub not_checked_again: Vec<FindingRef>,
}

impl Changes {
    /// The changes as the human formats show them: a heading and its lines
    /// (raw text: each renderer escapes it), non-empty groups only, the
    /// most urgent first.
    pub fn groups(&self) -> Vec<(&'static str, Vec<String>)> {
        let listings = |v: &[Listing]| -> Vec<String> {
            v.iter()
                .map(|l| format!("{} on {} ({})", l.subject, l.list, l.zone))
                .collect()
        };
        let refs = |v: &[FindingRef]| -> Vec<String> {
            v.iter()
                .map(|f| format!("{}: {}", f.id, f.summary))
                .collect()
        };
        [
            ("Newly listed", listings(&self.newly_listed)),
            ("New findings", refs(&self.new)),
            ("Delisted", listings(&self.delisted)),
            ("Resolved", refs(&self.resolved)),
            (
                "Gone, but not checked again (not counted as resolved)",
                refs(&self.not_checked_again),
            ),
        ]
        .into_iter()
        .filter(|(_, lines)| !lines.is_empty())
        .collect()
    }
}

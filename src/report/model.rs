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
use crate::findings::{Finding, Severity, Status};
use crate::rules::Advice;

/// A check's typed result, as the report shows it.
pub trait Detail: Send + Sync + Debug {
    /// Its entry in the JSON report, schema v1 (without `status`, which
    /// the report adds): built from the check's own wire types.
    fn wire(&self) -> serde_json::Value;
    /// One line for the check table.
    fn headline(&self) -> String;
    /// Its evidence for people, in order.
    fn blocks(&self) -> Vec<Block> {
        Vec::new()
    }
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
    /// `None` when it did not run.
    pub detail: Option<Box<dyn Detail>>,
}

/// Which command made the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunKind {
    Audit,
    Message,
    Blocklist,
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
    /// `blacklist`: the targets as given.
    pub subjects: Vec<String>,
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

    pub fn check(&self, id: &str) -> Option<&CheckReport> {
        self.checks.iter().find(|c| c.id == id)
    }
}

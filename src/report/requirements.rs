//! The mailbox providers' sender requirements (rules/sender-requirements.toml)
//! against one report: a row per rule, each met, not met (with the findings
//! behind it), unknown, or not checked (with how to check it). As everywhere,
//! never "met" for what was not looked at.

use crate::findings::Status;
use crate::report::model::{ItemStatus, Report};
use crate::rules::Requirement;

pub use crate::report::model::RequirementRow as Row;

/// Every requirement, in the file's order.
pub fn evaluate(report: &Report, requirements: &[Requirement]) -> Vec<Row> {
    requirements.iter().map(|r| row(report, r)).collect()
}

fn row(report: &Report, r: &Requirement) -> Row {
    let findings: Vec<String> = report
        .distinct_ids(|f| !f.finding.unknown && r.findings.iter().any(|id| id == f.finding.id))
        .into_iter()
        .map(String::from)
        .collect();
    let ran = |names: &'_ [String]| -> Vec<(String, Option<Status>)> {
        names
            .iter()
            .map(|c| {
                let ran = report
                    .check(c)
                    .map(|c| c.status)
                    .filter(|s| *s != Status::Skipped);
                (c.clone(), ran)
            })
            .collect()
    };
    let mut statuses = ran(&r.checks);
    // None of its checks ran: another that sees the same may stand in.
    if statuses.iter().all(|(_, s)| s.is_none()) {
        let instead: Vec<_> = ran(&r.instead)
            .into_iter()
            .filter(|(_, s)| s.is_some())
            .collect();
        if !instead.is_empty() {
            statuses = instead;
        }
    }
    let (status, detail) = if let Some(why) = &r.manual {
        (ItemStatus::NotChecked, why.clone())
    } else if !findings.is_empty() {
        (ItemStatus::NotMet, String::new())
    } else if r.message && report.target.messages.is_empty() {
        (
            ItemStatus::NotChecked,
            "only a message shows it: give the campaign with --message FILE.eml".into(),
        )
    } else if let Some((c, _)) = statuses.iter().find(|(_, s)| s.is_none()) {
        (ItemStatus::NotChecked, format!("the {c} check did not run"))
    } else if let Some((c, _)) = statuses.iter().find(|(_, s)| *s == Some(Status::Unknown)) {
        (
            ItemStatus::Unknown,
            format!("the {c} check could not reach a verdict"),
        )
    } else {
        (ItemStatus::Met, String::new())
    };
    Row {
        rule: r.rule.clone(),
        gmail: r.gmail.clone(),
        yahoo: r.yahoo.clone(),
        outlook: r.outlook.clone(),
        status,
        findings,
        detail,
    }
}

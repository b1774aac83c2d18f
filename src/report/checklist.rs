//! The prevention checklist: the origin guide's advice for staying off
//! blocklists (an unsubscribe link in every message, mail only to people
//! who asked for it, every DNS record right, no listing), one row each,
//! with a status derived from the findings and what it rests on. Never
//! "met" for what was not looked at (docs/scoring.md).

use serde::Serialize;

use crate::blocklist::ListingEvidence;
use crate::findings::{BLOCKLIST_LISTED, DOMAIN_NXDOMAIN, RUN_CAP_REACHED, Severity, Status};
use crate::report::model::{CheckReport, Report, ResolvedFinding, Row};
use crate::rules::Topic;

pub use crate::report::model::ItemStatus;

/// One row of the checklist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Item {
    /// `unsubscribe`, `consent`, `dns-records` or `blocklists`.
    pub topic: &'static str,
    pub title: &'static str,
    pub status: ItemStatus,
    /// What the status rests on, in one sentence.
    pub detail: String,
}

/// The checklist of `report`, in the guide's order.
pub fn checklist(report: &Report) -> Vec<Item> {
    vec![
        unsubscribe(report),
        consent(report),
        dns_records(report),
        blocklists(report),
    ]
}

/// The distinct IDs of findings at warning or above on `topic`, about
/// something seen (not a failed lookup, not a cap), that `counts` accepts.
fn ids_on(
    report: &Report,
    topic: Topic,
    counts: impl Fn(&ResolvedFinding) -> bool,
) -> Vec<&'static str> {
    report.distinct_ids(|f| {
        f.advice.topic == topic
            && f.severity >= Severity::Warning
            && !f.finding.unknown
            && f.finding.id != RUN_CAP_REACHED
            && counts(f)
    })
}

/// The checks of the report that count for rows `row` accepts.
fn checks_for(report: &Report, row: impl Fn(Row) -> bool) -> Vec<&CheckReport> {
    report
        .checks
        .iter()
        .filter(|c| c.rows.iter().any(|r| row(*r)))
        .collect()
}

/// The status of the check of `row`, if it ran.
fn ran(report: &Report, row: Row) -> Option<Status> {
    checks_for(report, |r| r == row)
        .first()
        .map(|c| c.status)
        .filter(|s| *s != Status::Skipped)
}

fn unsubscribe(report: &Report) -> Item {
    let item = |status, detail: String| Item {
        topic: "unsubscribe",
        title: "An unsubscribe link in every message",
        status,
        detail,
    };
    let messages = report.target.messages.len();
    let Some(status) = ran(report, Row::Unsubscribe).filter(|_| messages > 0) else {
        return item(
            ItemStatus::NotChecked,
            "no message was scanned: give the campaign with --message FILE.eml".into(),
        );
    };
    let missing = ids_on(report, Topic::Unsubscribe, |_| true);
    if !missing.is_empty() {
        item(ItemStatus::NotMet, format!("see {}", missing.join(", ")))
    } else if status == Status::Unknown {
        item(
            ItemStatus::Unknown,
            "a lookup the message scan needed failed".into(),
        )
    } else {
        item(
            ItemStatus::Met,
            format!(
                "List-Unsubscribe, one-click and a visible link in {messages} message{}",
                if messages == 1 { "" } else { "s" }
            ),
        )
    }
}

fn consent(report: &Report) -> Item {
    let item = |status, detail: String| Item {
        topic: "consent",
        title: "Mail only recipients who asked for it",
        status,
        detail,
    };
    // Listings on lists fed by spam traps: addresses nobody gave you.
    let mut traps: Vec<String> = report
        .findings
        .iter()
        .filter_map(|f| ListingEvidence::of(&f.finding))
        .filter(ListingEvidence::trap_driven)
        .map(|l| l.list)
        .collect();
    traps.sort();
    traps.dedup();
    let other = ids_on(report, Topic::Consent, |_| true);
    if !traps.is_empty() {
        item(
            ItemStatus::NotMet,
            format!(
                "listed on spam-trap-driven lists ({}): the recipient list likely holds addresses nobody gave you; \
                 use confirmed opt-in and remove addresses that never engaged",
                traps.join(", ")
            ),
        )
    } else if !other.is_empty() {
        item(ItemStatus::NotMet, format!("see {}", other.join(", ")))
    } else if let Some(status) = ran(report, Row::Consent) {
        let list = report.target.recipients.as_deref().unwrap_or("the list");
        if status == Status::Unknown {
            item(
                ItemStatus::Unknown,
                format!("some domains of {list} could not be checked: see recipients.dns-error"),
            )
        } else {
            item(
                ItemStatus::YourCall,
                format!(
                    "{list} shows no more of the symptoms of addresses nobody gave (invalid, dead or mistyped domains, \
                     role and disposable addresses, duplicates) than the thresholds allow; \
                     whether each recipient opted in is still yours to confirm"
                ),
            )
        }
    } else {
        item(
            ItemStatus::YourCall,
            "mailaudit cannot see how addresses were collected: confirm every recipient opted in, \
             and stop mailing those who never open or click"
                .into(),
        )
    }
}

fn dns_records(report: &Report) -> Item {
    let item = |status, detail: String| Item {
        topic: "dns-records",
        title: "SPF, DKIM, DMARC, reverse DNS, MX, MTA-STS and TLS reporting correct",
        status,
        detail,
    };
    // The checks the row needs, and those that count when they ran (the
    // SMTP probe, DNSSEC and DANE: with --smtp, online or with a root
    // zone; the message scan's DNS findings).
    let required = checks_for(report, |r| r == Row::DnsRecords { required: true });
    let counted: Vec<&str> = checks_for(report, |r| matches!(r, Row::DnsRecords { .. }))
        .iter()
        .map(|c| c.id)
        .collect();
    let checks: Vec<&str> = required.iter().map(|c| c.id).collect();
    let statuses: Vec<(&str, Status)> = required
        .iter()
        .map(|c| (c.id, c.status))
        .filter(|(_, s)| *s != Status::Skipped)
        .collect();
    let wrong = ids_on(report, Topic::DnsRecords, |f| {
        f.finding.id == DOMAIN_NXDOMAIN || counted.contains(&f.finding.check())
    });
    if statuses.is_empty() && wrong.is_empty() {
        return item(
            ItemStatus::NotChecked,
            "the domain's records were not checked: run mailaudit audit DOMAIN".into(),
        );
    }
    let unknown: Vec<&str> = statuses
        .iter()
        .filter(|(_, s)| *s == Status::Unknown)
        .map(|(c, _)| *c)
        .collect();
    let not_run: Vec<&str> = checks
        .iter()
        .filter(|c| !statuses.iter().any(|(r, _)| r == *c))
        .copied()
        .collect();
    if !wrong.is_empty() {
        item(ItemStatus::NotMet, format!("see {}", wrong.join(", ")))
    } else if !unknown.is_empty() {
        item(
            ItemStatus::Unknown,
            format!("could not check {}", unknown.join(", ")),
        )
    } else if !not_run.is_empty() {
        item(
            ItemStatus::NotChecked,
            format!(
                "{} passed; {} not checked",
                statuses
                    .iter()
                    .map(|(c, _)| *c)
                    .collect::<Vec<_>>()
                    .join(", "),
                not_run.join(", ")
            ),
        )
    } else {
        item(
            ItemStatus::Met,
            "SPF, DKIM, DMARC, PTR and MX checked, nothing at warning or above".into(),
        )
    }
}

fn blocklists(report: &Report) -> Item {
    let item = |status, detail: String| Item {
        topic: "blocklists",
        title: "Not listed on blocklists",
        status,
        detail,
    };
    let listed = report
        .findings
        .iter()
        .filter(|f| f.finding.id == BLOCKLIST_LISTED && f.severity >= Severity::Warning)
        .count();
    match ran(report, Row::Blocklist) {
        None => item(
            ItemStatus::NotChecked,
            "no blocklist was asked (--no-dnsbl, or nothing to check)".into(),
        ),
        Some(_) if listed > 0 => item(
            ItemStatus::NotMet,
            format!(
                "{listed} listing{}: see dnsbl.listed for the delisting steps",
                if listed == 1 { "" } else { "s" }
            ),
        ),
        Some(Status::Unknown) => item(
            ItemStatus::Unknown,
            "some lists could not be asked or did not answer: see dnsbl.unknown".into(),
        ),
        Some(_) => item(
            ItemStatus::Met,
            "no listing on a major or minor list among those asked".into(),
        ),
    }
}

//! DMARC: policy discovery with the RFC 9989 DNS tree walk, tag checks,
//! policy strength and reporting.
//!
//! The walk's names are known up front (the domain, then its ancestors, at
//! most 8 queries). The domain is asked first; when it has no record, all
//! the ancestors are asked at once: discovery costs at most two round
//! trips, not eight, and no query is spent on parents that do not matter.

use std::sync::Arc;

use futures::future::join_all;
use serde::Serialize;

use crate::checks::Context;
use crate::dns::{Dns, Outcome, name};
use crate::findings::{self as ids, Finding};
use crate::records::dmarc::{Alignment, DmarcRecord, Policy, Psd, ReportUri, is_dmarc};

/// RFC 9989 §4.10: at most 8 queries; names longer than that skip to their
/// last 7 labels after the first query.
const MAX_WALK_LABELS: usize = 7;

/// One name asked during the walk.
#[derive(Debug, Clone, Serialize)]
pub struct WalkStep {
    /// The domain (the query name is `_dmarc.` + domain).
    pub domain: String,
    pub outcome: String,
    #[serde(skip)]
    pub answer: Arc<Outcome>,
    /// The `v=DMARC1` records found there.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub records: Vec<String>,
}

/// The result of a tree walk.
#[derive(Debug, Clone)]
pub struct Discovery {
    pub steps: Vec<WalkStep>,
    /// Index in `steps` of the record that applies.
    pub found: Option<usize>,
    /// A name on the way that did not answer: the walk cannot tell whether
    /// a record exists there.
    pub failed: Option<usize>,
    pub organizational_domain: Option<String>,
}

impl Discovery {
    pub fn record(&self) -> Option<DmarcRecord> {
        self.found
            .and_then(|i| self.steps[i].records.first())
            .map(|r| DmarcRecord::parse(r))
    }

    pub fn policy_domain(&self) -> Option<&str> {
        self.found.map(|i| self.steps[i].domain.as_str())
    }
}

/// The names a tree walk asks, in order (RFC 9989 §4.10).
pub fn walk_names(domain: &str) -> Vec<String> {
    let labels: Vec<&str> = domain.split('.').collect();
    let mut names = vec![domain.to_string()];
    let mut n = labels.len().saturating_sub(1).min(MAX_WALK_LABELS);
    while n >= 1 {
        names.push(labels[labels.len() - n..].join("."));
        n -= 1;
    }
    names
}

/// Walks the tree for `domain`: the domain first (most have a record of
/// their own), then all its ancestors at once.
pub async fn discover(dns: &Dns, domain: &str) -> Discovery {
    let names = walk_names(domain);
    let own = dns.txt(&format!("_dmarc.{domain}")).await;
    let answers = if own.is_definitive() && own.txt().iter().any(|t| is_dmarc(t)) {
        vec![own]
    } else {
        let mut all = vec![own];
        all.extend(join_all(names[1..].iter().map(|n| dns.txt(&format!("_dmarc.{n}")))).await);
        all
    };
    let steps: Vec<WalkStep> = names
        .into_iter()
        .zip(answers)
        .map(|(domain, answer)| WalkStep {
            domain,
            outcome: answer.describe(),
            records: answer
                .txt()
                .into_iter()
                .filter(|t| is_dmarc(t))
                .map(|t| String::from_utf8_lossy(&t).into_owned())
                .collect(),
            answer,
        })
        .collect();
    let mut found = None;
    let mut failed = None;
    for (i, step) in steps.iter().enumerate() {
        if !step.answer.is_definitive() {
            failed = Some(i);
            break;
        }
        if !step.records.is_empty() {
            found = Some(i);
            break;
        }
    }
    let organizational_domain = organizational_domain(&steps);
    Discovery {
        steps,
        found,
        failed,
        organizational_domain,
    }
}

/// RFC 9989 organisational domain from the records the walk saw: psd=n
/// marks it; psd=y marks the domain one label below; otherwise the record
/// with the fewest labels.
fn organizational_domain(steps: &[WalkStep]) -> Option<String> {
    let start = steps.first()?.domain.clone();
    let mut shortest = None;
    for (i, step) in steps.iter().enumerate() {
        let Some(text) = step.records.first().filter(|_| step.records.len() == 1) else {
            continue;
        };
        let rec = DmarcRecord::parse(text);
        match rec.psd {
            Psd::No => return Some(step.domain.clone()),
            Psd::Yes if i > 0 => {
                let below = name::label_count(&step.domain) + 1;
                let labels: Vec<&str> = start.split('.').collect();
                return Some(labels[labels.len() - below.min(labels.len())..].join("."));
            }
            _ => shortest = Some(step.domain.clone()),
        }
    }
    shortest
}

/// The DMARC part of the report.
#[derive(Debug, Clone, Serialize)]
pub struct DmarcReport {
    pub record: Option<String>,
    /// Where the record was found.
    pub domain: Option<String>,
    pub policy: Option<Policy>,
    pub subdomain_policy: Option<Policy>,
    pub nonexistent_policy: Option<Policy>,
    /// The policy that applies to the audited domain itself.
    pub effective_policy: Option<Policy>,
    pub adkim: Option<Alignment>,
    pub aspf: Option<Alignment>,
    pub testing: bool,
    pub pct: Option<u8>,
    pub rua: Vec<ReportUri>,
    pub ruf: Vec<ReportUri>,
    pub organizational_domain: Option<String>,
    pub inherited: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub removed_tags: Vec<String>,
    pub walk: Vec<WalkStep>,
}

pub async fn run(ctx: &Context) -> (DmarcReport, Vec<Finding>) {
    let domain = ctx.domain.as_str();
    let disc = discover(&ctx.dns, domain).await;
    let mut findings = Vec::new();
    let mut report = DmarcReport {
        record: None,
        domain: None,
        policy: None,
        subdomain_policy: None,
        nonexistent_policy: None,
        effective_policy: None,
        adkim: None,
        aspf: None,
        testing: false,
        pct: None,
        rua: Vec::new(),
        ruf: Vec::new(),
        organizational_domain: disc.organizational_domain.clone(),
        inherited: false,
        removed_tags: Vec::new(),
        walk: disc.steps.clone(),
    };

    if let Some(i) = disc.failed {
        let step = &disc.steps[i];
        findings.push(Finding::lookup_failed(
            ids::DMARC_DNS_ERROR,
            &step.domain,
            &format!("_dmarc.{}", step.domain),
            "TXT",
            &step.answer,
        ));
        return (report, findings);
    }
    let Some(i) = disc.found else {
        findings.push(
            Finding::new(
                ids::DMARC_MISSING,
                domain,
                format!("No DMARC record at _dmarc.{domain} or any parent domain."),
            )
            .with(
                "asked",
                disc.steps
                    .iter()
                    .map(|s| format!("_dmarc.{}", s.domain))
                    .collect::<Vec<_>>(),
            ),
        );
        return (report, findings);
    };
    let step = &disc.steps[i];
    if step.records.len() > 1 {
        findings.push(
            Finding::new(
                ids::DMARC_MULTIPLE_RECORDS,
                &step.domain,
                format!(
                    "_dmarc.{} has {} DMARC records; receivers apply none.",
                    step.domain,
                    step.records.len()
                ),
            )
            .with("records", &step.records),
        );
        report.domain = Some(step.domain.clone());
        return (report, findings);
    }

    let rec = DmarcRecord::parse(&step.records[0]);
    let policy_domain = step.domain.clone();
    let inherited = i > 0;
    let effective = if inherited {
        rec.subdomain_policy()
    } else {
        rec.policy()
    };
    report.record = Some(rec.raw.clone());
    report.domain = Some(policy_domain.clone());
    report.policy = Some(rec.policy());
    report.subdomain_policy = Some(rec.subdomain_policy());
    report.nonexistent_policy = Some(rec.nonexistent_policy());
    report.effective_policy = Some(effective);
    report.adkim = Some(rec.adkim);
    report.aspf = Some(rec.aspf);
    report.testing = rec.testing || rec.pct.is_some_and(|p| p < 100);
    report.pct = rec.pct;
    report.rua = rec.rua.clone();
    report.ruf = rec.ruf.clone();
    report.inherited = inherited;
    report.removed_tags = rec.removed_tags.clone();

    if inherited {
        findings.push(
            Finding::new(
                ids::DMARC_INHERITED,
                domain,
                format!(
                    "{domain} has no DMARC record of its own; the record of {policy_domain} applies (policy {}).",
                    effective.as_str()
                ),
            )
            .with("policy_domain", &policy_domain)
            .with("effective_policy", effective),
        );
    }
    if !rec.problems.is_empty() {
        findings.push(
            Finding::new(
                ids::DMARC_SYNTAX,
                &policy_domain,
                format!(
                    "The DMARC record of {policy_domain} has {} problem(s): {}",
                    rec.problems.len(),
                    rec.problems.join("; ")
                ),
            )
            .with("record", &rec.raw)
            .with("problems", &rec.problems),
        );
    }
    if effective == Policy::None {
        findings.push(
            Finding::new(
                ids::DMARC_POLICY_NONE,
                domain,
                format!(
                    "The DMARC policy for {domain} is none: failing mail is delivered as usual."
                ),
            )
            .with("record", &rec.raw),
        );
    }
    if rec.policy() > Policy::None {
        let weak: Vec<&str> = [("sp", rec.sp), ("np", rec.np)]
            .into_iter()
            .filter(|(_, p)| *p == Some(Policy::None))
            .map(|(t, _)| t)
            .collect();
        if !weak.is_empty() {
            findings.push(
                Finding::new(
                    ids::DMARC_SUBDOMAIN_POLICY_NONE,
                    &policy_domain,
                    format!(
                        "p={} but {}=none: subdomains of {policy_domain} escape the policy.",
                        rec.policy().as_str(),
                        weak.join(" and ")
                    ),
                )
                .with("tags", &weak)
                .with("record", &rec.raw),
            );
        }
    }
    if report.testing {
        findings.push(
            Finding::new(
                ids::DMARC_TESTING,
                &policy_domain,
                if rec.testing {
                    format!("The DMARC record of {policy_domain} has t=y: receivers apply a weaker policy.")
                } else {
                    format!("The DMARC record of {policy_domain} has pct={}: the policy applies to part of the mail only.", rec.pct.unwrap_or(100))
                },
            )
            .with("t", rec.testing)
            .with("pct", rec.pct),
        );
    }
    if rec.rua.is_empty() {
        findings.push(Finding::new(
            ids::DMARC_NO_RUA,
            &policy_domain,
            format!("The DMARC record of {policy_domain} asks for no aggregate reports (no rua=)."),
        ));
    }
    for (tag, uri) in rec
        .rua
        .iter()
        .map(|u| ("rua", u))
        .chain(rec.ruf.iter().map(|u| ("ruf", u)))
    {
        if let Some(problem) = &uri.problem {
            findings.push(
                Finding::new(
                    ids::DMARC_RUA_INVALID_URI,
                    &policy_domain,
                    format!("{tag}={}: {problem}", uri.uri),
                )
                .with("tag", tag)
                .with("uri", &uri.uri)
                .with("problem", problem),
            );
        }
    }

    // External destinations must authorise the reports (RFC 7489 §7.1).
    let org = disc
        .organizational_domain
        .clone()
        .unwrap_or_else(|| policy_domain.clone());
    let mut external: Vec<(&'static str, String)> = Vec::new();
    for (tag, uri) in rec
        .rua
        .iter()
        .map(|u| ("rua", u))
        .chain(rec.ruf.iter().map(|u| ("ruf", u)))
    {
        if let Some(dest) = &uri.domain
            && !name::is_within(dest, &org)
            && !external.iter().any(|(_, d)| d == dest)
        {
            external.push((tag, dest.clone()));
        }
    }
    let checks = join_all(external.iter().map(|(_, dest)| {
        let qname = format!("{policy_domain}._report._dmarc.{dest}");
        async move { (qname.clone(), ctx.dns.txt(&qname).await) }
    }))
    .await;
    for ((tag, dest), (qname, answer)) in external.iter().zip(checks) {
        if !answer.is_definitive() {
            findings.push(Finding::lookup_failed(
                ids::DMARC_DNS_ERROR,
                dest,
                &qname,
                "TXT",
                &answer,
            ));
        } else if !answer.txt().iter().any(|t| is_dmarc(t)) {
            findings.push(
                Finding::new(
                    ids::DMARC_RUA_UNAUTHORIZED,
                    dest,
                    format!("{tag} sends reports to {dest}, which has not published {qname}."),
                )
                .with("tag", *tag)
                .with("destination", dest)
                .with("expected_record", format!("{qname} TXT \"v=DMARC1\"")),
            );
        }
    }
    (report, findings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walk_names_follow_rfc9989() {
        assert_eq!(walk_names("example.com"), ["example.com", "com"]);
        assert_eq!(
            walk_names("a.b.example.com"),
            ["a.b.example.com", "b.example.com", "example.com", "com"]
        );
        let long = "a.b.c.d.e.f.g.h.i.example.com";
        let names = walk_names(long);
        assert_eq!(names.len(), 8);
        assert_eq!(names[1], "e.f.g.h.i.example.com");
        assert_eq!(names[7], "com");
    }
}

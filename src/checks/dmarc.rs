//! DMARC: the record in force (the RFC 9989 tree walk is a fact, shared
//! with the message scan), its tags, policy strength and reporting, and the
//! RFC 7489 §7.1 authorisation of external report destinations.

use futures::future::join_all;
use serde::Serialize;

use crate::checks::{Ran, check};
use crate::dns::name;
use crate::facts::Facts;
use crate::facts::dmarc_discovery::WalkStep;
use crate::findings::{self as ids, Finding};
use crate::records::dmarc::{Alignment, DmarcRecord, Policy, ReportUri, is_dmarc};
use crate::report::model::{Block, Detail, any_of};

check! {
    Dmarc {
        id: "dmarc",
        title: "DMARC",
        description: "DMARC record discovery (RFC 9989 tree walk), tags, policy strength and reporting",
        domain_records: true,
        rows: &[Row::DnsRecords { required: true }],
    }
    fn run(facts) {
        Ran::from(run(facts).await)
    }
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
    pub walk: Vec<WalkStepV1>,
}

/// One name asked during the walk, as the JSON report shows it.
#[derive(Debug, Clone, Serialize)]
pub struct WalkStepV1 {
    pub domain: String,
    pub outcome: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub records: Vec<String>,
}

impl From<&WalkStep> for WalkStepV1 {
    fn from(s: &WalkStep) -> Self {
        WalkStepV1 {
            domain: s.domain.clone(),
            outcome: s.answer.describe(),
            records: s.records.clone(),
        }
    }
}

impl Detail for DmarcReport {
    fn wire(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("serialises")
    }

    fn headline(&self) -> String {
        match (&self.record, &self.domain) {
            (Some(r), Some(d)) => format!("{r}  (at _dmarc.{d})"),
            _ => "no record in force".into(),
        }
    }

    fn blocks(&self) -> Vec<Block> {
        vec![Block::Table {
            title: "RFC 9989 tree walk".into(),
            head: vec!["Name".into(), "Answer".into(), "DMARC record".into()],
            rows: self
                .walk
                .iter()
                .map(|s| {
                    vec![
                        format!("_dmarc.{}", s.domain),
                        s.outcome.clone(),
                        s.records.join(" | "),
                    ]
                })
                .collect(),
        }]
    }

    fn passed(&self, findings: &[&Finding]) -> Vec<String> {
        let mut out = Vec::new();
        let (Some(record), Some(at)) = (&self.record, &self.domain) else {
            return out;
        };
        if any_of(
            findings,
            &[
                ids::DMARC_MULTIPLE_RECORDS,
                ids::DMARC_SYNTAX,
                ids::DMARC_DNS_ERROR,
            ],
        ) {
            return out;
        }
        out.push(format!("One DMARC record at _dmarc.{at}: {record}"));
        if let Some(p @ (Policy::Quarantine | Policy::Reject)) = self.effective_policy
            && !self.testing
        {
            out.push(format!(
                "The policy is at enforcement: p={}, applied to all mail",
                p.as_str()
            ));
        }
        if !self.rua.is_empty()
            && !any_of(
                findings,
                &[ids::DMARC_RUA_INVALID_URI, ids::DMARC_RUA_UNAUTHORIZED],
            )
        {
            out.push(format!(
                "Aggregate reports requested from receivers: {} (every address valid, every outside destination agreeing)",
                self.rua.iter().map(|u| u.uri.as_str()).collect::<Vec<_>>().join(", ")
            ));
        }
        out
    }
}

async fn run(facts: &Facts<'_>) -> (DmarcReport, Vec<Finding>) {
    let domain = facts.domain();
    let disc = facts.dmarc().await;
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
        walk: disc.steps.iter().map(WalkStepV1::from).collect(),
    };

    if let Some(failed) = disc.failure() {
        let subject = failed.name.trim_start_matches("_dmarc.").to_string();
        findings.push(failed.finding(ids::DMARC_DNS_ERROR, &subject));
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
    let effective = rec.applied_policy(inherited);
    report.record = Some(rec.raw.clone());
    report.domain = Some(policy_domain.clone());
    report.policy = Some(rec.policy());
    report.subdomain_policy = Some(rec.subdomain_policy());
    report.nonexistent_policy = Some(rec.nonexistent_policy());
    report.effective_policy = Some(effective);
    report.adkim = Some(rec.adkim);
    report.aspf = Some(rec.aspf);
    report.testing = rec.testing();
    report.pct = rec.pct;
    report.rua = rec.rua.clone();
    report.ruf = rec.ruf.clone();
    report.inherited = inherited;
    report.removed_tags = rec.removed_tags.clone();

    findings.extend(policy_findings(domain, &policy_domain, &rec, inherited));
    findings.extend(report_uri_findings(&policy_domain, &rec));
    // External destinations must authorise the reports (RFC 7489 §7.1):
    // external to the domain that published the record. A public suffix
    // operator's record (psd=y) is published by the suffix itself, so its
    // own report addresses are not external, whatever the organisational
    // domain of the audited name.
    let org = if rec.psd == crate::records::dmarc::Psd::Yes {
        policy_domain.clone()
    } else {
        disc.organizational_domain
            .clone()
            .unwrap_or_else(|| policy_domain.clone())
    };
    findings.extend(external_destinations(facts, &policy_domain, &org, &rec).await);
    (report, findings)
}

/// What the record's policy leaves open: inherited from a parent, syntax
/// problems, p=none, sp=/np=none under an enforcing p=, testing.
fn policy_findings(
    domain: &str,
    policy_domain: &str,
    rec: &DmarcRecord,
    inherited: bool,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    let effective = rec.applied_policy(inherited);
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
            .with("policy_domain", policy_domain)
            .with("effective_policy", effective),
        );
    }
    if !rec.problems.is_empty() {
        findings.push(
            Finding::new(
                ids::DMARC_SYNTAX,
                policy_domain,
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
                    policy_domain,
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
    if rec.testing() {
        findings.push(
            Finding::new(
                ids::DMARC_TESTING,
                policy_domain,
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
    findings
}

/// No aggregate reports asked for; report addresses that are not URIs.
fn report_uri_findings(policy_domain: &str, rec: &DmarcRecord) -> Vec<Finding> {
    let mut findings = Vec::new();
    if rec.rua.is_empty() {
        findings.push(Finding::new(
            ids::DMARC_NO_RUA,
            policy_domain,
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
                    policy_domain,
                    format!("{tag}={}: {problem}", uri.uri),
                )
                .with("tag", tag)
                .with("uri", &uri.uri)
                .with("problem", problem),
            );
        }
    }

    findings
}

/// Report destinations outside `org` must authorise the reports
/// (`<policy_domain>._report._dmarc.<destination>`); at most
/// [`crate::facts::caps::REPORT_DESTINATIONS`] are asked.
async fn external_destinations(
    facts: &Facts<'_>,
    policy_domain: &str,
    org: &str,
    rec: &DmarcRecord,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut external: Vec<(&'static str, String)> = Vec::new();
    for (tag, uri) in rec
        .rua
        .iter()
        .map(|u| ("rua", u))
        .chain(rec.ruf.iter().map(|u| ("ruf", u)))
    {
        if let Some(dest) = &uri.domain
            && !name::is_within(dest, org)
            && !external.iter().any(|(_, d)| d == dest)
        {
            external.push((tag, dest.clone()));
        }
    }
    if external.len() > crate::facts::caps::REPORT_DESTINATIONS {
        facts.note_cap(crate::facts::Cap {
            what: "external DMARC report destinations",
            limit: crate::facts::caps::REPORT_DESTINATIONS,
            found: external.len(),
            affects: crate::facts::Affects::Check(crate::checks::Check::id(&Dmarc)),
        });
        external.truncate(crate::facts::caps::REPORT_DESTINATIONS);
    }
    let checks = join_all(external.iter().map(|(_, dest)| {
        let qname = format!("{policy_domain}._report._dmarc.{dest}");
        async move { (qname.clone(), facts.dns.txt(&qname).await) }
    }))
    .await;
    for ((tag, dest), (qname, answer)) in external.iter().zip(checks) {
        let authorised = match answer.txt() {
            Err(failed) => {
                findings.push(Finding::lookup_failed(
                    ids::DMARC_DNS_ERROR,
                    dest,
                    &qname,
                    "TXT",
                    failed,
                ));
                continue;
            }
            Ok(txt) => txt.iter().any(|t| is_dmarc(t)),
        };
        if !authorised {
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
    findings
}

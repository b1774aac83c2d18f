//! The JSON report, schema version 1: a contract for scripts and support
//! tools (documented in docs/json.md). These types are the wire format and
//! nothing else (STYLE §5); field order here is key order in the output.
//! Each check's entry comes from its own wire types ([`Detail::wire`]);
//! within version 1, keys are only ever added.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::dns::StatsSnapshot;
use crate::facts::SendingIp;
use crate::findings::{Severity, Status};
use crate::report::model::Changes;
use crate::report::model::{Detail, Made, Report, Verdict};
use crate::report::{checklist, delisting, requirements};
use crate::rules::Topic;

pub const SCHEMA_VERSION: u32 = 1;

/// A DNSSEC validation result, schema v1 (the `dnssec` and `dane`
/// entries): `{"proof": "secure" | "insecure" | "bogus" | "unknown",
/// "reason"?}`, apart from the resolver's own type.
#[derive(Serialize)]
pub struct ProofV1<'a> {
    pub proof: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'a str>,
}

impl<'a> From<&'a crate::dns::dnssec::Validation> for ProofV1<'a> {
    fn from(v: &'a crate::dns::dnssec::Validation) -> Self {
        use crate::dns::dnssec::Validation;
        match v {
            Validation::Secure => ProofV1 {
                proof: "secure",
                reason: None,
            },
            Validation::Insecure => ProofV1 {
                proof: "insecure",
                reason: None,
            },
            Validation::Bogus(why) => ProofV1 {
                proof: "bogus",
                reason: Some(why),
            },
            Validation::Unknown(why) => ProofV1 {
                proof: "unknown",
                reason: Some(why),
            },
        }
    }
}

/// Serialises a validation result as [`ProofV1`] (`serialize_with`).
pub fn proof<S: serde::Serializer>(
    v: &crate::dns::dnssec::Validation,
    s: S,
) -> Result<S::Ok, S::Error> {
    ProofV1::from(v).serialize(s)
}

#[derive(Serialize)]
struct ReportV1<'a> {
    schema_version: u32,
    tool: Tool,
    generated_at: String,
    duration_ms: u64,
    target: Target<'a>,
    summary: Summary,
    /// Added within v1: the prevention checklist.
    checklist: Vec<checklist::Item>,
    /// Added within v1: the mailbox providers' requirements.
    requirements: &'a [requirements::Row],
    /// Added within v1, with `--baseline` only: what changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    changes: Option<&'a Changes>,
    checks: Map<String, Value>,
    /// Added within v1: per check, what it saw and found right (checks
    /// with nothing to say are left out).
    passed: Map<String, Value>,
    findings: Vec<FindingV1<'a>>,
    stats: &'a StatsSnapshot,
    /// Added within v1: how the report was made.
    made: &'a Made,
}

#[derive(Serialize)]
struct Tool {
    name: &'static str,
    version: &'static str,
}

#[derive(Serialize)]
struct Target<'a> {
    domain: Option<&'a str>,
    ips: &'a [SendingIp],
    messages: &'a [String],
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    subjects: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    recipients: Option<&'a str>,
}

#[derive(Serialize)]
struct Summary {
    status: Status,
    errors: usize,
    warnings: usize,
    infos: usize,
    /// Checks that could not reach a verdict.
    unknown: usize,
    /// Added within v1: the verdict and the score (docs/scoring.md).
    verdict: Verdict,
    score: u8,
}

#[derive(Serialize)]
struct FindingV1<'a> {
    id: &'a str,
    check: &'a str,
    severity: Severity,
    subject: &'a str,
    summary: &'a str,
    evidence: &'a Map<String, Value>,
    advice: AdviceV1<'a>,
    /// Added within v1, listings only: a ready-to-send removal request.
    #[serde(skip_serializing_if = "Option::is_none")]
    delisting_request: Option<String>,
}

#[derive(Serialize)]
struct AdviceV1<'a> {
    title: &'a str,
    text: &'a str,
    steps: &'a [String],
    references: &'a [String],
    topic: Topic,
}

/// The report as a JSON value (schema version 1).
pub fn to_value(report: &Report) -> Value {
    let checks = report
        .checks
        .iter()
        .map(|c| {
            let wire = c.detail.as_deref().map(Detail::wire);
            let value = match wire {
                // One entry per item (message), each with its own status.
                Some(Value::Array(items)) => Value::Array(items),
                None if c.per_item => Value::Array(Vec::new()),
                data => {
                    let mut obj = Map::new();
                    obj.insert("status".into(), Value::from(c.status.as_str()));
                    if let Some(reason) = &c.reason {
                        obj.insert("reason".into(), Value::from(reason.as_str()));
                    }
                    if let Some(Value::Object(fields)) = data {
                        obj.extend(fields);
                    }
                    Value::Object(obj)
                }
            };
            (c.id.to_string(), value)
        })
        .collect();
    let doc = ReportV1 {
        schema_version: SCHEMA_VERSION,
        tool: Tool {
            name: "mailaudit",
            version: env!("CARGO_PKG_VERSION"),
        },
        generated_at: super::generated_at(report),
        duration_ms: report.duration.as_millis() as u64,
        target: Target {
            domain: report.target.domain.as_deref(),
            ips: &report.target.ips,
            messages: &report.target.messages,
            subjects: &report.target.subjects,
            recipients: report.target.recipients.as_deref(),
        },
        summary: Summary {
            status: report.status(),
            errors: report.count(Severity::Error),
            warnings: report.count(Severity::Warning),
            infos: report.count(Severity::Info),
            unknown: report.unknown_checks(),
            verdict: report.verdict(),
            score: report.score(),
        },
        checklist: checklist::checklist(report),
        requirements: &report.requirements,
        changes: report.changes.as_ref(),
        checks,
        passed: report
            .checks
            .iter()
            .map(|c| (c.id, report.passed(c)))
            .filter(|(_, p)| !p.is_empty())
            .map(|(id, p)| (id.to_string(), Value::from(p)))
            .collect(),
        findings: report
            .findings
            .iter()
            .map(|f| FindingV1 {
                id: f.finding.id,
                check: f.finding.check(),
                severity: f.severity,
                subject: &f.finding.subject,
                summary: &f.finding.summary,
                evidence: &f.finding.evidence,
                advice: AdviceV1 {
                    title: &f.advice.title,
                    text: &f.advice.text,
                    steps: &f.advice.steps,
                    references: &f.advice.references,
                    topic: f.advice.topic,
                },
                delisting_request: delisting::request(f, &delisting::fixed(report)),
            })
            .collect(),
        stats: &report.stats,
        made: &report.made,
    };
    serde_json::to_value(doc).expect("report serialises")
}

/// The json report.
#[derive(Debug)]
pub struct Json;

impl super::Format for Json {
    fn name(&self) -> &'static str {
        "json"
    }
    fn extensions(&self) -> &'static [&'static str] {
        &["json"]
    }
    fn media_type(&self) -> &'static str {
        "application/json"
    }
    fn render(&self, report: &Report, _opts: &super::TextOptions) -> String {
        render(report)
    }
    fn batch(&self) -> Option<super::BatchFormat> {
        Some(super::BatchFormat::JsonLines)
    }
}

pub fn render(report: &Report) -> String {
    let mut s = serde_json::to_string_pretty(&to_value(report)).expect("report serialises");
    s.push('\n');
    s
}

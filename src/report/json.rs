//! The JSON report, schema version 1: a contract for scripts and support
//! tools (documented in docs/json.md). These types are the wire format and
//! nothing else (STYLE §5); field order here is key order in the output.
//! Every other renderer reads this document, so all formats agree.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::audit::{AuditReport, SendingIp};
use crate::dns::StatsSnapshot;
use crate::findings::{Severity, Status};
use crate::rules::Topic;

pub const SCHEMA_VERSION: u32 = 1;

#[derive(Serialize)]
struct ReportV1<'a> {
    schema_version: u32,
    tool: Tool,
    generated_at: String,
    duration_ms: u64,
    target: Target<'a>,
    summary: Summary,
    checks: Map<String, Value>,
    findings: Vec<FindingV1<'a>>,
    stats: &'a StatsSnapshot,
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
}

#[derive(Serialize)]
struct Summary {
    status: Status,
    errors: usize,
    warnings: usize,
    infos: usize,
    /// Checks that could not reach a verdict.
    unknown: usize,
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
pub fn to_value(report: &AuditReport) -> Value {
    let checks = report
        .checks
        .iter()
        .map(|c| {
            let value = match &c.data {
                // One entry per message, each with its own status.
                Value::Array(items) => Value::Array(items.clone()),
                data => {
                    let mut obj = Map::new();
                    obj.insert("status".into(), Value::from(c.status.as_str()));
                    if let Value::Object(fields) = data {
                        for (k, v) in fields {
                            obj.insert(k.clone(), v.clone());
                        }
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
        generated_at: report
            .generated_at
            .replace_nanosecond(0)
            .unwrap_or(report.generated_at)
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        duration_ms: report.duration.as_millis() as u64,
        target: Target {
            domain: report.domain.as_deref(),
            ips: &report.ips,
            messages: &report.messages,
            subjects: &report.subjects,
        },
        summary: Summary {
            status: report.status(),
            errors: report.count(Severity::Error),
            warnings: report.count(Severity::Warning),
            infos: report.count(Severity::Info),
            unknown: report
                .checks
                .iter()
                .filter(|c| c.status == Status::Unknown)
                .count(),
        },
        checks,
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
            })
            .collect(),
        stats: &report.stats,
    };
    serde_json::to_value(doc).expect("report serialises")
}

pub fn render(report: &AuditReport) -> String {
    let mut s = serde_json::to_string_pretty(&to_value(report)).expect("report serialises");
    s.push('\n');
    s
}

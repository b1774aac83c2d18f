//! The HTML report: one self-contained page (inline styles, no scripts, no
//! external assets) rendered with minijinja from a view of the typed model,
//! each check's evidence laid out from its blocks. Every value is
//! HTML-escaped by the template engine.

use minijinja::{Environment, Value as Jinja};
use serde::Serialize;

use crate::report::json;
use crate::report::model::{Block, Report};

const TEMPLATE: &str = include_str!("../../templates/report.html.j2");

/// One check as the page's summary table shows it.
#[derive(Serialize)]
struct CheckRow {
    title: &'static str,
    status: &'static str,
    line: String,
}

/// One check's section.
#[derive(Serialize)]
struct CheckView {
    id: &'static str,
    title: &'static str,
    status: &'static str,
    blocks: Vec<Block>,
    /// Its findings: (number in "What to do first", ID, severity).
    findings: Vec<(usize, &'static str, &'static str)>,
    passed: Vec<String>,
}

/// The html report.
#[derive(Debug)]
pub struct Html;

impl super::Format for Html {
    fn name(&self) -> &'static str {
        "html"
    }
    fn extensions(&self) -> &'static [&'static str] {
        &["html", "htm"]
    }
    fn media_type(&self) -> &'static str {
        "text/html; charset=utf-8"
    }
    fn render(&self, report: &Report, _opts: &super::TextOptions) -> String {
        render(report)
    }
    fn batch(&self) -> Option<super::BatchFormat> {
        Some(super::BatchFormat::Html)
    }
}

pub fn render(report: &Report) -> String {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
    // What came from outside is cleaned of control characters too (the
    // page may be read with `cat` or `less`), then HTML-escaped.
    env.set_formatter(
        |out, state, value| match value.as_str().map(super::terminal::safe_lines) {
            Some(std::borrow::Cow::Owned(cleaned)) => {
                let cleaned = if value.is_safe() {
                    Jinja::from_safe_string(cleaned)
                } else {
                    Jinja::from(cleaned)
                };
                minijinja::escape_formatter(out, state, &cleaned)
            }
            _ => minijinja::escape_formatter(out, state, value),
        },
    );
    env.add_template("report.html.j2", TEMPLATE)
        .expect("the report template parses (tested)");
    let rows: Vec<CheckRow> = report
        .checks
        .iter()
        .map(|c| CheckRow {
            title: c.title,
            status: c.status.as_str(),
            line: c.line(),
        })
        .collect();
    let checks: Vec<CheckView> = report
        .sections()
        .into_iter()
        .map(|s| CheckView {
            id: s.check.id,
            title: s.check.title,
            status: s.check.status.as_str(),
            blocks: s.blocks,
            findings: s
                .findings
                .iter()
                .map(|(n, f)| (*n, f.finding.id, f.severity.as_str()))
                .collect(),
            passed: s.passed,
        })
        .collect();
    // The findings and the summary are the same words as the JSON report's.
    let doc = json::to_value(report);
    // The findings in the order to act on them (the JSON keeps its own).
    // Each with its references as (text, link) pairs.
    let findings: Vec<serde_json::Value> = report
        .priority_order()
        .into_iter()
        .filter_map(|i| {
            let mut f = doc["findings"].get(i)?.clone();
            let refs: Vec<(String, Option<String>)> = report.findings[i]
                .advice
                .references
                .iter()
                .map(|r| (r.clone(), super::advice::reference_url(r)))
                .collect();
            f["references"] = serde_json::json!(refs);
            Some(f)
        })
        .collect();
    env.get_template("report.html.j2")
        .and_then(|t| {
            t.render(minijinja::context! {
                report => Jinja::from(minijinja::value::Serde(&doc)),
                rows => Jinja::from(minijinja::value::Serde(&rows)),
                checks => Jinja::from(minijinja::value::Serde(&checks)),
                ips_failed => report.target.ips_failed.clone(),
                findings => Jinja::from(minijinja::value::Serde(&findings)),
                title => super::title(report),
                verdict_label => report.verdict().label(),
                made_source => report.made.source_line(),
                made_catalogue => report.made.catalogue_line(),
                made_command => report.made.command_line(),
                changes => report.changes.as_ref().map(|c| c.groups()),
            })
        })
        .expect("the report template renders any report (tested)")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::findings::{Finding, Severity, Status};
    use crate::report::model::{CheckReport, Detail, Made, ReportTarget, ResolvedFinding, RunKind};
    use crate::rules::Rules;

    const PAYLOAD: &str = "<script>alert(1)</script>";

    /// A check whose every rendered string is hostile.
    #[derive(Debug)]
    struct Hostile;

    impl Detail for Hostile {
        fn wire(&self) -> serde_json::Value {
            serde_json::json!({ "record": PAYLOAD })
        }
        fn headline(&self) -> String {
            format!("v=spf1 {PAYLOAD}")
        }
        fn blocks(&self) -> Vec<Block> {
            vec![Block::Table {
                title: PAYLOAD.into(),
                head: vec!["Record".into()],
                rows: vec![vec![PAYLOAD.into()]],
            }]
        }
    }

    #[test]
    fn every_shown_string_is_escaped() {
        let rules = Rules::embedded();
        let finding = Finding::new(
            "spf.all-neutral",
            "\"><img src=x onerror=alert(1)>",
            format!("<b>bold</b> {PAYLOAD} \u{1b}[2J"),
        )
        .with("record", PAYLOAD);
        let report = Report {
            kind: RunKind::Audit,
            generated_at: time::OffsetDateTime::UNIX_EPOCH,
            duration: std::time::Duration::from_millis(1),
            target: ReportTarget {
                domain: Some("example.com".into()),
                ..ReportTarget::default()
            },
            checks: vec![CheckReport {
                id: "spf",
                title: "SPF",
                status: Status::Warn,
                reason: None,
                per_item: false,
                rows: &[],
                detail: Some(Box::new(Hostile)),
            }],
            findings: vec![ResolvedFinding {
                advice: rules.advice(finding.id).clone(),
                severity: Severity::Warning,
                finding,
            }],
            stats: crate::dns::StatsSnapshot {
                queries: 0,
                cache_hits: 0,
                by_outcome: Default::default(),
            },
            // The command line and file names are the user's, but shown as
            // text all the same.
            made: Made {
                command: vec!["mailaudit".into(), PAYLOAD.into()],
                dns: "offline",
                zone_files: vec![PAYLOAD.into()],
                ..Made::default()
            },
            requirements: Vec::new(),
            changes: None,
        };
        let html = render(&report);
        assert!(html.starts_with("<!DOCTYPE html>"));
        // The payload is on the page (headline, block title and cell,
        // summary, evidence), and only ever as text.
        assert!(html.matches("&lt;script&gt;").count() >= 4, "{html}");
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(!html.contains("<b>bold"), "{html}");
        // Nor a terminal escape, should the page be read with `cat`.
        assert!(!html.contains('\u{1b}'), "{html}");
        assert!(html.contains("\\x1b[2J"), "{html}");
    }
}

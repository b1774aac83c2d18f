//! The HTML report: one self-contained page (inline styles, no scripts, no
//! external assets) rendered with minijinja from the JSON document, so it
//! says exactly what the JSON says. Every value is HTML-escaped by the
//! template engine.

use minijinja::{Environment, Value as Jinja};
use serde_json::Value;

const TEMPLATE: &str = include_str!("../../templates/report.html.j2");

/// Renders the JSON document (schema v1) as HTML.
pub fn render(doc: &Value) -> String {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
    env.add_template("report.html.j2", TEMPLATE)
        .expect("the report template parses (tested)");
    let target = &doc["target"];
    let title = match target.get("domain").and_then(Value::as_str) {
        Some(d) => format!("audit of {d}"),
        None => {
            let key = if target.get("subjects").is_some() {
                "subjects"
            } else {
                "messages"
            };
            let items: Vec<&str> = target[key]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let shown = if items.len() > 3 {
                format!("{} and {} more", items[..3].join(", "), items.len() - 3)
            } else {
                items.join(", ")
            };
            if key == "subjects" {
                format!("blocklist check of {shown}")
            } else {
                format!("message scan of {shown}")
            }
        }
    };
    env.get_template("report.html.j2")
        .and_then(|t| {
            t.render(minijinja::context! {
                report => Jinja::from(minijinja::value::Serde(doc)),
                title => title,
            })
        })
        .expect("the report template renders any v1 document (tested)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_it_shows() {
        let doc = serde_json::json!({
            "schema_version": 1,
            "tool": {"name": "mailaudit", "version": "0"},
            "generated_at": "2026-11-27T00:00:00Z",
            "duration_ms": 1,
            "target": {"domain": "example.com", "ips": [], "messages": []},
            "summary": {"status": "warn", "errors": 0, "warnings": 1, "infos": 0, "unknown": 0},
            "checks": {"spf": {"status": "warn", "record": "v=spf1 <script>", "lookups": 0, "void_lookups": 0, "tree": null, "evaluations": []}},
            "findings": [{"id": "spf.all-neutral", "check": "spf", "severity": "warning", "subject": "example.com",
                "summary": "<b>bold</b>", "evidence": {"record": "v=spf1 ?all"},
                "advice": {"title": "T", "text": "X & Y", "steps": ["s"], "references": [], "topic": "dns-records"}}],
            "stats": {"queries": 1, "cache_hits": 0, "by_outcome": {"records": 1}}
        });
        let html = render(&doc);
        assert!(
            html.contains("&lt;b&gt;bold&lt;&#x2f;b&gt;")
                || html.contains("&lt;b&gt;bold&lt;/b&gt;"),
            "{html}"
        );
        assert!(!html.contains("<b>bold</b>"));
        assert!(html.contains("X &amp; Y"));
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(!html.contains("<script"));
    }
}

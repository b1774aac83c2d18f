//! The HTML report: one self-contained page (inline styles, no scripts, no
//! external assets) rendered with minijinja from a view of the typed model,
//! each check's evidence laid out from its blocks. Every value is
//! HTML-escaped by the template engine.

use minijinja::{Environment, Value as Jinja};
use serde::Serialize;

use crate::report::json;
use crate::report::model::{Block, Report};

const TEMPLATE: &str = include_str!("../../templates/report.html.j2");

/// One check as the page shows it.
#[derive(Serialize)]
struct CheckView {
    id: &'static str,
    title: &'static str,
    status: &'static str,
    line: String,
    blocks: Vec<Block>,
}

pub fn render(report: &Report) -> String {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
    env.add_template("report.html.j2", TEMPLATE)
        .expect("the report template parses (tested)");
    let checks: Vec<CheckView> = report
        .checks
        .iter()
        .map(|c| CheckView {
            id: c.id,
            title: c.title,
            status: c.status.as_str(),
            line: match (&c.detail, &c.reason) {
                (_, Some(r)) => r.clone(),
                (Some(d), None) => d.headline(),
                (None, None) => String::new(),
            },
            blocks: c.detail.iter().flat_map(|d| d.blocks()).collect(),
        })
        .collect();
    // The findings and the summary are the same words as the JSON report's.
    let doc = json::to_value(report);
    env.get_template("report.html.j2")
        .and_then(|t| {
            t.render(minijinja::context! {
                report => Jinja::from(minijinja::value::Serde(&doc)),
                checks => Jinja::from(minijinja::value::Serde(&checks)),
                title => super::title(report),
            })
        })
        .expect("the report template renders any report (tested)")
}

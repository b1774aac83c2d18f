//! The report model and its renderers, apart from the checks (STYLE §6):
//! one [`Format`] implementation per format, listed in [`FORMATS`]. Every renderer reads the typed
//! model ([`model::Report`]); JSON is the frozen contract ([`json`]), text
//! and HTML lay out each check's [`model::Block`]s the same way.

pub mod advice;
pub mod baseline;
pub mod batch;
pub mod checklist;
pub mod delisting;
pub mod html;
pub mod json;
pub mod markdown;
pub mod model;
pub mod requirements;
pub mod terminal;
pub mod text;

use std::path::Path;

use model::Report;

/// How a batch is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchFormat {
    JsonLines,
    Csv,
    Text,
    Html,
}

/// How the terminal report is laid out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TextOptions {
    /// ANSI colours for verdicts, severities and statuses (the caller
    /// decides: a terminal, and no `NO_COLOR`). Text from outside is never
    /// coloured and always escaped.
    pub colour: bool,
    /// The first step of each finding only, and no evidence blocks.
    pub brief: bool,
}

/// A report format: one implementation each, listed once in [`FORMATS`]
/// (STYLE §6). `--format` takes its name, `-o FILE` picks it by the
/// file's extension.
pub trait Format: Sync + std::fmt::Debug {
    /// The name `--format` takes.
    fn name(&self) -> &'static str;
    /// The file extensions (lower case) that ask for it.
    fn extensions(&self) -> &'static [&'static str];
    /// Its media type (HTTP `Content-Type`), charset included.
    fn media_type(&self) -> &'static str;
    /// One report in this format (`opts`: the terminal report's options;
    /// the other formats have none).
    fn render(&self, report: &Report, opts: &TextOptions) -> String;
    /// How a batch is written in this format; `None` when a batch cannot
    /// be (one document per report).
    fn batch(&self) -> Option<BatchFormat>;
    /// A single run in this format is a batch of one (a row format).
    fn one_of_a_batch(&self) -> bool {
        false
    }
}

/// Every report format, the default (text) first.
pub static FORMATS: &[&dyn Format] = &[
    &text::Text,
    &json::Json,
    &html::Html,
    &markdown::Markdown,
    &batch::Csv,
    &batch::JsonLines,
];

/// The format `--format NAME` names.
pub fn format_named(name: &str) -> Option<&'static dyn Format> {
    FORMATS.iter().copied().find(|f| f.name() == name)
}

/// The format an output file's name asks for.
pub fn format_of_path(path: &Path) -> Option<&'static dyn Format> {
    format_of_extension(path.extension()?.to_str()?)
}

/// The format a file extension (`json`, `MD`) asks for.
pub fn format_of_extension(ext: &str) -> Option<&'static dyn Format> {
    let ext = ext.to_ascii_lowercase();
    FORMATS
        .iter()
        .copied()
        .find(|f| f.extensions().contains(&ext.as_str()))
}

/// The report in `format`, with default options.
pub fn render(report: &Report, format: &dyn Format) -> String {
    format.render(report, &TextOptions::default())
}

/// An audit's sending IPs and where each came from, in one line (raw:
/// the renderer escapes it); `None` for other runs.
pub fn sending_ips_line(report: &Report) -> Option<String> {
    if report.kind != model::RunKind::Audit {
        return None;
    }
    let ips: Vec<String> = report
        .target
        .ips
        .iter()
        .map(|ip| match &ip.via {
            Some(via) => format!("{} ({} {via})", ip.ip, ip.source),
            None => format!("{} ({})", ip.ip, ip.source),
        })
        .collect();
    let failed = &report.target.ips_failed;
    let mut line = match (ips.is_empty(), failed.is_empty()) {
        (true, true) => "none found".to_string(),
        (true, false) => "not known".to_string(),
        (false, _) => ips.join(", "),
    };
    if !failed.is_empty() {
        line.push_str(&format!(
            " (incomplete: {} lookup(s) failed: {})",
            failed.len(),
            failed.join("; ")
        ));
    }
    Some(line)
}

/// When the report was made, RFC 3339 to the second, UTC.
pub fn generated_at(report: &Report) -> String {
    report
        .generated_at
        .replace_nanosecond(0)
        .unwrap_or(report.generated_at)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// What the report is about, in a few words ("audit of example.com").
pub fn title(report: &Report) -> String {
    let t = &report.target;
    let few = |items: &[String]| {
        if items.len() > 3 {
            format!("{} and {} more", items[..3].join(", "), items.len() - 3)
        } else {
            items.join(", ")
        }
    };
    match report.kind {
        model::RunKind::Audit => format!("audit of {}", t.domain.as_deref().unwrap_or("?")),
        model::RunKind::Blocklist => format!("blocklist check of {}", few(&t.subjects)),
        model::RunKind::Smtp => format!("SMTP probe of {}", few(&t.subjects)),
        model::RunKind::Message => format!("message scan of {}", few(&t.messages)),
        model::RunKind::Recipients => {
            format!("recipient list {}", t.recipients.as_deref().unwrap_or("?"))
        }
    }
}

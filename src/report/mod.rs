//! The report model and its renderers, apart from the checks (STYLE §6):
//! one format enum, one renderer each. Every renderer reads the typed
//! model ([`model::Report`]); JSON is the frozen contract ([`json`]), text
//! and HTML lay out each check's [`model::Block`]s the same way.

pub mod advice;
pub mod baseline;
pub mod batch;
pub mod checklist;
pub mod clean;
pub mod delisting;
pub mod html;
pub mod json;
pub mod markdown;
pub mod model;
pub mod requirements;
pub mod text;

use std::path::Path;

use model::Report;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
    Html,
    Markdown,
    /// One row (with its header); a row per domain in a batch.
    Csv,
    /// One compact JSON report a line (a batch's JSON).
    JsonLines,
}

impl Format {
    /// The format an output file name suggests.
    pub fn from_path(path: &Path) -> Option<Format> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "json" => Some(Format::Json),
            "html" | "htm" => Some(Format::Html),
            "txt" | "text" => Some(Format::Text),
            "md" | "markdown" => Some(Format::Markdown),
            "csv" => Some(Format::Csv),
            "jsonl" | "ndjson" => Some(Format::JsonLines),
            _ => None,
        }
    }
}

pub fn render(report: &Report, format: Format) -> String {
    render_with(report, format, &text::TextOptions::default())
}

/// As [`render`], with the terminal report's options (the other formats
/// have none).
pub fn render_with(report: &Report, format: Format, opts: &text::TextOptions) -> String {
    match format {
        Format::Json => json::render(report),
        Format::Text => text::render_with(report, opts),
        Format::Html => html::render(report),
        Format::Markdown => markdown::render(report),
        Format::Csv | Format::JsonLines => {
            // A batch of one.
            let kind = if format == Format::Csv {
                batch::BatchFormat::Csv
            } else {
                batch::BatchFormat::JsonLines
            };
            let mut w =
                batch::BatchWriter::new(kind, report.kind, Vec::new()).expect("writing to memory");
            w.report(report).expect("writing to memory");
            String::from_utf8(w.finish().expect("writing to memory")).expect("UTF-8")
        }
    }
}

impl Format {
    /// How a batch is written in this format: JSON as JSON Lines; `None`
    /// for Markdown (one document per report: use JSON Lines or HTML).
    pub fn batch(self) -> Option<batch::BatchFormat> {
        match self {
            Format::Json | Format::JsonLines => Some(batch::BatchFormat::JsonLines),
            Format::Csv => Some(batch::BatchFormat::Csv),
            Format::Text => Some(batch::BatchFormat::Text),
            Format::Html => Some(batch::BatchFormat::Html),
            Format::Markdown => None,
        }
    }
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

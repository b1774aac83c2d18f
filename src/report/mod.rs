//! Renderers, apart from the checks (STYLE §6): one format enum, one
//! renderer each. JSON is the contract; text and HTML render the JSON
//! document, so every format says the same.

pub mod html;
pub mod json;
pub mod text;

use std::path::Path;

use crate::audit::AuditReport;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
    Html,
}

impl Format {
    /// The format an output file name suggests.
    pub fn from_path(path: &Path) -> Option<Format> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "json" => Some(Format::Json),
            "html" | "htm" => Some(Format::Html),
            "txt" | "text" => Some(Format::Text),
            _ => None,
        }
    }
}

pub fn render(report: &AuditReport, format: Format) -> String {
    match format {
        Format::Json => json::render(report),
        Format::Text => text::render(&json::to_value(report)),
        Format::Html => html::render(&json::to_value(report)),
    }
}

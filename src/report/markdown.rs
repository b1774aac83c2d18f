//! The Markdown report (`--format markdown`, `-o report.md`): the same
//! structure as the text report, for pasting into a ticket. Ticket systems
//! render Markdown, and many render HTML inside it, so every string from
//! outside is escaped twice over: control characters as in the terminal
//! report ([`clean`]), then every character Markdown or HTML could read as
//! markup behind a backslash, so a TXT record `<script>` or `[x](y)` shows
//! as the text it is.

use std::fmt::Write;

use crate::report::model::{Block, Report, TreeItem};
use crate::report::terminal;
use crate::report::{checklist, delisting};

/// `s` as Markdown text that renders as exactly `s`, wherever on a line it
/// is put: the characters that open emphasis, code, links, HTML, entities,
/// table cells and strikethrough are escaped everywhere, and a start that
/// would open a list, heading or quote is escaped too.
pub fn escape(s: &str) -> String {
    let cleaned = terminal::safe(s);
    let mut out = String::with_capacity(cleaned.len() + 8);
    // "1." or "1)" at the start would open an ordered list.
    let digits = cleaned.chars().take_while(char::is_ascii_digit).count();
    for (i, c) in cleaned.chars().enumerate() {
        let starts_block = i == 0 && "-+=".contains(c);
        let ends_number = i == digits && digits > 0 && ".)".contains(c);
        if "\\`*_[]<>|&#~".contains(c) || starts_block || ends_number {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// `s` as text inside a table cell (escaped; no line breaks).
fn cell(s: &str) -> String {
    escape(s)
}

/// The markdown report.
#[derive(Debug)]
pub struct Markdown;

impl super::Format for Markdown {
    fn name(&self) -> &'static str {
        "markdown"
    }
    fn extensions(&self) -> &'static [&'static str] {
        &["md", "markdown"]
    }
    fn media_type(&self) -> &'static str {
        "text/markdown; charset=utf-8"
    }
    fn render(&self, report: &Report, _opts: &super::TextOptions) -> String {
        render(report)
    }
    fn batch(&self) -> Option<super::BatchFormat> {
        None
    }
}

pub fn render(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# mailaudit: {}\n", escape(&super::title(report)));
    let _ = writeln!(
        out,
        "**{}**, score {}/10 ({})\n",
        capitalised(report.verdict().label()),
        report.score(),
        report.counts_line(),
    );
    if let Some(line) = super::sending_ips_line(report) {
        let _ = writeln!(out, "Sending IPs: {}\n", escape(&line));
    }

    out.push_str("## Prevention checklist\n\n");
    out.push_str("| To stay off blocklists | Status | What it rests on |\n|---|---|---|\n");
    for item in checklist::checklist(report) {
        let _ = writeln!(
            out,
            "| {} | {} | {} |",
            item.title,
            item.status.as_str(),
            cell(&item.detail)
        );
    }

    if !report.requirements.is_empty() {
        out.push_str("\n## Mailbox-provider requirements\n\n");
        out.push_str("| Requirement | Gmail | Yahoo | Outlook.com | Status | Why |\n|---|---|---|---|---|---|\n");
        for r in &report.requirements {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} |",
                cell(&r.rule),
                cell(&r.gmail),
                cell(&r.yahoo),
                cell(&r.outlook),
                r.status.as_str(),
                cell(&r.because())
            );
        }
    }

    if let Some(changes) = &report.changes {
        let _ = writeln!(
            out,
            "\n## Since the last report ({})\n",
            escape(&changes.since)
        );
        let groups = changes.groups();
        if groups.is_empty() {
            out.push_str("Nothing changed.\n");
        }
        for (heading, lines) in groups {
            let _ = writeln!(out, "**{heading}**\n");
            for line in lines {
                let _ = writeln!(out, "- {}", escape(&line));
            }
            out.push('\n');
        }
    }

    if !report.findings.is_empty() {
        out.push_str("\n## What to do first\n\n");
        for (n, f) in report.by_priority().into_iter().enumerate() {
            let _ = writeln!(
                out,
                "{}. **{}** `{}`: {}",
                n + 1,
                f.severity.as_str(),
                f.finding.id,
                escape(&f.finding.summary)
            );
            for step in f.steps() {
                let _ = writeln!(out, "    - {}", escape(&step));
            }
            if let Some(draft) = delisting::request(f, &delisting::fixed(report)) {
                write_code_block(&mut out, "Removal request, ready to send:", &draft);
            }
        }
    }

    out.push_str("\n## Checks\n\n| Check | Status | Result |\n|---|---|---|\n");
    for c in &report.checks {
        let line = c.line();
        let _ = writeln!(
            out,
            "| {} | {} | {} |",
            c.title,
            c.status.as_str(),
            cell(&line)
        );
    }
    for s in report.sections() {
        let _ = writeln!(out, "\n### {}: {}", s.check.title, s.check.status.as_str());
        if !s.findings.is_empty() {
            let refs: Vec<String> = s
                .findings
                .iter()
                .map(|(n, f)| format!("{n}. `{}`", f.finding.id))
                .collect();
            let _ = writeln!(out, "\nFindings (above): {}", refs.join(", "));
        }
        for block in &s.blocks {
            out.push('\n');
            write_block(&mut out, block);
        }
        if !s.passed.is_empty() {
            out.push_str("\n**Passed**\n\n");
            for p in &s.passed {
                let _ = writeln!(out, "- {}", escape(p));
            }
        }
    }

    let made = &report.made;
    out.push_str("\n## How this report was made\n\n");
    let _ = writeln!(
        out,
        "- mailaudit {}, {}, {} ms",
        env!("CARGO_PKG_VERSION"),
        super::generated_at(report),
        report.duration.as_millis()
    );
    let _ = writeln!(out, "- DNS: {}", escape(&made.source_line()));
    if let Some(catalogue) = made.catalogue_line() {
        let _ = writeln!(out, "- Blocklist catalogue: {}", escape(&catalogue));
    }
    if !made.command.is_empty() {
        let _ = writeln!(out, "- Command: {}", escape(&made.command_line()));
    }
    let stats = &report.stats;
    let _ = writeln!(
        out,
        "- DNS questions: {}, {} answered from cache",
        stats.queries, stats.cache_hits
    );
    out
}

/// `text` as a fenced code block inside a list item: shown literally,
/// with a fence longer than any run of backticks in it so nothing inside
/// can close it.
fn write_code_block(out: &mut String, label: &str, text: &str) {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest.max(2) + 1);
    let _ = writeln!(out, "\n    {label}\n\n    {fence}text");
    for line in text.lines() {
        let _ = writeln!(out, "    {}", terminal::safe(line));
    }
    let _ = writeln!(out, "    {fence}\n");
}

fn capitalised(s: &str) -> String {
    let mut chars = s.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

fn write_block(out: &mut String, block: &Block) {
    match block {
        Block::Lines { title, items } => {
            let _ = writeln!(out, "#### {}\n", escape(title));
            for i in items {
                let _ = writeln!(out, "- {}", escape(i));
            }
        }
        Block::Table { title, head, rows } => {
            let _ = writeln!(out, "#### {}\n", escape(title));
            let head: Vec<String> = head.iter().map(|h| cell(h)).collect();
            let _ = writeln!(out, "| {} |", head.join(" | "));
            let _ = writeln!(out, "|{}", "---|".repeat(head.len()));
            for row in rows {
                let cells: Vec<String> = row.iter().map(|c| cell(c)).collect();
                let _ = writeln!(out, "| {} |", cells.join(" | "));
            }
        }
        Block::Tree { title, root } => {
            let _ = writeln!(out, "#### {}\n", escape(title));
            write_tree(out, root, 0);
        }
    }
}

fn write_tree(out: &mut String, item: &TreeItem, depth: usize) {
    let _ = writeln!(out, "{}- {}", "    ".repeat(depth), escape(&item.text));
    for c in &item.children {
        write_tree(out, c, depth + 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_from_outside_is_text() {
        for hostile in [
            "<script>alert(1)</script>",
            "\"><img src=x onerror=alert(1)>",
            "[click](https://evil.example/)",
            "**bold** _it_ `code` | cell | # heading",
            "\u{1b}[2J\u{7}",
        ] {
            let e = escape(hostile);
            assert!(!e.contains('\u{1b}') && !e.contains('\u{7}'), "{e:?}");
            // Every character that could open markup is escaped.
            let chars: Vec<char> = e.chars().collect();
            for (i, c) in chars.iter().enumerate() {
                if "<>[]`*_|&#~".contains(*c) {
                    assert!(i > 0 && chars[i - 1] == '\\', "{hostile:?} -> {e:?}");
                }
            }
        }
        assert_eq!(escape("v=spf1 -all"), "v=spf1 -all");
        // A code block cannot be closed from inside.
        let mut out = String::new();
        write_code_block(&mut out, "draft:", "a\n```\n<b>x</b> ````");
        assert!(out.contains("    `````text\n"), "{out}");
        assert!(out.trim_end().ends_with("    `````"), "{out}");
        assert_eq!(escape("-all"), "\\-all");
        assert_eq!(escape("1. item"), "1\\. item");
        assert_eq!(escape("a_b <c>"), "a\\_b \\<c\\>");
    }
}

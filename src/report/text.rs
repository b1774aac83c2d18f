//! The terminal report: a summary line, one line per check, each check's
//! evidence blocks, the findings in the order to act on them with every
//! step (a listing's own delisting steps and page), and the DNS
//! statistics. Read from the typed model, like every format.

use std::fmt::Write;

use crate::findings::Severity;
use crate::report::TextOptions;
use crate::report::checklist;
use crate::report::model::{Block, Report, ResolvedFinding, TreeItem, Verdict};
use crate::report::terminal;

/// `text` in the SGR colour `code` when colours are on.
fn paint(opts: &TextOptions, code: &str, text: &str) -> String {
    if opts.colour {
        format!("\u{1b}[{code}m{text}\u{1b}[0m")
    } else {
        text.to_string()
    }
}

fn verdict_colour(v: Verdict) -> &'static str {
    match v {
        Verdict::Listed | Verdict::FixBeforeSending => "1;31",
        Verdict::CouldNotCheck => "1;33",
        Verdict::ReadyToSend => "1;32",
    }
}

fn severity_colour(s: Severity) -> &'static str {
    match s {
        Severity::Error => "31",
        Severity::Warning => "33",
        Severity::Info => "36",
    }
}

fn status_colour(word: &str) -> &'static str {
    match word {
        "fail" | "not met" => "31",
        "warn" | "unknown" | "not checked" => "33",
        "pass" | "met" => "32",
        _ => "0",
    }
}

/// The terminal report, plain, every step shown.
pub fn render(report: &Report) -> String {
    render_with(report, &TextOptions::default())
}

/// The text report (the terminal's).
#[derive(Debug)]
pub struct Text;

impl super::Format for Text {
    fn name(&self) -> &'static str {
        "text"
    }
    fn extensions(&self) -> &'static [&'static str] {
        &["txt", "text"]
    }
    fn media_type(&self) -> &'static str {
        "text/plain; charset=utf-8"
    }
    fn render(&self, report: &Report, opts: &TextOptions) -> String {
        render_with(report, opts)
    }
    fn batch(&self) -> Option<super::BatchFormat> {
        Some(super::BatchFormat::Text)
    }
}

pub fn render_with(report: &Report, opts: &TextOptions) -> String {
    let mut out = String::new();
    let verdict = report.verdict();
    let _ = writeln!(
        out,
        "mailaudit {} {}: {}, score {}/10 ({})",
        env!("CARGO_PKG_VERSION"),
        terminal::safe(&super::title(report)),
        paint(
            opts,
            verdict_colour(verdict),
            &verdict.label().to_uppercase()
        ),
        report.score(),
        report.counts_line(),
    );
    if let Some(line) = super::sending_ips_line(report) {
        let _ = writeln!(out, "Sending IPs: {}", terminal::safe(&line));
    }
    out.push_str("\nPrevention checklist:\n");
    for item in checklist::checklist(report) {
        let word = item.status.as_str();
        let _ = writeln!(
            out,
            "  {} {}: {}",
            paint(
                opts,
                status_colour(word),
                &format!("{:<12}", word.to_uppercase())
            ),
            item.title,
            terminal::safe(&item.detail)
        );
    }
    if !report.requirements.is_empty() {
        out.push_str("\nMailbox-provider requirements (who must: Gmail / Yahoo / Outlook.com):\n");
        for r in &report.requirements {
            let word = r.status.as_str();
            let because = r.because();
            let _ = writeln!(
                out,
                "  {} {} ({} / {} / {}){}",
                paint(
                    opts,
                    status_colour(word),
                    &format!("{:<12}", word.to_uppercase())
                ),
                r.rule,
                r.gmail,
                r.yahoo,
                r.outlook,
                if because.is_empty() {
                    String::new()
                } else {
                    format!(": {because}")
                }
            );
        }
    }
    out.push('\n');

    for c in &report.checks {
        let line = c.line();
        let word = c.status.as_str();
        let _ = writeln!(
            out,
            "{:<8} {} {}",
            c.id.to_uppercase(),
            paint(opts, status_colour(word), &format!("{word:<8}")),
            terminal::safe(&line)
        );
    }
    if let Some(changes) = &report.changes {
        let _ = writeln!(
            out,
            "\nSince the last report ({}):",
            terminal::safe(&changes.since)
        );
        let groups = changes.groups();
        if groups.is_empty() {
            out.push_str("  nothing changed\n");
        }
        for (heading, lines) in groups {
            let _ = writeln!(out, "  {heading}:");
            for line in lines {
                let _ = writeln!(out, "    - {}", terminal::safe(&line));
            }
        }
    }

    if !report.findings.is_empty() {
        out.push_str("\nWhat to do first:\n");
        for (n, f) in report.by_priority().into_iter().enumerate() {
            write_finding(&mut out, n + 1, f, opts);
        }
    }
    if !opts.brief {
        for s in report.sections() {
            let word = s.check.status.as_str();
            let _ = writeln!(
                out,
                "\n== {} {}",
                s.check.title,
                paint(opts, status_colour(word), &word.to_uppercase())
            );
            if !s.findings.is_empty() {
                let refs: Vec<String> = s
                    .findings
                    .iter()
                    .map(|(n, f)| format!("{n}. {}", f.finding.id))
                    .collect();
                let _ = writeln!(out, "Findings (above): {}", refs.join(", "));
            }
            for block in &s.blocks {
                out.push('\n');
                write_block(&mut out, block);
            }
            if !s.passed.is_empty() {
                out.push_str("\nPassed:\n");
                for p in &s.passed {
                    let _ = writeln!(
                        out,
                        "  {} {}",
                        paint(opts, status_colour("pass"), "+"),
                        terminal::safe(p)
                    );
                }
            }
        }
    }

    let stats = &report.stats;
    let by: Vec<String> = stats
        .by_outcome
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    let _ = writeln!(
        out,
        "\nDNS: {} queries, {} answered from cache ({}); {} ms",
        stats.queries,
        stats.cache_hits,
        by.join(", "),
        report.duration.as_millis()
    );
    let made = &report.made;
    let _ = writeln!(
        out,
        "\nHow this report was made: mailaudit {}, {}, {}.",
        env!("CARGO_PKG_VERSION"),
        super::generated_at(report),
        terminal::safe(&made.source_line())
    );
    if let Some(catalogue) = made.catalogue_line() {
        let _ = writeln!(out, "Blocklist catalogue: {}.", terminal::safe(&catalogue));
    }
    if !made.command.is_empty() {
        let _ = writeln!(out, "Command: {}", terminal::safe(&made.command_line()));
    }
    out
}

/// One finding: severity, ID, subject's summary, then every step of its
/// advice; for a listing, its own delisting steps (the list's page, the
/// date the address came into service).
fn write_finding(out: &mut String, n: usize, f: &ResolvedFinding, opts: &TextOptions) {
    let _ = writeln!(
        out,
        "{n:>3}. {} {}: {}",
        paint(
            opts,
            severity_colour(f.severity),
            &format!("{:<7}", f.severity.as_str().to_uppercase())
        ),
        f.finding.id,
        terminal::safe(&f.finding.summary)
    );
    let steps = f.steps();
    let shown = if opts.brief {
        &steps[..steps.len().min(1)]
    } else {
        &steps[..]
    };
    for step in shown {
        let _ = writeln!(out, "       - {}", terminal::safe(step));
    }
}

fn write_block(out: &mut String, block: &Block) {
    match block {
        Block::Lines { title, items } => {
            let _ = writeln!(out, "{}:", terminal::safe(title));
            for i in items {
                let _ = writeln!(out, "  {}", terminal::safe(i));
            }
        }
        Block::Table { title, head, rows } => {
            let _ = writeln!(out, "{}:", terminal::safe(title));
            let head: Vec<String> = head
                .iter()
                .map(|c| terminal::safe(c).into_owned())
                .collect();
            let rows: Vec<Vec<String>> = rows
                .iter()
                .map(|r| r.iter().map(|c| terminal::safe(c).into_owned()).collect())
                .collect();
            let (head, rows) = (&head, &rows);
            let widths: Vec<usize> = (0..head.len())
                .map(|i| {
                    rows.iter()
                        .map(|r| r.get(i).map_or(0, |c| c.chars().count()))
                        .chain([head[i].chars().count()])
                        .max()
                        .unwrap_or(0)
                        .min(60)
                })
                .collect();
            for row in std::iter::once(head).chain(rows) {
                let cells: Vec<String> = row
                    .iter()
                    .enumerate()
                    .map(|(i, c)| {
                        if i + 1 == row.len() {
                            c.clone()
                        } else {
                            format!("{c:<w$}", w = widths[i])
                        }
                    })
                    .collect();
                let _ = writeln!(out, "  {}", cells.join("  ").trim_end());
            }
        }
        Block::Tree { title, root } => {
            let _ = writeln!(out, "{}:", terminal::safe(title));
            write_tree(out, root, 1);
        }
    }
}

fn write_tree(out: &mut String, item: &TreeItem, depth: usize) {
    let _ = writeln!(out, "{}{}", "  ".repeat(depth), terminal::safe(&item.text));
    for c in &item.children {
        write_tree(out, c, depth + 1);
    }
}

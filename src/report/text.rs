//! The terminal report: a summary line, one line per check, each check's
//! evidence blocks, the findings in the order to act on them with every
//! step (a listing's own delisting steps and page), and the DNS
//! statistics. Read from the typed model, like every format.

use std::fmt::Write;

use crate::findings::Severity;
use crate::report::checklist;
use crate::report::clean::clean;
use crate::report::model::{Block, Report, ResolvedFinding, TreeItem};

pub fn render(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "mailaudit {} {}: {}, score {}/10 ({}; {} error(s), {} warning(s), {} info; {} check(s) unknown)",
        env!("CARGO_PKG_VERSION"),
        clean(&super::title(report)),
        report.verdict().label().to_uppercase(),
        report.score(),
        report.status().as_str(),
        report.count(Severity::Error),
        report.count(Severity::Warning),
        report.count(Severity::Info),
        report.unknown_checks(),
    );
    if let Some(line) = super::sending_ips_line(report) {
        let _ = writeln!(out, "Sending IPs: {}", clean(&line));
    }
    out.push_str("\nPrevention checklist:\n");
    for item in checklist::checklist(report) {
        let _ = writeln!(
            out,
            "  {:<12} {}: {}",
            item.status.as_str().to_uppercase(),
            item.title,
            clean(&item.detail)
        );
    }
    out.push('\n');

    for c in &report.checks {
        let line = match (&c.detail, &c.reason) {
            (_, Some(reason)) => reason.clone(),
            (Some(d), None) => d.headline(),
            (None, None) => String::new(),
        };
        let _ = writeln!(
            out,
            "{:<8} {:<8} {}",
            c.id.to_uppercase(),
            c.status.as_str(),
            clean(&line)
        );
    }
    if let Some(changes) = &report.changes {
        let _ = writeln!(out, "\nSince the last report ({}):", clean(&changes.since));
        let groups = changes.groups();
        if groups.is_empty() {
            out.push_str("  nothing changed\n");
        }
        for (heading, lines) in groups {
            let _ = writeln!(out, "  {heading}:");
            for line in lines {
                let _ = writeln!(out, "    - {}", clean(&line));
            }
        }
    }

    if !report.findings.is_empty() {
        out.push_str("\nWhat to do first:\n");
        for (n, f) in report.by_priority().into_iter().enumerate() {
            write_finding(&mut out, n + 1, f);
        }
    }
    for c in &report.checks {
        for block in c.detail.iter().flat_map(|d| d.blocks()) {
            out.push('\n');
            write_block(&mut out, &block);
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
        clean(&made.source_line())
    );
    if let Some(catalogue) = made.catalogue_line() {
        let _ = writeln!(out, "Blocklist catalogue: {}.", clean(&catalogue));
    }
    if !made.command.is_empty() {
        let _ = writeln!(out, "Command: {}", clean(&made.command_line()));
    }
    out
}

/// One finding: severity, ID, subject's summary, then every step of its
/// advice; for a listing, its own delisting steps (the list's page, the
/// date the address came into service).
fn write_finding(out: &mut String, n: usize, f: &ResolvedFinding) {
    let _ = writeln!(
        out,
        "{n:>3}. {:<7} {}: {}",
        f.severity.as_str().to_uppercase(),
        f.finding.id,
        clean(&f.finding.summary)
    );
    for step in f.steps() {
        let _ = writeln!(out, "       - {}", clean(step));
    }
}

fn write_block(out: &mut String, block: &Block) {
    match block {
        Block::Lines { title, items } => {
            let _ = writeln!(out, "{}:", clean(title));
            for i in items {
                let _ = writeln!(out, "  {}", clean(i));
            }
        }
        Block::Table { title, head, rows } => {
            let _ = writeln!(out, "{}:", clean(title));
            let head: Vec<String> = head.iter().map(|c| clean(c).into_owned()).collect();
            let rows: Vec<Vec<String>> = rows
                .iter()
                .map(|r| r.iter().map(|c| clean(c).into_owned()).collect())
                .collect();
            let (head, rows) = (&head, &rows);
            let widths: Vec<usize> = (0..head.len())
                .map(|i| {
                    rows.iter()
                        .map(|r| r.get(i).map_or(0, |c| c.chars().count()))
                        .chain([head[i].chars().count()])
                        .max()
                        .unwrap_or(0)
                        .min(40)
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
            let _ = writeln!(out, "{}:", clean(title));
            write_tree(out, root, 1);
        }
    }
}

fn write_tree(out: &mut String, item: &TreeItem, depth: usize) {
    let _ = writeln!(out, "{}{}", "  ".repeat(depth), clean(&item.text));
    for c in &item.children {
        write_tree(out, c, depth + 1);
    }
}

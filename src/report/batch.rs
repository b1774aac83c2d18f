//! Reports of a batch (many domains, or many blocklist targets), written
//! as the reports arrive: JSON Lines (one full JSON report a line), CSV (a
//! row a domain), a text summary (a line a domain, then totals), and one
//! HTML overview page (a row a domain, expanding into its findings).
//!
//! Only the JSON line keeps a whole report; the other formats keep a
//! [`Row`] per domain (the HTML page needs them all at the end; CSV and
//! text write each at once).

use std::io::{self, Write};

use minijinja::{Environment, Value as Jinja};
use serde::Serialize;

use crate::findings::Severity;
use crate::report::BatchFormat;
use crate::report::json;
use crate::report::model::{Report, RunKind, Verdict};
use crate::report::terminal;

const TEMPLATE: &str = include_str!("../../templates/batch.html.j2");

/// CSV: a row a report (with its header); a single run is a batch of one.
#[derive(Debug)]
pub struct Csv;

/// JSON Lines: one compact JSON report a line.
#[derive(Debug)]
pub struct JsonLines;

/// A single report as a batch of one in `format`.
fn one_row(report: &Report, format: BatchFormat) -> String {
    let checks = report.checks.iter().map(|c| c.id).collect();
    let mut w = BatchWriter::new(format, checks, Vec::new()).expect("writing to memory");
    w.report(report).expect("writing to memory");
    String::from_utf8(w.finish().expect("writing to memory")).expect("UTF-8")
}

impl super::Format for Csv {
    fn name(&self) -> &'static str {
        "csv"
    }
    fn extensions(&self) -> &'static [&'static str] {
        &["csv"]
    }
    fn media_type(&self) -> &'static str {
        "text/csv; charset=utf-8"
    }
    fn render(&self, report: &Report, _opts: &super::TextOptions) -> String {
        one_row(report, BatchFormat::Csv)
    }
    fn batch(&self) -> Option<BatchFormat> {
        Some(BatchFormat::Csv)
    }
    fn one_of_a_batch(&self) -> bool {
        true
    }
}

impl super::Format for JsonLines {
    fn name(&self) -> &'static str {
        "jsonl"
    }
    fn extensions(&self) -> &'static [&'static str] {
        &["jsonl", "ndjson"]
    }
    fn media_type(&self) -> &'static str {
        "application/x-ndjson"
    }
    fn render(&self, report: &Report, _opts: &super::TextOptions) -> String {
        one_row(report, BatchFormat::JsonLines)
    }
    fn batch(&self) -> Option<BatchFormat> {
        Some(BatchFormat::JsonLines)
    }
    fn one_of_a_batch(&self) -> bool {
        true
    }
}

/// What the summary formats show of one report.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// The domain, or the blocklist targets, as the report names them.
    pub target: String,
    pub verdict: Verdict,
    pub verdict_label: &'static str,
    pub score: u8,
    pub errors: usize,
    pub warnings: usize,
    pub infos: usize,
    pub unknown: usize,
    /// (check ID, status) for every check of the run.
    pub checks: Vec<(&'static str, &'static str)>,
    /// The findings in the order to act on them: (severity, ID, summary).
    pub findings: Vec<(Severity, &'static str, String)>,
}

impl Row {
    pub fn of(report: &Report) -> Row {
        let t = &report.target;
        Row {
            target: match report.kind {
                RunKind::Audit => t.domain.clone().unwrap_or_default(),
                RunKind::Blocklist | RunKind::Smtp => t.subjects.join(" "),
                RunKind::Message => t.messages.join(" "),
                RunKind::Recipients => t.recipients.clone().unwrap_or_default(),
            },
            verdict: report.verdict(),
            verdict_label: report.verdict().label(),
            score: report.score(),
            errors: report.count(Severity::Error),
            warnings: report.count(Severity::Warning),
            infos: report.count(Severity::Info),
            unknown: report.unknown_checks(),
            checks: report
                .checks
                .iter()
                .map(|c| (c.id, c.status.as_str()))
                .collect(),
            findings: report
                .by_priority()
                .into_iter()
                .map(|f| (f.severity, f.finding.id, f.finding.summary.clone()))
                .collect(),
        }
    }

    /// The finding to act on first: "id: summary".
    pub fn top(&self) -> String {
        self.findings
            .first()
            .map(|(_, id, summary)| format!("{id}: {summary}"))
            .unwrap_or_default()
    }
}

/// The order of verdicts from worst to best, for sorting.
fn rank(v: Verdict) -> u8 {
    match v {
        Verdict::Listed => 0,
        Verdict::FixBeforeSending => 1,
        Verdict::CouldNotCheck => 2,
        Verdict::ReadyToSend => 3,
    }
}

/// The CSV columns, with a column per check in `checks`.
pub fn csv_header(checks: &[&str]) -> Vec<String> {
    let mut head: Vec<String> = [
        "target", "verdict", "score", "errors", "warnings", "infos", "unknown",
    ]
    .map(String::from)
    .into();
    head.extend(checks.iter().map(|c| c.to_string()));
    head.push("top_finding".into());
    head
}

/// Writes a batch as its reports arrive; [`BatchWriter::finish`] writes
/// what only the end knows (text totals, the HTML page).
pub struct BatchWriter<W: Write> {
    format: BatchFormat,
    /// The check columns of the CSV (the checks of this kind of run).
    columns: Vec<&'static str>,
    out: Out<W>,
    rows: Vec<Row>,
    /// Verdict counts, for the totals.
    totals: [usize; 4],
    /// Lines of the input that were not used.
    skipped: Vec<String>,
}

impl<W: Write> BatchWriter<W> {
    /// Starts the batch: the CSV header (a column per check of `checks`:
    /// those of the run's kind, in registry order), the text table's head.
    pub fn new(
        format: BatchFormat,
        checks: Vec<&'static str>,
        mut out: W,
    ) -> io::Result<BatchWriter<W>> {
        let out = match format {
            BatchFormat::Csv => {
                let mut w = csv::Writer::from_writer(out);
                w.write_record(csv_header(&checks))?;
                w.flush()?;
                Out::Csv(Box::new(w))
            }
            BatchFormat::Text => {
                writeln!(
                    out,
                    "{:<32} {:<27} {:>5}  {:<11}  first thing to do",
                    "target", "verdict", "score", "E/W/I/U"
                )?;
                Out::Plain(out)
            }
            BatchFormat::JsonLines | BatchFormat::Html => Out::Plain(out),
        };
        Ok(BatchWriter {
            format,
            columns: checks,
            out,
            rows: Vec::new(),
            totals: [0; 4],
            skipped: Vec::new(),
        })
    }

    /// Notes an input line that was skipped (said in the text totals and
    /// the HTML page; the caller says it on standard error too).
    pub fn skipped(&mut self, line: String) {
        self.skipped.push(line);
    }

    /// Writes one report (in input order).
    pub fn report(&mut self, report: &Report) -> io::Result<()> {
        let row = Row::of(report);
        self.totals[usize::from(rank(row.verdict))] += 1;
        match (&mut self.out, self.format) {
            (Out::Csv(w), _) => csv_row(w, &self.columns, &row)?,
            (Out::Plain(out), BatchFormat::JsonLines) => {
                serde_json::to_writer(&mut *out, &json::to_value(report))?;
                out.write_all(b"\n")?;
                out.flush()?;
            }
            (Out::Plain(out), BatchFormat::Text) => {
                let counts = format!(
                    "{}/{}/{}/{}",
                    row.errors, row.warnings, row.infos, row.unknown
                );
                writeln!(
                    out,
                    "{:<32} {:<27} {:>2}/10  {:<11}  {}",
                    terminal::safe(&row.target),
                    row.verdict_label,
                    row.score,
                    counts,
                    terminal::safe(&row.top())
                )?;
                out.flush()?;
            }
            (Out::Plain(_), _) => self.rows.push(row),
        }
        Ok(())
    }

    /// Ends the batch; gives the output back.
    pub fn finish(self) -> io::Result<W> {
        let mut out = match self.out {
            Out::Csv(w) => (*w).into_inner().map_err(|e| e.into_error())?,
            Out::Plain(out) => out,
        };
        match self.format {
            BatchFormat::JsonLines | BatchFormat::Csv => {}
            BatchFormat::Text => {
                let t = self.totals;
                let total: usize = t.iter().sum();
                writeln!(
                    out,
                    "\n{total} audited: {} listed on blocklists, {} fix before sending, {} could not check everything, {} ready to send",
                    t[0], t[1], t[2], t[3]
                )?;
                for s in &self.skipped {
                    writeln!(out, "skipped: {}", terminal::safe(s))?;
                }
            }
            BatchFormat::Html => {
                let page = overview(&self.rows, &self.skipped, self.totals);
                out.write_all(page.as_bytes())?;
            }
        }
        out.flush()?;
        Ok(out)
    }

    /// Verdict counts so far: listed, fix before sending, could not check,
    /// ready to send.
    pub fn totals(&self) -> [usize; 4] {
        self.totals
    }
}

/// The output, or the CSV writer over it.
enum Out<W: Write> {
    Plain(W),
    Csv(Box<csv::Writer<W>>),
}

fn csv_row<W: Write>(w: &mut csv::Writer<W>, columns: &[&str], row: &Row) -> io::Result<()> {
    let mut record: Vec<String> = vec![
        row.target.clone(),
        serde_plain(row.verdict),
        row.score.to_string(),
        row.errors.to_string(),
        row.warnings.to_string(),
        row.infos.to_string(),
        row.unknown.to_string(),
    ];
    for id in columns {
        record.push(
            row.checks
                .iter()
                .find(|(c, _)| c == id)
                .map_or("", |(_, s)| s)
                .to_string(),
        );
    }
    record.push(row.top());
    w.write_record(
        record
            .iter()
            .map(|c| crate::output::spreadsheet_cell(c).into_owned()),
    )?;
    // Each row reaches the reader as soon as it is known.
    w.flush()?;
    Ok(())
}

fn serde_plain(v: Verdict) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default()
}

/// The HTML overview: a row a target, in input order and by verdict (two
/// tables, switched by link and CSS `:target`, no script), each row
/// expanding into that target's findings.
pub fn overview(rows: &[Row], skipped: &[String], totals: [usize; 4]) -> String {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
    env.set_formatter(|out, state, value| match value.as_str() {
        Some(s) if !value.is_safe() => {
            minijinja::escape_formatter(out, state, &Jinja::from(terminal::safe(s).as_ref()))
        }
        _ => minijinja::escape_formatter(out, state, value),
    });
    env.add_template("batch.html.j2", TEMPLATE)
        .expect("the batch template parses (tested)");
    let mut by_verdict: Vec<usize> = (0..rows.len()).collect();
    by_verdict.sort_by_key(|&i| (rank(rows[i].verdict), rows[i].score));
    env.get_template("batch.html.j2")
        .and_then(|t| {
            t.render(minijinja::context! {
                rows => Jinja::from(minijinja::value::Serde(rows)),
                by_verdict => by_verdict,
                skipped => skipped.to_vec(),
                totals => totals,
                generated_at => time::OffsetDateTime::now_utc()
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default(),
                version => env!("CARGO_PKG_VERSION"),
            })
        })
        .expect("the batch template renders any rows (tested)")
}

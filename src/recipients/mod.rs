//! The recipient-list check: what a list shows of how its addresses were
//! gathered. Each row's address is checked for syntax, its domain for a
//! mail exchanger (resolved once per domain, however many rows share it),
//! a likely typo, a disposable-address service and domain blocklists; its
//! local part for a role account; the row for a duplicate of an earlier
//! one. No recipient's server is ever contacted (`RCPT` probing is what
//! list harvesters do, and gets the prober listed).
//!
//! The list streams through in bounded memory: read whole once when it is
//! opened ([`ListFile::open`], so a broken file is refused up front), then
//! a pass collects the distinct domains, which are then resolved, and a
//! last one classifies each row, counts, and writes the flagged rows and
//! the clean list as it goes. What stays in memory is a hash per distinct address
//! (for duplicates) and a verdict per distinct domain.

pub mod address;
pub mod read;

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::sync::Arc;

use futures::StreamExt;
use hickory_proto::rr::RecordType;
use serde::Serialize;

use crate::blocklist::{BlocklistEngine, ListLookup, Progress, ResultStatus, Subject, Subjects};
use crate::dns::{Dns, Outcome};
use crate::findings as ids;
use crate::output::{Destination, Sink};
use crate::rules::recipients::RecipientRules;

pub use read::ListFile;

/// How the flagged rows are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowFormat {
    Csv,
    JsonLines,
}

/// What a recipients run is given.
#[derive(Clone)]
pub struct RecipientsInput {
    pub list: ListFile,
    /// `--flagged FILE`: every row with a reason, and the reasons.
    pub flagged: Option<(Destination, RowFormat)>,
    /// `--clean FILE`: the list without undeliverable and duplicate rows.
    pub clean: Option<Destination>,
    /// Told how far domain resolution is.
    pub progress: Option<Arc<dyn Progress>>,
}

impl std::fmt::Debug for RecipientsInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecipientsInput")
            .field("list", &self.list)
            .field("flagged", &self.flagged)
            .field("clean", &self.clean)
            .finish()
    }
}

/// The reasons a row is flagged, in report order, with their finding IDs.
pub const REASONS: &[&str] = &[
    ids::RECIPIENTS_INVALID_SYNTAX,
    ids::RECIPIENTS_DOMAIN_NXDOMAIN,
    ids::RECIPIENTS_NO_MAIL_EXCHANGER,
    ids::RECIPIENTS_NULL_MX,
    ids::RECIPIENTS_DNS_ERROR,
    ids::RECIPIENTS_TYPO_DOMAIN,
    ids::RECIPIENTS_DISPOSABLE,
    ids::RECIPIENTS_ROLE_ACCOUNT,
    ids::RECIPIENTS_LISTED_DOMAIN,
    ids::RECIPIENTS_DUPLICATE,
];

/// Reasons that make a row undeliverable (left out of the clean list,
/// with duplicates).
fn undeliverable(id: &str) -> bool {
    [
        ids::RECIPIENTS_INVALID_SYNTAX,
        ids::RECIPIENTS_DOMAIN_NXDOMAIN,
        ids::RECIPIENTS_NO_MAIL_EXCHANGER,
        ids::RECIPIENTS_NULL_MX,
        ids::RECIPIENTS_DUPLICATE,
    ]
    .contains(&id)
}

/// What the DNS says about a recipient domain.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Mail {
    /// MX hosts, or (no MX) an address to fall back to.
    Accepts,
    NxDomain,
    /// No MX and no A/AAAA (RFC 5321 §5.1).
    NoExchanger,
    /// `MX 0 .` (RFC 7505): it accepts no mail.
    NullMx,
    /// A lookup failed: not known.
    Unknown(String),
}

#[derive(Debug, Clone)]
struct Domain {
    mail: Mail,
    typo: Option<String>,
    disposable: bool,
    /// The domain blocklists it is on.
    listed: Vec<String>,
    /// Why a blocklist result for it is unknown (a lookup failed, or the
    /// list is not believed): its rows are then not fully checked.
    listing_unknown: Option<String>,
}

/// An example row for a reason (also a finding's evidence).
#[derive(Debug, Clone, Serialize)]
pub struct Example {
    pub row: u64,
    pub address: String,
    pub detail: String,
}

/// Rows per reason, and the first few.
#[derive(Debug, Clone)]
pub struct ReasonCount {
    pub id: &'static str,
    pub rows: u64,
    /// Percent of the list's rows.
    pub share: f64,
    pub examples: Vec<Example>,
}

/// What the check found over the whole list.
#[derive(Debug, Clone)]
pub struct Summary {
    pub file: String,
    /// The address column: its header, or its number.
    pub column: String,
    pub rows: u64,
    pub domains: u64,
    pub reasons: Vec<ReasonCount>,
    /// Rows with at least one reason.
    pub flagged_rows: u64,
    /// Rows a clean list keeps.
    pub deliverable_rows: u64,
    /// Domains whose blocklist results are unknown (a list failed).
    pub domains_listing_unknown: u64,
    /// The domain blocklists asked.
    pub lists: Vec<String>,
    pub flagged_file: Option<String>,
    pub clean_file: Option<String>,
}

/// Examples kept per reason.
const EXAMPLES: usize = 5;

/// Runs the check over `input`.
pub async fn check(
    dns: &Dns,
    rules: &RecipientRules,
    blocklist: Option<&BlocklistEngine>,
    input: &RecipientsInput,
) -> Result<Summary, String> {
    let list = &input.list;
    // Pass 1: the distinct domains.
    let mut index: HashMap<String, u32> = HashMap::new();
    let mut names: Vec<String> = Vec::new();
    for row in list.rows()? {
        let row = row.map_err(|e| format!("{}: {e}", list.shown))?;
        if let Ok(a) = &row.address
            && let Ok(parsed) = address::parse(a)
            && let Some(d) = parsed.domain
            && !index.contains_key(&d)
        {
            index.insert(d.clone(), names.len() as u32);
            names.push(d);
        }
    }
    let domains = resolve(dns, rules, &names, input.progress.clone()).await;
    let (domains, lists, listing_unknown) = match blocklist {
        Some(b) => listed(dns, b, &names, domains).await,
        None => (domains, Vec::new(), 0),
    };

    // Pass 2: every row. The files go through the report's own safe
    // writer (a temporary file renamed over the target at the end).
    let row_writer = |dest: &Destination| -> Result<csv::Writer<Sink>, String> {
        Ok(csv::WriterBuilder::new()
            .delimiter(list.delimiter)
            .flexible(true)
            .from_writer(Sink::open(dest).map_err(|e| written(dest, e))?))
    };
    let mut flagged = match &input.flagged {
        Some((dest, RowFormat::Csv)) => {
            let mut w = csv::Writer::from_writer(Sink::open(dest).map_err(|e| written(dest, e))?);
            w.write_record(["row", "address", "reasons", "details"])
                .map_err(|e| written(dest, e))?;
            Some((dest, Flagged::Csv(Box::new(w))))
        }
        Some((dest, RowFormat::JsonLines)) => Some((
            dest,
            Flagged::JsonLines(Sink::open(dest).map_err(|e| written(dest, e))?),
        )),
        None => None,
    };
    let mut clean = match &input.clean {
        Some(dest) => {
            let mut w = row_writer(dest)?;
            if let Some(h) = list.header_record()? {
                w.write_byte_record(&h).map_err(|e| written(dest, e))?;
            }
            Some((dest, w))
        }
        None => None,
    };
    let mut counts: BTreeMap<&'static str, (u64, Vec<Example>)> = BTreeMap::new();
    let mut seen: HashMap<u64, u64> = HashMap::new();
    let (mut rows, mut flagged_rows, mut deliverable) = (0u64, 0u64, 0u64);
    for row in list.rows()? {
        let row = row.map_err(|e| format!("{}: {e}", list.shown))?;
        rows += 1;
        let shown = row.address.as_deref().unwrap_or("").trim().to_string();
        let reasons = classify(rules, &index, &domains, &mut seen, &row);
        for (id, detail) in &reasons {
            let e = counts.entry(id).or_default();
            e.0 += 1;
            if e.1.len() < EXAMPLES {
                e.1.push(Example {
                    row: row.number,
                    address: shown.clone(),
                    detail: detail.clone(),
                });
            }
        }
        if !reasons.is_empty() {
            flagged_rows += 1;
            if let Some((dest, out)) = &mut flagged {
                out.write(row.number, &shown, &reasons)
                    .map_err(|e| written(dest, e))?;
            }
        }
        if !reasons.iter().any(|(id, _)| undeliverable(id)) {
            deliverable += 1;
            if let Some((dest, w)) = &mut clean {
                w.write_byte_record(&row.record)
                    .map_err(|e| written(dest, e))?;
            }
        }
    }
    let flagged_file = match flagged {
        Some((dest, out)) => Some(commit(dest, out.into_sink())?),
        None => None,
    };
    let clean_file = match clean {
        Some((dest, w)) => Some(commit(dest, w.into_inner().map_err(|e| e.into_error()))?),
        None => None,
    };
    let share = |n: u64| {
        if rows == 0 {
            0.0
        } else {
            (n as f64 * 10_000.0 / rows as f64).round() / 100.0
        }
    };
    Ok(Summary {
        file: list.shown.clone(),
        column: list
            .column_name
            .clone()
            .unwrap_or_else(|| format!("column {}", list.column + 1)),
        rows,
        domains: names.len() as u64,
        reasons: REASONS
            .iter()
            .filter_map(|id| {
                let (n, examples) = counts.remove(id)?;
                Some(ReasonCount {
                    id,
                    rows: n,
                    share: share(n),
                    examples,
                })
            })
            .collect(),
        flagged_rows,
        deliverable_rows: deliverable,
        domains_listing_unknown: listing_unknown,
        lists,
        flagged_file,
        clean_file,
    })
}

/// The reasons of one row, each with its detail.
fn classify(
    rules: &RecipientRules,
    index: &HashMap<String, u32>,
    domains: &[Domain],
    seen: &mut HashMap<u64, u64>,
    row: &read::Row,
) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    let raw = match &row.address {
        Ok(a) => a,
        Err(why) => return vec![(ids::RECIPIENTS_INVALID_SYNTAX, why.clone())],
    };
    let parsed = match address::parse(raw) {
        Ok(p) => p,
        Err(why) => return vec![(ids::RECIPIENTS_INVALID_SYNTAX, why)],
    };
    let normal = parsed.normalised(&rules.providers);
    let mut h = std::hash::DefaultHasher::new();
    normal.hash(&mut h);
    let first = *seen.entry(h.finish()).or_insert(row.number);
    if let Some(d) = parsed.domain.as_deref().and_then(|d| index.get(d)) {
        let name = parsed.domain.as_deref().unwrap_or("");
        let dom = &domains[*d as usize];
        match &dom.mail {
            Mail::Accepts => {}
            Mail::NxDomain => out.push((
                ids::RECIPIENTS_DOMAIN_NXDOMAIN,
                format!("{name} does not exist"),
            )),
            Mail::NoExchanger => out.push((
                ids::RECIPIENTS_NO_MAIL_EXCHANGER,
                format!("{name} has no MX and no address"),
            )),
            Mail::NullMx => out.push((
                ids::RECIPIENTS_NULL_MX,
                format!("{name} publishes a null MX: it accepts no mail"),
            )),
            Mail::Unknown(why) => out.push((ids::RECIPIENTS_DNS_ERROR, why.clone())),
        }
        if let (Some(why), Mail::Accepts) = (&dom.listing_unknown, &dom.mail) {
            out.push((
                ids::RECIPIENTS_DNS_ERROR,
                format!("whether {name} is on a domain blocklist is unknown: {why}"),
            ));
        }
        if let Some(s) = &dom.typo {
            out.push((ids::RECIPIENTS_TYPO_DOMAIN, format!("did you mean {s}?")));
        }
        if dom.disposable {
            out.push((
                ids::RECIPIENTS_DISPOSABLE,
                format!("{name} is a disposable-address service"),
            ));
        }
        if !dom.listed.is_empty() {
            out.push((
                ids::RECIPIENTS_LISTED_DOMAIN,
                format!("{name} is on {}", dom.listed.join(", ")),
            ));
        }
    }
    if rules.is_role(&parsed.role_key()) {
        out.push((
            ids::RECIPIENTS_ROLE_ACCOUNT,
            format!("{} is a role account", parsed.role_key()),
        ));
    }
    if first != row.number {
        out.push((
            ids::RECIPIENTS_DUPLICATE,
            format!("same mailbox as row {first}"),
        ));
    }
    out
}

/// Where the flagged rows go.
enum Flagged {
    /// Boxed: one per run, and far larger than a sink.
    Csv(Box<csv::Writer<Sink>>),
    JsonLines(Sink),
}

impl Flagged {
    fn write(
        &mut self,
        row: u64,
        address: &str,
        reasons: &[(&'static str, String)],
    ) -> std::io::Result<()> {
        let ids: Vec<&str> = reasons.iter().map(|(id, _)| *id).collect();
        let details: Vec<&str> = reasons.iter().map(|(_, d)| d.as_str()).collect();
        match self {
            Flagged::JsonLines(out) => {
                let v = serde_json::json!({
                    "row": row,
                    "address": address,
                    "reasons": ids,
                    "details": details,
                });
                serde_json::to_writer(&mut *out, &v)?;
                out.write_all(b"\n")
            }
            Flagged::Csv(w) => w
                .write_record(
                    [
                        row.to_string().as_str(),
                        address,
                        &ids.join(" "),
                        &details.join("; "),
                    ]
                    .map(|c| crate::output::spreadsheet_cell(c).into_owned()),
                )
                .map_err(std::io::Error::other),
        }
    }

    fn into_sink(self) -> std::io::Result<Sink> {
        match self {
            Flagged::JsonLines(out) => Ok(out),
            Flagged::Csv(w) => w.into_inner().map_err(|e| e.into_error()),
        }
    }
}

/// What a failed write of `dest` says.
fn written(dest: &Destination, e: impl std::fmt::Display) -> String {
    format!("{}: {e}", shown(dest))
}

fn shown(dest: &Destination) -> String {
    match dest {
        Destination::Stdout => "standard output".into(),
        Destination::File(p) | Destination::Device(p) => p.display().to_string(),
    }
}

/// Puts a written file in place; how the report names it.
fn commit(dest: &Destination, sink: std::io::Result<Sink>) -> Result<String, String> {
    sink.and_then(Sink::commit).map_err(|e| written(dest, e))?;
    Ok(shown(dest))
}

/// Resolves each domain once: MX, and A/AAAA when it has no MX.
async fn resolve(
    dns: &Dns,
    rules: &RecipientRules,
    names: &[String],
    progress: Option<Arc<dyn Progress>>,
) -> Vec<Domain> {
    if let Some(p) = &progress {
        p.start(names.len() as u64);
    }
    let width = dns.config().concurrency.max(1) * 2;
    let mut mail: Vec<(usize, Mail)> = futures::stream::iter(names.iter().cloned().enumerate())
        .map(|(i, name)| {
            let dns = dns.clone();
            let progress = progress.clone();
            async move {
                let mail = mail_of(&dns, &name).await;
                if let Some(p) = &progress {
                    p.advance();
                }
                (i, mail)
            }
        })
        .buffer_unordered(width)
        .collect()
        .await;
    if let Some(p) = &progress {
        p.finish();
    }
    mail.sort_by_key(|(i, _)| *i);
    mail.into_iter()
        .zip(names)
        .map(|((_, mail), name)| Domain {
            mail,
            typo: rules.typo_of(name).map(str::to_string),
            disposable: rules.is_disposable(name),
            listed: Vec::new(),
            listing_unknown: None,
        })
        .collect()
}

async fn mail_of(dns: &Dns, name: &str) -> Mail {
    let mx = dns.query_once(name, RecordType::MX).await;
    match &mx {
        Outcome::NxDomain => return Mail::NxDomain,
        Outcome::Records(_) => {
            let hosts = mx.mx().unwrap_or_default();
            // RFC 7505: a single MX with an empty exchange ("."): no mail.
            if hosts.len() == 1 && hosts[0].1.is_empty() {
                return Mail::NullMx;
            }
            if !hosts.is_empty() {
                return Mail::Accepts;
            }
        }
        Outcome::NoData => {}
        failed => return Mail::Unknown(format!("MX {name}: {failed}")),
    }
    // No MX: the domain's own address is its mail exchanger (§5.1).
    let (a, aaaa) = futures::join!(
        dns.query_once(name, RecordType::A),
        dns.query_once(name, RecordType::AAAA)
    );
    let mut failed = None;
    for (o, t) in [(&a, "A"), (&aaaa, "AAAA")] {
        match o {
            Outcome::Records(_) => return Mail::Accepts,
            Outcome::NoData | Outcome::NxDomain => {}
            other => failed = Some(format!("{t} {name}: {other}")),
        }
    }
    match failed {
        Some(why) => Mail::Unknown(why),
        None => Mail::NoExchanger,
    }
}

/// The domain blocklists each domain that accepts mail is on.
async fn listed(
    dns: &Dns,
    blocklist: &BlocklistEngine,
    names: &[String],
    mut domains: Vec<Domain>,
) -> (Vec<Domain>, Vec<String>, u64) {
    let mut subjects = Subjects::new();
    let mut which = Vec::new();
    for (i, d) in domains.iter().enumerate() {
        if d.mail == Mail::Accepts {
            subjects.push(Subject::Domain(names[i].clone()));
            which.push(i);
        }
    }
    if subjects.is_empty() {
        return (domains, Vec::new(), 0);
    }
    let concurrency = dns.config().concurrency;
    let (report, _) = blocklist
        .check(
            dns,
            &ListLookup::Uncached(dns.clone()),
            &subjects,
            concurrency,
            false,
        )
        .await;
    let lists: Vec<String> = report
        .lists
        .iter()
        .filter(|l| l.state == crate::blocklist::ListState::Checked)
        .filter(|l| l.counts != crate::blocklist::Counts::default())
        .map(|l| l.zone.clone())
        .collect();
    let position: HashMap<&str, usize> = which.iter().map(|i| (names[*i].as_str(), *i)).collect();
    let mut unknown = 0;
    for r in &report.results {
        let Some(i) = position.get(r.subject.as_str()) else {
            continue;
        };
        let d = &mut domains[*i];
        match r.status {
            ResultStatus::Listed => d.listed.push(r.zone.clone()),
            ResultStatus::Unknown if d.listing_unknown.is_none() => {
                unknown += 1;
                let why = r.reason.as_deref().unwrap_or("the lookup failed");
                d.listing_unknown = Some(format!("{}: {why}", r.zone));
            }
            _ => {}
        }
    }
    (domains, lists, unknown)
}

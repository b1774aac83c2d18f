//! Blocklists: the run's blocklist subjects (a fact: the sending IPs, the
//! MX hosts' addresses, the domain and the messages' link domains in an
//! audit; the given addresses, ranges and domains in `blacklist`) checked on
//! the configured lists ([`crate::blocklist`]).

use std::net::Ipv4Addr;

use serde::Serialize;

use crate::blocklist::catalog::Tier;
use crate::blocklist::{BlocklistReport, Counts, ListLookup, ListState, ResultStatus};
use crate::checks::{Ran, check};
use crate::findings as ids;
use crate::report::model::{Block, Detail};

check! {
    Blocklist {
        id: "dnsbl",
        title: "Blocklists",
        description: "DNSBL/RHSBL listings of the sending IPs, MX addresses and domains, with list health and delisting details",
        reads: &[Fact::SendingIps, Fact::MxHosts, Fact::LinkDomains],
        kinds: &[RunKind::Audit, RunKind::Message, RunKind::Blocklist],
        rows: &[Row::Blocklist],
    }
    fn run(facts) {
        let Some(lists) = &facts.blocklist else {
            return Ran::skipped("no blocklist was configured");
        };
        let (subjects, failed) = facts.blocklist_subjects().await;
        // Ranges go straight to the server and keep only what matters.
        let ranges = facts.target.subjects.is_some() && subjects.has_ranges();
        if subjects.is_empty() && failed.is_empty() {
            return Ran::skipped("nothing to look up");
        }
        let lookup = if ranges {
            ListLookup::Uncached(facts.dns.clone())
        } else {
            ListLookup::Cached(facts.dns.clone())
        };
        let (report, mut findings) = lists
            .check(
                &facts.dns,
                &lookup,
                &subjects,
                facts.dns.config().concurrency,
                !ranges,
            )
            .await;
        if report.lists_checked == 0 && report.counts.unknown == 0 && failed.is_empty() {
            return Ran::Skipped {
                reason: "no list was asked (offline, or no list answers these subjects)".into(),
                detail: Some(Box::new(report)),
            };
        }
        // Lists were asked (even if none answered its health test:
        // that is when a public resolver is most likely why).
        findings.splice(0..0, lists.resolver_findings(&facts.dns));
        // Addresses that could not be found were not looked up.
        let subject = facts.domain();
        for f in &failed {
            findings.push(f.finding(ids::BLOCKLIST_DNS_ERROR, subject));
        }
        Ran::done(report, findings)
    }
}

impl Detail for BlocklistReport {
    fn wire(&self) -> serde_json::Value {
        serde_json::to_value(BlocklistV1::from(self)).expect("serialises")
    }

    fn headline(&self) -> String {
        let c = &self.counts;
        format!(
            "{} subject(s) on {} list(s); subject x list results: {} listed, {} unknown, {} clear, {} allowlisted, {} skipped",
            self.subjects_checked,
            self.lists_checked,
            c.listed,
            c.unknown,
            c.clear,
            c.allowlisted,
            c.skipped
        )
    }

    fn blocks(&self) -> Vec<Block> {
        const SHOWN: usize = 50;
        let mut out = Vec::new();
        let shown: Vec<_> = self
            .results
            .iter()
            .filter(|r| {
                matches!(
                    r.status,
                    ResultStatus::Listed | ResultStatus::Unknown | ResultStatus::Allowlisted
                )
            })
            // Results of lists not believed are summed up per list below.
            .filter(|r| {
                !r.reason
                    .as_deref()
                    .is_some_and(|x| x.starts_with("list unhealthy"))
            })
            .collect();
        if !shown.is_empty() {
            let mut rows: Vec<Vec<String>> = shown
                .iter()
                .take(SHOWN)
                .map(|r| {
                    let detail = match r.status {
                        ResultStatus::Listed => format!(
                            "{}{}",
                            r.meaning.as_deref().unwrap_or(""),
                            r.reason
                                .as_deref()
                                .map(|t| format!(" - \"{t}\""))
                                .unwrap_or_default()
                        ),
                        ResultStatus::Allowlisted => r.meaning.clone().unwrap_or_default(),
                        _ => r.reason.clone().unwrap_or_default(),
                    };
                    vec![
                        r.status.as_str().into(),
                        r.subject.clone(),
                        r.zone.clone(),
                        detail,
                    ]
                })
                .collect();
            if shown.len() > SHOWN {
                rows.push(vec![
                    String::new(),
                    format!("... and {} more (see the JSON report)", shown.len() - SHOWN),
                    String::new(),
                    String::new(),
                ]);
            }
            out.push(Block::Table {
                title: "Blocklist results".into(),
                head: vec![
                    "Result".into(),
                    "Subject".into(),
                    "List".into(),
                    "Details".into(),
                ],
                rows,
            });
        }
        // Every list: what it said about the subjects, or why it was
        // not believed or not asked.
        let rows: Vec<Vec<String>> = self
            .lists
            .iter()
            .map(|l| {
                let c = &l.counts;
                let result = match l.state {
                    ListState::Checked if c.listed > 0 => "listed",
                    ListState::Checked if c.unknown > 0 => "unknown",
                    ListState::Checked if c.clear > 0 => "clear",
                    ListState::Checked => "not asked",
                    ref other => other.as_str(),
                };
                vec![
                    format!("{} ({})", l.name, l.zone),
                    result.into(),
                    c.listed.to_string(),
                    c.clear.to_string(),
                    c.unknown.to_string(),
                    l.reason.clone().unwrap_or_default(),
                ]
            })
            .collect();
        if !rows.is_empty() {
            out.push(Block::Table {
                title: "Per list".into(),
                head: ["List", "Result", "Listed", "Clear", "Unknown", "Note"]
                    .map(String::from)
                    .into(),
                rows,
            });
        }
        out
    }

    fn passed(&self, _findings: &[&crate::findings::Finding]) -> Vec<String> {
        /// Subjects named one by one; the rest are counted.
        const NAMED: usize = 20;
        let c = &self.counts;
        let total = c.listed + c.clear + c.unknown + c.allowlisted + c.skipped;
        if (self.results.len() as u64) < total {
            // A range sweep keeps only what needs attention.
            return if c.clear > 0 {
                vec![format!(
                    "{} of {total} address x list results clear (a range: only the others are itemised)",
                    c.clear
                )]
            } else {
                Vec::new()
            };
        }
        // Per subject, in the report's order: (clear, asked, listed).
        let mut subjects: Vec<(&str, usize, usize, bool)> = Vec::new();
        for r in &self.results {
            let i = match subjects.iter().position(|s| s.0 == r.subject) {
                Some(i) => i,
                None => {
                    subjects.push((&r.subject, 0, 0, false));
                    subjects.len() - 1
                }
            };
            let s = &mut subjects[i];
            s.2 += 1;
            match r.status {
                ResultStatus::Clear => s.1 += 1,
                ResultStatus::Listed => s.3 = true,
                _ => {}
            }
        }
        let clear: Vec<_> = subjects.iter().filter(|s| !s.3 && s.1 > 0).collect();
        let mut out: Vec<String> = clear
            .iter()
            .take(NAMED)
            .map(|(subject, clear, asked, _)| {
                if clear == asked && *asked == 1 {
                    format!("{subject} is clear on the one list asked")
                } else if clear == asked {
                    format!("{subject} is clear on all {asked} lists asked")
                } else {
                    format!(
                        "{subject} is clear on {clear} of {asked} lists asked (the others could not be checked or were skipped)"
                    )
                }
            })
            .collect();
        if clear.len() > NAMED {
            out.push(format!(
                "... and {} more subjects clear",
                clear.len() - NAMED
            ));
        }
        out
    }
}

// ---- The JSON form, schema v1 (docs/json.md), apart from the blocklist
// engine's types so that a change to them cannot change the contract.

#[derive(Serialize)]
struct BlocklistV1<'a> {
    lists_checked: usize,
    subjects_checked: usize,
    results: Vec<ResultV1<'a>>,
    #[serde(skip_serializing_if = "is_zero")]
    omitted: u64,
    counts: CountsV1,
    lists: Vec<ListV1<'a>>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[derive(Serialize)]
struct ResultV1<'a> {
    subject: &'a str,
    zone: &'a str,
    status: &'static str,
    codes: &'a [Ipv4Addr],
    meaning: Option<&'a str>,
    reason: Option<&'a str>,
    delist_url: Option<&'a str>,
}

#[derive(Serialize)]
struct CountsV1 {
    listed: u64,
    clear: u64,
    unknown: u64,
    skipped: u64,
    allowlisted: u64,
}

#[derive(Serialize)]
struct ListV1<'a> {
    zone: &'a str,
    name: &'a str,
    tier: &'static str,
    state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
    counts: CountsV1,
}

impl From<&Counts> for CountsV1 {
    fn from(c: &Counts) -> Self {
        CountsV1 {
            listed: c.listed,
            clear: c.clear,
            unknown: c.unknown,
            skipped: c.skipped,
            allowlisted: c.allowlisted,
        }
    }
}

fn tier(t: Tier) -> &'static str {
    match t {
        Tier::Major => "major",
        Tier::Minor => "minor",
        Tier::Informational => "informational",
        Tier::Allowlist => "allowlist",
    }
}

impl<'a> From<&'a BlocklistReport> for BlocklistV1<'a> {
    fn from(r: &'a BlocklistReport) -> Self {
        BlocklistV1 {
            lists_checked: r.lists_checked,
            subjects_checked: r.subjects_checked,
            results: r
                .results
                .iter()
                .map(|x| ResultV1 {
                    subject: &x.subject,
                    zone: &x.zone,
                    status: x.status.as_str(),
                    codes: &x.codes,
                    meaning: x.meaning.as_deref(),
                    reason: x.reason.as_deref(),
                    delist_url: x.delist_url.as_deref(),
                })
                .collect(),
            omitted: r.omitted,
            counts: CountsV1::from(&r.counts),
            lists: r
                .lists
                .iter()
                .map(|l| ListV1 {
                    zone: &l.zone,
                    name: &l.name,
                    tier: tier(l.tier),
                    state: l.state.as_str(),
                    reason: l.reason.as_deref(),
                    counts: CountsV1::from(&l.counts),
                })
                .collect(),
        }
    }
}

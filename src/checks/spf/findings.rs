//! The SPF check's findings, read off the walked tree and the evaluations.

use std::collections::HashSet;

use crate::dns::Outcome;
use crate::facts::spf::{
    Evaluation, LOOKUP_LIMIT, MX_HOST_LIMIT, NodeProblem, SpfNode, SpfResult, TermData, TermNode,
    VOID_LIMIT, Via, WALK_CAP, WALK_QUESTIONS,
};
use crate::findings::{self as ids, Finding};
use crate::records::spf::Qualifier;

/// Findings read off the walked tree.
pub fn tree_findings(tree: &SpfNode, domain: &str) -> Vec<Finding> {
    let mut out = Collected::default();
    for node in tree.nodes() {
        if let Some(problem) = &node.problem {
            out.node_problem(node, problem, domain);
            continue;
        }
        for t in &node.terms {
            out.term_lookups(node, t);
            if is_ptr(&t.term) {
                out.push(
                    Finding::new(
                        ids::SPF_PTR_MECHANISM,
                        &node.domain,
                        format!("The SPF record of {} uses {}.", node.domain, t.term),
                    )
                    .with("term", &t.term)
                    .with("record", &node.record),
                );
            }
        }
        if let Some(parsed) = &node.parsed
            && parsed.all() == Some(Qualifier::Pass)
        {
            out.push(all_pass(node, domain));
        }
    }
    let mut out = out.findings;
    out.extend(ending_findings(tree, domain));
    out.extend(limit_findings(tree, domain));
    out
}

/// The findings so far, and the (name, type) whose failed lookup was
/// already said (a name asked from several places is said once).
#[derive(Default)]
struct Collected {
    findings: Vec<Finding>,
    said: HashSet<String>,
}

impl Collected {
    fn push(&mut self, finding: Finding) {
        self.findings.push(finding);
    }

    /// `spf.dns-error` for a failed lookup of `name`/`rtype`, once.
    fn failed(&mut self, name: &str, rtype: &str, outcome: &Outcome) {
        if !outcome.is_definitive() && self.said.insert(format!("{name}/{rtype}")) {
            self.findings.push(Finding::lookup_failed(
                ids::SPF_DNS_ERROR,
                name,
                name,
                rtype,
                outcome,
            ));
        }
    }

    /// What is wrong with a record that could not be evaluated.
    fn node_problem(&mut self, node: &SpfNode, problem: &NodeProblem, domain: &str) {
        let finding = match problem {
            NodeProblem::NoRecord(why) if node.via == Via::Root => Finding::new(
                ids::SPF_MISSING,
                domain,
                format!("{domain} publishes no SPF record."),
            )
            .with("lookup", why),
            NodeProblem::NoRecord(why) => Finding::new(
                ids::SPF_INCLUDE_NO_SPF,
                &node.domain,
                format!(
                    "{} target {} has no SPF record ({why}).",
                    via_term(node.via),
                    node.domain
                ),
            )
            .with("target", &node.domain)
            .with("via", node.via)
            .with("lookup", why),
            NodeProblem::Multiple(n) => Finding::new(
                ids::SPF_MULTIPLE_RECORDS,
                &node.domain,
                format!(
                    "{} publishes {n} SPF records; receivers return permerror.",
                    node.domain
                ),
            )
            .with("records", &node.record)
            .with("count", n),
            NodeProblem::Syntax { term, reason } => Finding::new(
                ids::SPF_SYNTAX,
                &node.domain,
                format!(
                    "The SPF record of {} is invalid: {}",
                    node.domain,
                    problem.describe()
                ),
            )
            .with("record", &node.record)
            .with("term", term)
            .with("reason", reason),
            NodeProblem::Dns(outcome) => {
                // The record's own TXT lookup.
                return self.failed(&node.domain, "TXT", outcome);
            }
            NodeProblem::Loop(chain) => Finding::new(
                ids::SPF_LOOP,
                &node.domain,
                format!("The SPF includes of {domain} loop: {}.", chain.join(" -> ")),
            )
            .with("chain", chain),
            NodeProblem::NotFollowed => return,
        };
        self.push(finding);
    }

    /// The failed lookups of one term (a, mx, exists and the MX hosts'
    /// addresses), and an mx over its host limit.
    fn term_lookups(&mut self, node: &SpfNode, t: &TermNode) {
        match &t.data {
            TermData::Addrs { a, aaaa } => {
                let name = term_target(&t.term, &node.domain);
                self.failed(&name, "A", a);
                self.failed(&name, "AAAA", aaaa);
            }
            TermData::Mx { mx, hosts } => {
                let name = term_target(&t.term, &node.domain);
                self.failed(&name, "MX", mx);
                if let Some(n) = t.mx_over_limit() {
                    let names: Vec<String> = mx
                        .mx()
                        .unwrap_or_default()
                        .into_iter()
                        .map(|(_, h)| h)
                        .collect();
                    self.push(
                        Finding::new(
                            ids::SPF_MX_TOO_MANY_HOSTS,
                            &node.domain,
                            format!(
                                "{} in the SPF record of {} resolves to {n} MX hosts (limit {MX_HOST_LIMIT}).",
                                t.term, node.domain
                            ),
                        )
                        .with("term", &t.term)
                        .with("hosts", names),
                    );
                }
                for (host, a, aaaa) in hosts {
                    self.failed(host, "A", a);
                    self.failed(host, "AAAA", aaaa);
                }
            }
            TermData::Exists(a) if !a.is_definitive() => {
                // Each exists: term is its own question (macros expand per
                // sender), so each is said.
                self.push(Finding::lookup_failed(
                    ids::SPF_DNS_ERROR,
                    &t.term,
                    &t.term,
                    "A",
                    a,
                ));
            }
            _ => {}
        }
    }
}

/// Whether a term is the ptr mechanism (any qualifier).
fn is_ptr(term: &str) -> bool {
    term.to_ascii_lowercase()
        .trim_start_matches(['+', '-', '~', '?'])
        .starts_with("ptr")
}

/// `spf.all-pass` for a record (the domain's own, or one it reaches) that
/// ends with +all.
fn all_pass(node: &SpfNode, domain: &str) -> Finding {
    Finding::new(
        ids::SPF_ALL_PASS,
        &node.domain,
        if node.via == Via::Root {
            format!("The SPF record of {domain} ends with +all: every server passes.")
        } else {
            format!(
                "{} (reached from {domain}) has +all: every server passes through it.",
                node.domain
            )
        },
    )
    .with("record", &node.record)
}

/// How the effective record ends: ?all, or no all and no redirect.
fn ending_findings(tree: &SpfNode, domain: &str) -> Vec<Finding> {
    let effective = tree.effective();
    let Some(parsed) = &effective.parsed else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if parsed.all() == Some(Qualifier::Neutral) {
        out.push(
            Finding::new(
                ids::SPF_ALL_NEUTRAL,
                domain,
                format!("The SPF record of {domain} ends with ?all."),
            )
            .with("record", &effective.record),
        );
    }
    if parsed.all().is_none() && parsed.redirect().is_none() {
        out.push(
            Finding::new(
                ids::SPF_NO_ALL,
                domain,
                format!("The SPF record of {domain} has no all and no redirect."),
            )
            .with("record", &effective.record),
        );
    }
    out
}

/// The RFC 7208 §4.6.4 limits: DNS lookups and void lookups.
fn limit_findings(tree: &SpfNode, domain: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    if tree.lookups > LOOKUP_LIMIT {
        out.push(
            Finding::new(
                ids::SPF_LOOKUP_LIMIT,
                domain,
                format!(
                    "SPF for {domain} needs {} DNS lookups; the limit is {LOOKUP_LIMIT}.",
                    tree.lookups
                ),
            )
            .with("lookups", tree.lookups)
            .with("limit", LOOKUP_LIMIT)
            .with("by_record", lookup_breakdown(tree)),
        );
    }
    if tree.void_lookups > VOID_LIMIT {
        let void_terms: Vec<String> = tree
            .nodes()
            .iter()
            .flat_map(|n| {
                n.terms
                    .iter()
                    .filter(|t| t.void)
                    .map(move |t| format!("{} (in {})", t.term, n.domain))
            })
            .collect();
        out.push(
            Finding::new(
                ids::SPF_VOID_LOOKUP_LIMIT,
                domain,
                format!(
                    "SPF for {domain} makes {} void lookups; the limit is {VOID_LIMIT}.",
                    tree.void_lookups
                ),
            )
            .with("void_lookups", tree.void_lookups)
            .with("terms", void_terms),
        );
    }
    out
}

fn lookup_breakdown(tree: &SpfNode) -> serde_json::Map<String, serde_json::Value> {
    tree.nodes()
        .iter()
        .map(|n| {
            let own: u32 = n.terms.iter().map(|t| t.cost).sum();
            (n.domain.clone(), serde_json::Value::from(own))
        })
        .collect()
}

fn via_term(via: Via) -> &'static str {
    match via {
        Via::Redirect => "redirect=",
        _ => "include:",
    }
}

/// The name a/mx term looks up, for evidence ("a:host.example.com/24" ->
/// "host.example.com", "mx" -> the record's domain).
fn term_target(term: &str, domain: &str) -> String {
    let body = term.trim_start_matches(['+', '-', '~', '?']);
    match body.split_once(':') {
        Some((_, rest)) => rest.split('/').next().unwrap_or(rest).to_string(),
        None => domain.to_string(),
    }
}

/// Tree findings that already explain a permerror for every IP.
const EXPLAINS_PERMERROR: &[&str] = &[
    ids::SPF_SYNTAX,
    ids::SPF_MULTIPLE_RECORDS,
    ids::SPF_LOOP,
    ids::SPF_LOOKUP_LIMIT,
    ids::SPF_VOID_LOOKUP_LIMIT,
    ids::SPF_INCLUDE_NO_SPF,
    ids::SPF_MX_TOO_MANY_HOSTS,
];

/// Findings about each sending IP's result: not authorised, or a
/// temperror or permerror that decides the check (an error the tree
/// findings do not already explain, such as a macro-dependent include).
pub fn evaluation_findings(
    tree: &SpfNode,
    domain: &str,
    evaluations: &[Evaluation],
    tree_findings: &[Finding],
) -> Vec<Finding> {
    let mut out = Vec::new();
    let explained = tree_findings
        .iter()
        .any(|f| EXPLAINS_PERMERROR.contains(&f.id));
    for e in evaluations {
        match e.result {
            SpfResult::Fail | SpfResult::Softfail | SpfResult::Neutral
                if tree.record.is_some() && tree.problem.is_none() =>
            {
                out.push(
                    Finding::new(
                        ids::SPF_IP_NOT_AUTHORIZED,
                        e.ip.to_string(),
                        format!(
                            "SPF of {domain} gives {} for {}, not pass.",
                            e.result.as_str(),
                            e.ip
                        ),
                    )
                    .with("ip", e.ip)
                    .with("result", e.result)
                    .with("matched", &e.matched),
                );
            }
            SpfResult::Temperror => out.push(
                Finding::new(
                    ids::SPF_DNS_ERROR,
                    e.ip.to_string(),
                    format!(
                        "check_host({}) for {domain} is temperror: {}.",
                        e.ip,
                        e.reason.as_deref().unwrap_or("a lookup failed")
                    ),
                )
                .with("ip", e.ip)
                .with("result", e.result)
                .with("reason", &e.reason)
                .unknown(),
            ),
            SpfResult::Permerror if !explained => out.push(
                Finding::new(
                    ids::SPF_PERMERROR,
                    e.ip.to_string(),
                    format!(
                        "check_host({}) for {domain} is permerror: {}.",
                        e.ip,
                        e.reason
                            .as_deref()
                            .unwrap_or("the record cannot be evaluated")
                    ),
                )
                .with("ip", e.ip)
                .with("result", e.result)
                .with("reason", &e.reason),
            ),
            _ => {}
        }
    }
    out
}

/// Receivers apply the limits as their evaluation reaches them, so a
/// record over a limit still passes the IPs matched before it: the limit
/// findings say which sending IPs it actually hits.
pub fn name_ips_over_limits(found: &mut [Finding], evaluations: &[Evaluation], walk_capped: bool) {
    for f in found.iter_mut() {
        if f.id == ids::SPF_LOOKUP_LIMIT && walk_capped {
            // The walk stopped resolving past its cap: what it did not
            // resolve is counted from the record's text.
            f.summary.push_str(&format!(
                " The walk stopped resolving past {WALK_CAP} DNS-querying terms or {WALK_QUESTIONS} questions; the rest is counted from the records' text."
            ));
            f.evidence
                .insert("walk_capped".into(), serde_json::Value::Bool(true));
        }
        let marker = match f.id {
            ids::SPF_LOOKUP_LIMIT => format!("over the limit of {LOOKUP_LIMIT} (RFC"),
            ids::SPF_VOID_LOOKUP_LIMIT => format!("over the limit of {VOID_LIMIT} (RFC"),
            _ => continue,
        };
        let hit: Vec<String> = evaluations
            .iter()
            .filter(|e| {
                e.result == SpfResult::Permerror
                    && e.reason.as_deref().is_some_and(|r| r.contains(&marker))
            })
            .map(|e| e.ip.to_string())
            .collect();
        let spared: Vec<String> = evaluations
            .iter()
            .filter(|e| !hit.contains(&e.ip.to_string()))
            .map(|e| format!("{} ({})", e.ip, e.result.as_str()))
            .collect();
        f.evidence.insert("ips_hit".into(), serde_json::json!(hit));
        f.evidence.insert(
            "ips_evaluated_before_the_limit".into(),
            serde_json::json!(spared),
        );
    }
}

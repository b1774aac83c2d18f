//! SPF: the domain's record, its whole include tree with lookup costs, and
//! `check_host` for every sending IP. The tree and the evaluation are facts
//! ([`crate::facts::spf`]); this check reads them and says what they mean.

mod findings;

use std::sync::Arc;

use futures::future::join_all;
use serde::Serialize;

use crate::checks::{Ran, check};
use crate::facts::Facts;
use crate::facts::spf::{Evaluation, SpfNode, SpfResult, Via, check_host, txt_answer_size};
use crate::findings::{self as ids, Finding};
use crate::report::model::{Block, Detail, TreeItem};

check! {
    Spf {
        id: "spf",
        title: "SPF",
        description: "the SPF record, its include tree and lookup counts, and check_host for each sending IP",
        domain_records: true,
        reads: &[Fact::SendingIps],
        rows: &[Row::DnsRecords { required: true }],
    }
    fn run(facts) {
        let domain = facts.domain();
        let (tree, ips, txt) =
            futures::join!(facts.spf_tree(), facts.sending_ips(), facts.dns.txt(domain));
        let mut found = findings::tree_findings(&tree, domain);
        if tree.record.is_some()
            && let Some(size) = txt_answer_size(domain, &txt)
            && size > 512
        {
            found.push(
                Finding::new(ids::SPF_RECORD_TOO_LONG, domain, format!("The TXT answer for {domain} is {size} octets, over the 512 that fit a plain UDP response."))
                    .with("octets", size)
                    .with("record", &tree.record),
            );
        }
        // The sending IPs could not all be found: the check cannot say
        // every one of them passes.
        for f in &ips.failed {
            found.push(f.finding(ids::SPF_DNS_ERROR, domain));
        }
        let evaluations = join_all(ips.items.iter().map(|s| {
            check_host(&facts.dns, Arc::clone(&tree), s.ip, facts.identity())
        }))
        .await;
        if let Some(helo) = &facts.target.helo {
            found.extend(helo_findings(facts, helo).await);
        }
        let per_ip = findings::evaluation_findings(&tree, domain, &evaluations, &found);
        found.extend(per_ip);
        findings::name_ips_over_limits(&mut found, &evaluations, tree.walk_capped);
        Ran::done(SpfDetail { tree, evaluations }, found)
    }
}

/// The HELO name as receivers see it: a fully qualified name that
/// resolves, or a finding (RFC 5321 §4.1.1.1, RFC 7208 §2.3).
async fn helo_findings(facts: &Facts<'_>, helo: &str) -> Vec<Finding> {
    let not_fqdn = |why: &str| {
        Finding::new(
            ids::SPF_HELO_NOT_FQDN,
            helo,
            format!("The HELO name {helo:?} {why}."),
        )
        .with("helo", helo)
    };
    if let Some(why) = crate::facts::spf::malformed(helo.trim_end_matches('.')) {
        return vec![not_fqdn(why)];
    }
    let (a, aaaa) = facts.dns.a_and_aaaa(helo).await;
    match (a.ips(), aaaa.ips()) {
        (Ok(v4), Ok(v6)) if v4.is_empty() && v6.is_empty() => {
            vec![not_fqdn("does not resolve (no A or AAAA record)").with("a", a.kind())]
        }
        (Ok(_), Ok(_)) => Vec::new(),
        (Err(failed), _) => vec![Finding::lookup_failed(
            ids::SPF_DNS_ERROR,
            helo,
            helo,
            "A",
            failed,
        )],
        (_, Err(failed)) => {
            vec![Finding::lookup_failed(
                ids::SPF_DNS_ERROR,
                helo,
                helo,
                "AAAA",
                failed,
            )]
        }
    }
}

/// What the SPF check found.
#[derive(Debug)]
pub struct SpfDetail {
    pub tree: Arc<SpfNode>,
    pub evaluations: Vec<Evaluation>,
}

// The wire format (schema v1), kept apart from the facts' types.

#[derive(Serialize)]
struct SpfV1<'a> {
    record: &'a Option<String>,
    lookups: u32,
    void_lookups: u32,
    tree: Option<NodeV1<'a>>,
    evaluations: Vec<EvaluationV1<'a>>,
}

#[derive(Serialize)]
struct NodeV1<'a> {
    domain: &'a str,
    via: Via,
    record: &'a Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: &'a Option<String>,
    lookups: u32,
    void_lookups: u32,
    terms: Vec<TermV1<'a>>,
}

#[derive(Serialize)]
struct TermV1<'a> {
    term: &'a str,
    cost: u32,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    void: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    note: &'a Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    child: Option<Box<NodeV1<'a>>>,
}

#[derive(Serialize)]
struct EvaluationV1<'a> {
    ip: std::net::IpAddr,
    result: SpfResult,
    #[serde(skip_serializing_if = "Option::is_none")]
    matched: &'a Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: &'a Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    explanation: &'a Option<String>,
}

fn node_v1(n: &SpfNode) -> NodeV1<'_> {
    NodeV1 {
        domain: &n.domain,
        via: n.via,
        record: &n.record,
        error: &n.error,
        lookups: n.lookups,
        void_lookups: n.void_lookups,
        terms: n
            .terms
            .iter()
            .map(|t| TermV1 {
                term: &t.term,
                cost: t.cost,
                void: t.void,
                note: &t.note,
                child: t.child.as_deref().map(|c| Box::new(node_v1(c))),
            })
            .collect(),
    }
}

fn tree_item(n: &SpfNode) -> TreeItem {
    let mut children = Vec::new();
    for t in n.terms.iter().filter(|t| t.cost > 0 || t.child.is_some()) {
        let mut item = TreeItem {
            text: format!(
                "[{}] {}{}{}",
                t.cost,
                t.term,
                if t.void { " (void)" } else { "" },
                t.note
                    .as_deref()
                    .map(|x| format!(" - {x}"))
                    .unwrap_or_default()
            ),
            children: Vec::new(),
        };
        if let Some(c) = &t.child {
            item.children.push(tree_item(c));
        }
        children.push(item);
    }
    TreeItem {
        text: format!(
            "{}: {}{}",
            n.domain,
            n.record.as_deref().unwrap_or("-"),
            n.error
                .as_deref()
                .map(|e| format!("  !! {e}"))
                .unwrap_or_default()
        ),
        children,
    }
}

impl Detail for SpfDetail {
    fn wire(&self) -> serde_json::Value {
        let t = &self.tree;
        serde_json::to_value(SpfV1 {
            record: &t.record,
            lookups: t.lookups,
            void_lookups: t.void_lookups,
            tree: Some(node_v1(t)),
            evaluations: self
                .evaluations
                .iter()
                .map(|e| EvaluationV1 {
                    ip: e.ip,
                    result: e.result,
                    matched: &e.matched,
                    reason: &e.reason,
                    explanation: &e.explanation,
                })
                .collect(),
        })
        .expect("serialises")
    }

    fn headline(&self) -> String {
        match &self.tree.record {
            Some(r) => format!(
                "{r}  [{} lookups, {} void]",
                self.tree.lookups, self.tree.void_lookups
            ),
            None => match &self.tree.problem {
                Some(p) => p.describe(),
                None => "no record".into(),
            },
        }
    }

    fn blocks(&self) -> Vec<Block> {
        let mut out = vec![Block::Tree {
            title: "SPF lookup tree (cost in brackets)".into(),
            root: tree_item(&self.tree),
        }];
        if !self.evaluations.is_empty() {
            out.push(Block::Lines {
                title: "check_host for each sending IP".into(),
                items: self
                    .evaluations
                    .iter()
                    .map(|e| {
                        format!(
                            "check_host({}) = {}  {}{}",
                            e.ip,
                            e.result.as_str(),
                            e.matched.as_deref().or(e.reason.as_deref()).unwrap_or(""),
                            e.explanation
                                .as_deref()
                                .map(|x| format!(" (explanation: {x:?})"))
                                .unwrap_or_default()
                        )
                    })
                    .collect(),
            });
        }
        out
    }

    fn passed(&self, findings: &[&Finding]) -> Vec<String> {
        let t = &self.tree;
        let mut out = Vec::new();
        let Some(record) = &t.record else {
            return out;
        };
        if t.problem.is_some() || t.error.is_some() {
            return out;
        }
        out.push(format!("One SPF record at {}: {record}", t.domain));
        // The counts stand only when the whole tree was seen.
        if !t.walk_capped && whole(t) && !findings.iter().any(|f| f.unknown) {
            if t.lookups <= 10 {
                out.push(format!("{} DNS lookups, within the limit of 10", t.lookups));
            }
            if t.void_lookups <= 2 {
                out.push(format!(
                    "{} void lookups, within the limit of 2",
                    t.void_lookups
                ));
            }
        }
        for e in self
            .evaluations
            .iter()
            .filter(|e| e.result == SpfResult::Pass)
        {
            out.push(format!(
                "{} is authorised: check_host gives pass ({})",
                e.ip,
                e.matched.as_deref().unwrap_or("matched")
            ));
        }
        out
    }
}

/// No record in the tree failed to load or parse.
fn whole(n: &SpfNode) -> bool {
    n.error.is_none()
        && n.problem.is_none()
        && n.terms.iter().all(|t| t.child.as_deref().is_none_or(whole))
}

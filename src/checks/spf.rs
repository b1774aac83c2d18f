//! SPF: the record, its whole include/redirect tree, and check_host for
//! every sending IP.
//!
//! The walk fetches every record and every term's DNS data once, level by
//! level, with all of a record's lookups in flight together, so wall time
//! follows the depth of the tree. It counts DNS-querying terms and void
//! lookups as RFC 7208 §4.6.4 does, and keeps each term's cost for the
//! report. Evaluation for an IP then runs over the walked tree (cached
//! answers), and only asks DNS again for terms whose names depend on the
//! IP (macros such as `%{i}`, and `ptr`).
//!
//! Consistency: a tree over the lookup or void limit is `permerror` for
//! every IP, whatever order a lazy receiver would have stopped in. Receivers
//! differ in how far they evaluate; the whole-record answer is the one a
//! sender can rely on.

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use futures::FutureExt;
use futures::future::{BoxFuture, join_all};
use serde::Serialize;

use crate::checks::Context;
use crate::dns::{Dns, Outcome, name};
use crate::findings::{self as ids, Finding};
use crate::records::spf::{
    MacroContext, MacroString, Mechanism, Qualifier, SpfRecord, TermKind, is_spf,
};

/// RFC 7208 §4.6.4 limits.
pub const LOOKUP_LIMIT: u32 = 10;
pub const VOID_LIMIT: u32 = 2;
pub const MX_HOST_LIMIT: usize = 10;
/// Past this many counted lookups the walk stops following includes: the
/// record is broken anyway, and a hostile tree must not make us walk it all.
const WALK_CAP: u32 = 40;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SpfResult {
    Pass,
    Fail,
    Softfail,
    Neutral,
    None,
    Permerror,
    Temperror,
}

impl SpfResult {
    fn from_qualifier(q: Qualifier) -> SpfResult {
        match q {
            Qualifier::Pass => SpfResult::Pass,
            Qualifier::Fail => SpfResult::Fail,
            Qualifier::SoftFail => SpfResult::Softfail,
            Qualifier::Neutral => SpfResult::Neutral,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SpfResult::Pass => "pass",
            SpfResult::Fail => "fail",
            SpfResult::Softfail => "softfail",
            SpfResult::Neutral => "neutral",
            SpfResult::None => "none",
            SpfResult::Permerror => "permerror",
            SpfResult::Temperror => "temperror",
        }
    }
}

/// How a record in the tree was reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Via {
    Root,
    Include,
    Redirect,
}

/// Why a record in the tree could not be used.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeProblem {
    /// No SPF record: the outcome of the TXT lookup (records without
    /// v=spf1, NXDOMAIN or NODATA).
    NoRecord(String),
    Multiple(usize),
    Syntax {
        term: String,
        reason: String,
    },
    Dns(Outcome),
    /// The chain of domains that leads back to this one.
    Loop(Vec<String>),
    /// Not followed: the lookup limit was already far exceeded.
    NotFollowed,
}

impl NodeProblem {
    pub fn describe(&self) -> String {
        match self {
            NodeProblem::NoRecord(why) => format!("no SPF record ({why})"),
            NodeProblem::Multiple(n) => format!("{n} SPF records (permerror)"),
            NodeProblem::Syntax { term, reason } if term.is_empty() => {
                format!("syntax error: {reason}")
            }
            NodeProblem::Syntax { term, reason } => format!("syntax error in {term:?}: {reason}"),
            NodeProblem::Dns(o) => format!("DNS failure: {o}"),
            NodeProblem::Loop(chain) => format!("include loop: {}", chain.join(" -> ")),
            NodeProblem::NotFollowed => "not followed: the lookup limit is already exceeded".into(),
        }
    }
}

/// One record of the include/redirect tree.
#[derive(Debug, Clone, Serialize)]
pub struct SpfNode {
    pub domain: String,
    pub via: Via,
    pub record: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// DNS-querying terms in this record and below it.
    pub lookups: u32,
    /// Void lookups in this record and below it.
    pub void_lookups: u32,
    pub terms: Vec<TermNode>,
    #[serde(skip)]
    pub problem: Option<NodeProblem>,
    #[serde(skip)]
    parsed: Option<SpfRecord>,
}

/// One term of a record, with what its lookups found.
#[derive(Debug, Clone, Serialize)]
pub struct TermNode {
    pub term: String,
    /// Counts toward the limit of 10 (0 or 1).
    pub cost: u32,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub void: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub child: Option<Box<SpfNode>>,
    #[serde(skip)]
    data: TermData,
}

#[derive(Debug, Clone, Default)]
enum TermData {
    #[default]
    None,
    Addrs {
        a: Arc<Outcome>,
        aaaa: Arc<Outcome>,
    },
    Mx {
        mx: Arc<Outcome>,
        hosts: Vec<(String, Arc<Outcome>, Arc<Outcome>)>,
    },
    Exists(Arc<Outcome>),
    /// The target depends on the connecting IP: resolved per evaluation.
    PerIp,
    /// After `all`: never evaluated.
    Ignored,
}

/// The result of check_host for one sending IP.
#[derive(Debug, Clone, Serialize)]
pub struct Evaluation {
    pub ip: IpAddr,
    pub result: SpfResult,
    /// The term that decided, with the record it is in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matched: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The SPF part of the report.
#[derive(Debug, Clone, Serialize)]
pub struct SpfReport {
    pub record: Option<String>,
    pub lookups: u32,
    pub void_lookups: u32,
    pub tree: Option<SpfNode>,
    pub evaluations: Vec<Evaluation>,
}

struct Walker<'a> {
    dns: &'a Dns,
    sender: String,
    helo: String,
    started: AtomicU32,
}

impl<'a> Walker<'a> {
    fn clone_config(&self) -> Walker<'a> {
        Walker {
            dns: self.dns,
            sender: self.sender.clone(),
            helo: self.helo.clone(),
            started: AtomicU32::new(0),
        }
    }

    fn macro_ctx(&self, domain: &str, ip: Option<IpAddr>) -> MacroContext {
        MacroContext {
            sender: self.sender.clone(),
            domain: domain.to_string(),
            ip,
            helo: self.helo.clone(),
            validated: None,
        }
    }

    /// Fetches and walks the record of `domain`. `chain` holds the domains
    /// above it, for loop detection.
    fn walk<'s>(
        &'s self,
        domain: String,
        via: Via,
        chain: Vec<String>,
        ip: Option<IpAddr>,
    ) -> BoxFuture<'s, SpfNode> {
        async move {
            let mut node = SpfNode {
                domain: domain.clone(),
                via,
                record: None,
                error: None,
                lookups: 0,
                void_lookups: 0,
                terms: Vec::new(),
                problem: None,
                parsed: None,
            };
            if chain.contains(&domain) {
                let mut full = chain.clone();
                full.push(domain.clone());
                return node.with_problem(NodeProblem::Loop(full));
            }
            let answer = self.dns.txt(&domain).await;
            let spf: Vec<String> = answer
                .txt()
                .into_iter()
                .filter(|t| is_spf(t))
                .map(|t| String::from_utf8_lossy(&t).into_owned())
                .collect();
            if !answer.is_definitive() {
                return node.with_problem(NodeProblem::Dns((*answer).clone()));
            }
            if via != Via::Root && answer.is_void() {
                node.void_lookups = 1;
            }
            match spf.len() {
                0 => {
                    let why = match &*answer {
                        Outcome::Records(_) => "TXT records, none starting with v=spf1".to_string(),
                        other => other.describe(),
                    };
                    return node.with_problem(NodeProblem::NoRecord(why));
                }
                1 => {}
                n => {
                    node.record = Some(spf.join(" | "));
                    return node.with_problem(NodeProblem::Multiple(n));
                }
            }
            let text = spf.into_iter().next().expect("one record");
            node.record = Some(text.clone());
            let parsed = match SpfRecord::parse(&text) {
                Ok(p) => p,
                Err(e) => {
                    return node.with_problem(NodeProblem::Syntax {
                        term: e.term,
                        reason: e.reason,
                    });
                }
            };

            let mut sub_chain = chain;
            sub_chain.push(domain.clone());
            let ctx = self.macro_ctx(&domain, ip);
            let all_at = parsed.terms.iter().position(|t| {
                matches!(
                    &t.kind,
                    TermKind::Directive {
                        mechanism: Mechanism::All,
                        ..
                    }
                )
            });
            let redirect = parsed.effective_redirect().cloned();
            let futures = parsed.terms.iter().enumerate().map(|(i, term)| {
                let ignored = all_at.is_some_and(|a| i > a)
                    && matches!(term.kind, TermKind::Directive { .. });
                let is_redirect = matches!(term.kind, TermKind::Redirect(_)) && redirect.is_some();
                self.walk_term(
                    term.raw.clone(),
                    &term.kind,
                    ignored,
                    is_redirect,
                    &ctx,
                    &sub_chain,
                    ip,
                )
            });
            node.terms = join_all(futures).await;
            node.lookups += node
                .terms
                .iter()
                .map(|t| t.cost + t.child.as_ref().map_or(0, |c| c.lookups))
                .sum::<u32>();
            node.void_lookups += node
                .terms
                .iter()
                .map(|t| t.void as u32 + t.child.as_ref().map_or(0, |c| c.void_lookups))
                .sum::<u32>();
            node.parsed = Some(parsed);
            node
        }
        .boxed()
    }

    #[allow(clippy::too_many_arguments)]
    async fn walk_term(
        &self,
        raw: String,
        kind: &TermKind,
        ignored: bool,
        is_redirect: bool,
        ctx: &MacroContext,
        chain: &[String],
        ip: Option<IpAddr>,
    ) -> TermNode {
        let mut t = TermNode {
            term: raw,
            cost: 0,
            void: false,
            note: None,
            child: None,
            data: TermData::None,
        };
        if ignored {
            t.note = Some("after \"all\": never evaluated".into());
            t.data = TermData::Ignored;
            return t;
        }
        let (mechanism, target) = match kind {
            TermKind::Directive { mechanism, .. } => (Some(mechanism), None),
            TermKind::Redirect(spec) if is_redirect => (None, Some(spec)),
            TermKind::Redirect(_) => {
                t.note = Some("ignored: the record has \"all\"".into());
                return t;
            }
            _ => return t,
        };
        let Some(mechanism) = mechanism else {
            // redirect=
            t.cost = 1;
            self.started.fetch_add(1, Ordering::Relaxed);
            let spec = target.expect("redirect target");
            self.follow(&mut t, spec, Via::Redirect, ctx, chain, ip)
                .await;
            return t;
        };
        if !mechanism.queries_dns() {
            return t;
        }
        t.cost = 1;
        self.started.fetch_add(1, Ordering::Relaxed);
        let resolve = |spec: &Option<MacroString>| -> Option<String> {
            match spec {
                None => Some(ctx.domain.clone()),
                Some(m) if m.uses_ip() && ip.is_none() => None,
                Some(m) => Some(m.expand(ctx)),
            }
        };
        match mechanism {
            Mechanism::Include(spec) => {
                self.follow(&mut t, spec, Via::Include, ctx, chain, ip)
                    .await;
            }
            Mechanism::A { domain, .. } => match resolve(domain) {
                None => t.defer(),
                Some(name) => {
                    let (a, aaaa) = self.dns.a_and_aaaa(&name).await;
                    t.void = a.is_void() && aaaa.is_void();
                    t.note = Some(describe_addrs(&a, &aaaa));
                    t.data = TermData::Addrs { a, aaaa };
                }
            },
            Mechanism::Mx { domain, .. } => match resolve(domain) {
                None => t.defer(),
                Some(name) => {
                    let mx = self.dns.mx(&name).await;
                    t.void = mx.is_void();
                    let mut names: Vec<(u16, String)> = mx.mx();
                    names.sort();
                    let over = names.len() > MX_HOST_LIMIT;
                    let hosts = join_all(names.iter().take(MX_HOST_LIMIT).map(
                        |(_, host)| async move {
                            let (a, aaaa) = self.dns.a_and_aaaa(host).await;
                            (host.clone(), a, aaaa)
                        },
                    ))
                    .await;
                    t.note = Some(if !mx.is_definitive() {
                        format!("MX lookup: {mx}")
                    } else if over {
                        format!(
                            "{} MX hosts: more than {MX_HOST_LIMIT} (permerror)",
                            names.len()
                        )
                    } else {
                        format!("{} MX host(s)", names.len())
                    });
                    t.data = TermData::Mx { mx, hosts };
                }
            },
            Mechanism::Exists(spec) => match resolve(&Some(spec.clone())) {
                None => t.defer(),
                Some(name) => {
                    let a = self.dns.addrs(&name, true).await;
                    t.void = a.is_void();
                    t.note = Some(format!("{name}: {a}"));
                    t.data = TermData::Exists(a);
                }
            },
            Mechanism::Ptr(_) => {
                t.note = Some("depends on the sending IP's reverse DNS".into());
                t.data = TermData::PerIp;
            }
            Mechanism::All | Mechanism::Ip4(_) | Mechanism::Ip6(_) => {}
        }
        t
    }

    async fn follow(
        &self,
        t: &mut TermNode,
        spec: &MacroString,
        via: Via,
        ctx: &MacroContext,
        chain: &[String],
        ip: Option<IpAddr>,
    ) {
        if spec.uses_ip() && ip.is_none() {
            t.defer();
            return;
        }
        let target = spec.expand(ctx);
        let target = name::normalize_domain(&target).unwrap_or(target);
        // The term was counted by walk_term; each lookup counts once.
        if self.started.load(Ordering::Relaxed) > WALK_CAP {
            let mut child = empty_node(target, via);
            child.problem = Some(NodeProblem::NotFollowed);
            child.error = Some(NodeProblem::NotFollowed.describe());
            t.child = Some(Box::new(child));
            return;
        }
        let child = self.walk(target, via, chain.to_vec(), ip).await;
        t.child = Some(Box::new(child));
    }
}

fn empty_node(domain: String, via: Via) -> SpfNode {
    SpfNode {
        domain,
        via,
        record: None,
        error: None,
        lookups: 0,
        void_lookups: 0,
        terms: Vec::new(),
        problem: None,
        parsed: None,
    }
}

impl SpfNode {
    fn with_problem(mut self, problem: NodeProblem) -> SpfNode {
        self.error = Some(problem.describe());
        self.problem = Some(problem);
        self
    }

    /// This node and every node below it, depth first.
    pub fn nodes(&self) -> Vec<&SpfNode> {
        let mut out = vec![self];
        for t in &self.terms {
            if let Some(c) = &t.child {
                out.extend(c.nodes());
            }
        }
        out
    }

    /// The record receivers end up using: the redirect chain followed.
    fn effective(&self) -> &SpfNode {
        let mut node = self;
        while let Some(next) = node
            .terms
            .iter()
            .find_map(|t| t.child.as_deref().filter(|c| c.via == Via::Redirect))
        {
            node = next;
        }
        node
    }
}

impl TermNode {
    fn defer(&mut self) {
        self.note = Some("depends on the sending IP (macro)".into());
        self.data = TermData::PerIp;
    }
}

fn describe_addrs(a: &Outcome, aaaa: &Outcome) -> String {
    let ips: Vec<String> = a
        .ips()
        .iter()
        .chain(aaaa.ips().iter())
        .map(|i| i.to_string())
        .collect();
    if !ips.is_empty() {
        ips.join(", ")
    } else if !a.is_definitive() {
        format!("A lookup: {a}")
    } else if !aaaa.is_definitive() {
        format!("AAAA lookup: {aaaa}")
    } else {
        "no addresses (void lookup)".into()
    }
}

/// How one evaluation ended inside a record.
enum Step {
    /// Matched; the text says how (for include and mx).
    Match(String),
    NoMatch,
    Error(SpfResult, String),
}

struct Evaluator<'a> {
    /// A walker of its own, for targets that depend on the IP: its walk
    /// budget is not shared with other evaluations.
    walker: Walker<'a>,
    ip: IpAddr,
}

impl Evaluator<'_> {
    fn check_host<'s>(
        &'s self,
        node: &'s SpfNode,
    ) -> BoxFuture<'s, (SpfResult, Option<String>, Option<String>)> {
        async move {
            if let Some(problem) = &node.problem {
                let result = match problem {
                    NodeProblem::NoRecord(_) if node.via == Via::Root => SpfResult::None,
                    NodeProblem::Dns(_) => SpfResult::Temperror,
                    _ => SpfResult::Permerror,
                };
                return (
                    result,
                    None,
                    Some(format!("{}: {}", node.domain, problem.describe())),
                );
            }
            let Some(parsed) = &node.parsed else {
                return (SpfResult::Permerror, None, Some("record not walked".into()));
            };
            for (term, tn) in parsed.terms.iter().zip(&node.terms) {
                let TermKind::Directive {
                    qualifier,
                    mechanism,
                } = &term.kind
                else {
                    continue;
                };
                if matches!(tn.data, TermData::Ignored) {
                    break;
                }
                match self.step(node, mechanism, tn).await {
                    Step::Match(detail) => {
                        let result = SpfResult::from_qualifier(*qualifier);
                        return (
                            result,
                            Some(format!("{} in {}{detail}", term.raw, node.domain)),
                            None,
                        );
                    }
                    Step::NoMatch => {}
                    Step::Error(result, why) => return (result, None, Some(why)),
                }
            }
            if let Some(spec) = parsed.effective_redirect() {
                let walked = parsed
                    .terms
                    .iter()
                    .zip(&node.terms)
                    .find(|(t, _)| matches!(t.kind, TermKind::Redirect(_)))
                    .and_then(|(_, tn)| tn.child.clone());
                let child = match walked {
                    Some(child) => child,
                    None => Box::new(self.live_walk(node, spec, Via::Redirect).await),
                };
                let (r, m, why) = self.check_host(&child).await;
                // A redirect to a domain without SPF is a permerror (§6.1).
                return if r == SpfResult::None {
                    (SpfResult::Permerror, m, why)
                } else {
                    (r, m, why)
                };
            }
            (
                SpfResult::Neutral,
                None,
                Some(format!(
                    "no term of {} matched (default neutral)",
                    node.domain
                )),
            )
        }
        .boxed()
    }

    async fn step(&self, node: &SpfNode, mechanism: &Mechanism, tn: &TermNode) -> Step {
        let ip = self.ip;
        let v4 = ip.is_ipv4();
        match mechanism {
            Mechanism::All => Step::Match(String::new()),
            Mechanism::Ip4(net) => match ip {
                IpAddr::V4(a) if net.contains(&a) => Step::Match(String::new()),
                _ => Step::NoMatch,
            },
            Mechanism::Ip6(net) => match ip {
                IpAddr::V6(a) if net.contains(&a) => Step::Match(String::new()),
                _ => Step::NoMatch,
            },
            Mechanism::Include(spec) => {
                let child = match &tn.child {
                    Some(c) => c.clone(),
                    None => Box::new(self.live_walk(node, spec, Via::Include).await),
                };
                let (r, _, why) = self.check_host(&child).await;
                match r {
                    SpfResult::Pass => Step::Match(format!(" (via {})", child.domain)),
                    SpfResult::Fail | SpfResult::Softfail | SpfResult::Neutral => Step::NoMatch,
                    SpfResult::Temperror => {
                        Step::Error(SpfResult::Temperror, why.unwrap_or_default())
                    }
                    SpfResult::Permerror | SpfResult::None => Step::Error(
                        SpfResult::Permerror,
                        why.unwrap_or_else(|| {
                            format!("include:{} has no SPF record", child.domain)
                        }),
                    ),
                }
            }
            Mechanism::A {
                domain,
                cidr4,
                cidr6,
            } => {
                let (a, aaaa) = match &tn.data {
                    TermData::Addrs { a, aaaa } => (a.clone(), aaaa.clone()),
                    _ => {
                        let target = self.target(node, domain.as_ref());
                        self.walker.dns.a_and_aaaa(&target).await
                    }
                };
                match_addrs(ip, if v4 { &a } else { &aaaa }, *cidr4, *cidr6, &tn.term)
            }
            Mechanism::Mx {
                domain,
                cidr4,
                cidr6,
            } => {
                let (mx, hosts) = match &tn.data {
                    TermData::Mx { mx, hosts } => (mx.clone(), hosts.clone()),
                    _ => {
                        let target = self.target(node, domain.as_ref());
                        let mx = self.walker.dns.mx(&target).await;
                        let mut names = mx.mx();
                        names.sort();
                        let hosts = join_all(names.into_iter().take(MX_HOST_LIMIT).map(
                            |(_, h)| async move {
                                let (a, aaaa) = self.walker.dns.a_and_aaaa(&h).await;
                                (h, a, aaaa)
                            },
                        ))
                        .await;
                        (mx, hosts)
                    }
                };
                if !mx.is_definitive() {
                    return Step::Error(
                        SpfResult::Temperror,
                        format!("{}: MX lookup {mx}", tn.term),
                    );
                }
                if mx.mx().len() > MX_HOST_LIMIT {
                    return Step::Error(
                        SpfResult::Permerror,
                        format!("{}: more than {MX_HOST_LIMIT} MX hosts", tn.term),
                    );
                }
                for (host, a, aaaa) in &hosts {
                    match match_addrs(ip, if v4 { a } else { aaaa }, *cidr4, *cidr6, &tn.term) {
                        Step::Match(_) => return Step::Match(format!(" (MX host {host})")),
                        Step::Error(r, why) => return Step::Error(r, why),
                        Step::NoMatch => {}
                    }
                }
                Step::NoMatch
            }
            Mechanism::Exists(spec) => {
                let a = match &tn.data {
                    TermData::Exists(a) => a.clone(),
                    _ => {
                        let target = spec.expand(&self.walker.macro_ctx(&node.domain, Some(ip)));
                        self.walker.dns.addrs(&target, true).await
                    }
                };
                match &*a {
                    Outcome::Records(_) => Step::Match(String::new()),
                    o if o.is_void() => Step::NoMatch,
                    o => Step::Error(SpfResult::Temperror, format!("{}: {o}", tn.term)),
                }
            }
            Mechanism::Ptr(spec) => {
                let target = self.target(node, spec.as_ref());
                let validated = validated_names(self.walker.dns, ip).await;
                if validated.iter().any(|n| name::is_within(n, &target)) {
                    Step::Match(String::new())
                } else {
                    Step::NoMatch
                }
            }
        }
    }

    /// Walks an include or redirect whose target depends on the IP.
    async fn live_walk(&self, node: &SpfNode, spec: &MacroString, via: Via) -> SpfNode {
        let target = spec.expand(&self.walker.macro_ctx(&node.domain, Some(self.ip)));
        let target = name::normalize_domain(&target).unwrap_or(target);
        self.walker
            .walk(target, via, vec![node.domain.clone()], Some(self.ip))
            .await
    }

    fn target(&self, node: &SpfNode, spec: Option<&MacroString>) -> String {
        match spec {
            None => node.domain.clone(),
            Some(m) => m.expand(&self.walker.macro_ctx(&node.domain, Some(self.ip))),
        }
    }
}

fn match_addrs(ip: IpAddr, outcome: &Outcome, cidr4: u8, cidr6: u8, term: &str) -> Step {
    if !outcome.is_definitive() {
        return Step::Error(SpfResult::Temperror, format!("{term}: {outcome}"));
    }
    let hit = outcome.ips().into_iter().any(|addr| match (addr, ip) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            ipnet::Ipv4Net::new(a, cidr4).is_ok_and(|n| n.contains(&b))
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            ipnet::Ipv6Net::new(a, cidr6).is_ok_and(|n| n.contains(&b))
        }
        _ => false,
    });
    if hit {
        Step::Match(String::new())
    } else {
        Step::NoMatch
    }
}

/// PTR names of `ip` that resolve back to it (RFC 7208 §5.5; at most 10
/// names are tried; lookup errors mean no match, not an error).
pub async fn validated_names(dns: &Dns, ip: IpAddr) -> Vec<String> {
    let ptr = dns.ptr(ip).await;
    let names: Vec<String> = ptr.ptr_names().into_iter().take(10).collect();
    let checks = join_all(names.iter().map(|n| dns.addrs(n, ip.is_ipv4()))).await;
    names
        .into_iter()
        .zip(checks)
        .filter(|(_, o)| o.ips().contains(&ip))
        .map(|(n, _)| n)
        .collect()
}

/// Size of the DNS response carrying the TXT RRset of `domain`, in octets
/// (header, question, answers with compressed owner names; no EDNS).
fn txt_answer_size(domain: &str, outcome: &Outcome) -> usize {
    let qname = domain.len() + 2;
    12 + qname
        + 4
        + outcome
            .txt_parts()
            .iter()
            .map(|parts| 2 + 10 + parts.iter().map(|p| 1 + p.len()).sum::<usize>())
            .sum::<usize>()
}

fn walker(ctx: &Context) -> Walker<'_> {
    let domain = ctx.domain.as_str();
    Walker {
        dns: &ctx.dns,
        sender: ctx
            .mail_from
            .clone()
            .unwrap_or_else(|| format!("postmaster@{domain}")),
        helo: ctx.helo.clone().unwrap_or_else(|| domain.to_string()),
        started: AtomicU32::new(0),
    }
}

/// Walks the domain's SPF tree (needs no sending IP, so it can start
/// before the IPs are known).
pub async fn walk(ctx: &Context) -> SpfNode {
    walker(ctx)
        .walk(ctx.domain.clone(), Via::Root, Vec::new(), None)
        .await
}

/// Evaluates the walked tree for every sending IP and collects findings.
pub async fn finish(ctx: &Context, tree: SpfNode, ips: &[IpAddr]) -> (SpfReport, Vec<Finding>) {
    let domain = ctx.domain.as_str();
    let walker = walker(ctx);
    let mut findings = tree_findings(&tree, domain);

    let txt = ctx.dns.txt(domain).await;
    let size = txt_answer_size(domain, &txt);
    if tree.record.is_some() && size > 512 {
        findings.push(
            Finding::new(ids::SPF_RECORD_TOO_LONG, domain, format!("The TXT answer for {domain} is {size} octets, over the 512 that fit a plain UDP response."))
                .with("octets", size)
                .with("record", &tree.record),
        );
    }

    let over_limit = tree.lookups > LOOKUP_LIMIT;
    let over_void = tree.void_lookups > VOID_LIMIT;
    let too_many_mx = tree.nodes().iter().any(|n| n.terms.iter().any(mx_over));
    let evaluator_inputs: Vec<IpAddr> = ips.iter().map(|ip| ip.to_canonical()).collect();
    let evaluations = join_all(evaluator_inputs.iter().map(|&ip| {
        let walker = walker.clone_config();
        let tree = &tree;
        async move {
            if tree.problem.is_none() && (over_limit || over_void || too_many_mx) {
                let reason = if over_limit {
                    format!(
                        "{} DNS lookups, over the limit of {LOOKUP_LIMIT}",
                        tree.lookups
                    )
                } else if over_void {
                    format!(
                        "{} void lookups, over the limit of {VOID_LIMIT}",
                        tree.void_lookups
                    )
                } else {
                    format!("an mx term has more than {MX_HOST_LIMIT} hosts")
                };
                return Evaluation {
                    ip,
                    result: SpfResult::Permerror,
                    matched: None,
                    reason: Some(reason),
                };
            }
            let (result, matched, reason) = Evaluator { walker, ip }.check_host(tree).await;
            let reason = if matched.is_some() { None } else { reason };
            Evaluation {
                ip,
                result,
                matched,
                reason,
            }
        }
    }))
    .await;

    if tree.record.is_some() && tree.problem.is_none() {
        for e in &evaluations {
            if matches!(
                e.result,
                SpfResult::Fail | SpfResult::Softfail | SpfResult::Neutral
            ) {
                let f = Finding::new(
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
                .with("matched", &e.matched);
                findings.push(f);
            }
        }
    }

    let report = SpfReport {
        record: tree.record.clone(),
        lookups: tree.lookups,
        void_lookups: tree.void_lookups,
        tree: Some(tree),
        evaluations,
    };
    (report, findings)
}

fn mx_over(t: &TermNode) -> bool {
    matches!(&t.data, TermData::Mx { mx, .. } if mx.mx().len() > MX_HOST_LIMIT)
}

/// Findings read off the walked tree.
fn tree_findings(tree: &SpfNode, domain: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut seen_dns: HashSet<String> = HashSet::new();
    for node in tree.nodes() {
        let is_root = node.via == Via::Root;
        if let Some(problem) = &node.problem {
            match problem {
                NodeProblem::NoRecord(why) if is_root => out.push(
                    Finding::new(
                        ids::SPF_MISSING,
                        domain,
                        format!("{domain} publishes no SPF record."),
                    )
                    .with("lookup", why),
                ),
                NodeProblem::NoRecord(why) => out.push(
                    Finding::new(
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
                ),
                NodeProblem::Multiple(n) => out.push(
                    Finding::new(
                        ids::SPF_MULTIPLE_RECORDS,
                        &node.domain,
                        format!(
                            "{} publishes {n} SPF records; receivers return permerror.",
                            node.domain
                        ),
                    )
                    .with("records", &node.record)
                    .with("count", n),
                ),
                NodeProblem::Syntax { term, reason } => out.push(
                    Finding::new(
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
                ),
                NodeProblem::Dns(outcome) => {
                    if seen_dns.insert(node.domain.clone()) {
                        out.push(Finding::lookup_failed(
                            ids::SPF_DNS_ERROR,
                            &node.domain,
                            &node.domain,
                            "TXT",
                            outcome,
                        ));
                    }
                }
                NodeProblem::Loop(chain) => out.push(
                    Finding::new(
                        ids::SPF_LOOP,
                        &node.domain,
                        format!("The SPF includes of {domain} loop: {}.", chain.join(" -> ")),
                    )
                    .with("chain", chain),
                ),
                NodeProblem::NotFollowed => {}
            }
            continue;
        }
        for t in &node.terms {
            match &t.data {
                TermData::Addrs { a, aaaa } => {
                    for (o, rt) in [(a, "A"), (aaaa, "AAAA")] {
                        if !o.is_definitive() {
                            let name = term_target(&t.term, &node.domain);
                            if seen_dns.insert(format!("{name}/{rt}")) {
                                out.push(Finding::lookup_failed(
                                    ids::SPF_DNS_ERROR,
                                    &name,
                                    &name,
                                    rt,
                                    o,
                                ));
                            }
                        }
                    }
                }
                TermData::Mx { mx, hosts } => {
                    let name = term_target(&t.term, &node.domain);
                    if !mx.is_definitive() && seen_dns.insert(format!("{name}/MX")) {
                        out.push(Finding::lookup_failed(
                            ids::SPF_DNS_ERROR,
                            &name,
                            &name,
                            "MX",
                            mx,
                        ));
                    }
                    if mx.mx().len() > MX_HOST_LIMIT {
                        out.push(
                            Finding::new(ids::SPF_MX_TOO_MANY_HOSTS, &node.domain, format!("{} in the SPF record of {} resolves to {} MX hosts (limit {MX_HOST_LIMIT}).", t.term, node.domain, mx.mx().len()))
                                .with("term", &t.term)
                                .with("hosts", mx.mx().into_iter().map(|(_, h)| h).collect::<Vec<_>>()),
                        );
                    }
                    for (host, a, aaaa) in hosts {
                        for (o, rt) in [(a, "A"), (aaaa, "AAAA")] {
                            if !o.is_definitive() && seen_dns.insert(format!("{host}/{rt}")) {
                                out.push(Finding::lookup_failed(
                                    ids::SPF_DNS_ERROR,
                                    host,
                                    host,
                                    rt,
                                    o,
                                ));
                            }
                        }
                    }
                }
                TermData::Exists(a) if !a.is_definitive() => {
                    out.push(Finding::lookup_failed(
                        ids::SPF_DNS_ERROR,
                        &t.term,
                        &t.term,
                        "A",
                        a,
                    ));
                }
                _ => {}
            }
            if t.term
                .to_ascii_lowercase()
                .trim_start_matches(['+', '-', '~', '?'])
                .starts_with("ptr")
            {
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
            out.push(
                Finding::new(
                    ids::SPF_ALL_PASS,
                    &node.domain,
                    if is_root {
                        format!("The SPF record of {domain} ends with +all: every server passes.")
                    } else {
                        format!(
                            "{} (reached from {domain}) has +all: every server passes through it.",
                            node.domain
                        )
                    },
                )
                .with("record", &node.record),
            );
        }
    }

    let effective = tree.effective();
    if let Some(parsed) = &effective.parsed {
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
    }

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

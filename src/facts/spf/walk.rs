//! The walk of an SPF include/redirect tree.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use futures::FutureExt;
use futures::future::{BoxFuture, join_all};

use super::{
    Identity, MX_HOST_LIMIT, NodeProblem, SpfNode, TermData, TermNode, Via, WALK_CAP,
    WALK_QUESTIONS,
};
use crate::dns::{Dns, Outcome, name};
use crate::records::spf::{MacroContext, MacroString, Mechanism, SpfRecord, TermKind, is_spf};

/// Walks the SPF tree of `domain` (needs no sending IP, so it can start
/// before the IPs are known).
pub async fn walk(dns: &Dns, domain: &str, id: Identity) -> SpfNode {
    let walker = Walker::new(dns, id);
    let mut tree = walker
        .walk(domain.to_string(), Via::Root, Vec::new(), None)
        .await;
    tree.walk_capped = walker.capped.load(Ordering::Relaxed);
    tree
}

pub(super) struct Walker<'a> {
    pub(super) dns: &'a Dns,
    pub(super) id: Identity,
    /// DNS-querying terms met so far.
    started: AtomicU32,
    /// DNS questions spent so far (the budget of [`WALK_QUESTIONS`]).
    questions: AtomicU32,
    /// Something was left unresolved because a cap was reached.
    capped: AtomicBool,
}

impl<'a> Walker<'a> {
    pub(super) fn new(dns: &'a Dns, id: Identity) -> Walker<'a> {
        Walker {
            dns,
            id,
            started: AtomicU32::new(0),
            questions: AtomicU32::new(0),
            capped: AtomicBool::new(false),
        }
    }

    /// Takes `n` questions from the walk's budget; `false` (and the walk
    /// marked capped) when past [`WALK_CAP`] terms or [`WALK_QUESTIONS`].
    fn spend(&self, n: u32) -> bool {
        let within = self.started.load(Ordering::Relaxed) <= WALK_CAP
            && self.questions.fetch_add(n, Ordering::Relaxed) + n <= WALK_QUESTIONS;
        if !within {
            self.capped.store(true, Ordering::Relaxed);
        }
        within
    }

    pub(super) fn macro_ctx(&self, domain: &str, ip: Option<IpAddr>) -> MacroContext {
        MacroContext {
            sender: self.id.sender.clone(),
            domain: domain.to_string(),
            ip,
            helo: self.id.helo.clone(),
            validated: None,
        }
    }

    /// Fetches and walks the record of `domain`. `chain` holds the domains
    /// above it, for loop detection.
    pub(super) fn walk<'s>(
        &'s self,
        domain: String,
        via: Via,
        chain: Vec<String>,
        ip: Option<IpAddr>,
    ) -> BoxFuture<'s, SpfNode> {
        async move {
            let mut node = SpfNode::empty(domain.clone(), via);
            if chain.contains(&domain) {
                let mut full = chain.clone();
                full.push(domain.clone());
                return node.with_problem(NodeProblem::Loop(full));
            }
            let answer = self.dns.txt(&domain).await;
            let spf: Vec<String> = match answer.txt() {
                Ok(txt) => txt
                    .into_iter()
                    .filter(|t| is_spf(t))
                    .map(|t| String::from_utf8_lossy(&t).into_owned())
                    .collect(),
                Err(failed) => return node.with_problem(NodeProblem::Dns(failed.clone())),
            };
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
        let unaskable =
            |name: &str| format!("{name:?} is not a name that can be asked: never matches");
        match mechanism {
            Mechanism::Include(spec) => {
                self.follow(&mut t, spec, Via::Include, ctx, chain, ip)
                    .await;
            }
            Mechanism::A { domain, .. } => match resolve(domain) {
                None => t.defer(),
                Some(name) if !super::askable(&name) => t.note = Some(unaskable(&name)),
                Some(_) if !self.spend(2) => t.note = Some(not_resolved()),
                Some(name) => {
                    let (a, aaaa) = self.dns.a_and_aaaa(&name).await;
                    t.void = a.is_void() && aaaa.is_void();
                    t.note = Some(describe_addrs(&a, &aaaa));
                    t.data = TermData::Addrs { a, aaaa };
                }
            },
            Mechanism::Mx { domain, .. } => match resolve(domain) {
                None => t.defer(),
                Some(name) if !super::askable(&name) => t.note = Some(unaskable(&name)),
                Some(_) if !self.spend(1) => t.note = Some(not_resolved()),
                Some(name) => {
                    let mx = self.dns.mx(&name).await;
                    t.void = mx.is_void();
                    let mut names: Vec<(u16, String)> = mx.mx().unwrap_or_default();
                    names.sort();
                    let over = names.len() > MX_HOST_LIMIT;
                    let wanted = names.len().min(MX_HOST_LIMIT) as u32;
                    if !over && !self.spend(2 * wanted) {
                        // The evaluation asks the hosts itself, within its
                        // own limits.
                        t.note = Some(format!("{} MX host(s); {}", names.len(), not_resolved()));
                        return t;
                    }
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
                Some(name) if !super::askable(&name) => t.note = Some(unaskable(&name)),
                Some(_) if !self.spend(1) => t.note = Some(not_resolved()),
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
        if !self.spend(1) {
            let mut child = SpfNode::empty(target, via);
            child.problem = Some(NodeProblem::NotFollowed);
            child.error = Some(NodeProblem::NotFollowed.describe());
            t.child = Some(Box::new(child));
            return;
        }
        let child = self.walk(target, via, chain.to_vec(), ip).await;
        t.child = Some(Box::new(child));
    }
}

fn not_resolved() -> String {
    format!(
        "counted, not resolved: the walk's cap ({WALK_CAP} DNS-querying terms, {WALK_QUESTIONS} questions) was reached"
    )
}

fn describe_addrs(a: &Outcome, aaaa: &Outcome) -> String {
    let ips: Vec<String> = a
        .ips()
        .unwrap_or_default()
        .iter()
        .chain(aaaa.ips().unwrap_or_default().iter())
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

//! `check_host` (RFC 7208 §4) for one sending IP over a walked tree.

use std::net::IpAddr;
use std::sync::Arc;

use futures::FutureExt;
use futures::future::{BoxFuture, join_all};

use super::walk::Walker;
use super::{
    Evaluation, Identity, LOOKUP_LIMIT, MX_HOST_LIMIT, NodeProblem, SpfNode, SpfResult, TermData,
    TermNode, VOID_LIMIT, Via,
};
use crate::dns::{Dns, Outcome, name};
use crate::records::spf::{MacroString, Mechanism, TermKind};

/// The result of check_host for `ip` over `tree`. A tree over the lookup,
/// void or MX-host limit is permerror for every IP.
pub async fn check_host(dns: &Dns, tree: Arc<SpfNode>, ip: IpAddr, id: Identity) -> Evaluation {
    let ip = ip.to_canonical();
    let too_many_mx = tree
        .nodes()
        .iter()
        .any(|n| n.terms.iter().any(|t| t.mx_over_limit().is_some()));
    if tree.problem.is_none()
        && (tree.lookups > LOOKUP_LIMIT || tree.void_lookups > VOID_LIMIT || too_many_mx)
    {
        let reason = if tree.lookups > LOOKUP_LIMIT {
            format!(
                "{} DNS lookups, over the limit of {LOOKUP_LIMIT}",
                tree.lookups
            )
        } else if tree.void_lookups > VOID_LIMIT {
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
    let evaluator = Evaluator {
        walker: Walker::new(dns, id),
        ip,
    };
    let (result, matched, reason) = evaluator.check_host(&tree).await;
    let reason = if matched.is_some() { None } else { reason };
    Evaluation {
        ip,
        result,
        matched,
        reason,
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
                        let mut names = mx.mx().unwrap_or_default();
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
                let names = match mx.mx() {
                    Ok(names) => names,
                    Err(failed) => {
                        return Step::Error(
                            SpfResult::Temperror,
                            format!("{}: MX lookup {failed}", tn.term),
                        );
                    }
                };
                if names.len() > MX_HOST_LIMIT {
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
    let addrs = match outcome.ips() {
        Ok(addrs) => addrs,
        Err(failed) => return Step::Error(SpfResult::Temperror, format!("{term}: {failed}")),
    };
    let hit = addrs.into_iter().any(|addr| match (addr, ip) {
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
    let names: Vec<String> = ptr
        .ptr_names()
        .unwrap_or_default()
        .into_iter()
        .take(10)
        .collect();
    let checks = join_all(names.iter().map(|n| dns.addrs(n, ip.is_ipv4()))).await;
    names
        .into_iter()
        .zip(checks)
        .filter(|(_, o)| o.ips().is_ok_and(|ips| ips.contains(&ip)))
        .map(|(n, _)| n)
        .collect()
}

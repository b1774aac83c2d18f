//! `check_host` (RFC 7208 §4) for one sending IP over a walked tree.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use futures::FutureExt;
use futures::future::{BoxFuture, join_all};

use super::walk::Walker;
use super::{
    Evaluation, Identity, LOOKUP_LIMIT, MX_HOST_LIMIT, NodeProblem, SpfNode, SpfResult, TermData,
    TermNode, VOID_LIMIT, Via,
};
use crate::dns::{Dns, Outcome, name};
use crate::records::spf::{MacroContext, MacroString, Mechanism, TermKind};

/// The result of check_host for `ip` over `tree`, evaluated as a receiver
/// does: terms left to right, the limits of RFC 7208 §4.6.4 (10
/// DNS-querying terms, 2 void lookups, 10 MX names) applied as the
/// evaluation reaches them, so an IP matched before the 11th lookup passes
/// even when the whole record costs more.
pub async fn check_host(dns: &Dns, tree: Arc<SpfNode>, ip: IpAddr, id: Identity) -> Evaluation {
    let ip = ip.to_canonical();
    let evaluator = Evaluator {
        walker: Walker::new(dns, id),
        ip,
        lookups: AtomicU32::new(0),
        voids: AtomicU32::new(0),
        validated: tokio::sync::OnceCell::new(),
    };
    let (result, matched, reason) = evaluator.check_host(&tree).await;
    let reason = if matched.is_some() { None } else { reason };
    let explanation = if result == SpfResult::Fail {
        evaluator.explanation(tree.effective()).await
    } else {
        None
    };
    Evaluation {
        ip,
        result,
        matched,
        reason,
        explanation,
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
    /// DNS-querying terms evaluated so far.
    lookups: AtomicU32,
    /// Void lookups met so far.
    voids: AtomicU32,
    /// The validated names of the IP, for `%{p}`, looked up once if needed.
    validated: tokio::sync::OnceCell<Vec<String>>,
}

impl Evaluator<'_> {
    /// Counts one DNS-querying term; past the limit, the permerror.
    fn charge(&self, term: &str) -> Option<Step> {
        let n = self.lookups.fetch_add(1, Ordering::Relaxed) + 1;
        (n > LOOKUP_LIMIT).then(|| {
            Step::Error(
                SpfResult::Permerror,
                format!("{term}: lookup {n}, over the limit of {LOOKUP_LIMIT} (RFC 7208 §4.6.4)"),
            )
        })
    }

    /// Counts a void lookup; past the limit, the permerror.
    fn void(&self, term: &str) -> Option<Step> {
        let n = self.voids.fetch_add(1, Ordering::Relaxed) + 1;
        (n > VOID_LIMIT).then(|| {
            Step::Error(
                SpfResult::Permerror,
                format!(
                    "{term}: void lookup {n}, over the limit of {VOID_LIMIT} (RFC 7208 §4.6.4)"
                ),
            )
        })
    }

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
                if let Some(Step::Error(r, why)) = self.charge(&format!("redirect={}", spec.raw)) {
                    return (r, None, Some(why));
                }
                let walked = parsed
                    .terms
                    .iter()
                    .zip(&node.terms)
                    .find(|(t, _)| matches!(t.kind, TermKind::Redirect(_)))
                    .and_then(|(_, tn)| tn.child.clone())
                    .filter(|c| c.problem != Some(NodeProblem::NotFollowed));
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
                if let Some(over) = self.charge(&tn.term) {
                    return over;
                }
                // A child the walk did not follow (past its safety cap) is
                // walked now: this evaluation has limits of its own.
                let child = match &tn.child {
                    Some(c) if c.problem != Some(NodeProblem::NotFollowed) => c.clone(),
                    _ => Box::new(self.live_walk(node, spec, Via::Include).await),
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
                if let Some(over) = self.charge(&tn.term) {
                    return over;
                }
                let (a, aaaa) = match &tn.data {
                    TermData::Addrs { a, aaaa } => (a.clone(), aaaa.clone()),
                    _ => {
                        let Some(target) = self.target(node, domain.as_ref()).await else {
                            return Step::NoMatch;
                        };
                        self.walker.dns.a_and_aaaa(&target).await
                    }
                };
                let asked = if v4 { &a } else { &aaaa };
                if asked.is_void()
                    && let Some(over) = self.void(&tn.term)
                {
                    return over;
                }
                match_addrs(ip, asked, *cidr4, *cidr6, &tn.term)
            }
            Mechanism::Mx {
                domain,
                cidr4,
                cidr6,
            } => {
                if let Some(over) = self.charge(&tn.term) {
                    return over;
                }
                let (mx, hosts) = match &tn.data {
                    TermData::Mx { mx, hosts } => (mx.clone(), hosts.clone()),
                    _ => {
                        let Some(target) = self.target(node, domain.as_ref()).await else {
                            return Step::NoMatch;
                        };
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
                if mx.is_void()
                    && let Some(over) = self.void(&tn.term)
                {
                    return over;
                }
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
                if let Some(over) = self.charge(&tn.term) {
                    return over;
                }
                let a = match &tn.data {
                    TermData::Exists(a) => a.clone(),
                    _ => {
                        let Some(target) = self.target(node, Some(spec)).await else {
                            return Step::NoMatch;
                        };
                        self.walker.dns.addrs(&target, true).await
                    }
                };
                match &*a {
                    Outcome::Records(_) => Step::Match(String::new()),
                    o if o.is_void() => self.void(&tn.term).unwrap_or(Step::NoMatch),
                    o => Step::Error(SpfResult::Temperror, format!("{}: {o}", tn.term)),
                }
            }
            Mechanism::Ptr(spec) => {
                if let Some(over) = self.charge(&tn.term) {
                    return over;
                }
                let Some(target) = self.target(node, spec.as_ref()).await else {
                    return Step::NoMatch;
                };
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
        let target = spec.expand(&self.macro_ctx(&node.domain, spec).await);
        let target = name::normalize_domain(&target).unwrap_or(target);
        self.walker
            .walk(target, via, vec![node.domain.clone()], Some(self.ip))
            .await
    }

    /// The name a term asks about, expanded for this IP; `None` when the
    /// expansion is not a name that can be asked (the term then does not
    /// match, RFC 7208 §4.8).
    async fn target(&self, node: &SpfNode, spec: Option<&MacroString>) -> Option<String> {
        let name = match spec {
            None => node.domain.clone(),
            Some(m) => m.expand(&self.macro_ctx(&node.domain, m).await),
        };
        super::askable(&name).then(|| name.to_ascii_lowercase())
    }

    /// The explanation of the record where the evaluation ended (the root,
    /// redirects followed; never an include's, RFC 7208 §6.2): its `exp=`
    /// names a TXT record holding one macro-string. Any failure on the way
    /// (no record, several, bad syntax, a lookup that fails) leaves the
    /// receiver's default explanation: none here.
    async fn explanation(&self, node: &SpfNode) -> Option<String> {
        let spec = node
            .parsed
            .as_ref()?
            .terms
            .iter()
            .find_map(|t| match &t.kind {
                TermKind::Exp(spec) => Some(spec),
                _ => None,
            })?;
        let target = self.target(node, Some(spec)).await?;
        let answer = self.walker.dns.txt(&target).await;
        let txt = answer.txt().ok()?;
        let [only] = txt.as_slice() else {
            return None;
        };
        let text = std::str::from_utf8(only).ok()?;
        let macros = MacroString::parse_explanation(text).ok()?;
        Some(macros.expand_text(&self.macro_ctx(&node.domain, &macros).await))
    }

    /// The macro values for `spec` in `domain`: `%{p}` is the IP's
    /// validated name within `domain` if there is one, else any validated
    /// name, else "unknown" (RFC 7208 §7.3).
    async fn macro_ctx(&self, domain: &str, spec: &MacroString) -> MacroContext {
        let mut ctx = self.walker.macro_ctx(domain, Some(self.ip));
        if spec.uses_p() {
            let names = self
                .validated
                .get_or_init(|| validated_names(self.walker.dns, self.ip))
                .await;
            ctx.validated = names
                .iter()
                .find(|n| name::is_within(n, domain))
                .or(names.first())
                .cloned();
        }
        ctx
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

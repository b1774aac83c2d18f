//! Forward-confirmed reverse DNS (FCrDNS) of one address: its PTR names,
//! and which of them resolve back to it. One computation for the PTR and
//! SMTP checks (and for what a test address will see of the sender).
//!
//! The rule of the layer holds: a failed PTR or forward lookup stays here
//! with its question, and [`ReverseDns::confirmation`] is unknown, never
//! "not confirmed", while a name that might confirm the address was not
//! answered. Only the first [`MAX_NAMES`] PTR names are followed (RFC 7208
//! §5.5 bounds the same job at 10): when none of them confirms and more
//! names were left, the answer is unknown because of the cap, which the
//! run reports (`run.cap-reached`).

use std::net::IpAddr;
use std::sync::Arc;

use hickory_proto::rr::RecordType;

use crate::dns::{Dns, Outcome, name};
use crate::facts::lookup::{FailedLookup, Lookup};

/// PTR names followed per address at most.
pub const MAX_NAMES: usize = 10;

/// The reverse DNS of one address.
#[derive(Debug, Clone)]
pub struct ReverseDns {
    pub ip: IpAddr,
    /// The PTR lookup (at the address's reverse name).
    pub ptr: Lookup,
    /// Every PTR name, lower case, as the answer gave them (empty when
    /// the lookup failed or found none).
    pub names: Vec<String>,
    /// The address lookups of the first [`MAX_NAMES`] names, of the
    /// address's own family (A for IPv4, AAAA for IPv6).
    pub forward: Vec<Lookup>,
}

/// Whether the address is forward-confirmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confirmation {
    /// These names resolve back to the address (at least one).
    Confirmed(Vec<String>),
    /// No PTR name resolves back to it, every one was followed and
    /// answered (none when there are no PTR names).
    NotConfirmed,
    /// A lookup that might confirm it failed.
    Failed(FailedLookup),
    /// None of the followed names confirms it, and more were left.
    Capped { names: usize },
}

impl ReverseDns {
    /// Looks up the PTR names of `ip` and the addresses of the first
    /// [`MAX_NAMES`] of them, all at once.
    pub async fn of(dns: &Dns, ip: IpAddr) -> ReverseDns {
        let rname = name::reverse_name(ip);
        let answer = dns.ptr(ip).await;
        let names = answer.ptr_names().unwrap_or_default();
        let followed: Vec<&String> = names.iter().take(MAX_NAMES).collect();
        let forward =
            futures::future::join_all(followed.iter().map(|n| async move {
                Lookup::new(n, family(ip), dns.addrs(n, ip.is_ipv4()).await)
            }))
            .await;
        ReverseDns {
            ip,
            ptr: Lookup::new(&rname, RecordType::PTR, answer),
            names,
            forward,
        }
    }

    /// The names among the followed ones that resolve back to the address.
    pub fn confirmed(&self) -> Vec<String> {
        self.forward
            .iter()
            .filter(|l| l.outcome.ips().is_ok_and(|ips| ips.contains(&self.ip)))
            .map(|l| l.name.clone())
            .collect()
    }

    /// Names the cap left unfollowed.
    pub fn unfollowed(&self) -> &[String] {
        self.names.get(MAX_NAMES..).unwrap_or_default()
    }

    pub fn confirmation(&self) -> Confirmation {
        if let Some(f) = self.ptr.failed() {
            return Confirmation::Failed(f);
        }
        let confirmed = self.confirmed();
        if !confirmed.is_empty() {
            return Confirmation::Confirmed(confirmed);
        }
        if let Some(f) = self.forward.iter().find_map(Lookup::failed) {
            return Confirmation::Failed(f);
        }
        if !self.unfollowed().is_empty() {
            return Confirmation::Capped {
                names: self.names.len(),
            };
        }
        Confirmation::NotConfirmed
    }

    /// Whether `host` is a forward-confirmed name of the address: `None`
    /// when that cannot be known (a lookup failed, or `host` is among the
    /// names the cap left unfollowed).
    pub fn confirms(&self, host: &str) -> Option<bool> {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        if self.confirmed().contains(&host) {
            return Some(true);
        }
        if self.ptr.failed().is_some() {
            return None;
        }
        if let Some(l) = self.forward.iter().find(|l| l.name == host) {
            return l.failed().is_none().then_some(false);
        }
        if self.unfollowed().contains(&host) {
            return None;
        }
        Some(false)
    }

    /// What each followed name resolved to (or how its lookup ended).
    pub fn forward_evidence(&self) -> serde_json::Map<String, serde_json::Value> {
        self.forward
            .iter()
            .map(|l| {
                let v: Vec<String> = match l.outcome.ips() {
                    Ok(ips) if !ips.is_empty() => ips.iter().map(|i| i.to_string()).collect(),
                    _ => vec![l.outcome.describe()],
                };
                (l.name.clone(), serde_json::json!(v))
            })
            .collect()
    }

    /// The PTR answer, for words ("NXDOMAIN", "no records").
    pub fn ptr_outcome(&self) -> &Outcome {
        &self.ptr.outcome
    }
}

fn family(ip: IpAddr) -> RecordType {
    if ip.is_ipv4() {
        RecordType::A
    } else {
        RecordType::AAAA
    }
}

/// The reverse DNS of each address asked for in a run, computed once.
#[derive(Default)]
pub(crate) struct ReverseCache(
    std::sync::Mutex<
        std::collections::HashMap<
            IpAddr,
            futures::future::Shared<futures::future::BoxFuture<'static, Arc<ReverseDns>>>,
        >,
    >,
);

impl ReverseCache {
    pub(crate) fn get(
        &self,
        dns: &Dns,
        ip: IpAddr,
    ) -> futures::future::Shared<futures::future::BoxFuture<'static, Arc<ReverseDns>>> {
        use futures::FutureExt;
        let mut map = self.0.lock().expect("reverse cache lock");
        map.entry(ip)
            .or_insert_with(|| {
                let dns = dns.clone();
                async move { Arc::new(ReverseDns::of(&dns, ip).await) }
                    .boxed()
                    .shared()
            })
            .clone()
    }
}

//! SPF as receivers compute it: the include/redirect tree of a domain,
//! walked once and shared by every check that needs it, and `check_host`
//! (RFC 7208 §4) for one sending IP over that tree.
//!
//! The walk ([`walk`]) fetches every record and every term's DNS data once,
//! level by level, with all of a record's lookups in flight together, so
//! wall time follows the depth of the tree. It counts DNS-querying terms
//! and void lookups as RFC 7208 §4.6.4 does, and keeps each term's cost for
//! the report. Evaluation ([`eval`]) then runs over the walked tree (cached
//! answers), and only asks DNS again for terms whose names depend on the
//! IP (macros such as `%{i}`, and `ptr`).
//!
//! Two counts, two purposes. The walk counts the whole tree, the way
//! `spf.lookup-limit` judges a record: every term a receiver might have to
//! evaluate. The evaluation counts as receivers do (RFC 7208 §4.6.4): terms
//! left to right, the 10-lookup, 2-void and 10-MX-name limits applied as
//! they are reached, so an IP matched before the 11th lookup passes even
//! when the record as a whole is over the limit.

mod eval;
mod walk;

use std::net::IpAddr;
use std::sync::Arc;

use serde::Serialize;

use crate::dns::{Dns, Outcome};
use crate::records::spf::{Qualifier, SpfRecord};

pub use eval::{check_host, validated_names};
pub use walk::walk;

/// The identities an evaluation runs with (RFC 7208 §4.1).
#[derive(Debug, Clone)]
pub struct Identity {
    /// `<sender>`: the MAIL FROM address, or postmaster@HELO.
    pub sender: String,
    pub helo: String,
}

impl Identity {
    /// The identity for `domain`: `mail_from` when given, else
    /// postmaster@domain; the HELO name when given, else the domain.
    pub fn for_domain(domain: &str, mail_from: Option<&str>, helo: Option<&str>) -> Identity {
        Identity {
            // An empty local part is postmaster; the null sender is
            // postmaster at the domain checked (RFC 7208 §4.3).
            sender: match mail_from {
                Some(m) if m.starts_with('@') => format!("postmaster{m}"),
                Some(m) if m.contains('@') => m.to_string(),
                _ => format!("postmaster@{domain}"),
            },
            helo: helo
                .map(str::to_string)
                .unwrap_or_else(|| domain.to_string()),
        }
    }
}

/// RFC 7208 §4.6.4 limits.
pub const LOOKUP_LIMIT: u32 = 10;
pub const VOID_LIMIT: u32 = 2;
pub const MX_HOST_LIMIT: usize = 10;
/// Past this many counted lookups the walk stops following includes: the
/// record is broken anyway, and a hostile tree must not make us walk it all.
pub const WALK_CAP: u32 = 40;
/// DNS questions one walk may ask: enough for any record within the RFC
/// limits (10 terms, each an `mx` with 10 hosts asked for A and AAAA), so a
/// hostile tree costs at most this much. Past it, terms are counted from
/// the record's text but not resolved, and the evaluation of an IP asks
/// what it reaches itself, within its own limits (docs/limits.md).
pub const WALK_QUESTIONS: u32 = 250;

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
#[derive(Debug, Clone)]
pub struct SpfNode {
    pub domain: String,
    pub via: Via,
    pub record: Option<String>,
    pub error: Option<String>,
    /// DNS-querying terms in this record and below it.
    pub lookups: u32,
    /// Void lookups in this record and below it.
    pub void_lookups: u32,
    pub terms: Vec<TermNode>,
    pub problem: Option<NodeProblem>,
    pub parsed: Option<SpfRecord>,
    /// (Root only.) A cap of the walk was reached: some terms are counted
    /// but were not resolved.
    pub walk_capped: bool,
}

/// One term of a record, with what its lookups found.
#[derive(Debug, Clone)]
pub struct TermNode {
    pub term: String,
    /// Counts toward the limit of 10 (0 or 1).
    pub cost: u32,
    pub void: bool,
    pub note: Option<String>,
    pub child: Option<Box<SpfNode>>,
    pub data: TermData,
}

#[derive(Debug, Clone, Default)]
pub enum TermData {
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
#[derive(Debug, Clone)]
pub struct Evaluation {
    pub ip: IpAddr,
    pub result: SpfResult,
    /// The term that decided, with the record it is in.
    pub matched: Option<String>,
    pub reason: Option<String>,
    /// For a fail: the domain's explanation (`exp=`), as receivers show it
    /// to the sender (RFC 7208 §6.2).
    pub explanation: Option<String>,
}

impl SpfNode {
    pub(crate) fn empty(domain: String, via: Via) -> SpfNode {
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
            walk_capped: false,
        }
    }

    pub(crate) fn with_problem(mut self, problem: NodeProblem) -> SpfNode {
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
    pub fn effective(&self) -> &SpfNode {
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

    /// The `all` qualifier of this record, if it has one.
    pub fn all(&self) -> Option<Qualifier> {
        self.parsed.as_ref().and_then(SpfRecord::all)
    }

    pub fn has_redirect(&self) -> bool {
        self.parsed.as_ref().is_some_and(|p| p.redirect().is_some())
    }
}

impl TermNode {
    pub(crate) fn defer(&mut self) {
        self.note = Some("depends on the sending IP (macro)".into());
        self.data = TermData::PerIp;
    }

    /// An `mx` term whose name has more MX hosts than the limit.
    pub fn mx_over_limit(&self) -> Option<usize> {
        match &self.data {
            TermData::Mx { mx, .. } => mx
                .mx()
                .ok()
                .map(|hosts| hosts.len())
                .filter(|n| *n > MX_HOST_LIMIT),
            _ => None,
        }
    }
}

/// Size of the DNS response carrying the TXT RRset of `domain`, in octets
/// (header, question, answers with compressed owner names; no EDNS); `None`
/// when the lookup failed.
pub fn txt_answer_size(domain: &str, outcome: &Outcome) -> Option<usize> {
    let parts = outcome.txt_parts().ok()?;
    let qname = domain.len() + 2;
    Some(
        12 + qname
            + 4
            + parts
                .iter()
                .map(|parts| 2 + 10 + parts.iter().map(|p| 1 + p.len()).sum::<usize>())
                .sum::<usize>(),
    )
}

#[allow(dead_code)]
fn _assert_send(dns: &Dns, ip: IpAddr, tree: Arc<SpfNode>, id: Identity) {
    fn is_send<T: Send>(_: &T) {}
    is_send(&check_host(dns, tree, ip, id));
}

/// The result a receiver computes for one SMTP transaction (RFC 7208
/// §2.3, §2.4, §4.3): check_host for the MAIL FROM identity, or for the
/// HELO identity when MAIL FROM is empty (`postmaster@HELO`). A local
/// part that is empty becomes `postmaster`. A domain that is malformed or
/// not a multi-label name is `none` before any lookup.
pub async fn check_transaction(dns: &Dns, ip: IpAddr, mail_from: &str, helo: &str) -> Evaluation {
    let path = mail_from
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>');
    let (local, domain) = match path.rsplit_once('@') {
        Some((local, domain)) => (local, domain),
        None if path.is_empty() => ("postmaster", helo),
        None => ("postmaster", path),
    };
    let local = if local.is_empty() {
        "postmaster"
    } else {
        local
    };
    let domain = domain.trim_end_matches('.');
    if let Some(why) = malformed(domain) {
        return Evaluation {
            ip: ip.to_canonical(),
            result: SpfResult::None,
            matched: None,
            reason: Some(format!("{domain:?} {why} (RFC 7208 §4.3)")),
            explanation: None,
        };
    }
    let domain = domain.to_ascii_lowercase();
    let id = Identity {
        sender: format!("{local}@{domain}"),
        helo: helo.to_string(),
    };
    let tree = walk(dns, &domain, id.clone()).await;
    check_host(dns, Arc::new(tree), ip, id).await
}

/// Whether an expanded target is a name that can be asked: labels of 1 to
/// 63 octets, 253 in all (any octets: DNS names are 8-bit clean, and a
/// record may sit at a name with spaces or percent signs). An expansion
/// that is not (a label grown past 63 octets, an empty label) makes its
/// term not match, rather than fail a lookup (RFC 7208 §4.8, §7.3).
pub fn askable(name: &str) -> bool {
    let name = name.trim_end_matches('.');
    !name.is_empty() && name.len() <= 253 && name.split('.').all(|l| !l.is_empty() && l.len() <= 63)
}

/// Why `domain` cannot be checked (RFC 7208 §4.3), if it cannot.
pub fn malformed(domain: &str) -> Option<&'static str> {
    if domain.starts_with('[') {
        return Some("is an address literal, not a domain");
    }
    if !domain.contains('.') {
        return Some("is not a multi-label domain name");
    }
    if domain.len() > 253 {
        return Some("is longer than 253 characters");
    }
    for label in domain.split('.') {
        if label.is_empty() {
            return Some("has an empty label");
        }
        if label.len() > 63 {
            return Some("has a label longer than 63 characters");
        }
    }
    None
}

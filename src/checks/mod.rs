//! The checks: one type per file implementing [`Check`], and the registry
//! that lists them once, in report order (STYLE §2).
//!
//! A check reads facts ([`crate::facts`]), never another check, and returns
//! its typed detail (a [`Detail`], rendered by every report format) and its
//! findings. The run scaffolding ([`crate::engine`]) decides what a check's
//! findings make of its status, and what happens when a fact it needs
//! could not be established. Adding a check means its file, its line in
//! [`REGISTRY`], its advice entries in `rules/advice.toml` and its lines in
//! `docs/findings.md`.

pub mod bimi;
pub mod blocklists;
pub mod dane;
pub mod dkim;
pub mod dmarc;
pub mod dnssec;
pub mod message;
pub mod mta_sts;
pub mod mx;
pub mod ptr;
pub mod recipients;
pub mod smtp;
pub mod spf;
pub mod tls_rpt;

use futures::future::BoxFuture;

use crate::facts::Facts;
use crate::findings::Finding;
use crate::report::model::Detail;

/// What a check reads, beyond the DNS it asks itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Records published at the audited domain: the check does not run
    /// when the domain does not exist.
    DomainRecords,
    /// The sending IPs (given or inferred).
    SendingIps,
    /// The scanned messages.
    Messages,
    /// The configured blocklists.
    Blocklists,
    /// The recipient list.
    Recipients,
}

/// How a check ended.
pub enum Ran {
    /// It looked, and found this.
    Done {
        detail: Box<dyn Detail>,
        findings: Vec<Finding>,
    },
    /// It had nothing to look at, or asked nothing; `reason` says why, and
    /// `detail` what it would have looked at, if anything.
    Skipped {
        reason: String,
        detail: Option<Box<dyn Detail>>,
    },
}

impl<D: Detail + 'static> From<(D, Vec<Finding>)> for Ran {
    fn from((detail, findings): (D, Vec<Finding>)) -> Ran {
        Ran::done(detail, findings)
    }
}

impl Ran {
    pub fn done(detail: impl Detail + 'static, findings: Vec<Finding>) -> Ran {
        Ran::Done {
            detail: Box::new(detail),
            findings,
        }
    }

    /// Done, unless what it is about lives on the web (`wanted`) and this
    /// run fetches nothing (no `Target::web`, as offline without `--web`)
    /// while nothing else was found: then what was not seen is not judged,
    /// and the check says so.
    pub fn unless_unfetched(
        facts: &Facts<'_>,
        wanted: Option<&str>,
        detail: impl Detail + 'static,
        findings: Vec<Finding>,
    ) -> Ran {
        match wanted {
            Some(what) if findings.is_empty() && facts.target.web.is_none() => {
                Ran::skipped(format!(
                    "{what} was not fetched: this run makes no HTTPS requests (offline: --web DIR serves it)"
                ))
            }
            _ => Ran::done(detail, findings),
        }
    }

    pub fn skipped(reason: impl Into<String>) -> Ran {
        Ran::Skipped {
            reason: reason.into(),
            detail: None,
        }
    }
}

/// What the registry and the report know of a check.
#[derive(Debug)]
pub struct CheckInfo {
    /// The stable ID (the prefix of its finding IDs, the key in JSON).
    pub id: &'static str,
    pub title: &'static str,
    /// One line: what it looks at.
    pub description: &'static str,
    /// The facts it reads.
    pub needs: &'static [Need],
    /// Its JSON entry is an array with one entry (and status) per item
    /// rather than one object.
    pub per_item: bool,
}

/// One check.
pub trait Check: Sync {
    fn info(&self) -> &'static CheckInfo;
    fn run<'f, 'a: 'f>(&'f self, facts: &'f Facts<'a>) -> BoxFuture<'f, Ran>;

    fn id(&self) -> &'static str {
        self.info().id
    }
}

/// Every check, in report order.
pub static REGISTRY: &[&dyn Check] = &[
    &spf::Spf,
    &dmarc::Dmarc,
    &mx::Mx,
    &ptr::Ptr,
    &dkim::Dkim,
    &dnssec::Dnssec,
    &mta_sts::MtaSts,
    &tls_rpt::TlsRpt,
    &bimi::Bimi,
    &smtp::Smtp,
    &dane::Dane,
    &message::Message,
    &recipients::Recipients,
    &blocklists::Blocklists,
];

/// The registry entry for `id`.
pub fn find(id: &str) -> Option<&'static dyn Check> {
    REGISTRY.iter().copied().find(|c| c.id() == id)
}

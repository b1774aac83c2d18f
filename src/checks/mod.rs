//! The checks: one type per file implementing [`Check`], and the registry
//! that lists them once, in report order (STYLE §2).
//!
//! A check reads facts ([`crate::facts`]), never another check, and returns
//! its typed detail (a [`Detail`], rendered by every report format) and its
//! findings. The run scaffolding ([`crate::engine`]) decides what a check's
//! findings make of its status, and what happens when a fact it needs
//! could not be established. Adding a check means its file (the [`check!`]
//! declaring everything about it, its finding IDs among it), its line in
//! [`REGISTRY`] (with its `mod`), its advice entries in `rules/advice.toml`
//! and its lines in `docs/findings.md` and `docs/json.md`: nothing else
//! names a check.

pub mod arc;
pub mod bimi;
pub mod blocklist;
pub mod dane;
pub mod dkim;
pub mod dmarc;
pub mod dnssec;
pub mod message;
pub mod mta_sts;
pub mod mx;
pub mod ptr;
pub mod received;
pub mod recipients;
pub mod smtp;
pub mod smtp_in;
pub mod spam_filter;
pub mod spf;
pub mod tls_rpt;

use futures::future::BoxFuture;

use crate::facts::{Fact, Facts};
use crate::findings::Finding;
use crate::report::model::{Detail, Row, RunKind};

/// Declares a check: its unit struct, its registry metadata
/// ([`CheckInfo`]; a field not given takes [`CheckInfo::DEFAULT`]'s
/// value) and what it does with the run's facts:
///
/// ```ignore
/// check! {
///     /// What the check is.
///     Spf {
///         id: "spf",
///         title: "SPF",
///         description: "...",
///         domain_records: true,
///         reads: &[Fact::SendingIps],
///     }
///     fn run(facts) { ... }
/// }
/// ```
macro_rules! check {
    (
        $(#[$meta:meta])*
        $name:ident {
            $($field:ident: $value:expr),* $(,)?
        }
        fn run($facts:ident) $body:block
    ) => {
        $(#[$meta])*
        pub struct $name;

        impl $crate::checks::Check for $name {
            fn info(&self) -> &'static $crate::checks::CheckInfo {
                // The names a declaration's values use.
                #[allow(unused_imports)]
                use $crate::facts::Fact;
                #[allow(unused_imports)]
                use $crate::report::model::{Row, RunKind};
                static INFO: $crate::checks::CheckInfo = $crate::checks::CheckInfo {
                    $($field: $value,)*
                    ..$crate::checks::CheckInfo::DEFAULT
                };
                &INFO
            }

            fn run<'f, 'a: 'f>(
                &'f self,
                $facts: &'f $crate::facts::Facts<'a>,
            ) -> futures::future::BoxFuture<'f, $crate::checks::Ran> {
                Box::pin(async move $body)
            }
        }
    };
}
pub(crate) use check;

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

/// What the registry and the report know of a check: everything about it
/// but its `run`, so that no list elsewhere names checks.
#[derive(Debug)]
pub struct CheckInfo {
    /// The stable ID (the prefix of its finding IDs, the key in JSON).
    pub id: &'static str,
    pub title: &'static str,
    /// One line: what it looks at.
    pub description: &'static str,
    /// It reads records published at the audited domain: it does not run
    /// when the domain does not exist, and a zone whose DNSSEC is bogus
    /// leaves it unknown (validating receivers see none of its records).
    pub domain_records: bool,
    /// It judges DNSSEC itself (DNSSEC, DANE): a bogus zone is its
    /// finding, not a reason to be unknown.
    pub judges_dnssec: bool,
    /// The facts it reads: a cap reached on one of them (docs/limits.md)
    /// leaves it unknown.
    pub reads: &'static [Fact],
    /// The kinds of run it belongs to (an audit runs every check).
    pub kinds: &'static [RunKind],
    /// The checklist rows it counts for.
    pub rows: &'static [Row],
    /// Its JSON entry is an array with one entry (and status) per item
    /// rather than one object.
    pub per_item: bool,
    /// The finding IDs it declares in its own file with
    /// [`crate::check_finding_ids!`] (the older checks' IDs are listed in
    /// [`crate::findings`]); every one is in [`crate::findings::all`], so
    /// the advice, the docs and `explain` know it.
    pub findings: &'static [&'static str],
}

impl CheckInfo {
    /// What a field not given to [`check!`] is.
    pub const DEFAULT: CheckInfo = CheckInfo {
        id: "",
        title: "",
        description: "",
        domain_records: false,
        judges_dnssec: false,
        reads: &[],
        kinds: &[RunKind::Audit],
        rows: &[],
        per_item: false,
        findings: &[],
    };
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
    &smtp_in::SmtpIn,
    &message::Message,
    &received::ReceivedPath,
    &arc::ArcChain,
    &spam_filter::SpamFilter,
    &recipients::Recipients,
    &blocklist::Blocklist,
];

/// The checks of a kind of run, in registry order: its report has an
/// entry for each, run or not.
pub fn of_kind(kind: RunKind) -> impl Iterator<Item = &'static dyn Check> {
    REGISTRY
        .iter()
        .copied()
        .filter(move |c| c.info().kinds.contains(&kind))
}

/// The registry entry for `id`.
pub fn find(id: &str) -> Option<&'static dyn Check> {
    REGISTRY.iter().copied().find(|c| c.id() == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_check_declares_itself_whole() {
        let mut ids: Vec<&str> = Vec::new();
        for c in REGISTRY {
            let i = c.info();
            assert!(!i.id.is_empty() && !i.title.is_empty() && !i.description.is_empty());
            assert!(!ids.contains(&i.id), "{} twice", i.id);
            assert!(i.kinds.contains(&RunKind::Audit), "an audit runs {}", i.id);
            for f in i.findings {
                assert!(
                    crate::findings::check_of(f) == i.id,
                    "{f} declared by {}",
                    i.id
                );
                assert!(!crate::findings::DECLARED.contains(f), "{f} declared twice");
            }
            ids.push(i.id);
        }
        // Every finding belongs to a check of the registry, or to the run;
        // one declared in a check's file is in its CheckInfo.
        for f in crate::findings::all() {
            if !crate::findings::DECLARED.contains(f) {
                assert!(
                    REGISTRY.iter().any(|c| c.info().findings.contains(f)),
                    "{f} is in no check's CheckInfo::findings"
                );
            }
            let check = crate::findings::check_of(f);
            assert!(
                ids.contains(&check) || crate::findings::is_run_level(check),
                "{f} belongs to no check"
            );
        }
        for kind in [
            RunKind::Audit,
            RunKind::Message,
            RunKind::Blocklist,
            RunKind::Smtp,
            RunKind::Recipients,
        ] {
            assert!(of_kind(kind).next().is_some(), "{kind:?} runs nothing");
        }
    }
}

//! A lookup kept with its question, and lists that carry their failures.
//!
//! The rule of this layer: a failed lookup stays visible until a verdict is
//! made from it. [`Lookup`] keeps the name and type asked with the typed
//! outcome; [`Found`] is what several lookups found together with the ones
//! that failed, so a consumer cannot take a partial list for a whole one.

use std::sync::Arc;

use hickory_proto::rr::RecordType;
use serde::Serialize;

use crate::dns::{Outcome, OutcomeKind};
use crate::findings::Finding;

/// One question and what came back.
#[derive(Debug, Clone)]
pub struct Lookup {
    pub name: String,
    pub rtype: RecordType,
    pub outcome: Arc<Outcome>,
}

impl Lookup {
    pub fn new(name: &str, rtype: RecordType, outcome: Arc<Outcome>) -> Lookup {
        Lookup {
            name: name.to_string(),
            rtype,
            outcome,
        }
    }

    /// The lookup as a failure, when it got no answer a verdict may rest on.
    pub fn failed(&self) -> Option<FailedLookup> {
        (!self.outcome.is_definitive()).then(|| FailedLookup {
            name: self.name.clone(),
            rtype: self.rtype.to_string(),
            outcome: (*self.outcome).clone(),
        })
    }
}

/// A lookup that got no answer to rest a verdict on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedLookup {
    pub name: String,
    pub rtype: String,
    pub outcome: Outcome,
}

impl FailedLookup {
    pub fn new(name: &str, rtype: &str, outcome: &Outcome) -> FailedLookup {
        FailedLookup {
            name: name.to_string(),
            rtype: rtype.to_string(),
            outcome: outcome.clone(),
        }
    }

    /// The `*.dns-error` finding (`id`) about `subject` that names this
    /// lookup.
    pub fn finding(&self, id: &'static str, subject: &str) -> Finding {
        Finding::lookup_failed(id, subject, &self.name, &self.rtype, &self.outcome)
    }

    pub fn kind(&self) -> OutcomeKind {
        self.outcome.kind()
    }

    pub fn describe(&self) -> String {
        format!("{} {}: {}", self.rtype, self.name, self.outcome)
    }
}

/// What several lookups found, and the lookups that failed on the way.
#[derive(Debug, Clone)]
pub struct Found<T> {
    pub items: Vec<T>,
    pub failed: Vec<FailedLookup>,
}

impl<T> Default for Found<T> {
    fn default() -> Self {
        Found {
            items: Vec::new(),
            failed: Vec::new(),
        }
    }
}

impl<T> Found<T> {
    pub fn complete(items: Vec<T>) -> Found<T> {
        Found {
            items,
            failed: Vec::new(),
        }
    }

    /// Every lookup behind the list got a definitive answer.
    pub fn is_complete(&self) -> bool {
        self.failed.is_empty()
    }

    /// Records a failed lookup unless the same one is already there.
    pub fn fail(&mut self, f: FailedLookup) {
        if !self.failed.contains(&f) {
            self.failed.push(f);
        }
    }
}

/// Where a sending IP came from.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SendingIp {
    pub ip: std::net::IpAddr,
    /// "argument", "connection", "received", "mx" or "spf".
    pub source: &'static str,
    /// The MX host or SPF term it was found through.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
}

//! DMARC policy discovery with the RFC 9989 DNS tree walk, shared by the
//! DMARC check (the audited domain) and the message scan (each From
//! domain, and the signing domains it aligns with).
//!
//! The walk's names are known up front (the domain, then its ancestors, at
//! most 8 queries). The domain is asked first; when it has no record, all
//! the ancestors are asked at once: discovery costs at most two round
//! trips, not eight, and no query is spent on parents that do not matter.

use std::sync::Arc;

use futures::future::join_all;

use crate::dns::{Dns, Outcome, name};
use crate::facts::lookup::FailedLookup;
use crate::records::dmarc::{DmarcRecord, Psd, is_dmarc};

/// RFC 9989 §4.10: at most 8 queries; names longer than that skip to their
/// last 7 labels after the first query.
const MAX_WALK_LABELS: usize = 7;

/// One name asked during the walk.
#[derive(Debug, Clone)]
pub struct WalkStep {
    /// The domain (the query name is `_dmarc.` + domain).
    pub domain: String,
    pub answer: Arc<Outcome>,
    /// The `v=DMARC1` records found there.
    pub records: Vec<String>,
}

/// The result of a tree walk.
#[derive(Debug, Clone)]
pub struct Discovery {
    /// The domain the walk started from.
    pub domain: String,
    pub steps: Vec<WalkStep>,
    /// Index in `steps` of the record that applies.
    pub found: Option<usize>,
    /// A name on the way that did not answer: the walk cannot tell whether
    /// a record exists there.
    pub failed: Option<usize>,
    pub organizational_domain: Option<String>,
}

impl Discovery {
    pub fn record(&self) -> Option<DmarcRecord> {
        self.found
            .and_then(|i| self.steps[i].records.first())
            .map(|r| DmarcRecord::parse(r))
    }

    pub fn policy_domain(&self) -> Option<&str> {
        self.found.map(|i| self.steps[i].domain.as_str())
    }

    /// The lookup that broke the walk, if any.
    pub fn failure(&self) -> Option<FailedLookup> {
        self.failed.map(|i| {
            let step = &self.steps[i];
            FailedLookup::new(&format!("_dmarc.{}", step.domain), "TXT", &step.answer)
        })
    }

    /// The organisational domain, or `fallback` when the walk found none.
    pub fn org_or(&self, fallback: &str) -> String {
        self.organizational_domain
            .clone()
            .unwrap_or_else(|| fallback.to_string())
    }
}

/// The names a tree walk asks, in order (RFC 9989 §4.10).
pub fn walk_names(domain: &str) -> Vec<String> {
    let labels: Vec<&str> = domain.split('.').collect();
    let mut names = vec![domain.to_string()];
    let mut n = labels.len().saturating_sub(1).min(MAX_WALK_LABELS);
    while n >= 1 {
        names.push(labels[labels.len() - n..].join("."));
        n -= 1;
    }
    names
}

/// Walks the tree for `domain`: the domain first (most have a record of
/// their own), then all its ancestors at once.
pub async fn discover(dns: &Dns, domain: &str) -> Discovery {
    let names = walk_names(domain);
    let own = dns.txt(&format!("_dmarc.{domain}")).await;
    let has_record = own.txt().is_ok_and(|txt| txt.iter().any(|t| is_dmarc(t)));
    let answers = if has_record {
        vec![own]
    } else {
        let mut all = vec![own];
        all.extend(join_all(names[1..].iter().map(|n| dns.txt(&format!("_dmarc.{n}")))).await);
        all
    };
    let steps: Vec<WalkStep> = names
        .into_iter()
        .zip(answers)
        .map(|(domain, answer)| WalkStep {
            domain,
            records: answer
                .txt()
                .unwrap_or_default()
                .into_iter()
                .filter(|t| is_dmarc(t))
                .map(|t| String::from_utf8_lossy(&t).into_owned())
                .collect(),
            answer,
        })
        .collect();
    let mut found = None;
    let mut failed = None;
    for (i, step) in steps.iter().enumerate() {
        if !step.answer.is_definitive() {
            failed = Some(i);
            break;
        }
        if !step.records.is_empty() {
            found = Some(i);
            break;
        }
    }
    let organizational_domain = organizational_domain(&steps);
    Discovery {
        domain: domain.to_string(),
        steps,
        found,
        failed,
        organizational_domain,
    }
}

/// RFC 9989 organisational domain from the records the walk saw: psd=n
/// marks it; psd=y marks the domain one label below; otherwise the record
/// with the fewest labels.
fn organizational_domain(steps: &[WalkStep]) -> Option<String> {
    let start = steps.first()?.domain.clone();
    let mut shortest = None;
    for (i, step) in steps.iter().enumerate() {
        let Some(text) = step.records.first().filter(|_| step.records.len() == 1) else {
            continue;
        };
        let rec = DmarcRecord::parse(text);
        match rec.psd {
            Psd::No => return Some(step.domain.clone()),
            Psd::Yes if i > 0 => {
                let below = name::label_count(&step.domain) + 1;
                let labels: Vec<&str> = start.split('.').collect();
                return Some(labels[labels.len() - below.min(labels.len())..].join("."));
            }
            _ => shortest = Some(step.domain.clone()),
        }
    }
    shortest
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walk_names_follow_rfc9989() {
        assert_eq!(walk_names("example.com"), ["example.com", "com"]);
        assert_eq!(
            walk_names("a.b.example.com"),
            ["a.b.example.com", "b.example.com", "example.com", "com"]
        );
        let long = "a.b.c.d.e.f.g.h.i.example.com";
        let names = walk_names(long);
        assert_eq!(names.len(), 8);
        assert_eq!(names[1], "e.f.g.h.i.example.com");
        assert_eq!(names[7], "com");
    }
}

//! The DKIM key lookups of the audited domain: the selectors the user
//! named, those the scanned messages are signed with, and a probe of
//! common selectors, all asked at once (one round trip, however long the
//! probe list).

use futures::future::join_all;
use hickory_proto::rr::RecordType;
use serde::Serialize;

use crate::dns::Dns;
use crate::facts::Lookup;

/// Where a selector came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Argument,
    Message,
    Probe,
}

/// One selector asked, and the TXT answer at `selector._domainkey.domain`.
#[derive(Debug, Clone)]
pub struct KeyLookup {
    pub selector: String,
    pub source: Source,
    pub lookup: Lookup,
}

/// Asks every selector at once, the first [`caps::SELECTORS`] of them; a
/// selector is asked once, under the first source that names it. Returns
/// the lookups and how many selectors were wanted.
pub async fn lookup_keys(
    dns: &Dns,
    domain: &str,
    named: &[String],
    from_messages: &[String],
    probe: &[String],
) -> (Vec<KeyLookup>, usize) {
    let mut wanted: Vec<(String, Source)> = Vec::new();
    let mut add = |s: &str, src: Source| {
        let s = s.trim().to_ascii_lowercase();
        if !s.is_empty() && !wanted.iter().any(|(w, _)| *w == s) {
            wanted.push((s, src));
        }
    };
    for s in named {
        add(s, Source::Argument);
    }
    for s in from_messages {
        add(s, Source::Message);
    }
    for s in probe {
        add(s, Source::Probe);
    }
    let total = wanted.len();
    wanted.truncate(super::caps::SELECTORS);
    let answers = join_all(
        wanted
            .iter()
            .map(|(s, _)| dns.txt(&format!("{s}._domainkey.{domain}"))),
    )
    .await;
    let keys = wanted
        .into_iter()
        .zip(answers)
        .map(|((selector, source), answer)| KeyLookup {
            lookup: Lookup::new(
                &format!("{selector}._domainkey.{domain}"),
                RecordType::TXT,
                answer,
            ),
            selector,
            source,
        })
        .collect();
    (keys, total)
}

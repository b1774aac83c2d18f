//! The public keys a message's signatures name (DKIM-Signature, and ARC's
//! ARC-Message-Signature and ARC-Seal), fetched through our resolver
//! (cache, statistics, typed failures) and handed to mail-auth in a
//! pre-filled cache, so that mail-auth never sends a query of its own.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures::future::join_all;
use hickory_proto::op::ResponseCode;
use mail_auth::common::parse::TxtRecordParser;
use mail_auth::common::verify::DomainKey;
use mail_auth::{DnsError, Error, ResolverCache, Txt};

use crate::dns::{Dns, Outcome};

/// The keys asked, and the cache mail-auth verifies against.
pub struct SigningKeys {
    pub cache: KeyCache,
    /// Each key's name (`selector._domainkey.domain`, no trailing dot) and
    /// the TXT answer there, in the order first named.
    pub answers: Vec<(String, Arc<Outcome>)>,
}

impl SigningKeys {
    /// Asks every `(selector, domain)` key at once, each name once.
    pub async fn fetch<'s>(
        dns: &Dns,
        signers: impl IntoIterator<Item = (&'s str, &'s str)>,
    ) -> SigningKeys {
        let mut names: Vec<String> = Vec::new();
        let mut domains: Vec<String> = Vec::new();
        for (selector, domain) in signers {
            let name = format!("{selector}._domainkey.{domain}").to_ascii_lowercase();
            if !names.contains(&name) {
                names.push(name);
            }
            let domain = domain.to_ascii_lowercase();
            if !domains.contains(&domain) {
                domains.push(domain);
            }
        }
        let answers = join_all(names.iter().map(|n| dns.txt(&format!("{n}.")))).await;
        let cache = KeyCache::default();
        let now = std::time::Instant::now();
        for (n, a) in names.iter().zip(&answers) {
            cache.insert(format!("{n}.").into_boxed_str(), key_entry(a), now);
        }
        for d in &domains {
            // Keep mail-auth from asking for RFC 6651 report addresses.
            cache.insert(
                format!("_report._domainkey.{d}.").into_boxed_str(),
                Txt::Error(Error::Dns(DnsError::RecordNotFound(ResponseCode::NXDomain))),
                now,
            );
        }
        SigningKeys {
            cache,
            answers: names.into_iter().zip(answers).collect(),
        }
    }

    /// The keys whose lookup got no answer a verdict may rest on.
    pub fn failed(&self) -> impl Iterator<Item = (&str, &Outcome)> {
        self.answers
            .iter()
            .filter(|(_, a)| !a.is_definitive())
            .map(|(n, a)| (n.as_str(), a.as_ref()))
    }
}

/// mail-auth's TXT cache, filled from our resolver beforehand.
#[derive(Default)]
pub struct KeyCache(Mutex<HashMap<Box<str>, Txt>>);

impl ResolverCache<Box<str>, Txt> for KeyCache {
    fn get<Q>(&self, name: &Q) -> Option<Txt>
    where
        Box<str>: std::borrow::Borrow<Q>,
        Q: std::hash::Hash + Eq + ?Sized,
    {
        self.0.lock().expect("cache lock").get(name).cloned()
    }

    fn remove<Q>(&self, name: &Q) -> Option<Txt>
    where
        Box<str>: std::borrow::Borrow<Q>,
        Q: std::hash::Hash + Eq + ?Sized,
    {
        self.0.lock().expect("cache lock").remove(name)
    }

    fn insert(&self, key: Box<str>, value: Txt, _valid_until: std::time::Instant) {
        self.0.lock().expect("cache lock").insert(key, value);
    }
}

/// What mail-auth makes of a key answer: the first record that parses as
/// a key, else why none does, or the lookup's failure.
fn key_entry(outcome: &Outcome) -> Txt {
    match outcome {
        Outcome::Records(_) => {
            let mut first_err = None;
            for txt in outcome.txt().unwrap_or_default() {
                match DomainKey::parse(&txt) {
                    Ok(k) => return Txt::DomainKey(Arc::new(k)),
                    Err(e) => {
                        first_err.get_or_insert(e);
                    }
                }
            }
            Txt::Error(first_err.unwrap_or(Error::Dns(DnsError::InvalidRecordType)))
        }
        Outcome::NxDomain => {
            Txt::Error(Error::Dns(DnsError::RecordNotFound(ResponseCode::NXDomain)))
        }
        Outcome::NoData => Txt::Error(Error::Dns(DnsError::RecordNotFound(ResponseCode::NoError))),
        other => Txt::Error(Error::Dns(DnsError::Resolver(other.describe()))),
    }
}

//! DNSSEC: zone keys for the embedded server, and validation from a trust
//! anchor for the DNSSEC and DANE checks.
//!
//! Signing exists so that an audit (and the tests) can serve a signed zone
//! offline: a [`ZoneKey`] signs a [`super::server::Zone`] when the server
//! starts, and gives the DNSKEY (for a trust-anchor file) and DS (for the
//! parent zone) lines that chain it to a signed parent.
//!
//! Validation goes through hickory's validating resolver, built next to
//! ours over the same name servers. It walks the chain of trust from the
//! anchor (the IANA root keys, or `--trust-anchor FILE`) and marks every
//! answer secure, insecure (no chain: an unsigned zone) or bogus. A
//! question it could not ask to the end is [`Validation::Unknown`], never
//! insecure.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::{BoxFuture, Shared};
use futures::{FutureExt, Stream};
use hickory_proto::dnssec::crypto::Ed25519SigningKey;
use hickory_proto::dnssec::rdata::{DNSKEY, DS};
use hickory_proto::dnssec::{DigestType, DnssecSigner, Proof, SigningKey, TrustAnchors};
use hickory_proto::op::{DnsRequest, DnsRequestOptions, DnsResponse, Edns, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use hickory_resolver::config::{NameServerConfig, ResolverOpts};
use hickory_resolver::net::dnssec::DnssecDnsHandle;
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::xfer::{DnsHandle, FirstAnswer, RetryDnsHandle};
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::{NameServerPool, PoolContext, TlsConfig};
use rustls_pki_types::PrivatePkcs8KeyDer;

use super::Rr;

/// A zone signing key (Ed25519, algorithm 15) for the embedded server.
#[derive(Clone)]
pub struct ZoneKey {
    pkcs8: Vec<u8>,
}

impl std::fmt::Debug for ZoneKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ZoneKey(..)")
    }
}

impl ZoneKey {
    /// A fresh key.
    pub fn generate() -> Result<ZoneKey, String> {
        let der = Ed25519SigningKey::generate_pkcs8().map_err(|e| e.to_string())?;
        Ok(ZoneKey {
            pkcs8: der.secret_pkcs8_der().to_vec(),
        })
    }

    fn signing_key(&self) -> Result<Ed25519SigningKey, String> {
        Ed25519SigningKey::from_pkcs8(&PrivatePkcs8KeyDer::from(self.pkcs8.clone()))
            .map_err(|e| e.to_string())
    }

    /// The DNSKEY record data (zone key, secure entry point).
    pub fn dnskey(&self) -> Result<DNSKEY, String> {
        let public = self
            .signing_key()?
            .to_public_key()
            .map_err(|e| e.to_string())?;
        Ok(DNSKEY::new(true, true, false, public))
    }

    /// `<zone>. 3600 IN DNSKEY ...`: a line of a trust-anchor file.
    pub fn dnskey_line(&self, zone: &str) -> Result<String, String> {
        Ok(format!("{} 3600 IN DNSKEY {}", fqdn(zone), self.dnskey()?))
    }

    /// `<zone>. 3600 IN DS ...` (SHA-256): the line the parent zone holds.
    pub fn ds_line(&self, zone: &str) -> Result<String, String> {
        let name = Name::from_ascii(fqdn(zone)).map_err(|e| e.to_string())?;
        let public = self
            .signing_key()?
            .to_public_key()
            .map_err(|e| e.to_string())?;
        let ds = DS::from_key(&public, &name, DigestType::SHA256).map_err(|e| e.to_string())?;
        Ok(format!("{} 3600 IN DS {ds}", fqdn(zone)))
    }

    /// The signer the server signs `zone` with (signatures valid 30 days).
    pub(crate) fn signer(&self, zone: &Name) -> Result<DnssecSigner, String> {
        let key = self.signing_key()?;
        Ok(DnssecSigner::new(
            self.dnskey()?,
            Box::new(key),
            zone.clone(),
            Duration::from_secs(30 * 86_400),
        ))
    }
}

fn fqdn(zone: &str) -> String {
    let z = zone.trim_end_matches('.');
    if z.is_empty() {
        ".".to_string()
    } else {
        format!("{z}.")
    }
}

/// What validation says about one (name, type).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Validation {
    /// Signed, and the signatures chain to the trust anchor.
    Secure,
    /// Provably outside any signed zone (no DS at a delegation on the way).
    Insecure,
    /// Signed, but the chain or a signature does not validate: a
    /// validating resolver answers SERVFAIL.
    Bogus(String),
    /// Validation could not be finished (timeout, refusal, not asked).
    Unknown(String),
}

/// One validation result in words: `secure`, `insecure (not signed)`,
/// `bogus: why`, `unknown: why`.
impl std::fmt::Display for Validation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Validation::Secure => f.write_str("secure"),
            Validation::Insecure => f.write_str("insecure (not signed)"),
            Validation::Bogus(why) => write!(f, "bogus: {why}"),
            Validation::Unknown(why) => write!(f, "unknown: {why}"),
        }
    }
}

/// A trust-anchor file, read: its keys, and the zones they are for (lower
/// case, no trailing dot; "" the root): where chains of trust may start.
pub struct Anchors {
    pub keys: TrustAnchors,
    pub zones: Vec<String>,
}

/// Reads a trust-anchor file: DNSKEY records in zone-file form, for the
/// root or any other zone.
pub fn read_trust_anchor(path: &std::path::Path) -> Result<Anchors, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let keys: TrustAnchors = text
        .parse()
        .map_err(|e: hickory_proto::serialize::txt::ParseError| e.to_string())?;
    let zones = zones_of(&text);
    if zones.is_empty() {
        return Err("no DNSKEY records (one line per key: . 3600 IN DNSKEY 257 3 ...)".into());
    }
    Ok(Anchors { keys, zones })
}

fn zones_of(text: &str) -> Vec<String> {
    let mut zones: Vec<String> = text
        .lines()
        .map(|l| l.split(';').next().unwrap_or("").trim())
        .filter(|l| {
            l.split_whitespace()
                .any(|w| w.eq_ignore_ascii_case("DNSKEY"))
        })
        .filter_map(|l| l.split_whitespace().next())
        .map(|n| n.trim_end_matches('.').to_ascii_lowercase())
        .collect();
    zones.sort();
    zones.dedup();
    zones
}

/// The validator: hickory's DNSSEC handle over a cache of the questions
/// its walk asks (NS, DS and DNSKEY up the tree), so that a zone's keys are
/// asked once for all the names below it (every MX host of a domain) and
/// the walk, which hickory makes one question after another, can be
/// answered from questions sent all at once beforehand.
pub(crate) struct Validator {
    handle: DnssecDnsHandle<ChainCache<Upstream>>,
    cache: ChainCache<Upstream>,
}

type Upstream = RetryDnsHandle<NameServerPool<TokioRuntimeProvider>>;

/// The validator over `servers`, from `keys` (the IANA root keys when
/// `None`).
pub(crate) fn validator(
    servers: Vec<NameServerConfig>,
    opts: ResolverOpts,
    keys: Option<TrustAnchors>,
) -> Result<Validator, String> {
    let attempts = opts.attempts.max(1);
    let tls = TlsConfig::new().map_err(|e| e.to_string())?;
    let context = Arc::new(PoolContext::new(opts, tls));
    let pool = NameServerPool::from_config(servers, context, TokioRuntimeProvider::default());
    let cache = ChainCache::new(RetryDnsHandle::new(pool, attempts));
    let keys = Arc::new(keys.unwrap_or_default());
    Ok(Validator {
        handle: DnssecDnsHandle::with_trust_anchor(cache.clone(), keys),
        cache,
    })
}

/// Names below the question whose chain questions are sent ahead at most
/// (a longer name has its upper labels' questions sent ahead).
const MAX_CHAIN_LABELS: usize = 12;

impl Validator {
    /// Validates (`name`, `rtype`): the weakest proof over the answer's
    /// records, or the proof of the denial. The questions of the chain of
    /// trust (NS, DS, DNSKEY at every label up to the root) are sent at
    /// once beside it, and the walk finds them in the cache.
    pub(crate) async fn validate(
        &self,
        name: &str,
        rtype: RecordType,
        budget: Duration,
    ) -> Validated {
        let Ok(qname) = Name::from_ascii(fqdn(name)) else {
            return Validated::unknown(format!("invalid name {name:?}"));
        };
        self.prefetch(&qname);
        let mut options = DnsRequestOptions::default();
        options.edns_set_dnssec_ok = true;
        let lookup = self
            .handle
            .lookup(Query::query(qname.clone(), rtype), options)
            .first_answer();
        match tokio::time::timeout(budget, lookup).await {
            Err(_) => Validated::unknown("validation timed out"),
            Ok(Ok(response)) => of_response(&response, rtype),
            Ok(Err(NetError::Dns(DnsError::Nsec {
                proof, response, ..
            }))) => match unanswered(response.metadata.response_code) {
                Some(why) => Validated::unknown(why),
                None => Validated {
                    validation: of_proof(proof, "a denial"),
                    records: Vec::new(),
                },
            },
            Ok(Err(e)) => Validated {
                validation: of_error(&e),
                records: Vec::new(),
            },
        }
    }

    /// Sends the chain questions for `name` (and every label above it) on
    /// their own task: the walk waits on the ones it needs, and the
    /// validation never waits on one it does not (a DNSKEY question at a
    /// name that is no zone apex, say).
    fn prefetch(&self, name: &Name) {
        let mut options = DnsRequestOptions::default();
        options.edns_set_dnssec_ok = true;
        let mut asked = Vec::new();
        let mut at = name.clone();
        for _ in 0..=MAX_CHAIN_LABELS {
            asked.push(Query::query(at.clone(), RecordType::DNSKEY));
            if at.is_root() {
                break;
            }
            asked.push(Query::query(at.clone(), RecordType::NS));
            asked.push(Query::query(at.clone(), RecordType::DS));
            at = at.base_name();
        }
        let pending: Vec<_> = asked
            .into_iter()
            .map(|q| self.cache.lookup(q, options).first_answer())
            .collect();
        tokio::spawn(futures::future::join_all(pending));
    }
}

/// What a response's code says when it answers nothing (SERVFAIL,
/// REFUSED...): the question was not answered, so nothing is proved.
fn unanswered(code: ResponseCode) -> Option<String> {
    match code {
        ResponseCode::NoError | ResponseCode::NXDomain => None,
        other => Some(format!("the server answered {other}")),
    }
}

/// A validated response: its records of the asked type and the weakest
/// proof over its answer (RRSIGs aside), or, with no records of that type,
/// the proof of the denial: secure when a validated NSEC or NSEC3 proves
/// it, insecure otherwise (hickory returns a denial without such a proof
/// only once it has shown the zone unsigned).
fn of_response(response: &DnsResponse, rtype: RecordType) -> Validated {
    if let Some(why) = unanswered(response.metadata.response_code) {
        return Validated::unknown(why);
    }
    let records: Vec<Rr> = response
        .answers
        .iter()
        .filter(|r| r.record_type() == rtype)
        .map(super::convert_record)
        .collect();
    if !records.is_empty() {
        let proof = response
            .answers
            .iter()
            .filter(|r| r.record_type() != RecordType::RRSIG)
            .map(|r| r.proof)
            .min()
            .unwrap_or(Proof::Indeterminate);
        return Validated {
            validation: of_proof(proof, "an answer"),
            records,
        };
    }
    let authorities = || response.authorities.iter();
    let proved = authorities().any(|r| {
        r.proof == Proof::Secure && matches!(r.record_type(), RecordType::NSEC | RecordType::NSEC3)
    });
    let validation = if proved {
        Validation::Secure
    } else if authorities().any(|r| r.proof == Proof::Bogus) {
        of_proof(Proof::Bogus, "a denial")
    } else {
        Validation::Insecure
    };
    Validated {
        validation,
        records: Vec::new(),
    }
}

/// The cache under the validator: one shared answer per (name, type) for
/// a minute, questions in flight shared; a failure is kept only while in
/// flight (the next asker asks again). Every question carries the DO bit.
#[derive(Clone)]
pub(crate) struct ChainCache<H> {
    inner: H,
    entries: Arc<Mutex<HashMap<(Name, RecordType), Entry>>>,
}

type Answer = Result<DnsResponse, NetError>;

struct Entry {
    asked: Instant,
    answer: Shared<BoxFuture<'static, Answer>>,
}

/// How long an answer of the chain is reused.
const CHAIN_FRESH: Duration = Duration::from_secs(60);
/// Answers kept at most (the cache starts again empty beyond).
const CHAIN_ENTRIES: usize = 4096;

impl<H> ChainCache<H> {
    fn new(inner: H) -> Self {
        ChainCache {
            inner,
            entries: Arc::default(),
        }
    }
}

impl<H: DnsHandle> DnsHandle for ChainCache<H> {
    type Response = Pin<Box<dyn Stream<Item = Answer> + Send>>;
    type Runtime = H::Runtime;

    fn send(&self, mut request: DnsRequest) -> Self::Response {
        let Some(query) = request.queries.first() else {
            return Box::pin(self.inner.send(request));
        };
        let key = (query.name().to_lowercase(), query.query_type());
        request.edns.get_or_insert_with(Edns::new).enable_dnssec();
        let mut entries = self.entries.lock().expect("chain cache lock");
        let reusable = entries.get(&key).filter(|e| {
            e.asked.elapsed() < CHAIN_FRESH && !matches!(e.answer.peek(), Some(Err(_)))
        });
        let answer = match reusable {
            Some(e) => e.answer.clone(),
            None => {
                let inner = self.inner.clone();
                let answer = async move { inner.send(request).first_answer().await }
                    .boxed()
                    .shared();
                if entries.len() >= CHAIN_ENTRIES {
                    entries.clear();
                }
                entries.insert(
                    key,
                    Entry {
                        asked: Instant::now(),
                        answer: answer.clone(),
                    },
                );
                answer
            }
        };
        Box::pin(futures::stream::once(answer))
    }
}

/// A validated answer: how it validated, and its records of the asked type
/// (none for a denial).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validated {
    pub validation: Validation,
    pub records: Vec<Rr>,
}

impl Validated {
    pub(crate) fn unknown(why: impl Into<String>) -> Validated {
        Validated {
            validation: Validation::Unknown(why.into()),
            records: Vec::new(),
        }
    }
}

/// Why nothing below a trust anchor can be judged when the anchor's own
/// DNSKEY set (the root's) does not validate: a resolver on the way that
/// strips DNSSEC records, or a wrong anchor, makes every answer look
/// bogus. `None` when it validates. The DNSSEC and DANE checks give this
/// same reason.
pub fn anchor_unusable(anchor: &str, keys: &Validation) -> Option<String> {
    let zone = if anchor.is_empty() {
        "the root zone".to_string()
    } else {
        format!("the trust anchor's zone {anchor}")
    };
    match keys {
        Validation::Secure => None,
        Validation::Unknown(why) => Some(format!(
            "the keys of {zone} could not be validated ({why}), so nothing below it can be judged"
        )),
        Validation::Bogus(why) => Some(format!(
            "the keys of {zone} do not validate through this resolver ({why}): it may strip DNSSEC records, or the trust anchor is not the zone's key, so nothing below it can be judged"
        )),
        Validation::Insecure => Some(format!(
            "the keys of {zone} do not validate through this resolver (no chain to the anchor): it may strip DNSSEC records, so nothing below it can be judged"
        )),
    }
}

fn of_proof(proof: Proof, what: &str) -> Validation {
    match proof {
        Proof::Secure => Validation::Secure,
        Proof::Insecure => Validation::Insecure,
        Proof::Bogus => Validation::Bogus(format!("{what} whose signatures do not validate")),
        Proof::Indeterminate => Validation::Unknown(format!("{what} that could not be validated")),
    }
}

fn of_error(err: &NetError) -> Validation {
    match err {
        NetError::Dns(DnsError::NoRecordsFound(no)) => {
            let soa = no.soa.iter().map(|r| r.proof);
            let authorities = no
                .authorities
                .iter()
                .flat_map(|a| a.iter().map(|r| r.proof));
            let proof = soa.chain(authorities).min().unwrap_or(Proof::Indeterminate);
            of_proof(proof, "a denial")
        }
        NetError::Dns(DnsError::Nsec { proof, .. }) => of_proof(*proof, "a denial"),
        NetError::Dns(DnsError::DnssecBogus) => {
            Validation::Bogus("its signatures do not validate from the trust anchor".into())
        }
        NetError::Timeout => Validation::Unknown("timed out".into()),
        other => {
            let text = other.to_string();
            if text.contains("bogus") || text.contains("Bogus") {
                Validation::Bogus(text)
            } else {
                Validation::Unknown(text)
            }
        }
    }
}

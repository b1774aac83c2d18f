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

use std::time::Duration;

use hickory_proto::dnssec::crypto::Ed25519SigningKey;
use hickory_proto::dnssec::rdata::{DNSKEY, DS};
use hickory_proto::dnssec::{DigestType, DnssecSigner, Proof, SigningKey, TrustAnchors};
use hickory_proto::rr::{Name, RecordType};
use hickory_resolver::TokioResolver;
use hickory_resolver::net::{DnsError, NetError};
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
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "proof", content = "reason", rename_all = "lowercase")]
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

/// hickory's validating resolver over the given name servers, from
/// `keys` (the IANA root keys when `None`).
pub(crate) fn validating_resolver(
    config: hickory_resolver::config::ResolverConfig,
    mut opts: hickory_resolver::config::ResolverOpts,
    keys: Option<TrustAnchors>,
) -> Result<TokioResolver, String> {
    opts.validate = true;
    let mut builder = TokioResolver::builder_with_config(
        config,
        hickory_resolver::net::runtime::TokioRuntimeProvider::default(),
    );
    // hickory reads `ResolverOpts::trust_anchor` only as "validate"; the
    // keys themselves are given to the builder.
    if let Some(keys) = keys {
        builder = builder.with_trust_anchor(std::sync::Arc::new(keys));
    }
    builder
        .with_options(opts)
        .build()
        .map_err(|e| e.to_string())
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

/// Validates (`name`, `rtype`) with `resolver`: the weakest proof over the
/// answer's records, or the proof of the denial.
pub(crate) async fn validate(
    resolver: &TokioResolver,
    name: &str,
    rtype: RecordType,
    budget: Duration,
) -> Validated {
    let Ok(qname) = Name::from_ascii(fqdn(name)) else {
        return Validated::unknown(format!("invalid name {name:?}"));
    };
    match tokio::time::timeout(budget, resolver.lookup(qname, rtype)).await {
        Err(_) => Validated::unknown("validation timed out"),
        Ok(Ok(lookup)) => {
            let proofs = lookup.answers().iter().map(|r| r.proof);
            Validated {
                validation: of_proof(proofs.min().unwrap_or(Proof::Indeterminate), "an answer"),
                records: lookup
                    .answers()
                    .iter()
                    .filter(|r| r.record_type() == rtype)
                    .map(super::convert_record)
                    .collect(),
            }
        }
        Ok(Err(e)) => Validated {
            validation: of_error(&e),
            records: Vec::new(),
        },
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

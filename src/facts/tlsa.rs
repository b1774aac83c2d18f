//! The TLSA records of a mail host (RFC 7672 §2.2: `_25._tcp.<host>`), one
//! fact for the two checks that read them: DANE validates them with
//! DNSSEC and judges them; TLS-RPT only needs to know whether any MX host
//! publishes them (deployed, validating or not). The plain lookup goes
//! through the run's resolver (cached, counted); the validated one through
//! the DNSSEC validation, and only when the run can validate.

use hickory_proto::rr::RecordType;

use crate::dns::dnssec::Validated;
use crate::facts::{Facts, FailedLookup, Lookup};

/// The name of `host`'s TLSA records for SMTP.
pub fn name_of(host: &str) -> String {
    format!("_25._tcp.{}", host.trim_end_matches('.'))
}

impl Facts<'_> {
    /// The TLSA records of `host` as the resolver answers them, unvalidated.
    pub async fn tlsa(&self, host: &str) -> Lookup {
        let name = name_of(host);
        let answer = self.dns.query(&name, RecordType::TLSA).await;
        Lookup::new(&name, RecordType::TLSA, answer)
    }

    /// The TLSA records of `host`, validated from the trust anchor.
    pub async fn tlsa_validated(&self, host: &str) -> (String, Validated) {
        let name = name_of(host);
        let validated = self.dns.validate(&name, RecordType::TLSA).await;
        (name, validated)
    }

    /// Whether any MX host of the domain publishes TLSA records (read
    /// without validation); a failed lookup (the MX hosts', or a host's
    /// TLSA) leaves it unknown unless another host publishes them.
    pub async fn mx_publish_tlsa(&self) -> Result<bool, FailedLookup> {
        let mx = self.mx().await;
        if let Some(failed) = mx.lookup.failed() {
            return Err(failed);
        }
        let lookups = futures::future::join_all(
            mx.hosts
                .iter()
                .filter(|h| !h.name.is_empty())
                .map(|h| self.tlsa(&h.name)),
        )
        .await;
        let mut failed = None;
        for l in &lookups {
            if l.outcome.answer().is_ok_and(|r| !r.is_empty()) {
                return Ok(true);
            }
            if let Some(f) = l.failed() {
                failed.get_or_insert(f);
            }
        }
        failed.map_or(Ok(false), Err)
    }
}

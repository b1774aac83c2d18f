//! Is the resolver telling the truth? Absence is believed only from a
//! resolver shown to work.
//!
//! Some resolvers answer NXDOMAIN for every name (captive portals, broken
//! container DNS, some ISP resolvers). Read naively, that makes every
//! record look missing. So an NXDOMAIN is believed only after the
//! top-level domain of the name has been asked about (its SOA, once per
//! run). When the resolver denies that TLD too, a TLD that certainly exists
//! (`arpa`) is asked: a resolver that denies it as well is broken, and the
//! NXDOMAIN becomes a failed lookup; one that knows it is telling the
//! truth about a TLD that does not exist (a typo, a junk HELO name). The probe needs no root server: a
//! TLD that times out or is refused (an authoritative server asked with
//! `--nameserver`, or an offline run) proves nothing either way, and the
//! NXDOMAIN of a server that answers for the name stands. Offline
//! (`--zone`), the embedded server answers from the user's own zones, so
//! its NXDOMAIN is always believed, a zone for the root included. Special-use
//! top-level names (RFC 6761 and later) are not expected to exist, so
//! they prove nothing either.
//!
//! A resolver that answered no question at all (every one timed out or
//! failed) is reported once as unreachable, from the run's statistics.

use std::sync::Mutex;

use hickory_proto::rr::RecordType;

use crate::dns::{Dns, Outcome, StatsSnapshot};

/// Top-level names reserved from the public DNS: RFC 6761 (test, example,
/// invalid, localhost), RFC 6762 (local), RFC 7686 (onion), RFC 9476
/// (alt), and `internal` (ICANN, 2024).
const SPECIAL_USE: &[&str] = &[
    "test",
    "example",
    "invalid",
    "localhost",
    "local",
    "onion",
    "alt",
    "internal",
];

/// What a run learnt about its resolver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// Nothing says it lies, and it answered.
    Working,
    /// It answered NXDOMAIN for `name` and for its top-level domain `tld`.
    Broken { tld: String, name: String },
    /// No question got an answer a verdict can rest on.
    Unreachable {
        /// Questions that went out, and how they failed ("12 timed out").
        asked: u64,
        how: String,
    },
}

/// Remembers the top-level domains the resolver denied, with the first
/// name that led to each.
#[derive(Debug, Default)]
pub struct Tracker {
    denied: Mutex<Vec<(String, String)>>,
}

impl Tracker {
    fn deny(&self, tld: &str, name: &str) {
        let mut denied = self.denied.lock().expect("health lock");
        if !denied.iter().any(|(t, _)| t == tld) {
            denied.push((tld.to_string(), name.to_string()));
        }
    }

    fn denies(&self, tld: &str) -> bool {
        self.denied
            .lock()
            .expect("health lock")
            .iter()
            .any(|(t, _)| t == tld)
    }

    pub fn verdict(&self, stats: &StatsSnapshot) -> Health {
        if let Some((tld, name)) = self.denied.lock().expect("health lock").first().cloned() {
            return Health::Broken { tld, name };
        }
        let count = |k: &str| stats.by_outcome.get(k).copied().unwrap_or(0);
        let definitive = count("records") + count("nxdomain") + count("nodata");
        let failed: Vec<String> = [
            ("timeout", "timed out"),
            ("servfail", "SERVFAIL"),
            ("refused", "REFUSED"),
            ("error", "failed"),
        ]
        .iter()
        .filter(|(k, _)| count(k) > 0)
        .map(|(k, what)| format!("{} {what}", count(k)))
        .collect();
        if definitive == 0 && !failed.is_empty() {
            return Health::Unreachable {
                asked: stats.queries,
                how: failed.join(", "),
            };
        }
        Health::Working
    }
}

/// Whether `tld` is a special-use top-level name.
pub fn is_special_use(tld: &str) -> bool {
    SPECIAL_USE.contains(&tld)
}

/// A top-level domain that exists for as long as the DNS does: asked when
/// another TLD is denied, to tell a lying resolver from a TLD that really
/// does not exist (a typo, a junk HELO name).
const REFERENCE_TLD: &str = "arpa";

/// The NXDOMAIN `nx` for `name`, or a failed lookup when the resolver also
/// denies the name's top-level domain and a TLD that certainly exists.
pub async fn believe(dns: &Dns, name: &str, nx: Outcome) -> Outcome {
    let tld = name.rsplit('.').next().unwrap_or(name);
    // Offline, every question goes to the embedded server and only names
    // inside the loaded zones are asked: the user's own zones are the
    // authority, and their NXDOMAIN is the truth (a zone for the root
    // included, which denies every TLD it does not delegate).
    if dns.config().scope.is_some() {
        return nx;
    }
    if tld.is_empty() || is_special_use(tld) {
        return nx;
    }
    if dns.0.health.denies(tld) {
        return broken(tld);
    }
    // The TLD's own NXDOMAIN comes back as a failure (this function, for
    // the TLD): the tracker says whether it was denied.
    let denied = |answer: &Outcome, t: &str| {
        matches!(answer, Outcome::NxDomain | Outcome::NoData) || dns.0.health.denies(t)
    };
    let tld_denied = name == tld || denied(&*dns.query(tld, RecordType::SOA).await, tld);
    if !tld_denied {
        return nx;
    }
    let reference_denied = if tld == REFERENCE_TLD {
        true
    } else {
        let answer = dns.query(REFERENCE_TLD, RecordType::SOA).await;
        denied(&answer, REFERENCE_TLD)
    };
    if !reference_denied {
        // The resolver knows real TLDs: this one just does not exist.
        return nx;
    }
    dns.0.health.deny(tld, name);
    broken(tld)
}

fn broken(tld: &str) -> Outcome {
    Outcome::Error(format!(
        "NXDOMAIN not believed: the resolver also denies the top-level domain {tld}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreachable_only_without_any_answer() {
        let t = Tracker::default();
        let mut stats = StatsSnapshot {
            queries: 3,
            cache_hits: 0,
            by_outcome: [("timeout", 3)].into_iter().collect(),
        };
        assert!(matches!(
            t.verdict(&stats),
            Health::Unreachable { asked: 3, .. }
        ));
        stats.by_outcome.insert("nodata", 1);
        assert_eq!(t.verdict(&stats), Health::Working);
        assert!(is_special_use("test") && !is_special_use("com"));
    }
}

//! The checks, one file each, and the registry that lists them once
//! (STYLE §2).

pub mod dkim;
pub mod dmarc;
pub mod dnsbl;
pub mod message;
pub mod mx;
pub mod ptr;
pub mod spf;

use std::sync::Arc;

use crate::dns::Dns;
use crate::rules::Rules;

/// What every check of one audit shares.
#[derive(Clone)]
pub struct Context {
    pub dns: Dns,
    pub rules: Arc<Rules>,
    /// The audited domain, normalised.
    pub domain: String,
    pub helo: Option<String>,
    pub mail_from: Option<String>,
}

/// One entry of the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckInfo {
    pub id: &'static str,
    pub title: &'static str,
    pub description: &'static str,
}

/// Every check, in report order.
pub const REGISTRY: &[CheckInfo] = &[
    CheckInfo {
        id: "spf",
        title: "SPF",
        description: "the SPF record, its include tree and lookup counts, and check_host for each sending IP",
    },
    CheckInfo {
        id: "dmarc",
        title: "DMARC",
        description: "DMARC record discovery (RFC 9989 tree walk), tags, policy strength and reporting",
    },
    CheckInfo {
        id: "mx",
        title: "MX",
        description: "the MX records and the addresses of their hosts",
    },
    CheckInfo {
        id: "ptr",
        title: "Reverse DNS",
        description: "PTR records of the sending IPs, forward confirmation, generic names and HELO",
    },
    CheckInfo {
        id: "dkim",
        title: "DKIM keys",
        description: "the domain's DKIM keys: named selectors, selectors of scanned messages and a probe of common ones; type, size, flags",
    },
    CheckInfo {
        id: "message",
        title: "Messages",
        description: "each scanned message: DKIM signatures, DMARC alignment, List-Unsubscribe and one-click, unsubscribe link, RFC 5322 basics",
    },
    CheckInfo {
        id: "dnsbl",
        title: "Blocklists",
        description: "DNSBL/RHSBL listings of the sending IPs, MX addresses and domains, with list health and delisting details",
    },
];

/// The registry entry for `id`.
pub fn info(id: &str) -> Option<&'static CheckInfo> {
    REGISTRY.iter().find(|c| c.id == id)
}

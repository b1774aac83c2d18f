//! What one DNS question came back with, as plain data.
//!
//! Checks never see resolver errors: they see an [`Outcome`]. Only the first
//! three variants are answers a check may reach a verdict on; everything else
//! means "we do not know", and the check that asked must say `unknown`.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::Serialize;

/// The data of one resource record, reduced to what the checks read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rdata {
    A(Ipv4Addr),
    Aaaa(Ipv6Addr),
    /// The character-strings of one TXT record, in order.
    Txt(Vec<Vec<u8>>),
    Mx {
        preference: u16,
        /// Lower case, without the trailing dot; "" for the root (null MX).
        exchange: String,
    },
    Ptr(String),
    Cname(String),
    /// Any other type: its name and presentation form.
    Other(String, String),
}

impl Rdata {
    /// The record type's name (A, TXT, ...).
    pub fn type_name(&self) -> &str {
        match self {
            Rdata::A(_) => "A",
            Rdata::Aaaa(_) => "AAAA",
            Rdata::Txt(_) => "TXT",
            Rdata::Mx { .. } => "MX",
            Rdata::Ptr(_) => "PTR",
            Rdata::Cname(_) => "CNAME",
            Rdata::Other(t, _) => t,
        }
    }
}

/// One resource record of an answer section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rr {
    /// Owner name, lower case, without the trailing dot.
    pub name: String,
    pub ttl: u32,
    pub data: Rdata,
}

/// The typed result of one lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The answer section (CNAMEs on the way included).
    Records(Vec<Rr>),
    /// RCODE 3: the name does not exist.
    NxDomain,
    /// RCODE 0 with no record of the asked type.
    NoData,
    ServFail,
    Refused,
    Timeout,
    /// Any other failure (other RCODEs, network errors, malformed answers).
    Error(String),
    /// Not asked: the name lies outside the zones loaded for an offline audit.
    NotChecked,
}

/// Labels used in the report's `stats.by_outcome`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeKind {
    Records,
    Nxdomain,
    Nodata,
    Servfail,
    Refused,
    Timeout,
    Error,
    NotChecked,
}

impl OutcomeKind {
    pub const ALL: [OutcomeKind; 8] = [
        OutcomeKind::Records,
        OutcomeKind::Nxdomain,
        OutcomeKind::Nodata,
        OutcomeKind::Servfail,
        OutcomeKind::Refused,
        OutcomeKind::Timeout,
        OutcomeKind::Error,
        OutcomeKind::NotChecked,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OutcomeKind::Records => "records",
            OutcomeKind::Nxdomain => "nxdomain",
            OutcomeKind::Nodata => "nodata",
            OutcomeKind::Servfail => "servfail",
            OutcomeKind::Refused => "refused",
            OutcomeKind::Timeout => "timeout",
            OutcomeKind::Error => "error",
            OutcomeKind::NotChecked => "not_checked",
        }
    }
}

impl Outcome {
    pub fn kind(&self) -> OutcomeKind {
        match self {
            Outcome::Records(_) => OutcomeKind::Records,
            Outcome::NxDomain => OutcomeKind::Nxdomain,
            Outcome::NoData => OutcomeKind::Nodata,
            Outcome::ServFail => OutcomeKind::Servfail,
            Outcome::Refused => OutcomeKind::Refused,
            Outcome::Timeout => OutcomeKind::Timeout,
            Outcome::Error(_) => OutcomeKind::Error,
            Outcome::NotChecked => OutcomeKind::NotChecked,
        }
    }

    /// An answer a verdict may rest on: records, NXDOMAIN or NODATA.
    pub fn is_definitive(&self) -> bool {
        matches!(
            self,
            Outcome::Records(_) | Outcome::NxDomain | Outcome::NoData
        )
    }

    /// NXDOMAIN or NODATA: a "void lookup" in RFC 7208 §4.6.4 terms.
    pub fn is_void(&self) -> bool {
        matches!(self, Outcome::NxDomain | Outcome::NoData)
    }

    /// The answer section of a definitive answer (empty for NXDOMAIN and
    /// NODATA). A failed lookup is an `Err` carrying the outcome: there is
    /// no accessor that turns a failure into an empty list.
    pub fn answer(&self) -> Result<&[Rr], &Outcome> {
        match self {
            Outcome::Records(rrs) => Ok(rrs),
            Outcome::NxDomain | Outcome::NoData => Ok(&[]),
            other => Err(other),
        }
    }

    fn collect<T>(&self, pick: impl Fn(&Rr) -> Option<T>) -> Result<Vec<T>, &Outcome> {
        Ok(self.answer()?.iter().filter_map(pick).collect())
    }

    /// TXT records, each joined from its strings without separators
    /// (RFC 7208 §3.3), as bytes.
    pub fn txt(&self) -> Result<Vec<Vec<u8>>, &Outcome> {
        self.collect(|rr| match &rr.data {
            Rdata::Txt(parts) => Some(parts.concat()),
            _ => None,
        })
    }

    /// The raw strings of each TXT record, for size checks.
    pub fn txt_parts(&self) -> Result<Vec<&[Vec<u8>]>, &Outcome> {
        let rrs = self.answer()?;
        Ok(rrs
            .iter()
            .filter_map(|rr| match &rr.data {
                Rdata::Txt(parts) => Some(parts.as_slice()),
                _ => None,
            })
            .collect())
    }

    pub fn ips(&self) -> Result<Vec<IpAddr>, &Outcome> {
        self.collect(|rr| match rr.data {
            Rdata::A(ip) => Some(IpAddr::V4(ip)),
            Rdata::Aaaa(ip) => Some(IpAddr::V6(ip)),
            _ => None,
        })
    }

    pub fn mx(&self) -> Result<Vec<(u16, String)>, &Outcome> {
        self.collect(|rr| match &rr.data {
            Rdata::Mx {
                preference,
                exchange,
            } => Some((*preference, exchange.clone())),
            _ => None,
        })
    }

    pub fn ptr_names(&self) -> Result<Vec<String>, &Outcome> {
        self.collect(|rr| match &rr.data {
            Rdata::Ptr(name) => Some(name.clone()),
            _ => None,
        })
    }

    /// The CNAME records met on the way to the answer, in order.
    pub fn cnames(&self) -> Result<Vec<(String, String)>, &Outcome> {
        self.collect(|rr| match &rr.data {
            Rdata::Cname(target) => Some((rr.name.clone(), target.clone())),
            _ => None,
        })
    }

    /// A short description for evidence and report text.
    pub fn describe(&self) -> String {
        match self {
            Outcome::Records(rrs) => format!("{} record(s)", rrs.len()),
            Outcome::NxDomain => "NXDOMAIN (name does not exist)".into(),
            Outcome::NoData => "no record of this type (NODATA)".into(),
            Outcome::ServFail => "SERVFAIL (server failure)".into(),
            Outcome::Refused => "REFUSED by the name server".into(),
            Outcome::Timeout => "timed out".into(),
            Outcome::Error(e) => format!("lookup error: {e}"),
            Outcome::NotChecked => "not checked offline (outside the loaded zones)".into(),
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

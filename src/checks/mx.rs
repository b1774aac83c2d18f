//! MX: the domain's mail exchangers and their addresses (the MX fact,
//! shared with IP inference and the blocklist subjects).

use std::net::IpAddr;

use serde::Serialize;

use crate::checks::{Ran, check};
use crate::dns::{Outcome, name};
use crate::facts::Facts;
use crate::findings::{self as ids, Finding};
use crate::report::model::{Block, Detail, about};

#[derive(Debug, Clone, Serialize)]
pub struct MxHost {
    pub preference: u16,
    pub name: String,
    pub addresses: Vec<IpAddr>,
    /// The alias chain, when the name is a CNAME.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cname: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct MxReport {
    pub null_mx: bool,
    pub hosts: Vec<MxHost>,
}

/// Whether an address cannot be reached from the Internet (RFC 6890
/// special-purpose ranges that are not globally reachable). The
/// documentation ranges (RFC 5737, RFC 3849) are left out on purpose: they
/// are what examples and test zones use.
pub fn is_non_public(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || o[0] == 0
                || (o[0] == 100 && (64..128).contains(&o[1])) // shared CGN space
                || (o[0] == 192 && o[1] == 0 && o[2] == 0) // IETF protocol assignments
                || (o[0] == 198 && (o[1] == 18 || o[1] == 19)) // benchmarking
                || o[0] >= 240
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            v6.is_loopback()
                || v6.is_unspecified()
                || (s[0] & 0xfe00) == 0xfc00 // unique local
                || (s[0] & 0xffc0) == 0xfe80 // link local
                || v6.is_multicast()
        }
    }
}

check! {
    Mx {
        id: "mx",
        title: "MX",
        description: "the MX records and the addresses of their hosts",
        domain_records: true,
        reads: &[Fact::MxHosts],
        rows: &[Row::DnsRecords { required: true }],
    }
    fn run(facts) {
        Ran::from(run(facts).await)
    }
}

impl Detail for MxReport {
    fn wire(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("serialises")
    }

    fn headline(&self) -> String {
        if self.null_mx {
            "null MX".into()
        } else if self.hosts.is_empty() {
            "no MX host".into()
        } else {
            self.hosts
                .iter()
                .map(|h| format!("{} {}", h.preference, h.name))
                .collect::<Vec<_>>()
                .join(", ")
        }
    }

    fn blocks(&self) -> Vec<Block> {
        if self.hosts.is_empty() {
            return Vec::new();
        }
        vec![Block::Table {
            title: "MX hosts".into(),
            head: vec!["Preference".into(), "Host".into(), "Addresses".into()],
            rows: self
                .hosts
                .iter()
                .map(|h| {
                    vec![
                        h.preference.to_string(),
                        h.name.clone(),
                        h.addresses
                            .iter()
                            .map(|a| a.to_string())
                            .collect::<Vec<_>>()
                            .join(", "),
                    ]
                })
                .collect(),
        }]
    }

    fn passed(&self, findings: &[&Finding]) -> Vec<String> {
        self.hosts
            .iter()
            .filter(|h| !h.addresses.is_empty() && !about(findings, &h.name))
            .map(|h| {
                format!(
                    "MX {} {} resolves to {}",
                    h.preference,
                    h.name,
                    h.addresses
                        .iter()
                        .map(|a| a.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
            .collect()
    }
}

async fn run(facts: &Facts<'_>) -> (MxReport, Vec<Finding>) {
    let domain = facts.domain();
    let mx = facts.mx().await;
    let mut findings = Vec::new();
    let mut report = MxReport {
        null_mx: false,
        hosts: Vec::new(),
    };
    match &*mx.lookup.outcome {
        Outcome::Records(_) => {}
        o if o.is_void() => {
            let (a, aaaa) = facts.dns.a_and_aaaa(domain).await;
            let failed = [(&a, "A"), (&aaaa, "AAAA")]
                .into_iter()
                .find(|(o, _)| !o.is_definitive());
            if let Some((o, rtype)) = failed {
                // Whether mail falls back to the address record is unknown.
                findings.push(Finding::lookup_failed(
                    ids::MX_DNS_ERROR,
                    domain,
                    domain,
                    rtype,
                    o,
                ));
                return (report, findings);
            }
            let fallback: Vec<IpAddr> = a
                .ips()
                .unwrap_or_default()
                .into_iter()
                .chain(aaaa.ips().unwrap_or_default())
                .collect();
            findings.push(
                Finding::new(
                    ids::MX_MISSING,
                    domain,
                    if fallback.is_empty() {
                        format!("{domain} has no MX record and no address: it cannot receive mail.")
                    } else {
                        format!("{domain} has no MX record; mail to it falls back to its address record.")
                    },
                )
                .with("lookup", o.kind())
                .with("implicit_mx", fallback),
            );
            return (report, findings);
        }
        _ => {
            let failed = mx.lookup.failed().expect("failed");
            findings.push(failed.finding(ids::MX_DNS_ERROR, domain));
            return (report, findings);
        }
    }
    if mx.is_null() {
        report.null_mx = true;
        findings.push(
            Finding::new(
                ids::MX_NULL,
                domain,
                format!("{domain} publishes a null MX: it declares that it accepts no mail."),
            )
            .with(
                "records",
                mx.hosts
                    .iter()
                    .map(|h| {
                        format!(
                            "{} {}",
                            h.preference,
                            if h.name.is_empty() { "." } else { &h.name }
                        )
                    })
                    .collect::<Vec<_>>(),
            ),
        );
        return (report, findings);
    }

    for h in &mx.hosts {
        let host = h.name.clone();
        let (a, aaaa) = (&h.a.outcome, &h.aaaa.outcome);
        let addresses: Vec<IpAddr> = a
            .ips()
            .unwrap_or_default()
            .into_iter()
            .chain(aaaa.ips().unwrap_or_default())
            .collect();
        let cname: Vec<String> = cname_chain(&host, a, aaaa);
        if host.trim_end_matches('.').parse::<IpAddr>().is_ok()
            || host.parse::<std::net::Ipv4Addr>().is_ok()
            || name::normalize_domain(&host) == Err(name::NameError::NumericTld)
        {
            findings.push(
                Finding::new(
                    ids::MX_IP_LITERAL,
                    &host,
                    format!(
                        "The MX record of {domain} holds the address {host} instead of a host name."
                    ),
                )
                .with("exchange", &host),
            );
        } else if !cname.is_empty() {
            findings.push(
                Finding::new(
                    ids::MX_CNAME,
                    &host,
                    format!(
                        "The MX host {host} is an alias (CNAME to {}).",
                        cname.last().expect("chain")
                    ),
                )
                .with("chain", &cname),
            );
        }
        let failed: Vec<_> = [&h.a, &h.aaaa]
            .into_iter()
            .filter_map(|l| l.failed())
            .collect();
        if addresses.is_empty() && failed.is_empty() {
            findings.push(
                Finding::new(
                    ids::MX_NO_ADDRESS,
                    &host,
                    format!("The MX host {host} has no A or AAAA record."),
                )
                .with("a", a.kind())
                .with("aaaa", aaaa.kind()),
            );
        }
        for f in &failed {
            findings.push(f.finding(ids::MX_DNS_ERROR, &host));
        }
        let private: Vec<IpAddr> = addresses
            .iter()
            .copied()
            .filter(|ip| is_non_public(*ip))
            .collect();
        if !private.is_empty() {
            findings.push(
                Finding::new(
                    ids::MX_PRIVATE_ADDRESS,
                    &host,
                    format!(
                        "The MX host {host} resolves to {}, which is not reachable from the Internet.",
                        private.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(", ")
                    ),
                )
                .with("addresses", &private),
            );
        }
        report.hosts.push(MxHost {
            preference: h.preference,
            name: host,
            addresses,
            cname,
        });
    }
    (report, findings)
}

fn cname_chain(host: &str, a: &Outcome, aaaa: &Outcome) -> Vec<String> {
    let a_chain = a.cnames().unwrap_or_default();
    let source = if a_chain.is_empty() {
        aaaa.cnames().unwrap_or_default()
    } else {
        a_chain
    };
    let mut chain = Vec::new();
    let mut current = host.to_string();
    for (from, to) in source {
        if from == current {
            chain.push(to.clone());
            current = to;
        }
    }
    chain
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_public_ranges() {
        for ip in [
            "10.1.2.3",
            "192.168.1.1",
            "127.0.0.1",
            "169.254.1.1",
            "100.64.0.1",
            "fd00::1",
            "fe80::1",
            "::1",
            "240.0.0.1",
        ] {
            assert!(is_non_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "8.8.8.8",
            "2a00:1450::1",
            "100.128.0.1",
            "192.0.2.1",
            "2001:db8::1",
        ] {
            assert!(!is_non_public(ip.parse().unwrap()), "{ip}");
        }
    }
}

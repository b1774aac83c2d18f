//! MX: the domain's mail exchangers and their addresses.

use std::net::IpAddr;
use std::sync::Arc;

use futures::future::join_all;
use serde::Serialize;

use crate::checks::Context;
use crate::dns::{Outcome, name};
use crate::findings::{self as ids, Finding};

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

/// The addresses of the domain's MX hosts, in preference order, each with
/// its host (A before AAAA; a null MX has none). Failed lookups give no
/// address: the MX check reports them.
pub async fn host_addresses(ctx: &Context) -> Vec<(String, IpAddr)> {
    let mut hosts = ctx.dns.mx(&ctx.domain).await.mx();
    hosts.sort();
    hosts.retain(|(_, h)| !h.is_empty());
    let lookups = join_all(hosts.iter().map(|(_, h)| ctx.dns.a_and_aaaa(h))).await;
    hosts
        .into_iter()
        .zip(lookups)
        .flat_map(|((_, host), (a, aaaa))| {
            a.ips()
                .into_iter()
                .chain(aaaa.ips())
                .map(move |ip| (host.clone(), ip))
        })
        .collect()
}

pub async fn run(ctx: &Context) -> (MxReport, Vec<Finding>) {
    let domain = ctx.domain.as_str();
    let answer = ctx.dns.mx(domain).await;
    let mut findings = Vec::new();
    let mut report = MxReport {
        null_mx: false,
        hosts: Vec::new(),
    };
    match &*answer {
        Outcome::Records(_) => {}
        o if o.is_void() => {
            let (a, aaaa) = ctx.dns.a_and_aaaa(domain).await;
            let fallback: Vec<IpAddr> = a.ips().into_iter().chain(aaaa.ips()).collect();
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
        o => {
            findings.push(Finding::lookup_failed(
                ids::MX_DNS_ERROR,
                domain,
                domain,
                "MX",
                o,
            ));
            return (report, findings);
        }
    }
    let mut records = answer.mx();
    records.sort();
    if records.iter().any(|(_, host)| host.is_empty()) {
        report.null_mx = true;
        findings.push(
            Finding::new(
                ids::MX_NULL,
                domain,
                format!("{domain} publishes a null MX: it declares that it accepts no mail."),
            )
            .with(
                "records",
                records
                    .iter()
                    .map(|(p, h)| format!("{p} {}", if h.is_empty() { "." } else { h }))
                    .collect::<Vec<_>>(),
            ),
        );
        return (report, findings);
    }

    let lookups = join_all(records.iter().map(|(_, host)| {
        let dns = &ctx.dns;
        async move { dns.a_and_aaaa(host).await }
    }))
    .await;
    for ((preference, host), (a, aaaa)) in records.into_iter().zip(lookups) {
        let addresses: Vec<IpAddr> = a.ips().into_iter().chain(aaaa.ips()).collect();
        let cname: Vec<String> = cname_chain(&host, &a, &aaaa);
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
        let failed: Vec<(&str, &Arc<Outcome>)> = [("A", &a), ("AAAA", &aaaa)]
            .into_iter()
            .filter(|(_, o)| !o.is_definitive())
            .collect();
        if addresses.is_empty() {
            if let Some((rtype, o)) = failed.first() {
                findings.push(Finding::lookup_failed(
                    ids::MX_DNS_ERROR,
                    &host,
                    &host,
                    rtype,
                    o,
                ));
            } else {
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
        } else {
            for (rtype, o) in &failed {
                findings.push(Finding::lookup_failed(
                    ids::MX_DNS_ERROR,
                    &host,
                    &host,
                    rtype,
                    o,
                ));
            }
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
            preference,
            name: host,
            addresses,
            cname,
        });
    }
    (report, findings)
}

fn cname_chain(host: &str, a: &Outcome, aaaa: &Outcome) -> Vec<String> {
    let source = if a.cnames().is_empty() { aaaa } else { a };
    let mut chain = Vec::new();
    let mut current = host.to_string();
    for (from, to) in source.cnames() {
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

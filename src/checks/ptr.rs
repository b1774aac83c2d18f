//! Reverse DNS of the sending IPs: PTR present, forward-confirmed (the name
//! resolves back to the address), not generic, and matching the HELO name.

use std::net::IpAddr;

use futures::future::join_all;
use serde::Serialize;

use crate::checks::Context;
use crate::dns::{Outcome, name};
use crate::findings::{self as ids, Finding};

/// At most this many PTR names are followed per address (as RFC 7208 §5.5
/// does for the same job).
const MAX_NAMES: usize = 10;

#[derive(Debug, Clone, Serialize)]
pub struct PtrIp {
    pub ip: IpAddr,
    pub names: Vec<String>,
    /// At least one name resolves back to the address.
    pub forward_confirmed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generic: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PtrReport {
    pub ips: Vec<PtrIp>,
}

pub async fn run(ctx: &Context, ips: &[IpAddr]) -> (PtrReport, Vec<Finding>) {
    let helo = match &ctx.helo {
        Some(h) => Some((h.clone(), ctx.dns.a_and_aaaa(h).await)),
        None => None,
    };
    let per_ip = join_all(ips.iter().map(|&ip| check_ip(ctx, ip, helo.as_ref()))).await;
    let mut report = PtrReport { ips: Vec::new() };
    let mut findings = Vec::new();
    for (entry, mut f) in per_ip {
        report.ips.push(entry);
        findings.append(&mut f);
    }
    (report, findings)
}

type HeloLookup = (String, (std::sync::Arc<Outcome>, std::sync::Arc<Outcome>));

async fn check_ip(ctx: &Context, ip: IpAddr, helo: Option<&HeloLookup>) -> (PtrIp, Vec<Finding>) {
    let subject = ip.to_string();
    let mut findings = Vec::new();
    let mut entry = PtrIp {
        ip,
        names: Vec::new(),
        forward_confirmed: false,
        generic: None,
    };
    let ptr = ctx.dns.ptr(ip).await;
    let rname = name::reverse_name(ip);
    if !ptr.is_definitive() {
        findings.push(Finding::lookup_failed(
            ids::PTR_DNS_ERROR,
            &subject,
            &rname,
            "PTR",
            &ptr,
        ));
        return (entry, findings);
    }
    entry.names = ptr.ptr_names();
    if entry.names.is_empty() {
        findings.push(
            Finding::new(
                ids::PTR_MISSING,
                &subject,
                format!("{ip} has no PTR record ({rname}: {ptr})."),
            )
            .with("name", &rname)
            .with("lookup", ptr.kind()),
        );
        return (entry, findings);
    }

    let names: Vec<String> = entry.names.iter().take(MAX_NAMES).cloned().collect();
    let forward = join_all(names.iter().map(|n| ctx.dns.addrs(n, ip.is_ipv4()))).await;
    let confirmed: Vec<&String> = names
        .iter()
        .zip(&forward)
        .filter(|(_, o)| o.ips().contains(&ip))
        .map(|(n, _)| n)
        .collect();
    entry.forward_confirmed = !confirmed.is_empty();
    if confirmed.is_empty() {
        if let Some((n, o)) = names.iter().zip(&forward).find(|(_, o)| !o.is_definitive()) {
            findings.push(Finding::lookup_failed(
                ids::PTR_DNS_ERROR,
                &subject,
                n,
                if ip.is_ipv4() { "A" } else { "AAAA" },
                o,
            ));
        } else {
            let resolved: serde_json::Map<String, serde_json::Value> = names
                .iter()
                .zip(&forward)
                .map(|(n, o)| {
                    let v: Vec<String> = o.ips().iter().map(|i| i.to_string()).collect();
                    (
                        n.clone(),
                        serde_json::json!(if v.is_empty() { vec![o.describe()] } else { v }),
                    )
                })
                .collect();
            findings.push(
                Finding::new(
                    ids::PTR_NOT_FORWARD_CONFIRMED,
                    &subject,
                    format!(
                        "The PTR name of {ip} ({}) does not resolve back to {ip}.",
                        names.join(", ")
                    ),
                )
                .with("ptr", &names)
                .with("forward", resolved),
            );
        }
    }

    if let Some((n, why)) = names
        .iter()
        .find_map(|n| ctx.rules.ptr_generic.matches(n, ip).map(|why| (n, why)))
    {
        entry.generic = Some(n.clone());
        findings.push(
            Finding::new(
                ids::PTR_GENERIC,
                &subject,
                format!("The PTR name of {ip}, {n}, looks generic (dynamic or end-user space)."),
            )
            .with("ptr", n)
            .with("matched", why),
        );
    }

    if let Some((helo_name, (a, aaaa))) = helo {
        let helo_lc = helo_name.trim_end_matches('.').to_ascii_lowercase();
        if !confirmed.iter().any(|n| **n == helo_lc) {
            let helo_ips: Vec<IpAddr> = a.ips().into_iter().chain(aaaa.ips()).collect();
            findings.push(
                Finding::new(
                    ids::PTR_HELO_MISMATCH,
                    &subject,
                    format!(
                        "HELO name {helo_name} is not the forward-confirmed PTR name of {ip} ({}).",
                        names.join(", ")
                    ),
                )
                .with("helo", helo_name)
                .with("ptr", &names)
                .with("helo_resolves_to_ip", helo_ips.contains(&ip)),
            );
        }
    }
    (entry, findings)
}

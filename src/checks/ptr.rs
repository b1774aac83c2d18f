//! Reverse DNS of the sending IPs: PTR present, forward-confirmed (the name
//! resolves back to the address), not generic, and matching the HELO name.

use std::net::IpAddr;

use futures::future::join_all;
use serde::Serialize;

use crate::checks::{Ran, check};
use crate::facts::Facts;
use crate::facts::reverse::Confirmation;
use crate::findings::{self as ids, Finding};
use crate::report::model::{Block, Detail, about};

check! {
    Ptr {
        id: "ptr",
        title: "Reverse DNS",
        description: "PTR records of the sending IPs, forward confirmation, generic names and HELO",
        reads: &[Fact::SendingIps, Fact::ReverseDns],
        rows: &[Row::DnsRecords { required: true }],
    }
    fn run(facts) {
        let ips = facts.sending_ips().await;
        if ips.items.is_empty() && ips.is_complete() {
            return Ran::skipped("no sending IP was given or found");
        }
        let addrs: Vec<IpAddr> = ips.items.iter().map(|s| s.ip).collect();
        let (report, mut findings) = run(facts, &addrs).await;
        // Addresses that could not be found are not checked: unknown.
        let subject = facts.domain();
        for f in &ips.failed {
            findings.push(f.finding(ids::PTR_DNS_ERROR, subject));
        }
        Ran::done(report, findings)
    }
}

impl Detail for PtrReport {
    fn wire(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("serialises")
    }

    fn headline(&self) -> String {
        self.ips
            .iter()
            .map(|e| {
                format!(
                    "{} -> {}{}",
                    e.ip,
                    if e.names.is_empty() {
                        "-".to_string()
                    } else {
                        e.names.join(",")
                    },
                    if e.forward_confirmed {
                        " (confirmed)"
                    } else {
                        ""
                    }
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn blocks(&self) -> Vec<Block> {
        if self.ips.is_empty() {
            return Vec::new();
        }
        vec![Block::Table {
            title: "Reverse DNS of the sending IPs".into(),
            head: vec!["IP".into(), "PTR names".into(), "Forward-confirmed".into()],
            rows: self
                .ips
                .iter()
                .map(|e| {
                    vec![
                        e.ip.to_string(),
                        e.names.join(", "),
                        if e.forward_confirmed { "yes" } else { "no" }.into(),
                    ]
                })
                .collect(),
        }]
    }

    fn passed(&self, findings: &[&Finding]) -> Vec<String> {
        self.ips
            .iter()
            .filter(|e| {
                e.forward_confirmed && e.generic.is_none() && !about(findings, &e.ip.to_string())
            })
            .map(|e| {
                format!(
                    "{} has a PTR record ({}) that resolves back to it",
                    e.ip,
                    e.names.join(", ")
                )
            })
            .collect()
    }
}

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

async fn run(ctx: &Facts<'_>, ips: &[IpAddr]) -> (PtrReport, Vec<Finding>) {
    let helo = ctx.target.helo.as_deref();
    let per_ip = join_all(ips.iter().map(|&ip| check_ip(ctx, ip, helo))).await;
    let mut report = PtrReport { ips: Vec::new() };
    let mut findings = Vec::new();
    for (entry, mut f) in per_ip {
        report.ips.push(entry);
        findings.append(&mut f);
    }
    (report, findings)
}

async fn check_ip(ctx: &Facts<'_>, ip: IpAddr, helo: Option<&str>) -> (PtrIp, Vec<Finding>) {
    let subject = ip.to_string();
    let mut findings = Vec::new();
    let rdns = ctx.reverse(ip).await;
    let mut entry = PtrIp {
        ip,
        names: rdns.names.clone(),
        forward_confirmed: false,
        generic: None,
    };
    let rname = &rdns.ptr.name;
    if let Some(failed) = rdns.ptr.failed() {
        findings.push(failed.finding(ids::PTR_DNS_ERROR, &subject));
        return (entry, findings);
    }
    if entry.names.is_empty() {
        findings.push(
            Finding::new(
                ids::PTR_MISSING,
                &subject,
                format!("{ip} has no PTR record ({rname}: {}).", rdns.ptr_outcome()),
            )
            .with("name", rname)
            .with("lookup", rdns.ptr_outcome().kind()),
        );
        return (entry, findings);
    }

    let followed: Vec<String> = rdns.forward.iter().map(|l| l.name.clone()).collect();
    match rdns.confirmation() {
        Confirmation::Confirmed(_) => entry.forward_confirmed = true,
        Confirmation::Failed(f) => findings.push(f.finding(ids::PTR_DNS_ERROR, &subject)),
        // Unknown: the run says which cap left it so (run.cap-reached).
        Confirmation::Capped { .. } => {}
        Confirmation::NotConfirmed => findings.push(
            Finding::new(
                ids::PTR_NOT_FORWARD_CONFIRMED,
                &subject,
                format!(
                    "The PTR name of {ip} ({}) does not resolve back to {ip}.",
                    followed.join(", ")
                ),
            )
            .with("ptr", &followed)
            .with("forward", rdns.forward_evidence()),
        ),
    }

    if let Some((n, why)) = followed
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

    if let Some(helo_name) = helo {
        match rdns.confirms(helo_name) {
            Some(false) => {
                // Evidence only, asked when there is a mismatch to explain:
                // whether the HELO name points at the address (unknown when
                // its lookup failed).
                let (a, aaaa) = ctx.dns.a_and_aaaa(helo_name).await;
                let resolves = match (a.ips(), aaaa.ips()) {
                    (Ok(a), Ok(aaaa)) => Some(a.contains(&ip) || aaaa.contains(&ip)),
                    (Ok(a), _) | (_, Ok(a)) if a.contains(&ip) => Some(true),
                    _ => None,
                };
                findings.push(
                    Finding::new(
                        ids::PTR_HELO_MISMATCH,
                        &subject,
                        format!(
                            "HELO name {helo_name} is not the forward-confirmed PTR name of {ip} ({}).",
                            followed.join(", ")
                        ),
                    )
                    .with("helo", helo_name)
                    .with("ptr", &followed)
                    .with("helo_resolves_to_ip", resolves),
                );
            }
            Some(true) => {}
            // A failed lookup is said above; a name past the cap is not.
            None if rdns
                .unfollowed()
                .iter()
                .any(|n| n.as_str() == helo_name.trim_end_matches('.').to_ascii_lowercase()) =>
            {
                ctx.note_ptr_names_cap(rdns.names.len())
            }
            None => {}
        }
    }
    (entry, findings)
}

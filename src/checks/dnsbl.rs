//! Blocklists in an audit: the sending IPs, the MX hosts' addresses and
//! the domain itself (plus, with messages, the domains their links point
//! to), checked on the configured lists through the shared resolver.

use std::net::IpAddr;

use crate::checks::Context;
use crate::dnsbl::{Dnsbl, DnsblReport, ListLookup, Subject, Subjects};
use crate::findings::Finding;

/// The subjects of an audit, in report order, without repeats.
pub async fn subjects(ctx: &Context, sending: &[IpAddr], link_domains: &[String]) -> Vec<Subject> {
    let mut out: Vec<Subject> = Vec::new();
    let mut push = |s: Subject| {
        if !out.contains(&s) {
            out.push(s);
        }
    };
    for ip in sending {
        push(Subject::Ip(*ip));
    }
    for (_, ip) in crate::checks::mx::host_addresses(ctx).await {
        push(Subject::Ip(ip));
    }
    push(Subject::Domain(ctx.domain.clone()));
    for d in link_domains {
        push(Subject::Domain(d.clone()));
    }
    out
}

pub async fn run(
    ctx: &Context,
    engine: &Dnsbl,
    sending: &[IpAddr],
    link_domains: &[String],
) -> (DnsblReport, Vec<Finding>) {
    let subjects = Subjects::from(subjects(ctx, sending, link_domains).await);
    let lookup = ListLookup::Resolver(ctx.dns.clone());
    let (report, mut findings) = engine
        .check(
            &ctx.dns,
            &lookup,
            &subjects,
            ctx.dns.config().concurrency,
            true,
        )
        .await;
    if report.lists_checked > 0 {
        findings.splice(0..0, engine.resolver_findings(&ctx.dns));
    }
    (report, findings)
}

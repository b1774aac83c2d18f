//! Issue 2 benchmark: a full audit with latency on every answer (20 ms,
//! or `AUDIT_LATENCY_MS`).
//!
//! The domain (benches/zones/bench.test.zone) has a 3-level SPF include
//! tree, 2 MX hosts, 4 sending IPs and a DKIM key found by the selector
//! probe; its longest chain of dependent
//! lookups is 5 (see the zone file). With all independent lookups in
//! flight together, wall time should sit near 5 x the latency, far below
//! queries x the latency. The zones are served signed as on the Internet:
//! a root made at run time (its key the trust anchor) delegates `test.`,
//! which delegates `bench.test`, each with its DS, so the DNSSEC and DANE
//! checks walk the chain of trust from the root for every name they
//! validate (those questions go through hickory's DNSSEC handle and are
//! not in `queries`). Run: `cargo bench --bench audit_latency`.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[path = "../tests/support/faults.rs"]
mod faults_support;

use faults_support::FaultServer;
use mailaudit::dns::dnssec::ZoneKey;
use mailaudit::dns::server::Zone;
use mailaudit::dns::{Dns, DnsConfig};
use mailaudit::engine::{Engine, Request};
use mailaudit::findings::Severity;
use mailaudit::rules::Rules;

const DEPTH: u32 = 5;
const RUNS: usize = 15;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let latency = Duration::from_millis(
            std::env::var("AUDIT_LATENCY_MS")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(20),
        );
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/zones");
        let (root, tld, bench) = (
            ZoneKey::generate().unwrap(),
            ZoneKey::generate().unwrap(),
            ZoneKey::generate().unwrap(),
        );
        let anchor = dir.join("../../target/audit_latency.anchor");
        std::fs::write(&anchor, root.dnskey_line(".").unwrap() + "\n").unwrap();
        let head = |origin: &str| {
            format!("$ORIGIN {origin}\n$TTL 300\n@ IN SOA ns.test. h.test. 1 3600 600 86400 300\n@ IN NS ns.test.\n")
        };
        let root_text = format!(
            "{}test. IN NS ns.test.\n{}\narpa. IN NS ns.arpa.\n",
            head("."),
            tld.ds_line("test").unwrap()
        );
        let tld_text = format!(
            "{}ns IN A 192.0.2.253\nbench IN NS ns.bench.test.\n{}\n",
            head("test."),
            bench.ds_line("bench.test").unwrap()
        );
        let server = FaultServer::from_zones(vec![
            Zone::parse(&root_text, "root").unwrap().signed(root),
            Zone::parse(&tld_text, "test").unwrap().signed(tld),
            Zone::load(&dir.join("bench.test.zone"))
                .unwrap()
                .signed(bench),
            Zone::load(&dir.join("reverse.zone")).unwrap(),
        ])
        .await;
        server.set_latency(latency);
        let mut req = Request::audit("bench.test");
        req.target.ips = ["192.0.2.40", "192.0.2.41", "192.0.2.43", "192.0.2.44"]
            .iter()
            .map(|s| s.parse::<IpAddr>().unwrap())
            .collect();
        let mut times = Vec::new();
        let mut queries = 0;
        for _ in 0..RUNS {
            let dns = Dns::new(DnsConfig {
                nameservers: vec![server.addr()],
                timeout: Duration::from_secs(2),
                trust_anchor: Some(anchor.clone()),
                ..DnsConfig::default()
            })
            .unwrap();
            let engine = Engine::new(dns, Rules::embedded());
            let start = Instant::now();
            let report = engine.run(&req).await;
            times.push(start.elapsed());
            queries = report.stats.queries;
            // Clean: nothing at warning or above, nothing unknown (the
            // transport policies it does not publish are info).
            let ids: Vec<&str> = report
                .findings
                .iter()
                .filter(|f| f.severity >= Severity::Warning || f.finding.unknown)
                .map(|f| f.finding.id)
                .collect();
            assert!(ids.is_empty(), "the bench domain is clean: {ids:?}");
        }
        times.sort();
        let median = times[RUNS / 2];
        let bound = latency * DEPTH;
        println!(
            "audit_latency: {RUNS} runs, {} ms latency per answer",
            latency.as_millis()
        );
        println!("  queries per audit:      {queries}");
        println!(
            "  critical-path bound:    {} ms ({DEPTH} x {} ms)",
            bound.as_millis(),
            latency.as_millis()
        );
        println!(
            "  sequential cost:        {} ms ({queries} x {} ms)",
            (latency * queries as u32).as_millis(),
            latency.as_millis()
        );
        println!(
            "  wall time: median {} ms, min {} ms, max {} ms",
            median.as_millis(),
            times[0].as_millis(),
            times[RUNS - 1].as_millis()
        );
        println!(
            "  median / bound = {:.2}; sequential / median = {:.1}",
            median.as_secs_f64() / bound.as_secs_f64(),
            (latency * queries as u32).as_secs_f64() / median.as_secs_f64()
        );
    });
}

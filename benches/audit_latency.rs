//! Issue 2 benchmark: a full audit with 50 ms of latency on every answer.
//!
//! The domain (benches/zones/bench.test.zone) has a 3-level SPF include
//! tree, 2 MX hosts, 4 sending IPs and a DKIM key found by the selector
//! probe; its longest chain of dependent
//! lookups is 5 (see the zone file). With all independent lookups in
//! flight together, wall time should sit near 5 x 50 ms, far below
//! queries x 50 ms. The zone is served signed, its key the trust anchor,
//! so the DNSSEC and DANE checks validate too (through hickory's
//! validating resolver: those questions are not in `queries`). Run:
//! `cargo bench --bench audit_latency`.

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

const LATENCY: Duration = Duration::from_millis(50);
const DEPTH: u32 = 5;
const RUNS: usize = 15;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/zones");
        let key = ZoneKey::generate().unwrap();
        let anchor = dir.join("../../target/audit_latency.anchor");
        std::fs::write(&anchor, key.dnskey_line("bench.test").unwrap() + "\n").unwrap();
        let server = FaultServer::from_zones(vec![
            Zone::load(&dir.join("bench.test.zone"))
                .unwrap()
                .signed(key),
            Zone::load(&dir.join("reverse.zone")).unwrap(),
        ])
        .await;
        server.set_latency(LATENCY);
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
        let bound = LATENCY * DEPTH;
        println!(
            "audit_latency: {RUNS} runs, {} ms latency per answer",
            LATENCY.as_millis()
        );
        println!("  queries per audit:      {queries}");
        println!(
            "  critical-path bound:    {} ms ({DEPTH} x {} ms)",
            bound.as_millis(),
            LATENCY.as_millis()
        );
        println!(
            "  sequential cost:        {} ms ({queries} x {} ms)",
            (LATENCY * queries as u32).as_millis(),
            LATENCY.as_millis()
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
            (LATENCY * queries as u32).as_secs_f64() / median.as_secs_f64()
        );
    });
}

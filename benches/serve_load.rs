//! Issue 20 load benchmark client: `POST /api/v1/audits` for every domain
//! of a file, then poll each audit until it is done, against a running
//! `mailaudit serve` (benches/serve/run.sh starts it over a DNS server
//! that adds 20 ms to every answer). Prints requests/s and the p50/p99
//! latency of the POSTs, audits/s and the p50/p99 of accepted-to-done, and
//! checks every report ("ready to send", nothing unknown) before printing
//! a speed.
//!
//! Usage: `cargo bench --bench serve_load -- URL DOMAINS-FILE [IN-FLIGHT]`

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::Semaphore;

const CHECKS: &[&str] = &[
    "spf", "dmarc", "mx", "ptr", "dkim", "mta-sts", "tls-rpt", "bimi",
];

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

async fn body(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    let text = r.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    if args.len() < 2 {
        eprintln!("usage: serve_load URL DOMAINS-FILE [IN-FLIGHT]");
        std::process::exit(2);
    }
    let base = args[0].trim_end_matches('/').to_string();
    let domains: Vec<String> = std::fs::read_to_string(&args[1])
        .expect("the domains file")
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(String::from))
        .collect();
    let in_flight: usize = args.get(2).and_then(|n| n.parse().ok()).unwrap_or(64);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(in_flight)
            .timeout(Duration::from_secs(120))
            .build()
            .unwrap();
        let permits = Arc::new(Semaphore::new(in_flight));
        let started = Instant::now();
        let mut tasks = Vec::new();
        for domain in domains.clone() {
            let (client, base, permits) = (client.clone(), base.clone(), permits.clone());
            tasks.push(tokio::spawn(async move {
                let _permit = permits.acquire_owned().await.unwrap();
                let sent = Instant::now();
                let r = client
                    .post(format!("{base}/api/v1/audits"))
                    .header("content-type", "application/json")
                    .body(json!({"domain": domain, "checks": CHECKS}).to_string())
                    .send()
                    .await
                    .expect("the POST is answered");
                let (status, accepted) = body(r).await;
                let post_ms = sent.elapsed().as_secs_f64() * 1000.0;
                assert_eq!(status, 202, "{domain}: {accepted}");
                let id = accepted["id"].as_str().unwrap().to_string();
                // Poll as a client would: every 50 ms.
                let report = loop {
                    let r = client
                        .get(format!("{base}/api/v1/audits/{id}"))
                        .send()
                        .await
                        .expect("the GET is answered");
                    let (status, doc) = body(r).await;
                    assert_eq!(status, 200, "{domain}: {doc}");
                    match doc["status"].as_str() {
                        Some("done") => break doc,
                        Some("failed") => panic!("{domain}: failed: {doc}"),
                        _ => tokio::time::sleep(Duration::from_millis(50)).await,
                    }
                };
                let done_ms = sent.elapsed().as_secs_f64() * 1000.0;
                (domain, post_ms, done_ms, report)
            }));
        }
        let mut posts = Vec::new();
        let mut dones = Vec::new();
        for t in tasks {
            let (domain, post_ms, done_ms, doc) = t.await.expect("a client task");
            let s = &doc["report"]["summary"];
            assert!(
                doc["report"]["target"]["domain"] == domain.as_str()
                    && s["verdict"] == "ready-to-send"
                    && s["unknown"] == 0,
                "{domain}: {s}"
            );
            posts.push(post_ms);
            dones.push(done_ms);
        }
        let wall = started.elapsed().as_secs_f64();
        posts.sort_by(f64::total_cmp);
        dones.sort_by(f64::total_cmp);
        let n = domains.len();
        println!(
            "audits: {n} (every one ready to send, nothing unknown), {in_flight} clients in flight"
        );
        println!("wall: {wall:.2} s, {:.1} audits/s", n as f64 / wall);
        println!(
            "POST latency: p50 {:.1} ms, p99 {:.1} ms",
            percentile(&posts, 0.5),
            percentile(&posts, 0.99)
        );
        println!(
            "POST to done: p50 {:.0} ms, p99 {:.0} ms",
            percentile(&dones, 0.5),
            percentile(&dones, 0.99)
        );
    });
}

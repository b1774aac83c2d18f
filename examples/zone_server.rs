//! A benchmark's authoritative DNS server: serves zone files (mailaudit's
//! embedded server) on a given address, adds a fixed latency to every
//! answer, and keeps a count of the questions it received in a file, so a
//! benchmark can run mailaudit and other tools against the same server
//! and compare the questions each asked.
//!
//! ```sh
//! cargo run --release --example zone_server -- \
//!     --listen 127.0.0.20:53 --latency-ms 20 --count-file /tmp/queries zones/
//! ```
//! Each argument is a zone file or a directory of `*.zone` files.
//! It serves until killed.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hickory_proto::rr::RecordType;
use mailaudit::dns::server::{Intercept, Interceptor, Zone, ZoneServer};

struct Latency {
    delay: Duration,
    questions: AtomicU64,
}

#[async_trait::async_trait]
impl Interceptor for Latency {
    async fn intercept(&self, _name: &str, _rtype: RecordType, _tcp: bool) -> Intercept {
        self.questions.fetch_add(1, Ordering::Relaxed);
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        Intercept::Serve
    }
}

fn usage() -> ! {
    eprintln!(
        "usage: zone_server --listen IP:PORT [--latency-ms N] [--count-file FILE] ZONE-FILE..."
    );
    std::process::exit(2);
}

fn main() {
    let mut listen: Option<SocketAddr> = None;
    let mut latency = 0u64;
    let mut count_file: Option<PathBuf> = None;
    let mut files = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--listen" => listen = args.next().and_then(|v| v.parse().ok()),
            "--latency-ms" => {
                latency = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| usage())
            }
            "--count-file" => count_file = args.next().map(PathBuf::from),
            _ if a.starts_with("--") => usage(),
            _ => files.push(PathBuf::from(a)),
        }
    }
    let Some(listen) = listen else { usage() };
    if files.is_empty() {
        usage();
    }
    // Directories stand for their *.zone files.
    let files: Vec<PathBuf> = files
        .into_iter()
        .flat_map(|f| {
            if f.is_dir() {
                let mut inside: Vec<PathBuf> = std::fs::read_dir(&f)
                    .map(|d| {
                        d.filter_map(|e| e.ok().map(|e| e.path()))
                            .filter(|p| p.extension().is_some_and(|x| x == "zone"))
                            .collect()
                    })
                    .unwrap_or_default();
                inside.sort();
                inside
            } else {
                vec![f]
            }
        })
        .collect();
    let zones: Vec<Zone> = files
        .iter()
        .map(|f| {
            Zone::load(f).unwrap_or_else(|e| {
                eprintln!("zone_server: {}: {e}", f.display());
                std::process::exit(2)
            })
        })
        .collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let counter = Arc::new(Latency {
            delay: Duration::from_millis(latency),
            questions: AtomicU64::new(0),
        });
        let _server = ZoneServer::start_at(zones, Some(counter.clone()), Some(listen))
            .await
            .unwrap_or_else(|e| {
                eprintln!("zone_server: {e}");
                std::process::exit(3)
            });
        eprintln!("zone_server: serving on {listen}, {latency} ms per answer");
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if let Some(f) = &count_file {
                let n = counter.questions.load(Ordering::Relaxed);
                let tmp = f.with_extension("tmp");
                if std::fs::write(&tmp, format!("{n}\n")).is_ok() {
                    let _ = std::fs::rename(&tmp, f);
                }
            }
        }
    });
}

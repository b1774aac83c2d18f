//! Shared set-up: an embedded DNS server with the fixture zones (and the
//! fault interceptor of tests/support), and an engine whose resolver points
//! at it.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use mailaudit::blocklist::catalog::Catalog;
use mailaudit::blocklist::{BlocklistConfig, BlocklistEngine, Subject, Subjects};
use mailaudit::dns::{Dns, DnsConfig};
use mailaudit::engine::{Engine, Request};
use mailaudit::facts::Target;
use mailaudit::report::json;
use mailaudit::report::model::RunKind;
use mailaudit::rules::Rules;
use serde_json::Value;

pub use crate::faults_support::{Fault, FaultServer};

pub fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

/// The README's first command (run from the repository root, paths
/// relative to it), without its `-o`.
pub const README_AUDIT: &[&str] = &[
    "audit",
    "example.com",
    "--zone",
    "examples/zones",
    "--web",
    "examples/web",
    "--dnsbl-catalog",
    "examples/dnsbl.toml",
    "--message",
    "examples/campaign.eml",
    "--ip",
    "192.0.2.10",
    "--ip",
    "192.0.2.11",
    "--ip",
    "192.0.2.12",
    "--helo",
    "mail.example.com",
];

/// The binary, run from the repository root with these arguments.
pub fn mailaudit_at_root(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_mailaudit"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(args)
        .output()
        .expect("run mailaudit")
}

/// The fixture world: the "test." zone and its reverse zones.
pub const WORLD: &[&str] = &[
    "zones/test.zone",
    "zones/reverse.zone",
    "zones/reverse6.zone",
];

/// Time allowed for one DNS attempt in the tests: generous, so a busy
/// 2-core machine does not turn an answer into a timeout; the tests that
/// want timeouts drop the question, so they never wait for an answer.
pub const TIMEOUT: Duration = Duration::from_millis(700);

/// A resolver asking only `server`, with the tests' timeout.
pub fn resolver_for(server: &FaultServer) -> Dns {
    Dns::new(DnsConfig {
        nameservers: vec![server.addr()],
        timeout: TIMEOUT,
        retries: 1,
        concurrency: 16,
        scope: None,
        trust_anchor: None,
    })
    .expect("resolver")
}

pub struct Env {
    pub server: FaultServer,
    pub engine: Engine,
    /// The trust anchor (the root key) the resolver validates from.
    _anchor: Arc<tempfile::NamedTempFile>,
}

/// The fixture zones, the top-level ones among them (`test.`) signed,
/// with a trust-anchor file holding their keys: DNSSEC validates for the
/// fixture domains as it would from the root, with no root zone served
/// (one would answer for every other name). Returns the server and the
/// trust-anchor file.
pub async fn signed_world(paths: &[PathBuf]) -> (FaultServer, tempfile::NamedTempFile) {
    use mailaudit::dns::dnssec::ZoneKey;
    use mailaudit::dns::server::Zone;
    use std::io::Write;
    let mut anchor = tempfile::NamedTempFile::new().expect("anchor file");
    let mut zones = Vec::new();
    for path in paths {
        let zone = Zone::load(path).expect("fixture zone loads");
        if !zone.origin.is_empty() && !zone.origin.contains('.') {
            let key = ZoneKey::generate().expect("key");
            let line = key.dnskey_line(&zone.origin).expect("dnskey");
            writeln!(anchor, "{line}").expect("anchor written");
            zones.push(zone.signed(key));
        } else {
            zones.push(zone);
        }
    }
    (FaultServer::from_zones(zones).await, anchor)
}

impl Env {
    pub async fn new(zones: &[&str]) -> Env {
        Env::with(zones, |_| {}).await
    }

    /// Like `new`, with a chance to adjust the resolver configuration.
    pub async fn with(zones: &[&str], tweak: impl FnOnce(&mut DnsConfig)) -> Env {
        let paths: Vec<PathBuf> = zones.iter().map(|z| fixture(z)).collect();
        let (server, anchor) = signed_world(&paths).await;
        let mut config = DnsConfig {
            nameservers: vec![server.addr()],
            timeout: TIMEOUT,
            retries: 1,
            concurrency: 32,
            scope: None,
            trust_anchor: Some(anchor.path().to_path_buf()),
        };
        tweak(&mut config);
        let engine = Engine::new(Dns::new(config).expect("resolver"), Rules::embedded());
        Env {
            server,
            engine,
            _anchor: Arc::new(anchor),
        }
    }

    pub async fn world() -> Env {
        Env::new(WORLD).await
    }

    /// A fresh engine on the same server (a new cache and statistics).
    pub fn fresh(&self) -> Engine {
        let mut engine = Engine::new(
            Dns::new(self.engine.dns.config().clone()).expect("resolver"),
            Rules::embedded(),
        );
        engine.blocklist = self.engine.blocklist.clone();
        engine
    }

    /// Uses these blocklists (zones of the fixtures, or catalogue zones).
    pub fn lists(self, zones: &[&str]) -> Env {
        let mut config = BlocklistConfig::new(Catalog::embedded());
        config.explicit = zones.iter().map(|z| z.to_string()).collect();
        self.blocklist(config)
    }

    /// Uses this blocklist configuration.
    pub fn blocklist(mut self, config: BlocklistConfig) -> Env {
        self.engine = self
            .engine
            .clone()
            .with_blocklist(BlocklistEngine::new(config));
        self
    }

    /// `mailaudit blacklist` on these targets (IPs or domains; `ranges`
    /// sends them as one-address ranges, so they take the sweep's path).
    pub async fn blacklist(&self, targets: &[&str], ranges: bool) -> Value {
        let mut subjects = Subjects::new();
        for t in targets {
            match t.parse::<IpAddr>() {
                Ok(ip) if ranges => subjects.push_range(ipnet::IpNet::from(ip)),
                Ok(ip) => subjects.push(Subject::Ip(ip)),
                Err(_) => subjects.push(Subject::Domain(t.to_string())),
            }
        }
        let req = Request {
            kind: RunKind::Blocklist,
            target: Target {
                subjects: Some((targets.iter().map(|t| t.to_string()).collect(), subjects)),
                ..Target::default()
            },
            checks: None,
            deadline: None,
        };
        json::to_value(&self.engine.run(&req).await)
    }

    /// Audits `domain` with the given sending IPs (and HELO), returning the
    /// JSON document (schema v1).
    pub async fn audit(&self, domain: &str, ips: &[&str], helo: Option<&str>) -> Value {
        let mut req = Request::audit(domain);
        req.target.ips = ips
            .iter()
            .map(|i| i.parse::<IpAddr>().expect("ip"))
            .collect();
        req.target.helo = helo.map(str::to_string);
        self.run(&req).await
    }

    /// Like `audit`, on a fresh engine (nothing cached from earlier runs).
    pub async fn fresh_audit(&self, domain: &str, ips: &[&str]) -> Value {
        let mut req = Request::audit(domain);
        req.target.ips = ips
            .iter()
            .map(|i| i.parse::<IpAddr>().expect("ip"))
            .collect();
        json::to_value(&self.fresh().run(&req).await)
    }

    pub async fn run(&self, req: &Request) -> Value {
        json::to_value(&self.engine.run(req).await)
    }
}

/// The finding IDs of a report, in order.
pub fn ids(doc: &Value) -> Vec<String> {
    doc["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| f["id"].as_str().expect("id").to_string())
        .collect()
}

pub fn has(doc: &Value, id: &str) -> bool {
    ids(doc).iter().any(|i| i == id)
}

pub fn finding<'a>(doc: &'a Value, id: &str) -> &'a Value {
    doc["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["id"] == id)
        .unwrap_or_else(|| panic!("no {id} in {:#}", doc["findings"]))
}

pub fn status<'a>(doc: &'a Value, check: &str) -> &'a str {
    doc["checks"][check]["status"].as_str().expect("status")
}

/// The world plus the blocklist fixtures.
pub const LISTS: &[&str] = &[
    "zones/test.zone",
    "zones/reverse.zone",
    "zones/reverse6.zone",
    "dnsbl/bl.test.zone",
    "dnsbl/wild.test.zone",
    "dnsbl/empty.test.zone",
    "dnsbl/zen.spamhaus.org.zone",
    "dnsbl/multi.surbl.org.zone",
    "dnsbl/list.dnswl.org.zone",
    "dnsbl/zen.dq.spamhaus.net.zone",
];

/// The result of `subject` on `zone` in a report.
pub fn result<'a>(doc: &'a Value, subject: &str, zone: &str) -> &'a Value {
    doc["checks"]["dnsbl"]["results"]
        .as_array()
        .expect("results")
        .iter()
        .find(|r| r["subject"] == subject && r["zone"] == zone)
        .unwrap_or_else(|| {
            panic!(
                "no result for {subject} on {zone}: {:#}",
                doc["checks"]["dnsbl"]
            )
        })
}

/// A small deterministic generator: the same "random" inputs every run.
pub struct XorShift(pub u64);

impl XorShift {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

//! Shared set-up: an embedded DNS server with the fixture zones, and an
//! engine whose resolver points at it.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use mailaudit::audit::{AuditRequest, Engine};
use mailaudit::dns::server::ZoneServer;
use mailaudit::dns::{Dns, DnsConfig};
use mailaudit::dnsbl::catalog::Catalog;
use mailaudit::dnsbl::{Dnsbl, DnsblConfig, Subject};
use mailaudit::report::json;
use mailaudit::rules::Rules;
use serde_json::Value;

pub fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

/// The fixture world: the "test." zone and its reverse zones.
pub const WORLD: &[&str] = &[
    "zones/test.zone",
    "zones/reverse.zone",
    "zones/reverse6.zone",
];

pub struct Env {
    pub server: ZoneServer,
    pub engine: Engine,
}

impl Env {
    pub async fn new(zones: &[&str]) -> Env {
        Env::with(zones, |_| {}).await
    }

    /// Like `new`, with a chance to adjust the resolver configuration.
    pub async fn with(zones: &[&str], tweak: impl FnOnce(&mut DnsConfig)) -> Env {
        let paths: Vec<PathBuf> = zones.iter().map(|z| fixture(z)).collect();
        let server = ZoneServer::from_files(&paths)
            .await
            .expect("fixture zones load");
        let mut config = DnsConfig {
            nameservers: vec![server.addr()],
            timeout: Duration::from_millis(300),
            retries: 0,
            concurrency: 32,
            scope: None,
        };
        tweak(&mut config);
        let engine = Engine::new(Dns::new(config).expect("resolver"), Rules::embedded());
        Env { server, engine }
    }

    pub async fn world() -> Env {
        Env::new(WORLD).await
    }

    /// Uses these blocklists (zones of the fixtures, or catalogue zones).
    pub fn lists(mut self, zones: &[&str]) -> Env {
        let mut config = DnsblConfig::new(Catalog::embedded());
        config.explicit = zones.iter().map(|z| z.to_string()).collect();
        self.engine = self.engine.clone().with_dnsbl(Dnsbl::new(config));
        self
    }

    /// `mailaudit blacklist` on these targets (IPs or domains; `ranges`
    /// selects the bulk client and the compact results).
    pub async fn blacklist(&self, targets: &[&str], ranges: bool) -> Value {
        let subjects: Vec<Subject> = targets
            .iter()
            .map(|t| match t.parse::<IpAddr>() {
                Ok(ip) => Subject::Ip(ip),
                Err(_) => Subject::Domain(t.to_string()),
            })
            .collect();
        let report = self
            .engine
            .blacklist(
                targets.iter().map(|t| t.to_string()).collect(),
                &subjects.into(),
                ranges,
            )
            .await
            .expect("blacklist");
        json::to_value(&report)
    }

    /// Audits `domain` with the given sending IPs (and HELO), returning the
    /// JSON document (schema v1).
    pub async fn audit(&self, domain: &str, ips: &[&str], helo: Option<&str>) -> Value {
        let req = AuditRequest {
            domain: domain.to_string(),
            ips: ips
                .iter()
                .map(|i| i.parse::<IpAddr>().expect("ip"))
                .collect(),
            helo: helo.map(str::to_string),
            mail_from: None,
            checks: None,
            selectors: Vec::new(),
            messages: Vec::new(),
        };
        json::to_value(&self.engine.audit(&req).await)
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

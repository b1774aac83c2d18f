//! The one resolver every check asks through.
//!
//! Design, in the order a question travels (STYLE §8): a per-(name, type)
//! single-flight cache, so a name asked by three checks is sent once; then a
//! global concurrency permit; then hickory-resolver with our timeout and
//! retry settings. The answer becomes a typed [`Outcome`] and is counted in
//! [`Stats`]. A `Dns` is cheap to clone and is meant to be shared by every
//! audit in a process.
//!
//! For offline audits (`--zone`), the resolver is given the loaded zones as
//! its *scope*: names outside them are never asked and come back as
//! [`Outcome::NotChecked`], which checks report as unknown.

pub mod bulk;
pub mod name;
pub mod outcome;
pub mod server;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, RData, RecordType};
use hickory_resolver::TokioResolver;
use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError};
use serde::Serialize;
use tokio::sync::Semaphore;

pub use outcome::{Outcome, OutcomeKind, Rdata, Rr};

/// How the resolver is set up.
#[derive(Debug, Clone)]
pub struct DnsConfig {
    /// Name servers to ask; empty means the system's (resolv.conf).
    pub nameservers: Vec<SocketAddr>,
    /// Time allowed for one attempt.
    pub timeout: Duration,
    /// Attempts after the first one fails or times out.
    pub retries: u32,
    /// Questions in flight at once, over all checks.
    pub concurrency: usize,
    /// Offline mode: only names within these zones are asked.
    pub scope: Option<Vec<String>>,
}

impl Default for DnsConfig {
    fn default() -> Self {
        DnsConfig {
            nameservers: Vec::new(),
            timeout: Duration::from_millis(2000),
            retries: 1,
            concurrency: 64,
            scope: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DnsSetupError {
    #[error("cannot read the system resolver configuration: {0}")]
    SystemConf(String),
    #[error("cannot set up the resolver: {0}")]
    Build(String),
}

/// Query counters for the report's `stats`.
#[derive(Debug, Default)]
pub struct Stats {
    queries: AtomicU64,
    cache_hits: AtomicU64,
    by_outcome: [AtomicU64; OutcomeKind::ALL.len()],
}

/// A snapshot of [`Stats`].
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Questions sent to a name server.
    pub queries: u64,
    /// Questions answered from this run's cache instead.
    pub cache_hits: u64,
    /// How the sent questions (and the ones not asked offline) ended.
    pub by_outcome: std::collections::BTreeMap<&'static str, u64>,
}

impl Stats {
    /// Counts one question that went out (or, for `NotChecked`, did not).
    pub fn record(&self, kind: OutcomeKind) {
        if kind != OutcomeKind::NotChecked {
            self.queries.fetch_add(1, Ordering::Relaxed);
        }
        self.by_outcome[kind as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            queries: self.queries.load(Ordering::Relaxed),
            cache_hits: self.cache_hits.load(Ordering::Relaxed),
            by_outcome: OutcomeKind::ALL
                .iter()
                .map(|k| {
                    (
                        k.as_str(),
                        self.by_outcome[*k as usize].load(Ordering::Relaxed),
                    )
                })
                .filter(|(_, n)| *n > 0)
                .collect(),
        }
    }
}

/// An answer on its way; clone it to wait on it from several places.
pub type Pending = Shared<BoxFuture<'static, Arc<Outcome>>>;

struct Inner {
    resolver: TokioResolver,
    cache: Mutex<HashMap<(String, RecordType), Pending>>,
    permits: Semaphore,
    stats: Stats,
    config: DnsConfig,
    /// The servers actually asked (configured, or read from resolv.conf).
    servers: Vec<IpAddr>,
}

/// The shared resolver. Clone it freely.
#[derive(Clone)]
pub struct Dns(Arc<Inner>);

impl Dns {
    pub fn new(config: DnsConfig) -> Result<Dns, DnsSetupError> {
        let (resolver_config, servers) = if config.nameservers.is_empty() {
            let (conf, _) = hickory_resolver::system_conf::read_system_conf()
                .map_err(|e| DnsSetupError::SystemConf(e.to_string()))?;
            let servers = conf.name_servers().iter().map(|ns| ns.ip).collect();
            let (_, _, name_servers) = conf.into_parts();
            (ResolverConfig::from_name_servers(name_servers), servers)
        } else {
            let name_servers = config
                .nameservers
                .iter()
                .map(|addr| {
                    let mut udp = ConnectionConfig::udp();
                    udp.port = addr.port();
                    let mut tcp = ConnectionConfig::tcp();
                    tcp.port = addr.port();
                    NameServerConfig::new(addr.ip(), true, vec![udp, tcp])
                })
                .collect();
            (
                ResolverConfig::from_name_servers(name_servers),
                config.nameservers.iter().map(|a| a.ip()).collect(),
            )
        };

        let mut opts = ResolverOpts::default();
        opts.timeout = config.timeout;
        opts.attempts = config.retries as usize + 1;
        // Our own cache keeps typed outcomes, including failures; a second
        // cache underneath would only hide what the name server said.
        opts.cache_size = 0;
        opts.ndots = 0;
        opts.edns0 = true;
        opts.preserve_intermediates = true;
        opts.num_concurrent_reqs = 1;
        opts.use_hosts_file = hickory_resolver::config::ResolveHosts::Never;
        opts.max_active_requests = config.concurrency.max(32);

        let resolver =
            TokioResolver::builder_with_config(resolver_config, TokioRuntimeProvider::default())
                .with_options(opts)
                .build()
                .map_err(|e| DnsSetupError::Build(e.to_string()))?;

        Ok(Dns(Arc::new(Inner {
            resolver,
            cache: Mutex::new(HashMap::new()),
            permits: Semaphore::new(config.concurrency.max(1)),
            stats: Stats::default(),
            servers,
            config,
        })))
    }

    /// The name servers this resolver asks.
    pub fn servers(&self) -> &[IpAddr] {
        &self.0.servers
    }

    pub fn config(&self) -> &DnsConfig {
        &self.0.config
    }

    /// The hickory resolver underneath, for libraries that want one
    /// (mail-auth). Questions asked through it bypass our cache and stats,
    /// so the checks fill mail-auth's caches from [`Dns::query`] instead.
    pub fn hickory(&self) -> &TokioResolver {
        &self.0.resolver
    }

    pub fn stats(&self) -> StatsSnapshot {
        self.0.stats.snapshot()
    }

    /// Counts a question sent by another path (the bulk blocklist client).
    pub fn count(&self, kind: OutcomeKind) {
        self.0.stats.record(kind);
    }

    /// Whether `name` may be asked (always, unless offline).
    pub fn in_scope(&self, name: &str) -> bool {
        match &self.0.config.scope {
            None => true,
            Some(zones) => zones.iter().any(|z| name::is_within(name, z)),
        }
    }

    /// Asks one question, once per run: concurrent and later askers of the
    /// same (name, type) share the first answer. The returned future owns
    /// everything it needs.
    pub fn query(&self, name: &str, rtype: RecordType) -> Pending {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        let key = (name, rtype);
        let mut cache = self.0.cache.lock().expect("dns cache lock");
        if let Some(p) = cache.get(&key) {
            self.0.stats.cache_hits.fetch_add(1, Ordering::Relaxed);
            return p.clone();
        }
        let this = self.clone();
        let (name, rtype) = key.clone();
        let p = async move { Arc::new(this.fetch(&name, rtype).await) }
            .boxed()
            .shared();
        cache.insert(key, p.clone());
        p
    }

    pub fn txt(&self, name: &str) -> Pending {
        self.query(name, RecordType::TXT)
    }

    pub fn mx(&self, name: &str) -> Pending {
        self.query(name, RecordType::MX)
    }

    /// A records when `v4`, AAAA records otherwise.
    pub fn addrs(&self, name: &str, v4: bool) -> Pending {
        self.query(name, if v4 { RecordType::A } else { RecordType::AAAA })
    }

    pub fn ptr(&self, ip: IpAddr) -> Pending {
        self.query(&name::reverse_name(ip), RecordType::PTR)
    }

    /// A and AAAA, asked together.
    pub fn a_and_aaaa(
        &self,
        name: &str,
    ) -> impl std::future::Future<Output = (Arc<Outcome>, Arc<Outcome>)> + Send + 'static {
        let a = self.query(name, RecordType::A);
        let aaaa = self.query(name, RecordType::AAAA);
        async move { futures::join!(a, aaaa) }
    }

    async fn fetch(&self, name: &str, rtype: RecordType) -> Outcome {
        if !self.in_scope(name) {
            self.0.stats.record(OutcomeKind::NotChecked);
            return Outcome::NotChecked;
        }
        let outcome = match Name::from_ascii(format!("{name}.")) {
            Err(e) => Outcome::Error(format!("invalid name {name:?}: {e}")),
            Ok(qname) => {
                let _permit = self.0.permits.acquire().await.expect("semaphore open");
                // hickory applies the timeout per attempt; this guard only
                // catches a resolver that never returns.
                let budget = self.0.config.timeout * (self.0.config.retries + 1)
                    + Duration::from_millis(500);
                match tokio::time::timeout(budget, self.0.resolver.lookup(qname, rtype)).await {
                    Err(_) => Outcome::Timeout,
                    Ok(Ok(lookup)) => {
                        let rrs: Vec<Rr> = lookup.answers().iter().map(convert_record).collect();
                        let wanted = rrs.iter().any(|rr| rr_matches(&rr.data, rtype));
                        if wanted {
                            Outcome::Records(rrs)
                        } else {
                            Outcome::NoData
                        }
                    }
                    Ok(Err(e)) => classify_error(&e),
                }
            }
        };
        self.0.stats.record(outcome.kind());
        outcome
    }
}

fn rr_matches(data: &Rdata, rtype: RecordType) -> bool {
    matches!(
        (data, rtype),
        (Rdata::A(_), RecordType::A)
            | (Rdata::Aaaa(_), RecordType::AAAA)
            | (Rdata::Txt(_), RecordType::TXT)
            | (Rdata::Mx { .. }, RecordType::MX)
            | (Rdata::Ptr(_), RecordType::PTR)
            | (Rdata::Cname(_), RecordType::CNAME)
    ) || matches!(data, Rdata::Other(_))
}

fn plain_name(name: &Name) -> String {
    let s = name.to_ascii().to_ascii_lowercase();
    s.strip_suffix('.').unwrap_or(&s).to_string()
}

fn convert_record(record: &hickory_proto::rr::Record) -> Rr {
    let data = match &record.data {
        RData::A(a) => Rdata::A(a.0),
        RData::AAAA(a) => Rdata::Aaaa(a.0),
        RData::TXT(txt) => Rdata::Txt(txt.txt_data.iter().map(|s| s.to_vec()).collect()),
        RData::MX(mx) => Rdata::Mx {
            preference: mx.preference,
            exchange: plain_name(&mx.exchange),
        },
        RData::PTR(ptr) => Rdata::Ptr(plain_name(&ptr.0)),
        RData::CNAME(cname) => Rdata::Cname(plain_name(&cname.0)),
        other => Rdata::Other(other.to_string()),
    };
    Rr {
        name: plain_name(&record.name),
        ttl: record.ttl,
        data,
    }
}

fn classify_error(err: &NetError) -> Outcome {
    match err {
        NetError::Dns(DnsError::NoRecordsFound(no)) => {
            if no.response_code == ResponseCode::NXDomain {
                Outcome::NxDomain
            } else {
                Outcome::NoData
            }
        }
        NetError::Dns(DnsError::ResponseCode(ResponseCode::ServFail)) => Outcome::ServFail,
        NetError::Dns(DnsError::ResponseCode(ResponseCode::Refused)) => Outcome::Refused,
        NetError::Dns(DnsError::ResponseCode(code)) => Outcome::Error(format!("RCODE {code}")),
        NetError::Timeout => Outcome::Timeout,
        other => Outcome::Error(other.to_string()),
    }
}

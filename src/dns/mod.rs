//! The one resolver every check asks through.
//!
//! Design, in the order a question travels (STYLE §8): a per-(name, type)
//! single-flight cache, so a name asked by three checks is sent once; then a
//! global concurrency permit; then the UDP client of [`wire`] with our
//! timeout and retry settings (hickory-resolver over TCP for a truncated
//! answer). The whole answer is read here: the CNAME chain is followed from
//! the question, and an answer whose records belong to another name or
//! type, or whose CNAMEs loop, is a failed lookup, never "no record". The
//! result is a typed [`Outcome`], counted in [`Stats`].
//!
//! The resolver is checked before it is believed (see [`health`]): an
//! NXDOMAIN is believed only once the top-level domain of the name has been
//! seen to exist, so a resolver that answers NXDOMAIN for everything makes
//! lookups fail instead of making records look missing.
//!
//! A `Dns` is cheap to clone and is meant to be shared by every audit in a
//! process.
//!
//! For offline audits (`--zone`), the resolver is given the loaded zones as
//! its *scope*: names outside them are never asked and come back as
//! [`Outcome::NotChecked`], which checks report as unknown.

pub mod dnssec;
pub mod health;
pub mod name;
pub mod outcome;
pub mod server;
pub mod signed_zone;
pub mod wire;

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
    /// DNSKEY records (zone-file lines) to validate DNSSEC from instead
    /// of the IANA root keys (`--trust-anchor`).
    pub trust_anchor: Option<std::path::PathBuf>,
}

impl Default for DnsConfig {
    fn default() -> Self {
        DnsConfig {
            nameservers: Vec::new(),
            timeout: Duration::from_millis(2000),
            retries: 1,
            concurrency: 64,
            scope: None,
            trust_anchor: None,
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

/// Why DNSSEC is not validated offline without a root zone.
pub const OFFLINE_NO_ROOT: &str = "not validated offline: the chain of trust starts at the root (or the --trust-anchor zone), and no such zone was loaded";

/// CNAMEs followed from one question at most (a longer chain is a failed
/// lookup, as a loop is).
const MAX_CNAME_CHAIN: usize = 8;

struct Inner {
    resolver: TokioResolver,
    wire: tokio::sync::OnceCell<Result<Arc<wire::WireClient>, String>>,
    /// The server the UDP client asks.
    server: Option<SocketAddr>,
    cache: Mutex<Cache>,
    permits: Semaphore,
    stats: Stats,
    config: DnsConfig,
    /// The servers actually asked (configured, or read from resolv.conf).
    servers: Vec<IpAddr>,
    health: health::Tracker,
    /// hickory's DNSSEC validation, for the DNSSEC and DANE checks.
    validator: dnssec::Validator,
    /// The zones its trust anchors are for ("" the root).
    anchors: Vec<String>,
}

/// Answers kept per generation: a batch of many domains keeps at most two
/// generations (about 2 x this many answers), so memory stays flat however
/// long the batch; a name asked again (a shared include tree) moves to the
/// young generation and stays.
pub const CACHE_GENERATION: usize = 50_000;

/// The single-flight cache, bounded by generations.
#[derive(Default)]
struct Cache {
    young: HashMap<(String, RecordType), Pending>,
    old: HashMap<(String, RecordType), Pending>,
}

impl Cache {
    fn get(&mut self, key: &(String, RecordType)) -> Option<Pending> {
        if let Some(p) = self.young.get(key) {
            return Some(p.clone());
        }
        let p = self.old.remove(key)?;
        self.insert(key.clone(), p.clone());
        Some(p)
    }

    fn insert(&mut self, key: (String, RecordType), p: Pending) {
        if self.young.len() >= CACHE_GENERATION {
            self.old = std::mem::take(&mut self.young);
        }
        self.young.insert(key, p);
    }

    fn len(&self) -> usize {
        self.young.len() + self.old.len()
    }
}

/// The shared resolver. Clone it freely; [`Dns::for_run`] gives one run
/// (one audit of a batch) its own statistics over the same cache, limits
/// and resolver health.
#[derive(Clone)]
pub struct Dns(Arc<Inner>, Arc<Stats>);

impl Dns {
    pub fn new(config: DnsConfig) -> Result<Dns, DnsSetupError> {
        let (resolver_config, servers) = if config.nameservers.is_empty() {
            let (conf, _) = hickory_resolver::system_conf::read_system_conf()
                .map_err(|e| DnsSetupError::SystemConf(e.to_string()))?;
            let servers: Vec<IpAddr> = conf.name_servers().iter().map(|ns| ns.ip).collect();
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
        let server = config
            .nameservers
            .first()
            .copied()
            .or_else(|| servers.first().map(|ip: &IpAddr| SocketAddr::new(*ip, 53)));

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

        let (keys, anchors) = match &config.trust_anchor {
            Some(path) => {
                let read = dnssec::read_trust_anchor(path).map_err(|e| {
                    DnsSetupError::Build(format!("trust anchor {}: {e}", path.display()))
                })?;
                (Some(read.keys), read.zones)
            }
            None => (None, vec![String::new()]),
        };
        let mut validator_opts = opts.clone();
        validator_opts.validate = true;
        let validator = dnssec::validator(
            resolver_config.name_servers().to_vec(),
            validator_opts,
            keys,
        )
        .map_err(DnsSetupError::Build)?;
        let resolver =
            TokioResolver::builder_with_config(resolver_config, TokioRuntimeProvider::default())
                .with_options(opts)
                .build()
                .map_err(|e| DnsSetupError::Build(e.to_string()))?;

        Ok(Dns(
            Arc::new(Inner {
                resolver,
                wire: tokio::sync::OnceCell::new(),
                server,
                cache: Mutex::new(Cache::default()),
                permits: Semaphore::new(config.concurrency.max(1)),
                stats: Stats::default(),
                servers,
                config,
                health: health::Tracker::default(),
                validator,
                anchors,
            }),
            Arc::new(Stats::default()),
        ))
    }

    /// The same resolver and cache, counting this run's questions apart.
    pub fn for_run(&self) -> Dns {
        Dns(Arc::clone(&self.0), Arc::new(Stats::default()))
    }

    /// Answers held in the cache (both generations).
    pub fn cached(&self) -> usize {
        self.0.cache.lock().expect("dns cache lock").len()
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

    /// This run's questions ([`Dns::for_run`]; all of them otherwise).
    pub fn stats(&self) -> StatsSnapshot {
        self.1.snapshot()
    }

    /// Every question of every run over this resolver.
    pub fn total_stats(&self) -> StatsSnapshot {
        self.0.stats.snapshot()
    }

    fn record(&self, kind: OutcomeKind) {
        self.0.stats.record(kind);
        self.1.record(kind);
    }

    /// What this run has learnt about the resolver itself.
    pub fn health(&self) -> health::Health {
        self.0.health.verdict(&self.0.stats.snapshot())
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
            self.1.cache_hits.fetch_add(1, Ordering::Relaxed);
            return p;
        }
        let this = self.clone();
        let (name, rtype) = key.clone();
        let p = async move { Arc::new(this.resolve(&name, rtype).await) }
            .boxed()
            .shared();
        cache.insert(key, p.clone());
        p
    }

    /// Asks one question without keeping the answer: for blocklist sweeps,
    /// where no question is asked twice and a cache would only grow.
    pub async fn query_once(&self, name: &str, rtype: RecordType) -> Outcome {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        self.resolve(&name, rtype).await
    }

    pub fn txt(&self, name: &str) -> Pending {
        self.query(name, RecordType::TXT)
    }

    pub fn mx(&self, name: &str) -> Pending {
        self.query(name, RecordType::MX)
    }

    /// Whether DNSSEC can be validated at all: not offline unless a zone
    /// of a trust anchor (the root, usually) was loaded, as the chain of
    /// trust has nowhere to start otherwise.
    pub fn validates(&self) -> bool {
        self.0.anchors.iter().any(|z| self.in_scope(z))
    }

    /// The trust anchor's zone that `name` validates from: the closest
    /// enclosing one (the root, unless `--trust-anchor` says otherwise).
    pub fn anchor_of(&self, name: &str) -> Option<&str> {
        self.0
            .anchors
            .iter()
            .filter(|z| name::is_within(name, z))
            .max_by_key(|z| z.len())
            .map(String::as_str)
    }

    /// Validates (`name`, `rtype`) with DNSSEC from the trust anchor. The
    /// anchor's own keys are validated first: when they do not validate
    /// (a resolver that strips DNSSEC records, a wrong anchor), nothing
    /// below is asked and the answer is unknown, with
    /// [`dnssec::anchor_unusable`]'s reason. These questions go through
    /// hickory's DNSSEC handle (with its own cache of the chain), not
    /// through ours, and are not in [`Dns::stats`].
    pub async fn validate(&self, name: &str, rtype: RecordType) -> dnssec::Validated {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        if !self.in_scope(&name) {
            return dnssec::Validated::unknown("outside the zones loaded offline");
        }
        if !self.validates() {
            return dnssec::Validated::unknown(OFFLINE_NO_ROOT);
        }
        let Some(anchor) = self.anchor_of(&name) else {
            return dnssec::Validated::unknown(format!(
                "{name} is under none of the trust anchors"
            ));
        };
        let keys = self.validate_one(anchor, RecordType::DNSKEY).await;
        if let Some(why) = dnssec::anchor_unusable(anchor, &keys.validation) {
            return dnssec::Validated::unknown(why);
        }
        if name == anchor && rtype == RecordType::DNSKEY {
            return keys;
        }
        self.validate_one(&name, rtype).await
    }

    /// One validation, with "bogus" believed only when the plain
    /// questions behind it were answered.
    async fn validate_one(&self, name: &str, rtype: RecordType) -> dnssec::Validated {
        let config = &self.0.config;
        // A chain of a few zones, each a DS and a DNSKEY question.
        let budget = config.timeout * (config.retries + 1) * 6 + Duration::from_millis(500);
        let validated = {
            let _permit = self.0.permits.acquire().await.expect("semaphore open");
            self.0.validator.validate(name, rtype, budget).await
        };
        if let dnssec::Validation::Bogus(why) = &validated.validation {
            // hickory calls a chain bogus also when a key or DS lookup on
            // the way failed. Bogus is believed only when the plain
            // questions behind it were answered; otherwise it is unknown.
            // The keys and DS records on the way up (the zone cut is not
            // known here); a run's questions share them, so they are cheap.
            let mut asked = vec![(name.to_string(), rtype)];
            let mut at = Some(name);
            while let Some(n) = at.filter(|n| !n.is_empty() && asked.len() < 17) {
                asked.push((n.to_string(), RecordType::DNSKEY));
                asked.push((n.to_string(), RecordType::DS));
                at = name::parent(n);
            }
            let answers =
                futures::future::join_all(asked.iter().map(|(n, t)| self.query(n, *t))).await;
            if let Some((i, failed)) = answers.iter().enumerate().find(|(_, o)| !o.is_definitive())
            {
                let (n, t) = &asked[i];
                return dnssec::Validated::unknown(format!(
                    "{why}, but {t} {n} got no answer ({failed}), so it may be a failed lookup rather than bad signatures"
                ));
            }
        }
        validated
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

    /// One question and the CNAME chain behind it, with the NXDOMAIN gate.
    async fn resolve(&self, name: &str, rtype: RecordType) -> Outcome {
        let outcome = match self.fetch(name, rtype).await {
            Read::Done(outcome) => outcome,
            Read::Follow { cnames, target } => {
                return self.follow(name, rtype, Vec::new(), cnames, target).await;
            }
        };
        if outcome == Outcome::NxDomain {
            return health::believe(self, name, outcome).await;
        }
        outcome
    }

    /// Follows an alias to `target` (`chain`: the CNAME records met before
    /// `cnames`, to detect loops across answers).
    fn follow<'s>(
        &'s self,
        name: &'s str,
        rtype: RecordType,
        mut chain: Vec<Rr>,
        cnames: Vec<Rr>,
        target: String,
    ) -> BoxFuture<'s, Outcome> {
        async move {
            for c in cnames {
                if chain.iter().any(|r| r.name == c.name) || c.name == target {
                    return Outcome::Error(format!("malformed answer: CNAME loop at {}", c.name));
                }
                chain.push(c);
            }
            if chain.len() > MAX_CNAME_CHAIN {
                return Outcome::Error(format!(
                    "CNAME chain from {name} longer than {MAX_CNAME_CHAIN}"
                ));
            }
            if chain.iter().any(|r| r.name == target) {
                return Outcome::Error(format!("malformed answer: CNAME loop at {target}"));
            }
            let outcome = match self.fetch(&target, rtype).await {
                Read::Done(outcome) => outcome,
                Read::Follow {
                    cnames,
                    target: next,
                } => {
                    return self.follow(name, rtype, chain, cnames, next).await;
                }
            };
            match outcome {
                Outcome::Records(rrs) => {
                    let mut all = chain;
                    all.extend(rrs);
                    Outcome::Records(dedup(all))
                }
                // The target's NXDOMAIN or NODATA is the answer for the
                // alias too (RFC 2308 §2.1, §2.2).
                Outcome::NxDomain => health::believe(self, &target, Outcome::NxDomain).await,
                other => other,
            }
        }
        .boxed()
    }

    /// Asks one (name, type) of the server and reads the answer.
    async fn fetch(&self, name: &str, rtype: RecordType) -> Read {
        if !self.in_scope(name) {
            self.record(OutcomeKind::NotChecked);
            return Read::Done(Outcome::NotChecked);
        }
        // An invalid name (empty or over-long labels) is refused by the
        // client when it writes the question.
        let read = {
            let _permit = self.0.permits.acquire().await.expect("semaphore open");
            match self.wire().await {
                Err(e) => Read::Done(Outcome::Error(e)),
                Ok(client) => match client.query(name, rtype).await {
                    wire::Reply::Answer(msg) => read_message(&msg, name, rtype),
                    wire::Reply::Truncated => Read::Done(self.over_tcp(name, rtype).await),
                    wire::Reply::Timeout => Read::Done(Outcome::Timeout),
                    wire::Reply::Error(e) => Read::Done(Outcome::Error(e)),
                },
            }
        };
        let kind = match &read {
            Read::Done(o) => o.kind(),
            Read::Follow { .. } => OutcomeKind::Records,
        };
        self.record(kind);
        read
    }

    async fn wire(&self) -> Result<Arc<wire::WireClient>, String> {
        self.0
            .wire
            .get_or_init(|| async {
                let server = self
                    .0
                    .server
                    .ok_or_else(|| "no name server configured".to_string())?;
                wire::WireClient::new(server, self.0.config.timeout, self.0.config.retries, 4)
                    .map(Arc::new)
                    .map_err(|e| format!("cannot open a UDP socket: {e}"))
            })
            .await
            .clone()
    }

    /// A truncated answer, asked again through hickory-resolver (TCP).
    async fn over_tcp(&self, name: &str, rtype: RecordType) -> Outcome {
        let Ok(qname) = Name::from_ascii(format!("{name}.")) else {
            return Outcome::Error(format!("invalid name {name:?}"));
        };
        // hickory applies the timeout per attempt; this guard only catches
        // a resolver that never returns.
        let budget =
            self.0.config.timeout * (self.0.config.retries + 1) + Duration::from_millis(500);
        match tokio::time::timeout(budget, self.0.resolver.lookup(qname, rtype)).await {
            Err(_) => Outcome::Timeout,
            Ok(Ok(lookup)) => {
                let rrs: Vec<Rr> = lookup.answers().iter().map(convert_record).collect();
                if rrs.iter().any(|rr| rr_matches(&rr.data, rtype)) {
                    Outcome::Records(rrs)
                } else {
                    Outcome::NoData
                }
            }
            Ok(Err(e)) => classify_error(&e),
        }
    }
}

fn dedup(rrs: Vec<Rr>) -> Vec<Rr> {
    let mut out: Vec<Rr> = Vec::with_capacity(rrs.len());
    for r in rrs {
        if !out.contains(&r) {
            out.push(r);
        }
    }
    out
}

/// What one server answer says about a question.
enum Read {
    Done(Outcome),
    /// The answer is an alias: ask `target` next.
    Follow {
        cnames: Vec<Rr>,
        target: String,
    },
}

/// Reads a server's answer to (`qname`, `rtype`): follows the CNAME chain
/// inside it, and calls the answer malformed when its records belong to
/// another name or type than the question and its chain.
fn read_message(msg: &hickory_proto::op::Message, qname: &str, rtype: RecordType) -> Read {
    match msg.metadata.response_code {
        ResponseCode::NoError => {}
        ResponseCode::NXDomain => return Read::Done(Outcome::NxDomain),
        ResponseCode::ServFail => return Read::Done(Outcome::ServFail),
        ResponseCode::Refused => return Read::Done(Outcome::Refused),
        code => return Read::Done(Outcome::Error(format!("RCODE {code}"))),
    }
    let rrs: Vec<Rr> = msg
        .answers
        .iter()
        .filter(|r| r.dns_class == hickory_proto::rr::DNSClass::IN)
        .map(convert_record)
        .collect();
    if rrs.is_empty() {
        return Read::Done(Outcome::NoData);
    }
    let mut current = qname.to_string();
    let mut cnames: Vec<Rr> = Vec::new();
    loop {
        let wanted: Vec<&Rr> = rrs
            .iter()
            .filter(|r| r.name == current && rr_matches(&r.data, rtype))
            .collect();
        if !wanted.is_empty() {
            let mut out = cnames;
            out.extend(wanted.into_iter().cloned());
            return Read::Done(Outcome::Records(out));
        }
        if rtype == RecordType::CNAME {
            break;
        }
        let Some(alias) = rrs
            .iter()
            .find(|r| r.name == current && matches!(r.data, Rdata::Cname(_)))
        else {
            break;
        };
        let Rdata::Cname(target) = &alias.data else {
            unreachable!("filtered to CNAME")
        };
        if target == qname || cnames.iter().any(|c| c.name == *target) {
            return Read::Done(Outcome::Error(format!(
                "malformed answer: CNAME loop at {target}"
            )));
        }
        if cnames.len() >= MAX_CNAME_CHAIN {
            return Read::Done(Outcome::Error(format!(
                "CNAME chain from {qname} longer than {MAX_CNAME_CHAIN}"
            )));
        }
        cnames.push(alias.clone());
        current = target.clone();
    }
    if !cnames.is_empty() {
        // The chain leaves the answer: the server is not authoritative for
        // the target, so it is asked next.
        if rrs.len() == cnames.len() {
            return Read::Follow {
                cnames,
                target: current,
            };
        }
    }
    let stray: Vec<String> = rrs
        .iter()
        .filter(|r| !cnames.contains(r))
        .take(3)
        .map(|r| format!("{} {}", r.name, r.data.type_name()))
        .collect();
    Read::Done(Outcome::Error(format!(
        "malformed answer: asked {rtype} for {current}, got {}",
        stray.join(", ")
    )))
}

fn rr_matches(data: &Rdata, rtype: RecordType) -> bool {
    match data {
        Rdata::A(_) => rtype == RecordType::A,
        Rdata::Aaaa(_) => rtype == RecordType::AAAA,
        Rdata::Txt(_) => rtype == RecordType::TXT,
        Rdata::Mx { .. } => rtype == RecordType::MX,
        Rdata::Ptr(_) => rtype == RecordType::PTR,
        Rdata::Cname(_) => rtype == RecordType::CNAME,
        Rdata::Other(t, _) => *t == rtype.to_string(),
    }
}

/// A name as the checks see it: its labels as they came (no escaping, so
/// an answer matches the question it answers), lower case, no trailing dot.
fn plain_name(name: &Name) -> String {
    let raw = wire::raw_name(name);
    String::from_utf8_lossy(&raw)
        .trim_end_matches('.')
        .to_string()
}

pub(crate) fn convert_record(record: &hickory_proto::rr::Record) -> Rr {
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
        other => Rdata::Other(record.record_type().to_string(), other.to_string()),
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

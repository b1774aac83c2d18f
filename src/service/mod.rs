//! `mailaudit serve`: the engine as a service a support desk shares. A web
//! page and a JSON API (`http.rs`, `pages.rs`) accept audits; a bounded
//! queue runs them on one shared engine (one resolver, cache and list
//! health); every request and report is stored (`store.rs`) under a
//! random permalink, so reports survive a restart and a restart runs what
//! was accepted but not finished.
//!
//! What a web user may make the server do is less than what the operator
//! may: a request names no server and no zone file. The SMTP probe and the
//! HTTPS fetches run only when the operator enabled them (`--smtp`,
//! `--fetch`; otherwise those checks say they were not run), and then
//! reach only public addresses unless the operator allows private ones
//! ([`crate::reach`]).

mod http;
mod pages;
pub mod smtp_in;
pub mod store;
pub mod watch;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::{Mutex, mpsc, watch as signal};

use crate::engine::{Engine, Request};
use crate::facts::SmtpTarget;
use crate::input::AddressCap;
use crate::reach::Reach;
use crate::report::model::RunKind;
use crate::web::WebOptions;
use store::{Owner, State, Store, StoreError};

pub use http::serve;

/// How the service is run (`mailaudit serve` flags).
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// Audits run at once.
    pub workers: usize,
    /// Audits waiting at most; more are refused (429).
    pub queue: usize,
    /// Largest request body, in bytes (413 above).
    pub body_limit: usize,
    /// SHA-256 of each accepted token; none: no authentication.
    pub tokens: Vec<[u8; 32]>,
    /// Most sending IPs a request may name (ranges expanded).
    pub max_addresses: u64,
    /// Identical requests within this window are one audit.
    pub fold_window: Duration,
    /// Finished audits older than this are deleted (checked hourly).
    pub retention: Option<Duration>,
    /// The operator's zone files (offline), for each report's "how it was
    /// made".
    pub zone_files: Vec<String>,
    /// Submissions one client address may make per minute (`None`: no
    /// limit). Reading reports is not limited.
    pub rate_per_minute: Option<u32>,
    /// Where uploaded recipient lists are spooled while they are checked.
    pub spool: std::path::PathBuf,
    /// `serve --smtp`: probe each audited domain's MX hosts (and, with
    /// `--smtp-sending`, the request's IPs) on port 25; `None`: the SMTP
    /// check is not run for requests.
    pub smtp: Option<SmtpTarget>,
    /// `serve --fetch`: fetch MTA-STS policies and BIMI logos over HTTPS;
    /// `None`: not fetched (the checks say so).
    pub web: Option<WebOptions>,
    /// `--trusted-proxy`: reverse proxies whose `X-Forwarded-For` names
    /// the client (for `--rate`); from anyone else the header is ignored.
    pub trusted_proxies: Vec<IpAddr>,
    /// `--smtp-listen` with `--mail-domain`: test addresses are given out
    /// and the messages they receive audited; `None`: no test addresses.
    pub tests: Option<TestAddresses>,
    /// `--rspamd URL`: messages (uploaded or received) are scored by it.
    pub rspamd: Option<crate::rspamd::Rspamd>,
    /// How watches run and whom their alerts tell.
    pub watch: watch::WatchConfig,
    /// How often the service looks for due watches (`None`: it runs none
    /// itself; `mailaudit watch run` does).
    pub watch_tick: Option<Duration>,
}

/// How test addresses are given out.
#[derive(Debug, Clone)]
pub struct TestAddresses {
    /// The domain after the `@` (its MX points at the listener).
    pub mail_domain: String,
    /// How long an address takes mail (`--test-lifetime`).
    pub lifetime: Duration,
    /// `--smtp-listen-trusted-relay`: the operator's own MTAs that hand
    /// test mail to the listener; a message from one is judged from the
    /// host the path names before them.
    pub trusted_relays: Vec<ipnet::IpNet>,
}

impl ServiceConfig {
    /// Which addresses the probe and fetches may reach: public ones unless
    /// the operator allows private ones (`--allow-private`).
    pub fn reach(&self) -> Reach {
        self.smtp
            .as_ref()
            .map(|s| s.options.reach)
            .or(self.web.as_ref().map(|w| w.reach))
            .unwrap_or(Reach::Public)
    }

    /// The client a request comes from, for `--rate`: the peer, or, when
    /// the peer is a trusted proxy, the nearest address in its
    /// `X-Forwarded-For` values (read from the right) that is not a
    /// trusted proxy itself. What a client writes further left is not
    /// believed: the client can put anything there.
    pub fn client<'h>(&self, peer: IpAddr, forwarded: impl Iterator<Item = &'h str>) -> IpAddr {
        if !self.trusted_proxies.contains(&peer) {
            return peer;
        }
        let hops: Vec<&str> = forwarded.flat_map(|v| v.split(',')).collect();
        let mut client = peer;
        for hop in hops.iter().rev() {
            match hop.trim().parse::<IpAddr>() {
                Ok(ip) if self.trusted_proxies.contains(&ip) => client = ip,
                Ok(ip) => return ip,
                Err(_) => return client,
            }
        }
        client
    }

    /// What a request may make this server connect to, in a sentence for
    /// the form.
    pub fn connections(&self) -> String {
        let probe = self.smtp.as_ref().map(|s| {
            if s.sending {
                "probes the domain's mail servers and the sending IPs on port 25"
            } else {
                "probes the domain's mail servers on port 25"
            }
        });
        let fetch = self
            .web
            .as_ref()
            .map(|_| "fetches its MTA-STS policy and BIMI logo over HTTPS");
        let whom = match self.reach() {
            Reach::Public => " (public addresses only)",
            Reach::Any => "",
        };
        match (probe, fetch) {
            (None, None) => "The SMTP probe and HTTPS fetches (MTA-STS policy, BIMI logo) are not made for web requests: those checks say they were not run.".into(),
            (Some(p), None) => format!("This server {p}{whom}; it does not fetch MTA-STS policies or BIMI logos."),
            (None, Some(f)) => format!("This server {f}{whom}; it does not probe mail servers on port 25."),
            (Some(p), Some(f)) => format!("This server {p} and {f}{whom}."),
        }
    }
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            workers: 4,
            queue: 1000,
            body_limit: 10 << 20,
            tokens: Vec::new(),
            max_addresses: 256,
            fold_window: Duration::from_secs(60),
            retention: None,
            zone_files: Vec::new(),
            rate_per_minute: None,
            spool: std::env::temp_dir(),
            smtp: None,
            web: None,
            trusted_proxies: Vec::new(),
            tests: None,
            rspamd: None,
            watch: watch::WatchConfig::default(),
            watch_tick: None,
        }
    }
}

/// An audit as a client asks for it (`POST /api/v1/audits`, the form).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditRequest {
    pub domain: String,
    /// Sending IPs or ranges.
    #[serde(default)]
    pub ips: Vec<String>,
    /// DKIM selectors to look up besides the common ones.
    #[serde(default)]
    pub selectors: Vec<String>,
    /// Only these checks (all when empty).
    #[serde(default)]
    pub checks: Vec<String>,
}

impl AuditRequest {
    /// The request in its one canonical form (names normalised, lists
    /// sorted), or what is wrong with it, naming the field. When the
    /// service probes the sending IPs on port 25 and may reach only
    /// public addresses, an internal address among them is refused: the
    /// requester would have the server connect to its own network.
    pub fn normalised(&self, config: &ServiceConfig) -> Result<AuditRequest, String> {
        let max_addresses = config.max_addresses;
        let domain = crate::input::domain("domain", self.domain.trim()).map_err(|e| e.0)?;
        let mut ips = Vec::new();
        let mut nets = Vec::new();
        for ip in self.ips.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
            let net = crate::input::ip_or_cidr("ips", ip).map_err(|e| e.0)?;
            nets.push((ip.to_string(), net));
            ips.push(net.to_string());
        }
        let addresses = crate::input::expand("ips", &nets, AddressCap::server(max_addresses))
            .map_err(|e| e.0)?;
        if let Some(smtp) = config.smtp.as_ref().filter(|s| s.sending)
            && let Some(why) = addresses
                .iter()
                .find_map(|ip| smtp.options.reach.refuses(*ip))
        {
            return Err(format!(
                "ips: {why}; the SMTP probe of sending IPs would connect there"
            ));
        }
        let mut selectors = Vec::new();
        for s in self
            .selectors
            .iter()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
        {
            selectors.push(crate::input::selector(s).map_err(|e| format!("selectors: {}", e.0))?);
        }
        let mut checks = Vec::new();
        for c in self.checks.iter().map(|c| c.trim().to_ascii_lowercase()) {
            if c.is_empty() {
                continue;
            }
            match crate::checks::find(&c) {
                Some(check) if check.info().kinds.contains(&RunKind::Audit) => checks.push(c),
                _ => return Err(format!("checks: unknown check {c:?}")),
            }
        }
        for list in [&mut ips, &mut selectors, &mut checks] {
            list.sort();
            list.dedup();
        }
        Ok(AuditRequest {
            domain,
            ips,
            selectors,
            checks,
        })
    }

    /// The engine's request for a normalised audit request.
    fn engine_request(&self, max_addresses: u64) -> Result<Request, String> {
        let mut req = Request::audit(&self.domain);
        let nets = self
            .ips
            .iter()
            .map(|ip| {
                crate::input::ip_or_cidr("ips", ip)
                    .map(|n| (ip.clone(), n))
                    .map_err(|e| e.0)
            })
            .collect::<Result<Vec<_>, _>>()?;
        req.target.ips = crate::input::expand("ips", &nets, AddressCap::server(max_addresses))
            .map_err(|e| e.0)?;
        req.target.selectors = self.selectors.clone();
        req.target.max_addresses = max_addresses as usize;
        if !self.checks.is_empty() {
            req.checks = Some(self.checks.iter().cloned().collect());
        }
        Ok(req)
    }
}

/// A file sent with a request (the form's or the API's multipart upload).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Upload {
    /// The file name the client gave (shown in the report, escaped).
    pub name: String,
    /// The bytes, stored as base64.
    #[serde(with = "base64_bytes")]
    pub bytes: Vec<u8>,
}

mod base64_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&data_encoding::BASE64.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        data_encoding::BASE64
            .decode(text.as_bytes())
            .map_err(serde::de::Error::custom)
    }
}

/// What the service runs: an audit (with the files sent with it), or a
/// blocklist check of addresses, ranges and domains. Stored as accepted
/// (its JSON is the `request` column), so a restart runs it as it was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Job {
    Audit {
        request: AuditRequest,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<Upload>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        recipients: Option<Upload>,
    },
    Blocklist {
        targets: Vec<String>,
    },
    /// A message that arrived at a test address, with the connection that
    /// delivered it.
    Received {
        test: String,
        connection: crate::message::received::Connection,
        message: Upload,
    },
}

/// Most targets one blocklist request may name.
pub const MAX_TARGETS: usize = 100;

impl Job {
    /// A plain audit.
    pub fn audit(request: AuditRequest) -> Job {
        Job::Audit {
            request,
            message: None,
            recipients: None,
        }
    }

    /// The kind, as stored.
    pub fn kind(&self) -> &'static str {
        match self {
            Job::Audit { .. } => "audit",
            Job::Blocklist { .. } => "blocklist",
            Job::Received { .. } => "received",
        }
    }

    /// What the list of audits shows as its subject.
    pub fn subject(&self) -> String {
        match self {
            Job::Audit { request, .. } => request.domain.clone(),
            Job::Blocklist { targets } => targets.join(" "),
            Job::Received {
                connection,
                message,
                ..
            } => {
                let sender = crate::message::received::sender_of(
                    &message.bytes,
                    Some(connection),
                    &Default::default(),
                );
                sender
                    .from_domain
                    .or_else(|| {
                        connection
                            .mail_from
                            .rsplit_once('@')
                            .map(|(_, d)| d.to_ascii_lowercase())
                    })
                    .unwrap_or_else(|| connection.recipients.join(" "))
            }
        }
    }

    /// The job in its one canonical form, or what is wrong with it.
    pub fn normalised(&self, config: &ServiceConfig) -> Result<Job, String> {
        let max_addresses = config.max_addresses;
        match self {
            Job::Audit {
                request,
                message,
                recipients,
            } => {
                if let Some(m) = message
                    && let Some(why) = crate::message::unparseable(&m.bytes)
                {
                    return Err(format!("message {:?}: {why}", m.name));
                }
                if let Some(r) = recipients
                    && r.bytes.iter().all(|b| b.is_ascii_whitespace())
                {
                    return Err(format!("recipients {:?}: the file is empty", r.name));
                }
                Ok(Job::Audit {
                    request: request.normalised(config)?,
                    message: message.clone(),
                    recipients: recipients.clone(),
                })
            }
            Job::Blocklist { targets } => {
                let mut targets: Vec<String> = targets
                    .iter()
                    .map(|t| t.trim().to_string())
                    .filter(|t| !t.is_empty())
                    .collect();
                targets.sort();
                targets.dedup();
                if targets.is_empty() {
                    return Err("targets: name at least one address, range or domain".into());
                }
                if targets.len() > MAX_TARGETS {
                    return Err(format!(
                        "targets: {} targets, more than the limit of {MAX_TARGETS}",
                        targets.len()
                    ));
                }
                crate::blocklist::subjects_of(&targets, AddressCap::server(max_addresses))
                    .map_err(|e| e.0)?;
                Ok(Job::Blocklist { targets })
            }
            // Made by our own listener, never by a client.
            Job::Received { .. } => Ok(self.clone()),
        }
    }

    /// The engine's request for a normalised job; the spooled recipient
    /// list lives as long as the returned guard.
    fn engine_request(
        &self,
        config: &ServiceConfig,
    ) -> Result<(Request, Option<tempfile::NamedTempFile>), String> {
        match self {
            Job::Audit {
                request,
                message,
                recipients,
            } => {
                let mut req = request.engine_request(config.max_addresses)?;
                req.target.smtp = config.smtp.clone();
                req.target.web = config.web.clone();
                req.target.rspamd = config.rspamd.clone();
                if let Some(m) = message {
                    req.target.messages.push(crate::message::Loaded {
                        path: m.name.clone(),
                        size: m.bytes.len() as u64,
                        truncated: false,
                        bytes: m.bytes.clone(),
                    });
                }
                let mut spool = None;
                if let Some(r) = recipients {
                    use std::io::Write;
                    let mut file = tempfile::Builder::new()
                        .prefix("recipients-")
                        .tempfile_in(&config.spool)
                        .map_err(|e| format!("cannot spool the recipient list: {e}"))?;
                    file.write_all(&r.bytes)
                        .map_err(|e| format!("cannot spool the recipient list: {e}"))?;
                    let list = crate::recipients::ListFile::open(file.path(), &r.name, None)
                        .map_err(|e| format!("recipients {:?}: {e}", r.name))?;
                    req.target.recipients = Some(Arc::new(crate::recipients::RecipientsInput {
                        list,
                        flagged: None,
                        clean: None,
                        progress: None,
                    }));
                    spool = Some(file);
                }
                Ok((req, spool))
            }
            Job::Blocklist { targets } => {
                let (subjects, _) = crate::blocklist::subjects_of(
                    targets,
                    AddressCap::server(config.max_addresses),
                )
                .map_err(|e| e.0)?;
                Ok((Request::blocklist(targets.clone(), subjects), None))
            }
            Job::Received {
                connection,
                message,
                ..
            } => {
                // The message as it arrived, from the address that
                // delivered it: no probe of that address (it is the
                // sender's), the domain's own records fetched as for an
                // audit.
                let mut req = Request::received(
                    crate::message::Loaded {
                        path: message.name.clone(),
                        size: message.bytes.len() as u64,
                        truncated: false,
                        bytes: message.bytes.clone(),
                    },
                    Some(connection.clone()),
                    crate::message::received::Trust {
                        relays: config
                            .tests
                            .as_ref()
                            .map(|t| t.trusted_relays.clone())
                            .unwrap_or_default(),
                        authserv_id: None,
                    },
                );
                req.target.web = config.web.clone();
                req.target.rspamd = config.rspamd.clone();
                Ok((req, None))
            }
        }
    }
}

/// A test address as given out.
#[derive(Debug, Clone, Serialize)]
pub struct TestAddress {
    pub id: String,
    pub address: String,
    pub created_at: i64,
    pub expires_at: i64,
}

/// Where a test is: `waiting` (live, nothing arrived), `received` (a
/// message arrived; it may take more until it expires) or `expired`.
pub fn test_status(row: &store::TestRow, received: bool) -> &'static str {
    match (received, row.expires_at > now_ms()) {
        (_, false) => "expired",
        (true, true) => "received",
        (false, true) => "waiting",
    }
}

/// Why a recipient is refused (SMTP 550).
#[derive(Debug)]
pub enum Unknown {
    /// No test has this address.
    NoSuchTest,
    /// The test expired.
    Expired,
    Store(StoreError),
}

/// Why a submission was not accepted.
#[derive(Debug)]
pub enum Refused {
    /// The request is wrong (400): what, naming the field.
    Invalid(String),
    /// The queue is full (429).
    Busy,
    /// The client sent more than `--rate` allows (429): seconds to wait.
    Limited(u64),
    /// The service is shutting down (503).
    Closing,
    /// The store failed (500).
    Store(StoreError),
}

impl From<StoreError> for Refused {
    fn from(e: StoreError) -> Self {
        Refused::Store(e)
    }
}

/// Counters for `/metrics`.
#[derive(Default)]
struct Metrics {
    accepted: AtomicU64,
    folded: AtomicU64,
    refused_busy: AtomicU64,
    refused_rate: AtomicU64,
    finished: AtomicU64,
    failed: AtomicU64,
    /// Milliseconds spent running audits, in all.
    run_ms: AtomicU64,
    /// DNS questions the audits asked, in all.
    dns_questions: AtomicU64,
    /// Messages accepted at test addresses.
    received: AtomicU64,
    /// Runs of watches made, alerts they confirmed, and deliveries of
    /// them (webhook, mail) that failed.
    watch_runs: AtomicU64,
    watch_alerts: AtomicU64,
    watch_undelivered: AtomicU64,
}

/// The running service: one engine, one store, one queue.
pub struct Service {
    engine: Engine,
    store: Store,
    config: ServiceConfig,
    queue: mpsc::Sender<String>,
    queued: AtomicU64,
    /// Recent requests (canonical JSON) and the audit each became.
    recent: Mutex<HashMap<String, (String, Instant)>>,
    /// Per-client submission buckets (`--rate`): tokens left, and when.
    buckets: Mutex<HashMap<IpAddr, (f64, Instant)>>,
    closing: AtomicBool,
    stop: signal::Sender<bool>,
    metrics: Metrics,
    workers: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    /// Watches being run now (by the schedule or on request): one run of
    /// a watch at a time.
    watching: std::sync::Mutex<std::collections::HashSet<String>>,
}

/// Unix milliseconds now.
fn now_ms() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp_nanos() as i64 / 1_000_000
}

/// A finished report's verdict as stored, and the report in every format
/// (made once: a permalink serves what the audit saw, in any of them).
fn rendered(report: &crate::report::model::Report) -> (String, Vec<(&'static str, String)>) {
    let options = crate::report::TextOptions::default();
    let verdict = serde_json::to_value(report.verdict())
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default();
    let reports = crate::report::FORMATS
        .iter()
        .map(|f| (f.name(), f.render(report, &options)))
        .collect();
    (verdict, reports)
}

/// Unix milliseconds as RFC 3339 (UTC, seconds).
pub fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// A new permalink: 128 random bits in hex.
fn new_id() -> String {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 16];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .expect("the system's random source");
    data_encoding::HEXLOWER.encode(&bytes)
}

impl Service {
    /// Starts the workers and queues again what a previous run accepted
    /// but did not finish.
    pub async fn start(
        engine: Engine,
        store: Store,
        config: ServiceConfig,
    ) -> Result<Arc<Service>, StoreError> {
        // No workers: a service that runs no queue (`mailaudit watch run`
        // beside a running `serve`), which leaves the unfinished alone.
        let unfinished = if config.workers == 0 {
            Vec::new()
        } else {
            store.unfinished().await?
        };
        // Room for what is waiting already, beyond the configured queue.
        let (tx, rx) = mpsc::channel(config.queue.max(1) + unfinished.len());
        let (stop, _) = signal::channel(false);
        let service = Arc::new(Service {
            engine,
            store,
            config,
            queue: tx,
            queued: AtomicU64::new(0),
            recent: Mutex::new(HashMap::new()),
            buckets: Mutex::new(HashMap::new()),
            closing: AtomicBool::new(false),
            stop,
            metrics: Metrics::default(),
            workers: Mutex::new(Vec::new()),
            watching: std::sync::Mutex::new(std::collections::HashSet::new()),
        });
        for id in unfinished {
            service.queued.fetch_add(1, Ordering::Relaxed);
            let _ = service.queue.try_send(id);
        }
        let rx = Arc::new(Mutex::new(rx));
        let mut handles = Vec::new();
        for _ in 0..service.config.workers {
            handles.push(tokio::spawn(work(service.clone(), rx.clone())));
        }
        if let Some(keep) = service.config.retention {
            tokio::spawn(prune(service.clone(), keep));
        }
        if let Some(tick) = service.config.watch_tick {
            tokio::spawn(schedule(service.clone(), tick));
        }
        *service.workers.lock().await = handles;
        Ok(service)
    }

    /// The client of a request, for `--rate`: the peer, or whom a trusted
    /// proxy's `X-Forwarded-For` names.
    pub(crate) fn client_of(
        &self,
        peer: std::net::SocketAddr,
        headers: &axum::http::HeaderMap,
    ) -> IpAddr {
        let forwarded = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok());
        self.config.client(peer.ip(), forwarded)
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn config(&self) -> &ServiceConfig {
        &self.config
    }

    /// Accepts a job from `client`: its id and where it is (an identical
    /// request of the last minute is that audit, not a new one).
    pub async fn submit(
        &self,
        asked: &Job,
        client: Option<IpAddr>,
    ) -> Result<(String, State), Refused> {
        if self.closing.load(Ordering::Relaxed) {
            return Err(Refused::Closing);
        }
        if let Some(client) = client {
            self.rate_limit(client).await?;
        }
        let job = asked.normalised(&self.config).map_err(Refused::Invalid)?;
        let stored = serde_json::to_string(&job).expect("serialises");
        let key = data_encoding::HEXLOWER.encode(&token_hash(&stored));
        let mut recent = self.recent.lock().await;
        recent.retain(|_, (_, at)| at.elapsed() < self.config.fold_window);
        if let Some((id, _)) = recent.get(&key)
            && let Some(found) = self.store.get(id).await?
            && found.state != State::Failed
        {
            self.metrics.folded.fetch_add(1, Ordering::Relaxed);
            return Ok((id.clone(), found.state));
        }
        let id = self.enqueue(&job, &stored, Owner::None).await?;
        recent.insert(key, (id.clone(), Instant::now()));
        Ok((id, State::Queued))
    }

    /// Stores a normalised job (`stored` is its JSON) and queues it: its
    /// new id, or Busy when the queue is full (nothing is kept then).
    async fn enqueue(&self, job: &Job, stored: &str, owner: Owner<'_>) -> Result<String, Refused> {
        if self.queued.load(Ordering::Relaxed) >= self.config.queue as u64 {
            self.metrics.refused_busy.fetch_add(1, Ordering::Relaxed);
            return Err(Refused::Busy);
        }
        let id = new_id();
        self.store
            .insert(
                &id,
                now_ms(),
                job.kind(),
                Some(&job.subject()),
                stored,
                owner,
            )
            .await?;
        self.queued.fetch_add(1, Ordering::Relaxed);
        if self.queue.try_send(id.clone()).is_err() {
            self.queued.fetch_sub(1, Ordering::Relaxed);
            self.store.remove(&id).await?;
            self.metrics.refused_busy.fetch_add(1, Ordering::Relaxed);
            return Err(Refused::Busy);
        }
        self.metrics.accepted.fetch_add(1, Ordering::Relaxed);
        Ok(id)
    }

    /// Gives out a new test address.
    pub async fn create_test(&self, client: Option<IpAddr>) -> Result<TestAddress, Refused> {
        if self.closing.load(Ordering::Relaxed) {
            return Err(Refused::Closing);
        }
        let Some(tests) = &self.config.tests else {
            return Err(Refused::Invalid(
                "this server gives out no test addresses (serve --smtp-listen --mail-domain)"
                    .into(),
            ));
        };
        if let Some(client) = client {
            self.rate_limit(client).await?;
        }
        let created_at = now_ms();
        let row = store::TestRow {
            id: new_id(),
            local_part: format!("test-{}", &new_id()[..20]),
            created_at,
            expires_at: created_at + tests.lifetime.as_millis() as i64,
        };
        self.store.insert_test(&row).await?;
        Ok(self.test_address(&row))
    }

    /// A stored test as given out.
    pub fn test_address(&self, row: &store::TestRow) -> TestAddress {
        let domain = self
            .config
            .tests
            .as_ref()
            .map_or("", |t| t.mail_domain.as_str());
        TestAddress {
            id: row.id.clone(),
            address: format!("{}@{domain}", row.local_part),
            created_at: row.created_at,
            expires_at: row.expires_at,
        }
    }

    /// The live test a local part names (RCPT TO).
    pub async fn live_test(&self, local_part: &str) -> Result<store::TestRow, Unknown> {
        let local = local_part.to_ascii_lowercase();
        if !local.starts_with("test-") || local.len() > 64 {
            return Err(Unknown::NoSuchTest);
        }
        match self.store.test_by_address(&local).await {
            Ok(Some(t)) if t.expires_at > now_ms() => Ok(t),
            Ok(Some(_)) => Err(Unknown::Expired),
            Ok(None) => Err(Unknown::NoSuchTest),
            Err(e) => Err(Unknown::Store(e)),
        }
    }

    /// Queues the audit of a message that arrived for `test`; its id.
    pub async fn receive(
        &self,
        test: &store::TestRow,
        connection: crate::message::received::Connection,
        bytes: Vec<u8>,
    ) -> Result<String, Refused> {
        if self.closing.load(Ordering::Relaxed) {
            return Err(Refused::Closing);
        }
        let job = Job::Received {
            test: test.id.clone(),
            message: Upload {
                name: format!("message-to-{}.eml", test.local_part),
                bytes,
            },
            connection,
        };
        let stored = serde_json::to_string(&job).expect("serialises");
        let id = self.enqueue(&job, &stored, Owner::Test(&test.id)).await?;
        self.metrics.received.fetch_add(1, Ordering::Relaxed);
        Ok(id)
    }

    /// Counts a submission of `client` against `--rate`: a bucket of
    /// `rate` submissions that refills evenly over a minute.
    async fn rate_limit(&self, client: IpAddr) -> Result<(), Refused> {
        let Some(rate) = self.config.rate_per_minute else {
            return Ok(());
        };
        let rate = f64::from(rate.max(1));
        let per_second = rate / 60.0;
        let mut buckets = self.buckets.lock().await;
        let now = Instant::now();
        // Full buckets say nothing: forget them, so the map stays small.
        buckets.retain(|_, (tokens, at)| {
            *tokens + now.duration_since(*at).as_secs_f64() * per_second < rate
        });
        // An IPv6 client holds a /64 at least: one bucket for it, or a
        // new address per request would never be limited.
        let client = match client {
            IpAddr::V6(v6) => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
            v4 => v4,
        };
        let (tokens, at) = buckets.entry(client).or_insert((rate, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * per_second).min(rate);
        *at = now;
        if *tokens < 1.0 {
            self.metrics.refused_rate.fetch_add(1, Ordering::Relaxed);
            let wait = ((1.0 - *tokens) / per_second).ceil() as u64;
            return Err(Refused::Limited(wait.max(1)));
        }
        *tokens -= 1.0;
        Ok(())
    }

    /// Stops accepting, lets the running audits finish, and leaves the
    /// waiting ones queued in the store for the next start.
    pub async fn shut_down(&self) {
        self.close();
        let _ = self.stop.send(true);
        let handles = std::mem::take(&mut *self.workers.lock().await);
        for h in handles {
            let _ = h.await;
        }
    }

    /// Refuses new submissions and requests from now on (503); what is
    /// running finishes ([`Service::shut_down`] waits for it).
    pub fn close(&self) {
        self.closing.store(true, Ordering::Relaxed);
    }

    pub fn closing(&self) -> bool {
        self.closing.load(Ordering::Relaxed)
    }

    /// Runs one stored audit and stores what came of it.
    async fn run_one(&self, id: &str) {
        let Ok(Some(stored)) = self.store.get(id).await else {
            return;
        };
        if matches!(stored.state, State::Done | State::Failed) {
            return;
        }
        let request = serde_json::from_str::<Job>(&stored.request)
            .map_err(|e| format!("the stored request cannot be read: {e}"))
            .and_then(|job| job.engine_request(&self.config));
        let (request, _spool) = match request {
            Ok(r) => r,
            Err(why) => {
                let _ = self.store.set_failed(id, now_ms(), &why).await;
                self.metrics.failed.fetch_add(1, Ordering::Relaxed);
                return;
            }
        };
        let _ = self.store.set_running(id).await;
        let started = Instant::now();
        let mut report = self.engine.run(&request).await;
        report.made.command = vec!["mailaudit".into(), "serve".into(), format!("audit {id}")];
        report.made.zone_files = self.config.zone_files.clone();
        self.metrics
            .run_ms
            .fetch_add(started.elapsed().as_millis() as u64, Ordering::Relaxed);
        self.finish(id, &report).await;
    }

    /// Stores a finished audit's report in every format, made once now (a
    /// permalink serves what the audit saw, in any of them); its verdict
    /// as stored.
    async fn finish(&self, id: &str, report: &crate::report::model::Report) -> String {
        let (verdict, reports) = rendered(report);
        self.metrics
            .dns_questions
            .fetch_add(report.stats.queries, Ordering::Relaxed);
        match self.store.set_done(id, now_ms(), &verdict, &reports).await {
            Ok(()) => self.metrics.finished.fetch_add(1, Ordering::Relaxed),
            Err(e) => {
                let _ = self.store.set_failed(id, now_ms(), &e.to_string()).await;
                self.metrics.failed.fetch_add(1, Ordering::Relaxed)
            }
        };
        verdict
    }

    /// The Prometheus text exposition of the service's counters.
    pub async fn metrics(&self) -> String {
        let m = &self.metrics;
        let counters: [(&str, &str, &AtomicU64); 12] = [
            (
                "messages_received_total",
                "Messages accepted at test addresses.",
                &m.received,
            ),
            ("audits_accepted_total", "Audits accepted.", &m.accepted),
            (
                "audits_folded_total",
                "Requests folded into an identical audit of the last minute.",
                &m.folded,
            ),
            (
                "audits_refused_busy_total",
                "Audits refused because the queue was full.",
                &m.refused_busy,
            ),
            (
                "audits_refused_rate_total",
                "Submissions refused by the per-client rate limit.",
                &m.refused_rate,
            ),
            ("audits_finished_total", "Audits finished.", &m.finished),
            ("audits_failed_total", "Audits that failed.", &m.failed),
            (
                "audit_run_milliseconds_total",
                "Time spent running audits.",
                &m.run_ms,
            ),
            (
                "dns_questions_total",
                "DNS questions the audits asked.",
                &m.dns_questions,
            ),
            ("watch_runs_total", "Runs of watches made.", &m.watch_runs),
            (
                "watch_alerts_total",
                "Changes the watches' runs confirmed and alerted.",
                &m.watch_alerts,
            ),
            (
                "watch_alerts_undelivered_total",
                "Alert deliveries (webhook, mail) that failed.",
                &m.watch_undelivered,
            ),
        ];
        let mut out = String::new();
        for (name, help, value) in counters {
            out.push_str(&format!(
                "# HELP mailaudit_{name} {help}\n# TYPE mailaudit_{name} counter\nmailaudit_{name} {}\n",
                value.load(Ordering::Relaxed)
            ));
        }
        out.push_str(&format!(
            "# HELP mailaudit_queue_depth Audits waiting.\n# TYPE mailaudit_queue_depth gauge\nmailaudit_queue_depth {}\n",
            self.queued.load(Ordering::Relaxed)
        ));
        if let Ok(counts) = self.store.counts().await {
            out.push_str(
                "# HELP mailaudit_audits_stored Stored audits by status.\n# TYPE mailaudit_audits_stored gauge\n",
            );
            for (state, n) in counts {
                out.push_str(&format!(
                    "mailaudit_audits_stored{{status=\"{}\"}} {n}\n",
                    state.as_str()
                ));
            }
        }
        out
    }
}

/// One worker: takes the next audit until the service stops.
async fn work(service: Arc<Service>, rx: Arc<Mutex<mpsc::Receiver<String>>>) {
    let mut stop = service.stop.subscribe();
    loop {
        let next = {
            let mut rx = rx.lock().await;
            // Stop first: after it, nothing more is taken off the queue.
            tokio::select! {
                biased;
                _ = stop.wait_for(|s| *s) => None,
                id = rx.recv() => id,
            }
        };
        let Some(id) = next else { return };
        service.queued.fetch_sub(1, Ordering::Relaxed);
        service.run_one(&id).await;
    }
}

/// Runs the watches that are due, every `tick`, until the service stops.
async fn schedule(service: Arc<Service>, tick: Duration) {
    let mut stop = service.stop.subscribe();
    loop {
        if service.closing() {
            return;
        }
        if let Err(e) = service.run_watches(watch::Which::Due(now_ms())).await {
            tracing::error!("watches: {e}");
        }
        tokio::select! {
            _ = tokio::time::sleep(tick) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// Deletes finished audits older than `keep`, every hour.
async fn prune(service: Arc<Service>, keep: Duration) {
    let mut stop = service.stop.subscribe();
    loop {
        let _ = service
            .store
            .prune(now_ms() - keep.as_millis() as i64)
            .await;
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(3600)) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

#[derive(Deserialize)]
pub(crate) struct ListQuery {
    pub domain: Option<String>,
    pub limit: Option<i64>,
}

/// The `domain` filter and `limit` of a list, checked.
pub(crate) fn list_params(q: &ListQuery) -> Result<(Option<String>, i64), String> {
    let domain = match q.domain.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(d) => Some(crate::input::domain("domain", d).map_err(|e| e.0)?),
    };
    let limit = q.limit.unwrap_or(50);
    if !(1..=1000).contains(&limit) {
        return Err(format!("limit: {limit} is not between 1 and 1000"));
    }
    Ok((domain, limit))
}

/// A permalink id: 32 lower-case hex digits (anything else is unknown).
pub(crate) fn valid_id(id: &str) -> bool {
    id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Whether `token` is one the service accepts (compared as SHA-256
/// hashes, as they are kept).
pub(crate) fn authorised_token(service: &Service, token: &str) -> bool {
    let hash = token_hash(token);
    service.config.tokens.contains(&hash)
}

/// The SHA-256 of a token, as the service keeps it.
pub fn token_hash(token: &str) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(token.trim().as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_client_is_the_peer_unless_a_trusted_proxy_names_it() {
        let config = ServiceConfig {
            trusted_proxies: vec![ip("127.0.0.1"), ip("10.0.0.2")],
            ..ServiceConfig::default()
        };
        // A stranger's header is not believed.
        assert_eq!(
            config.client(ip("198.51.100.9"), ["203.0.113.1"].into_iter()),
            ip("198.51.100.9")
        );
        // The proxy's: the rightmost address that is not a proxy.
        assert_eq!(
            config.client(
                ip("127.0.0.1"),
                ["6.6.6.6, 203.0.113.1, 10.0.0.2"].into_iter()
            ),
            ip("203.0.113.1")
        );
        // Several header lines are one list.
        assert_eq!(
            config.client(ip("127.0.0.1"), ["6.6.6.6", "2001:db8::5"].into_iter()),
            ip("2001:db8::5")
        );
        // No header, or garbage where the proxy wrote: the nearest proxy.
        assert_eq!(
            config.client(ip("127.0.0.1"), [].into_iter()),
            ip("127.0.0.1")
        );
        assert_eq!(
            config.client(ip("127.0.0.1"), ["unknown, 10.0.0.2"].into_iter()),
            ip("10.0.0.2")
        );
    }
}

//! Blocklist (DNSBL/RHSBL) checks: which lists to ask, whether each list
//! can be believed today, what its answers mean, and what to do about a
//! listing.
//!
//! Verdicts, per (subject, list): `listed` only for an answer in
//! 127.0.0.0/8 that the catalogue does not call an error, good or neutral
//! code; `unknown` for timeouts, SERVFAIL, REFUSED, refusal codes and
//! answers outside 127.0.0.0/8; `clear` only for NXDOMAIN (or NODATA) from
//! a list that passed its RFC 5782 §5 health test in this run;
//! `allowlisted` for a hit on an allowlist or a good code of a mixed list;
//! `skipped` when the list was not asked (offline, or a kind the list does
//! not answer).
//!
//! A sweep streams its (subject, list) questions through a bounded pool,
//! with a limit and an optional rate per list, and keeps only the results
//! worth reporting when asked to: memory does not grow with clear results.

pub mod catalog;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::{BoxFuture, Shared, join_all};
use futures::{FutureExt, StreamExt};
use serde::Serialize;
use tokio::sync::Semaphore;

use crate::dns::{Dns, Outcome, name};
use crate::findings::{self as ids, Finding, Severity};
use catalog::{Catalog, Kind, List, ListStatus, Reading, Requires, TestMode, Tier};

/// Something looked up on blocklists.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Subject {
    Ip(IpAddr),
    Domain(String),
}

impl Subject {
    pub fn kind(&self) -> Kind {
        match self {
            Subject::Ip(IpAddr::V4(_)) => Kind::Ip4,
            Subject::Ip(IpAddr::V6(_)) => Kind::Ip6,
            Subject::Domain(_) => Kind::Domain,
        }
    }

    /// The name asked on `zone` (RFC 5782 §2).
    pub fn query_name(&self, zone: &str) -> String {
        match self {
            Subject::Ip(ip) => format!("{}.{zone}", name::reversed_labels(*ip)),
            Subject::Domain(d) => format!("{d}.{zone}"),
        }
    }

    pub fn display(&self) -> String {
        match self {
            Subject::Ip(ip) => ip.to_string(),
            Subject::Domain(d) => d.clone(),
        }
    }
}

/// One target of a blocklist run, as a user writes it: an address or a
/// range (`Ok`, with the text given), or a domain (`Err`, normalised).
pub fn target(
    value: &str,
) -> Result<Result<(String, ipnet::IpNet), String>, crate::input::InputError> {
    use crate::input::{InputError, ip_or_cidr};
    let looks_like_ip = value.contains(':')
        || value.split('/').next().is_some_and(|a| {
            a.parse::<IpAddr>().is_ok() || a.chars().all(|c| c.is_ascii_digit() || c == '.')
        });
    if looks_like_ip {
        return ip_or_cidr("target", value).map(|n| Ok((value.to_string(), n)));
    }
    let d = name::normalize_domain(value).map_err(|e| {
        InputError(format!(
            "target {value:?}: not an IP, CIDR or domain: it {e}"
        ))
    })?;
    if !d.contains('.') {
        return Err(InputError(format!(
            "target {value:?}: not an IP, CIDR or fully qualified domain"
        )));
    }
    Ok(Err(d))
}

/// The subjects of some targets (addresses, ranges, domains), and whether
/// a range is among them; more than `cap` addresses in all is refused.
pub fn subjects_of(
    targets: &[String],
    cap: crate::input::AddressCap,
) -> Result<(Subjects, bool), crate::input::InputError> {
    use crate::input::{check_cap, prefix_size};
    let mut nets = Vec::new();
    let mut domains = Vec::new();
    for t in targets {
        match target(t)? {
            Ok(net) => nets.push(net),
            Err(domain) => domains.push(domain),
        }
    }
    let ranges = nets.iter().any(|(_, n)| prefix_size(n) > 1);
    check_cap("target", &nets, cap)?;
    // Ranges stay ranges: addresses are made one at a time during the sweep.
    let mut subjects = Subjects::new();
    for (_, net) in &nets {
        if prefix_size(net) > 1 {
            subjects.push_range(*net);
        } else {
            subjects.push(Subject::Ip(net.addr()));
        }
    }
    for d in domains {
        subjects.push(Subject::Domain(d));
    }
    Ok((subjects, ranges))
}

/// What a sweep looks up: single subjects and whole address ranges, kept as
/// ranges. Subject `i` is computed when it is asked for, so a /8 costs no
/// more memory than a /32.
#[derive(Debug, Clone, Default)]
pub struct Subjects {
    parts: Vec<Part>,
    len: usize,
}

#[derive(Debug, Clone)]
enum Part {
    One(Subject),
    Range(ipnet::IpNet, usize),
}

impl Subjects {
    pub fn new() -> Subjects {
        Subjects::default()
    }

    pub fn push(&mut self, s: Subject) {
        self.parts.push(Part::One(s));
        self.len += 1;
    }

    /// Every address of `net` (network and broadcast included: both can be
    /// listed). The caller caps the size.
    pub fn push_range(&mut self, net: ipnet::IpNet) {
        let n = crate::input::prefix_size(&net).min(usize::MAX as u128) as usize;
        self.parts.push(Part::Range(net.trunc(), n));
        self.len += n;
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Every subject with its index, in order.
    pub fn iter(&self) -> impl Iterator<Item = (usize, Subject)> + '_ {
        self.parts
            .iter()
            .flat_map(|part| -> Box<dyn Iterator<Item = Subject> + Send + '_> {
                match part {
                    Part::One(s) => Box::new(std::iter::once(s.clone())),
                    Part::Range(net, n) => Box::new((0..*n).map(move |i| {
                        Subject::Ip(match net {
                            ipnet::IpNet::V4(v4) => {
                                IpAddr::V4(Ipv4Addr::from(u32::from(v4.network()) + i as u32))
                            }
                            ipnet::IpNet::V6(v6) => {
                                IpAddr::V6(Ipv6Addr::from(u128::from(v6.network()) + i as u128))
                            }
                        })
                    })),
                }
            })
            .enumerate()
    }

    /// How many subjects there are of each kind.
    pub fn count_by_kind(&self) -> Vec<(Kind, usize)> {
        let mut counts: Vec<(Kind, usize)> = Vec::new();
        for p in &self.parts {
            let (kind, n) = match p {
                Part::One(s) => (s.kind(), 1),
                Part::Range(ipnet::IpNet::V4(_), n) => (Kind::Ip4, *n),
                Part::Range(ipnet::IpNet::V6(_), n) => (Kind::Ip6, *n),
            };
            match counts.iter_mut().find(|(k, _)| *k == kind) {
                Some((_, c)) => *c += n,
                None => counts.push((kind, n)),
            }
        }
        counts
    }

    /// Whether any part was given as a range (swept without a cache, and
    /// only results worth reporting kept).
    pub fn has_ranges(&self) -> bool {
        self.parts.iter().any(|p| matches!(p, Part::Range(..)))
    }

    /// The kinds of subject present.
    pub fn kinds(&self) -> BTreeSet<Kind> {
        self.parts
            .iter()
            .map(|p| match p {
                Part::One(s) => s.kind(),
                Part::Range(ipnet::IpNet::V4(_), _) => Kind::Ip4,
                Part::Range(ipnet::IpNet::V6(_), _) => Kind::Ip6,
            })
            .collect()
    }
}

impl From<Vec<Subject>> for Subjects {
    fn from(v: Vec<Subject>) -> Subjects {
        let mut s = Subjects::new();
        for x in v {
            s.push(x);
        }
        s
    }
}

/// RFC 5782 §5 test entries for a kind: (listed, not listed).
fn test_subjects(kind: Kind) -> (Subject, Subject) {
    match kind {
        Kind::Ip4 => (
            Subject::Ip(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2))),
            Subject::Ip(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1))),
        ),
        Kind::Ip6 => (
            Subject::Ip(IpAddr::V6(Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0x7f00, 2))),
            Subject::Ip(IpAddr::V6(Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0x7f00, 1))),
        ),
        Kind::Domain => (
            Subject::Domain("test".into()),
            Subject::Domain("invalid".into()),
        ),
    }
}

/// How the DNSBL check is set up.
#[derive(Debug, Clone)]
pub struct BlocklistConfig {
    pub catalog: Arc<Catalog>,
    /// `--dnsbl` zones: replace the catalogue's default selection.
    pub explicit: Vec<String>,
    /// Questions in flight on one list at once.
    pub per_list_concurrency: usize,
    /// Questions per second on one list, if limited.
    pub per_list_qps: Option<f64>,
    /// The date the audited addresses came into the sender's service.
    pub in_service_since: Option<time::Date>,
    /// Account keys by the name a list's `key` gives (`spamhaus-dqs`):
    /// they go into query names only, never into a report.
    pub keys: BTreeMap<String, Secret>,
}

/// A key that must never be shown: its `Debug` hides it, and what the
/// lists answer is read back through [`Secret::redact`].
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// A key for query names: one DNS label (letters, digits, `-`), as
    /// Spamhaus' DQS keys are; the reason otherwise.
    pub fn new(key: &str) -> Result<Secret, String> {
        let key = key.trim();
        if key.is_empty() || key.len() > 63 {
            return Err("a key is 1 to 63 characters".into());
        }
        if !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err("a key has only letters, digits and -".into());
        }
        Ok(Secret(key.to_ascii_lowercase()))
    }

    /// `text` with the key replaced by `<key>`.
    pub fn redact(&self, text: &str) -> String {
        text.replace(&self.0, "<key>")
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<key>)")
    }
}

impl BlocklistConfig {
    pub fn new(catalog: Catalog) -> BlocklistConfig {
        BlocklistConfig {
            catalog: Arc::new(catalog),
            explicit: Vec::new(),
            per_list_concurrency: 64,
            per_list_qps: None,
            in_service_since: None,
            keys: BTreeMap::new(),
        }
    }
}

/// Why a list was not asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ListState {
    Checked,
    Unhealthy,
    Dead,
    NotQueried,
    NotCheckedOffline,
}

impl ListState {
    pub fn as_str(&self) -> &'static str {
        match self {
            ListState::Checked => "checked",
            ListState::Unhealthy => "unhealthy",
            ListState::Dead => "dead",
            ListState::NotQueried => "not-queried",
            ListState::NotCheckedOffline => "not-checked-offline",
        }
    }

    /// Unhealthy or dead: its answers are not believed, or it is not asked.
    pub fn not_believed(&self) -> bool {
        matches!(self, ListState::Unhealthy | ListState::Dead)
    }
}

/// One list as the report shows it.
#[derive(Debug, Clone)]
pub struct ListReport {
    pub zone: String,
    pub name: String,
    pub tier: Tier,
    pub state: ListState,
    pub reason: Option<String>,
    /// Its results over every subject (added within JSON v1).
    pub counts: Counts,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ResultStatus {
    Listed,
    Clear,
    Unknown,
    Skipped,
    Allowlisted,
}

impl ResultStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ResultStatus::Listed => "listed",
            ResultStatus::Clear => "clear",
            ResultStatus::Unknown => "unknown",
            ResultStatus::Skipped => "skipped",
            ResultStatus::Allowlisted => "allowlisted",
        }
    }
}

/// One (subject, list) verdict.
#[derive(Debug, Clone)]
pub struct BlocklistResult {
    pub subject: String,
    pub zone: String,
    pub status: ResultStatus,
    pub codes: Vec<Ipv4Addr>,
    pub meaning: Option<String>,
    /// The list's TXT text for a listing; why, for an unknown result.
    pub reason: Option<String>,
    pub delist_url: Option<String>,
    sublists: Vec<String>,
    order: (usize, usize),
}

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Counts {
    pub listed: u64,
    pub clear: u64,
    pub unknown: u64,
    pub skipped: u64,
    pub allowlisted: u64,
}

impl Counts {
    fn add(&mut self, s: ResultStatus) {
        match s {
            ResultStatus::Listed => self.listed += 1,
            ResultStatus::Clear => self.clear += 1,
            ResultStatus::Unknown => self.unknown += 1,
            ResultStatus::Skipped => self.skipped += 1,
            ResultStatus::Allowlisted => self.allowlisted += 1,
        }
    }
}

/// The DNSBL part of a report.
#[derive(Debug, Clone)]
pub struct BlocklistReport {
    pub lists_checked: usize,
    pub subjects_checked: usize,
    /// Every result for small inputs; listed, unknown and allowlisted ones
    /// for ranges (see `counts` for the rest).
    pub results: Vec<BlocklistResult>,
    /// Unknown results counted but not listed in `results` (ranges only:
    /// those of unhealthy lists, and those beyond 1,000 per list).
    pub omitted: u64,
    pub counts: Counts,
    pub lists: Vec<ListReport>,
}

/// The evidence of a listing (`dnsbl.listed`): written once here, read
/// by the report (the checklist, the delisting request, the steps) through
/// [`ListingEvidence::of`], never by field name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ListingEvidence {
    pub list: String,
    pub operator: String,
    pub zone: String,
    pub tier: Tier,
    pub codes: Vec<Ipv4Addr>,
    pub sublists: Vec<String>,
    pub meaning: Option<String>,
    pub reason: Option<String>,
    pub delist_url: Option<String>,
    pub usage: Option<String>,
    pub in_service_since: Option<String>,
    pub delisting_steps: Vec<String>,
}

impl ListingEvidence {
    /// The listing `f` is, if it is one.
    pub fn of(f: &Finding) -> Option<ListingEvidence> {
        if f.id != ids::BLOCKLIST_LISTED {
            return None;
        }
        serde_json::from_value(serde_json::Value::Object(f.evidence.clone())).ok()
    }

    /// Whether the list is fed by spam traps (its codes' meanings or
    /// sublists say so): addresses nobody gave.
    pub fn trap_driven(&self) -> bool {
        let says = |t: &str| t.to_ascii_lowercase().contains("trap");
        self.meaning.as_deref().is_some_and(says) || self.sublists.iter().any(|s| says(s))
    }
}

/// The list zone a blocklist finding is about (a listing, an unhealthy or
/// dead list, unknown results), as this module writes it.
pub fn zone_of(f: &Finding) -> Option<&str> {
    if crate::findings::check_of(f.id) != crate::findings::check_of(ids::BLOCKLIST_LISTED) {
        return None;
    }
    f.evidence.get("zone").and_then(|z| z.as_str())
}

/// Unknown results kept per list when sweeping ranges.
const MAX_UNKNOWN_KEPT: u64 = 1000;

/// A health verdict for one (list, kind).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Health {
    Healthy,
    /// A generic list whose positive test entry is not listed: it does not
    /// answer this kind.
    Unsupported(String),
    Unhealthy(String),
}

type PendingHealth = Shared<BoxFuture<'static, Health>>;

/// How the sweep asks its A questions.
#[derive(Clone)]
pub enum ListLookup {
    /// Through the shared cache (single flight): for audits, where the
    /// same names come up in several places.
    Cached(Dns),
    /// Straight to the server, nothing kept: for sweeps of ranges, where no
    /// name is asked twice and a cache would only grow.
    Uncached(Dns),
}

impl ListLookup {
    async fn a(&self, name: &str) -> Arc<Outcome> {
        match self {
            ListLookup::Cached(dns) => dns.addrs(name, true).await,
            ListLookup::Uncached(dns) => {
                Arc::new(dns.query_once(name, hickory_proto::rr::RecordType::A).await)
            }
        }
    }
}

/// Told how far a sweep is (the binary draws a progress bar from it).
pub trait Progress: Send + Sync {
    /// The sweep asks `total` questions.
    fn start(&self, total: u64);
    /// One more question answered.
    fn advance(&self);
    fn finish(&self);
}

/// A list of the configuration, whether it will be asked, and why not.
type Planned = (List, ListState, Option<String>);

/// A list as one sweep uses it.
struct Active {
    list: List,
    /// The zone query names end in: the list's, after its key if it takes
    /// one.
    query_zone: String,
    /// The key in `query_zone`, kept out of everything shown.
    secret: Option<Secret>,
    state: ListState,
    reason: Option<String>,
    /// Kinds this sweep may ask it about.
    kinds: BTreeSet<Kind>,
    /// The list's pace, shared by every run of the engine.
    pace: Arc<Pace>,
}

/// How fast one list is asked: questions in flight and the next free slot
/// of `--per-list-qps`. One per list and engine, so that runs at once (a
/// service's audits, a round of watches) share the list's limits.
struct Pace {
    permits: Semaphore,
    next_slot: Mutex<Instant>,
}

impl Active {
    /// `text` (a reason, an answer) with the list's key hidden.
    fn redact(&self, text: String) -> String {
        match &self.secret {
            Some(k) => k.redact(&text),
            None => text,
        }
    }

    /// Whether the sweep has a result for subjects of `kind` on this list
    /// (unhealthy and offline lists give unknown or skipped ones, without a
    /// question).
    fn swept(&self, kind: Kind) -> bool {
        self.list.accepts(kind)
            && matches!(
                self.state,
                ListState::Checked | ListState::Unhealthy | ListState::NotCheckedOffline
            )
    }
}

/// The blocklist engine. Keep one per process: list health is cached in it.
pub struct BlocklistEngine {
    pub config: BlocklistConfig,
    health: Mutex<HashMap<(String, Kind), PendingHealth>>,
    /// Each list's pace, by zone.
    paces: Mutex<HashMap<String, Arc<Pace>>>,
    /// Told how far a sweep is.
    progress: Option<Arc<dyn Progress>>,
}

impl BlocklistEngine {
    pub fn new(config: BlocklistConfig) -> BlocklistEngine {
        BlocklistEngine {
            config,
            health: Mutex::new(HashMap::new()),
            paces: Mutex::new(HashMap::new()),
            progress: None,
        }
    }

    /// The pace of the list at `zone`, made on first use.
    fn pace(&self, zone: &str) -> Arc<Pace> {
        let mut paces = self.paces.lock().expect("pace lock");
        Arc::clone(paces.entry(zone.to_string()).or_insert_with(|| {
            Arc::new(Pace {
                permits: Semaphore::new(self.config.per_list_concurrency.max(1)),
                next_slot: Mutex::new(Instant::now()),
            })
        }))
    }

    /// Reports sweep progress to `progress` (one step per list lookup).
    pub fn with_progress(mut self, progress: Arc<dyn Progress>) -> BlocklistEngine {
        self.progress = Some(progress);
        self
    }

    /// The lists of this configuration, with the reason for those not asked,
    /// and findings about the configuration itself (dead lists named
    /// explicitly).
    fn plan(&self, dns: &Dns) -> (Vec<Planned>, Vec<Finding>) {
        let cat = &self.config.catalog;
        let mut out = Vec::new();
        let mut findings = Vec::new();
        if self.config.explicit.is_empty() {
            // The public zones whose keyed form can be asked instead.
            let replaced: Vec<(&str, &str)> = cat
                .lists
                .iter()
                .filter(|l| l.status == ListStatus::Active && l.default && self.key_of(l).is_ok())
                .filter_map(|l| l.replaces.as_deref().map(|r| (r, l.zone.as_str())))
                .collect();
            for l in &cat.lists {
                let (state, reason) = if l.status == ListStatus::Dead {
                    (ListState::Dead, Some(dead_reason(l)))
                } else if let Err(why) = self.key_of(l) {
                    (ListState::NotQueried, Some(why))
                } else if let Some((_, by)) = replaced.iter().find(|(r, _)| *r == l.zone) {
                    (
                        ListState::NotQueried,
                        Some(format!(
                            "not queried: its keyed form {by} is asked instead (a key was given)"
                        )),
                    )
                } else if !l.default {
                    (ListState::NotQueried, Some(not_default_reason(l)))
                } else {
                    (ListState::Checked, None)
                };
                out.push((l.clone(), state, reason));
            }
        } else {
            for zone in &self.config.explicit {
                let list = cat
                    .find(zone)
                    .cloned()
                    .unwrap_or_else(|| List::generic(zone));
                if list.status == ListStatus::Dead {
                    let reason = dead_reason(&list);
                    findings.push(
                        Finding::new(
                            ids::BLOCKLIST_DEAD_LIST,
                            &list.zone,
                            format!(
                                "{} ({}) is a dead list and was not queried: {reason}.",
                                list.name, list.zone
                            ),
                        )
                        .with("zone", &list.zone)
                        .with("dead_since", &list.dead_since)
                        .with("note", &list.note),
                    );
                    out.push((list, ListState::Dead, Some(reason)));
                } else if let Err(why) = self.key_of(&list) {
                    out.push((list, ListState::NotQueried, Some(why)));
                } else {
                    out.push((list, ListState::Checked, None));
                }
            }
        }
        for (list, state, reason) in out.iter_mut() {
            if *state == ListState::Checked && !dns.in_scope(&list.zone) {
                *state = ListState::NotCheckedOffline;
                *reason = Some("not checked offline: the list's zone is not loaded".into());
            }
        }
        (out, findings)
    }

    /// The key `list`'s query names carry (`None`: it takes none), or why
    /// it cannot be asked without one.
    fn key_of(&self, list: &List) -> Result<Option<&Secret>, String> {
        let Some(name) = &list.key else {
            return Ok(None);
        };
        self.config.keys.get(name).map(Some).ok_or_else(|| {
            let how = match name.as_str() {
                DQS_KEY => " (--dqs-key KEY, or the MAILAUDIT_DQS_KEY environment variable)",
                _ => "",
            };
            format!("not queried: needs an account key{how}")
        })
    }

    /// The zone `list`'s query names end in, and the key in it.
    fn query_zone(&self, list: &List) -> (String, Option<Secret>) {
        match self.key_of(list) {
            Ok(Some(k)) => (format!("{}.{}", k.0, list.zone), Some(k.clone())),
            _ => (list.zone.clone(), None),
        }
    }

    /// Health of `list` for `kind`, asked once per engine.
    fn health(&self, lookup: &ListLookup, list: &List, kind: Kind) -> PendingHealth {
        let (query_zone, secret) = self.query_zone(list);
        let key = (list.zone.clone(), kind);
        let mut cache = self.health.lock().expect("health lock");
        if let Some(p) = cache.get(&key) {
            return p.clone();
        }
        let lookup = lookup.clone();
        let list = list.clone();
        let p = async move {
            match test_health(&lookup, &list, &query_zone, kind).await {
                Health::Unhealthy(why) => Health::Unhealthy(redact(&secret, why)),
                Health::Unsupported(why) => Health::Unsupported(redact(&secret, why)),
                h => h,
            }
        }
        .boxed()
        .shared();
        cache.insert(key, p.clone());
        p
    }

    /// Checks `subjects` on the configured lists. `keep_all`: keep clear and
    /// skipped results too (small inputs); otherwise only results worth
    /// reporting are kept, the rest counted.
    pub async fn check(
        &self,
        dns: &Dns,
        lookup: &ListLookup,
        subjects: &Subjects,
        concurrency: usize,
        keep_all: bool,
    ) -> (BlocklistReport, Vec<Finding>) {
        let (plan, mut findings) = self.plan(dns);
        let needed = subjects.kinds();

        // Health tests of every list and kind this sweep needs, all at once.
        let mut actives: Vec<Active> = Vec::new();
        let mut tests = Vec::new();
        for (i, (list, state, reason)) in plan.iter().enumerate() {
            if *state == ListState::Checked {
                for kind in needed.iter().filter(|k| list.accepts(**k)) {
                    tests.push((i, *kind, self.health(lookup, list, *kind)));
                }
            }
            let (query_zone, secret) = self.query_zone(list);
            actives.push(Active {
                list: list.clone(),
                query_zone,
                secret,
                state: state.clone(),
                reason: reason.clone(),
                kinds: BTreeSet::new(),
                pace: self.pace(&list.zone),
            });
        }
        let verdicts = join_all(tests.iter().map(|(_, _, p)| p.clone())).await;
        let mut unsupported: HashMap<usize, Vec<String>> = HashMap::new();
        for ((i, kind, _), health) in tests.iter().zip(verdicts) {
            let a = &mut actives[*i];
            match health {
                Health::Healthy => {
                    a.kinds.insert(*kind);
                }
                Health::Unsupported(why) => unsupported.entry(*i).or_default().push(why),
                Health::Unhealthy(why) => {
                    if a.state == ListState::Checked {
                        a.state = ListState::Unhealthy;
                        a.reason = Some(why);
                    }
                }
            }
        }
        for (i, whys) in unsupported {
            let a = &mut actives[i];
            if a.state == ListState::Checked && a.kinds.is_empty() {
                a.state = ListState::Unhealthy;
                a.reason = Some(whys.join("; "));
            }
        }
        for a in &actives {
            if a.state == ListState::Unhealthy {
                let reason = a.reason.clone().unwrap_or_default();
                findings.push(
                    Finding::new(
                        ids::BLOCKLIST_LIST_UNHEALTHY,
                        &a.list.zone,
                        format!("{} ({}) failed its health test, so its answers are not believed: {reason}.", a.list.name, a.list.zone),
                    )
                    .with("zone", &a.list.zone)
                    .with("reason", &reason)
                    .unknown(),
                );
            }
        }

        // The sweep.
        // The lists swept for each kind, as indices (owned, so the job
        // stream holds no borrowed closures arguments).
        let swept: HashMap<Kind, Vec<usize>> = [Kind::Ip4, Kind::Ip6, Kind::Domain]
            .into_iter()
            .map(|kind| {
                let lists = (0..actives.len())
                    .filter(|li| actives[*li].swept(kind))
                    .collect();
                (kind, lists)
            })
            .collect();
        let jobs = subjects.iter().flat_map(|(si, subject)| {
            let lists = swept[&subject.kind()].clone();
            lists.into_iter().map(move |li| (si, li, subject.clone()))
        });
        let mut counts = Counts::default();
        let mut kept: Vec<BlocklistResult> = Vec::new();
        let mut omitted = 0u64;
        let mut unknown_per_list = vec![0u64; actives.len()];
        let mut per_list = vec![Counts::default(); actives.len()];
        if let Some(bar) = &self.progress {
            let total: usize = subjects
                .count_by_kind()
                .iter()
                .map(|(kind, n)| n * actives.iter().filter(|a| a.swept(*kind)).count())
                .sum();
            bar.start(total as u64);
        }
        let mut results = futures::stream::iter(jobs)
            .map(|(si, li, subject)| {
                let active = &actives[li];
                async move { self.one(dns, lookup, &subject, active, (si, li)).await }
            })
            .buffer_unordered(concurrency.max(1));
        while let Some(r) = results.next().await {
            if let Some(bar) = &self.progress {
                bar.advance();
            }
            counts.add(r.status);
            let li = r.order.1;
            per_list[li].add(r.status);
            let unhealthy = actives[li].state == ListState::Unhealthy;
            if r.status == ResultStatus::Unknown && !unhealthy {
                unknown_per_list[li] += 1;
            }
            // For ranges: listings are always kept; unknown results up to a
            // cap per list (a list that times out on a /16 must not fill
            // memory), none for a list that failed its health test (the
            // list entry says why); clear and skipped ones only counted.
            let keep = keep_all
                || match r.status {
                    ResultStatus::Listed | ResultStatus::Allowlisted => true,
                    ResultStatus::Unknown => !unhealthy && unknown_per_list[li] <= MAX_UNKNOWN_KEPT,
                    ResultStatus::Clear | ResultStatus::Skipped => false,
                };
            if keep {
                kept.push(r);
            } else if r.status == ResultStatus::Unknown {
                omitted += 1;
            }
        }
        drop(results);
        if let Some(bar) = &self.progress {
            bar.finish();
        }
        kept.sort_by_key(|r| r.order);

        findings.extend(self.result_findings(&kept, &actives, &unknown_per_list));
        let lists_checked = actives
            .iter()
            .filter(|a| matches!(a.state, ListState::Checked))
            .count();
        let report = BlocklistReport {
            lists_checked,
            subjects_checked: subjects.len(),
            results: kept,
            omitted,
            counts,
            lists: actives
                .iter()
                .zip(per_list)
                .map(|(a, counts)| ListReport {
                    zone: a.list.zone.clone(),
                    name: a.list.name.clone(),
                    tier: a.list.tier,
                    state: a.state.clone(),
                    reason: a.reason.clone(),
                    counts,
                })
                .collect(),
        };
        (report, findings)
    }

    /// One (subject, list) question.
    async fn one(
        &self,
        dns: &Dns,
        lookup: &ListLookup,
        subject: &Subject,
        a: &Active,
        order: (usize, usize),
    ) -> BlocklistResult {
        let mut r = BlocklistResult {
            subject: subject.display(),
            zone: a.list.zone.clone(),
            status: ResultStatus::Unknown,
            codes: Vec::new(),
            meaning: None,
            reason: None,
            delist_url: a.list.delist_url.clone(),
            sublists: Vec::new(),
            order,
        };
        match a.state {
            ListState::Unhealthy => {
                r.reason = Some(format!(
                    "list unhealthy: {}",
                    a.reason.clone().unwrap_or_default()
                ));
                return r;
            }
            ListState::NotCheckedOffline => {
                r.status = ResultStatus::Skipped;
                r.reason = a.reason.clone();
                return r;
            }
            _ => {}
        }
        if !a.kinds.contains(&subject.kind()) {
            r.status = ResultStatus::Skipped;
            r.reason = Some(
                format!("the list does not answer {:?} queries", subject.kind()).to_lowercase(),
            );
            return r;
        }
        let qname = subject.query_name(&a.query_zone);
        let outcome = {
            let _permit = a.pace.permits.acquire().await.expect("semaphore open");
            if let Some(qps) = self.config.per_list_qps {
                let wait = {
                    let mut next = a.pace.next_slot.lock().expect("rate lock");
                    let now = Instant::now();
                    let slot = (*next).max(now);
                    *next = slot + Duration::from_secs_f64(1.0 / qps);
                    slot - now
                };
                if !wait.is_zero() {
                    tokio::time::sleep(wait).await;
                }
            }
            lookup.a(&qname).await
        };
        match &*outcome {
            Outcome::Records(_) => {
                let answers: Vec<Ipv4Addr> = outcome
                    .ips()
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|ip| match ip {
                        IpAddr::V4(v4) => Some(v4),
                        IpAddr::V6(_) => None,
                    })
                    .collect();
                r.codes = answers.clone();
                match a.list.read(&answers) {
                    Reading::Listed { sublists, meanings } => {
                        r.status = ResultStatus::Listed;
                        r.meaning = Some(meanings.join("; "));
                        r.sublists = sublists;
                        let txt = dns.txt(&qname).await;
                        // The reason text is evidence only: a failed lookup
                        // leaves it out.
                        let texts: Vec<String> = txt
                            .txt()
                            .unwrap_or_default()
                            .iter()
                            .map(|t| String::from_utf8_lossy(t).into_owned())
                            .collect();
                        if !texts.is_empty() {
                            r.reason = Some(a.redact(texts.join(" ")));
                        }
                    }
                    Reading::Good(m) => {
                        r.status = ResultStatus::Allowlisted;
                        r.meaning = Some(m);
                    }
                    Reading::Neutral(m) => {
                        r.status = ResultStatus::Clear;
                        r.meaning = Some(m);
                    }
                    Reading::Error(m) => {
                        r.status = ResultStatus::Unknown;
                        r.reason = Some(m);
                    }
                }
            }
            Outcome::NxDomain | Outcome::NoData => r.status = ResultStatus::Clear,
            Outcome::NotChecked => {
                r.status = ResultStatus::Skipped;
                r.reason = Some(outcome.describe());
            }
            other => {
                r.status = ResultStatus::Unknown;
                r.reason = Some(a.redact(format!("{qname}: {other}")));
            }
        }
        r
    }

    fn result_findings(
        &self,
        results: &[BlocklistResult],
        actives: &[Active],
        unknown_per_list: &[u64],
    ) -> Vec<Finding> {
        let mut out = Vec::new();
        let mut unknown: Vec<(usize, Vec<&BlocklistResult>)> = Vec::new();
        for r in results {
            let a = &actives[r.order.1];
            match r.status {
                ResultStatus::Listed => out.push(self.listed_finding(r, &a.list)),
                ResultStatus::Unknown if a.state != ListState::Unhealthy => {
                    match unknown.iter_mut().find(|(li, _)| *li == r.order.1) {
                        Some((_, v)) => v.push(r),
                        None => unknown.push((r.order.1, vec![r])),
                    }
                }
                _ => {}
            }
        }
        for (li, rs) in unknown {
            let list = &actives[li].list;
            let reasons: BTreeSet<String> = rs
                .iter()
                .filter_map(|r| r.reason.clone())
                .map(|s| strip_qname(&s))
                .collect();
            let subjects: Vec<&str> = rs.iter().take(20).map(|r| r.subject.as_str()).collect();
            let count = unknown_per_list[li];
            out.push(
                Finding::new(
                    ids::BLOCKLIST_UNKNOWN,
                    &list.zone,
                    format!(
                        "{} could not be checked on {} ({}): {}.",
                        if count == 1 {
                            rs[0].subject.clone()
                        } else {
                            format!("{count} subjects")
                        },
                        list.name,
                        list.zone,
                        reasons.iter().cloned().collect::<Vec<_>>().join("; ")
                    ),
                )
                .with("zone", &list.zone)
                .with("count", count)
                .with("subjects", subjects)
                .with("reasons", reasons)
                .unknown(),
            );
        }
        out
    }

    fn listed_finding(&self, r: &BlocklistResult, list: &List) -> Finding {
        let severity = match list.tier {
            Tier::Major => Severity::Error,
            Tier::Minor => Severity::Warning,
            Tier::Informational | Tier::Allowlist => Severity::Info,
        };
        let since = match self.config.in_service_since {
            Some(d) => format!("the address has been in your service since {d}"),
            None => "the date the address came into your service".into(),
        };
        let mut steps = vec![
            format!(
                "Find and fix the cause first: {}.",
                r.meaning.as_deref().unwrap_or("see the list's explanation")
            ),
            match &list.delist_url {
                Some(url) => format!(
                    "Then request removal at {url}: say what caused the listing, what you changed, and {since}."
                ),
                None => format!(
                    "Then contact {} about the listing: say what caused it, what you changed, and {since}.",
                    list.operator
                ),
            },
            format!(
                "Wait for the list to act (many lists expire entries on their own once the abuse stops), then check again whether {} is still listed on {}.",
                r.subject, list.name
            ),
        ];
        if let Some(note) = &list.note {
            steps.push(format!("About this list: {note}"));
        }
        Finding::new(
            ids::BLOCKLIST_LISTED,
            &r.subject,
            format!(
                "{} is listed on {} ({}){}.",
                r.subject,
                list.name,
                list.zone,
                if r.sublists.is_empty() {
                    String::new()
                } else {
                    format!(" [{}]", r.sublists.join(", "))
                }
            ),
        )
        .severity(severity)
        .with_evidence(&ListingEvidence {
            list: list.name.clone(),
            operator: list.operator.clone(),
            zone: list.zone.clone(),
            tier: list.tier,
            codes: r.codes.clone(),
            sublists: r.sublists.clone(),
            meaning: r.meaning.clone(),
            reason: r.reason.clone(),
            delist_url: list.delist_url.clone(),
            usage: list.usage.clone(),
            in_service_since: self.config.in_service_since.map(|d| d.to_string()),
            delisting_steps: steps,
        })
    }

    /// `dnsbl.public-resolver` when the resolver is a well-known public one.
    pub fn resolver_findings(&self, dns: &Dns) -> Vec<Finding> {
        let mut out = Vec::new();
        for server in dns.servers() {
            if let Some(p) = self
                .config
                .catalog
                .public_resolvers
                .iter()
                .find(|p| p.address == *server)
            {
                out.push(
                    Finding::new(
                        ids::BLOCKLIST_PUBLIC_RESOLVER,
                        server.to_string(),
                        format!("The resolver {server} is {} public DNS; major blocklists refuse queries from it, so their answers are unknown.", p.operator),
                    )
                    .with("resolver", server)
                    .with("operator", &p.operator),
                );
            }
        }
        out
    }
}

/// Runs the RFC 5782 §5 test for one (list, kind).
async fn test_health(lookup: &ListLookup, list: &List, query_zone: &str, kind: Kind) -> Health {
    let (pos, neg) = test_subjects(kind);
    let (pos_name, neg_name) = (pos.query_name(query_zone), neg.query_name(query_zone));
    let (p, n) = futures::join!(lookup.a(&pos_name), lookup.a(&neg_name));
    let kind_name = format!("{kind:?}").to_lowercase();
    if list.test != TestMode::NegativeOnly {
        match &*p {
            Outcome::Records(_) => {
                let answers: Vec<Ipv4Addr> = p
                    .ips()
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|i| if let IpAddr::V4(v) = i { Some(v) } else { None })
                    .collect();
                if let Reading::Error(why) = list.read(&answers) {
                    return Health::Unhealthy(format!(
                        "its test entry {} answers an error: {why}",
                        pos.display()
                    ));
                }
            }
            o if o.is_void() => {
                let why = format!(
                    "its test entry {} is not listed ({}): the list is not serving {kind_name} data",
                    pos.display(),
                    o.describe()
                );
                return if list.generic {
                    Health::Unsupported(why)
                } else {
                    Health::Unhealthy(why)
                };
            }
            o => {
                return Health::Unhealthy(format!(
                    "its test entry {} did not answer: {o}",
                    pos.display()
                ));
            }
        }
    }
    if list.test != TestMode::PositiveOnly {
        match &*n {
            Outcome::Records(_) => {
                return Health::Unhealthy(format!(
                    "it lists its negative test entry {} ({}): a wildcard or dead list that answers every query",
                    neg.display(),
                    n.ips()
                        .unwrap_or_default()
                        .iter()
                        .map(|i| i.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            o if o.is_void() => {}
            o => {
                return Health::Unhealthy(format!(
                    "its negative test entry {} did not answer: {o}",
                    neg.display()
                ));
            }
        }
    }
    Health::Healthy
}

/// The name of the Spamhaus Data Query Service key in the catalogue.
pub const DQS_KEY: &str = "spamhaus-dqs";

fn redact(secret: &Option<Secret>, text: String) -> String {
    match secret {
        Some(k) => k.redact(&text),
        None => text,
    }
}

fn dead_reason(l: &List) -> String {
    format!(
        "dead since {}{}",
        l.dead_since.as_deref().unwrap_or("an unknown date"),
        l.note
            .as_deref()
            .map(|n| format!(": {n}"))
            .unwrap_or_default()
    )
}

fn not_default_reason(l: &List) -> String {
    let mut why = match l.requires {
        Some(Requires::Key) => "not queried by default: needs an account key".to_string(),
        Some(Requires::Registration) => "not queried by default: needs registration".to_string(),
        None => "not queried by default".to_string(),
    };
    if let Some(n) = &l.note {
        why.push_str(&format!(" ({n})"));
    }
    why
}

/// "name.zone: timed out" -> "timed out", to group reasons across subjects.
fn strip_qname(reason: &str) -> String {
    match reason.split_once(": ") {
        Some((head, rest)) if head.contains('.') && !head.contains(' ') => rest.to_string(),
        _ => reason.to_string(),
    }
}

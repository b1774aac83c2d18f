//! Facts: what a run learns about its target, computed once and shared by
//! every check that needs it, below the checks.
//!
//! The rule of this layer: **a fact carries its failures.** Each fact keeps
//! the outcomes of the lookups behind it ([`Lookup`], [`Found`]); no
//! accessor turns a failed lookup into an empty list. A check that consumes
//! a fact with a failed lookup says `unknown`, with a `*.dns-error` finding
//! that names the lookup, and never `pass`, `fail` or `skipped` on that
//! basis.
//!
//! Each fact is a shared future started the first time a check asks for
//! it, so a check that is not selected costs no query, and two checks that
//! need the MX hosts wait on the same lookups. Facts that depend on other
//! facts (the sending IPs on the MX hosts) await them, so wall time follows
//! the longest chain of dependent lookups.

pub mod dkim;
pub mod dmarc_discovery;
pub mod dnssec;
pub mod lookup;
pub mod reverse;
pub mod signing_keys;
pub mod spf;
pub mod tlsa;

use std::net::IpAddr;
use std::sync::{Arc, OnceLock};

use futures::future::{BoxFuture, Shared, join_all};
use futures::{Future, FutureExt};
use hickory_proto::rr::RecordType;

use crate::blocklist::{BlocklistEngine, Subject, Subjects};
use crate::dns::{Dns, Outcome};
use crate::message::Loaded;
use crate::message::scan::{Scanned, scan_delivered};
use crate::records::spf::{Mechanism, SpfRecord, TermKind, is_spf};
use crate::rules::Rules;

pub use lookup::{FailedLookup, Found, Lookup, SendingIp};

/// What a run is about: a domain (`audit`), messages (`message`) or loose
/// blocklist subjects (`blacklist`), with what the user said about them.
#[derive(Debug, Clone)]
pub struct Target {
    /// The audited domain, normalised.
    pub domain: Option<String>,
    /// Sending IPs given by the user (ranges already expanded).
    pub ips: Vec<IpAddr>,
    pub helo: Option<String>,
    pub mail_from: Option<String>,
    /// DKIM selectors named by the user.
    pub selectors: Vec<String>,
    /// Message files to scan, already read.
    pub messages: Vec<Loaded>,
    /// `blacklist`: the targets as given, and what they stand for.
    pub subjects: Option<(Vec<String>, Subjects)>,
    /// `--max-addresses`: inferred sending IPs are capped by it too.
    pub max_addresses: usize,
    /// `--smtp`: probe the MX hosts (and, with `sending`, the sending
    /// IPs) on port 25; `None`: the SMTP check is not run.
    pub smtp: Option<SmtpTarget>,
    /// How to fetch policies over HTTPS (MTA-STS); `None`: not fetched
    /// (the checks that need them say so).
    pub web: Option<crate::web::WebOptions>,
    /// `recipients FILE` or `audit --recipients FILE`: the recipient list
    /// to check; `None`: the recipients check is not run.
    pub recipients: Option<Arc<crate::recipients::RecipientsInput>>,
    /// The SMTP connection that delivered the message to a test address:
    /// its client is the sending IP, its HELO and MAIL FROM the envelope.
    pub connection: Option<crate::message::received::Connection>,
    /// The reader's own relays and receiver (`message --received`): what
    /// of a message's Received path and Authentication-Results to believe.
    pub trust: crate::message::received::Trust,
    /// `--rspamd URL`: ask this rspamd for its opinion of each message;
    /// `None`: not asked (the spam-filter check says so).
    pub rspamd: Option<crate::rspamd::Rspamd>,
    /// Where `ips` came from, as the report says it: `None` is `--ip`
    /// ("argument"); a received message's are "connection" (the address
    /// that delivered it to a test address) or "received" (its Received
    /// path).
    pub ips_source: Option<&'static str>,
}

/// What the SMTP probe is asked to do.
#[derive(Debug, Clone)]
pub struct SmtpTarget {
    pub options: crate::smtp::ProbeOptions,
    /// Probe the sending IPs too (`--smtp-sending`).
    pub sending: bool,
    /// `mailaudit smtp HOST|IP...`: these hosts instead of the domain's.
    pub hosts: Vec<String>,
}

impl Default for Target {
    fn default() -> Self {
        Target {
            domain: None,
            ips: Vec::new(),
            helo: None,
            mail_from: None,
            selectors: Vec::new(),
            messages: Vec::new(),
            subjects: None,
            max_addresses: 4096,
            smtp: None,
            web: None,
            recipients: None,
            connection: None,
            trust: Default::default(),
            rspamd: None,
            ips_source: None,
        }
    }
}

/// Whether the audited domain exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Existence {
    Exists,
    /// NXDOMAIN from a resolver not shown to lie.
    NxDomain,
    Unknown(FailedLookup),
}

/// One MX host and its addresses.
#[derive(Debug, Clone)]
pub struct MxHost {
    pub preference: u16,
    /// Lower case; "" for a null MX.
    pub name: String,
    pub a: Lookup,
    pub aaaa: Lookup,
}

/// The domain's MX records and the address lookups of their hosts.
#[derive(Debug, Clone)]
pub struct MxFact {
    pub lookup: Lookup,
    /// In preference order; empty when the lookup failed or found nothing.
    pub hosts: Vec<MxHost>,
}

impl MxFact {
    pub fn is_null(&self) -> bool {
        self.hosts.iter().any(|h| h.name.is_empty())
    }

    /// The addresses of the MX hosts, each with its host, in preference
    /// order (A before AAAA), with every lookup that failed on the way.
    pub fn addresses(&self) -> Found<(String, IpAddr)> {
        let mut out = Found::default();
        if let Some(f) = self.lookup.failed() {
            out.fail(f);
        }
        for h in self.hosts.iter().filter(|h| !h.name.is_empty()) {
            for l in [&h.a, &h.aaaa] {
                match l.outcome.ips() {
                    Ok(ips) => out
                        .items
                        .extend(ips.into_iter().map(|ip| (h.name.clone(), ip))),
                    Err(_) => out.fail(l.failed().expect("a failed lookup")),
                }
            }
        }
        out
    }
}

/// Caps on what strangers' data can make a run ask (docs/limits.md).
pub mod caps {
    /// Sending IPs inferred from MX hosts and SPF terms (and never more
    /// than `--max-addresses`).
    pub const INFERRED_IPS: usize = 64;
    /// MX hosts whose addresses are looked up.
    pub const MX_HOSTS: usize = 32;
    /// External DMARC report destinations checked for authorisation.
    pub const REPORT_DESTINATIONS: usize = 10;
    /// DKIM signatures verified per message.
    pub const SIGNATURES: usize = 10;
    /// DKIM selectors asked in all (named, from messages, probed).
    pub const SELECTORS: usize = 100;
    /// Addresses the SMTP probe connects to.
    pub const SMTP_PROBES: usize = 16;
}

/// The port-25 probes of a run, and the lookups that failed on the way
/// to their addresses (with the subject each was about).
#[derive(Debug, Default)]
pub struct SmtpProbes {
    pub items: Vec<crate::smtp::Probe>,
    pub failed: Vec<(String, FailedLookup)>,
}

/// The A and AAAA addresses of `host`, or the first lookup that failed (a
/// name that does not exist has no addresses: not a failure).
async fn addresses_of(dns: &Dns, host: &str) -> Result<Vec<IpAddr>, FailedLookup> {
    let (a, aaaa) = dns.a_and_aaaa(host).await;
    let mut out = Vec::new();
    for (o, rtype) in [(&a, "A"), (&aaaa, "AAAA")] {
        out.extend(
            o.ips()
                .map_err(|failed| FailedLookup::new(host, rtype, failed))?,
        );
    }
    Ok(out)
}

/// The facts a check may read that a cap can cut short (a check names
/// those it reads in its [`crate::checks::CheckInfo::reads`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fact {
    /// The MX hosts and their addresses.
    MxHosts,
    /// The sending IPs (given, or inferred from the MX hosts and SPF).
    SendingIps,
    /// The forward-confirmed reverse DNS of an address.
    ReverseDns,
    /// The domains the messages link to.
    LinkDomains,
    /// The DKIM key lookups.
    DkimKeys,
    /// The port-25 probes.
    SmtpProbes,
}

/// What a reached cap cut short.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Affects {
    /// Facts: every check that reads one of them saw only part.
    Facts(&'static [Fact]),
    /// One check's own reading (a check's ID, from its own metadata).
    Check(&'static str),
}

/// A cap that was reached: what was left unchecked, and what it leaves
/// without a whole answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cap {
    pub what: &'static str,
    pub limit: usize,
    /// How many there were.
    pub found: usize,
    pub affects: Affects,
}

impl Cap {
    /// Whether the check `id`, reading the facts `reads`, saw only part
    /// because of this cap.
    pub fn affects(&self, id: &str, reads: &[Fact]) -> bool {
        match &self.affects {
            Affects::Facts(facts) => reads.iter().any(|f| facts.contains(f)),
            Affects::Check(check) => *check == id,
        }
    }
}

/// A shared, lazily started fact.
struct Slot<'a, T>(OnceLock<Shared<BoxFuture<'a, Arc<T>>>>);

impl<'a, T: Send + Sync + 'a> Slot<'a, T> {
    fn new() -> Self {
        Slot(OnceLock::new())
    }

    /// The value, if the fact was started and has finished.
    fn peek(&self) -> Option<Arc<T>> {
        self.0.get().and_then(|shared| shared.peek().cloned())
    }

    fn get<F>(&self, start: impl FnOnce() -> F) -> impl Future<Output = Arc<T>> + Send + 'a
    where
        F: Future<Output = T> + Send + 'a,
    {
        self.0
            .get_or_init(|| start().map(Arc::new).boxed().shared())
            .clone()
    }
}

/// The facts of one run.
pub struct Facts<'a> {
    pub dns: Dns,
    pub rules: Arc<Rules>,
    /// `None`: no blocklists were configured.
    pub blocklist: Option<Arc<BlocklistEngine>>,
    pub target: &'a Target,
    /// The messages, parsed and checked without DNS (synchronously, so
    /// their link domains and signatures are known before any lookup).
    pub messages: Vec<Scanned<'a>>,
    existence: Slot<'a, Existence>,
    mx: Slot<'a, MxFact>,
    sending_ips: Slot<'a, Found<SendingIp>>,
    spf_tree: Slot<'a, spf::SpfNode>,
    dmarc: Slot<'a, dmarc_discovery::Discovery>,
    dkim_keys: Slot<'a, Vec<dkim::KeyLookup>>,
    smtp_probes: Slot<'a, SmtpProbes>,
    dnssec: Slot<'a, dnssec::DnssecFact>,
    reverse: reverse::ReverseCache,
    caps: Arc<std::sync::Mutex<Vec<Cap>>>,
}

impl<'a> Facts<'a> {
    pub fn new(
        dns: Dns,
        rules: Arc<Rules>,
        blocklist: Option<Arc<BlocklistEngine>>,
        target: &'a Target,
    ) -> Facts<'a> {
        let messages: Vec<Scanned<'a>> = target
            .messages
            .iter()
            .map(|m| scan_delivered(m, &rules, target.connection.as_ref(), &target.trust))
            .collect();
        let caps: Arc<std::sync::Mutex<Vec<Cap>>> = Arc::default();
        for p in &messages {
            if p.link_domains_found > p.link_domains.len() {
                note(
                    &caps,
                    Cap {
                        what: "link domains of one message",
                        limit: crate::message::scan::MAX_LINK_DOMAINS,
                        found: p.link_domains_found,
                        affects: Affects::Facts(&[Fact::LinkDomains]),
                    },
                );
            }
        }
        Facts {
            dns,
            rules,
            blocklist,
            target,
            messages,
            existence: Slot::new(),
            mx: Slot::new(),
            sending_ips: Slot::new(),
            spf_tree: Slot::new(),
            dmarc: Slot::new(),
            dkim_keys: Slot::new(),
            smtp_probes: Slot::new(),
            dnssec: Slot::new(),
            reverse: reverse::ReverseCache::default(),
            caps,
        }
    }

    /// Records that a cap was reached (once per kind).
    pub fn note_cap(&self, cap: Cap) {
        note(&self.caps, cap);
    }

    /// The caps reached so far.
    pub fn caps(&self) -> Vec<Cap> {
        self.caps.lock().expect("caps lock").clone()
    }

    /// The TXT records at `name` that `keep` accepts (a policy's version
    /// tag), as text, or the lookup that failed (no records is not a
    /// failure).
    pub async fn txt_records(
        &self,
        name: &str,
        keep: impl Fn(&str) -> bool,
    ) -> Result<Vec<String>, FailedLookup> {
        let answer = self.dns.txt(name).await;
        let txt = answer
            .txt()
            .map_err(|failed| FailedLookup::new(name, "TXT", failed))?;
        Ok(txt
            .iter()
            .map(|r| String::from_utf8_lossy(r).into_owned())
            .filter(|r| keep(r))
            .collect())
    }

    /// The A and AAAA addresses of `host`, or the first lookup that
    /// failed (a name that does not exist has no addresses: not a failure).
    pub async fn addresses_of(&self, host: &str) -> Result<Vec<IpAddr>, FailedLookup> {
        addresses_of(&self.dns, host).await
    }

    /// The port-25 probes of this run (`--smtp`): the named hosts, or the
    /// MX hosts (and, with `sending`, the sending IPs), each address once,
    /// shared by the SMTP and DANE checks; with the lookups that failed on
    /// the way, each with the subject it was about. Empty without `--smtp`.
    pub fn smtp_probes(&self) -> impl Future<Output = Arc<SmtpProbes>> + Send + 'a {
        let target = self.target.smtp.clone();
        let mx = self.mx();
        let ips = self.sending_ips();
        let dns = self.dns.clone();
        let domain = self.domain().to_string();
        let caps = self.caps.clone();
        self.smtp_probes.get(move || async move {
            let mut out = SmtpProbes::default();
            let Some(target) = target else {
                return out;
            };
            let mut pairs: Vec<(String, IpAddr)> = Vec::new();
            if !target.hosts.is_empty() {
                for h in &target.hosts {
                    if let Ok(ip) = h.parse::<IpAddr>() {
                        pairs.push((h.clone(), ip));
                        continue;
                    }
                    match addresses_of(&dns, h).await {
                        Ok(found) => pairs.extend(found.into_iter().map(|ip| (h.clone(), ip))),
                        Err(f) => out.failed.push((h.clone(), f)),
                    }
                }
            } else {
                let mx = mx.await;
                let found = mx.addresses();
                out.failed
                    .extend(found.failed.into_iter().map(|f| (domain.clone(), f)));
                pairs.extend(found.items);
                if target.sending {
                    let ips = ips.await;
                    out.failed
                        .extend(ips.failed.iter().map(|f| (domain.clone(), f.clone())));
                    for s in &ips.items {
                        if !pairs.iter().any(|(_, ip)| *ip == s.ip) {
                            pairs.push((s.ip.to_string(), s.ip));
                        }
                    }
                }
            }
            if pairs.len() > caps::SMTP_PROBES {
                note(
                    &caps,
                    Cap {
                        what: "addresses to probe on port 25",
                        limit: caps::SMTP_PROBES,
                        found: pairs.len(),
                        affects: Affects::Facts(&[Fact::SmtpProbes]),
                    },
                );
                pairs.truncate(caps::SMTP_PROBES);
            }
            let opts = &target.options;
            out.items =
                join_all(pairs.iter().map(|(h, ip)| crate::smtp::probe(h, *ip, opts))).await;
            out
        })
    }

    /// The forward-confirmed reverse DNS of `ip`, computed once per run.
    pub fn reverse(
        &self,
        ip: IpAddr,
    ) -> impl Future<Output = Arc<reverse::ReverseDns>> + Send + 'a {
        let pending = self.reverse.get(&self.dns, ip);
        let caps = self.caps.clone();
        async move {
            let rdns = pending.await;
            if matches!(rdns.confirmation(), reverse::Confirmation::Capped { .. }) {
                note(&caps, ptr_names_cap(rdns.names.len()));
            }
            rdns
        }
    }

    /// Records that `host` was not judged against an address's reverse
    /// DNS because it is among the PTR names the cap left unfollowed.
    pub fn note_ptr_names_cap(&self, names: usize) {
        note(&self.caps, ptr_names_cap(names));
    }

    /// The DNSSEC validation of the audited domain's records.
    pub fn dnssec(&self) -> impl Future<Output = Arc<dnssec::DnssecFact>> + Send + 'a {
        let dns = self.dns.clone();
        let domain = self.domain().to_string();
        self.dnssec
            .get(move || async move { dnssec::validate_domain(&dns, &domain).await })
    }

    /// The DNSSEC fact, if a check has asked for it and it is known.
    pub fn dnssec_if_known(&self) -> Option<Arc<dnssec::DnssecFact>> {
        self.dnssec.peek()
    }

    /// The audited domain ("" for runs without one).
    pub fn domain(&self) -> &'a str {
        self.target.domain.as_deref().unwrap_or("")
    }

    /// Whether the audited domain exists, read from its MX lookup (an
    /// NXDOMAIN is type-independent, and the MX answer is shared with the
    /// MX check and IP inference).
    pub fn existence(&self) -> impl Future<Output = Arc<Existence>> + Send + 'a {
        let mx = self.mx();
        let has_domain = self.target.domain.is_some();
        self.existence.get(move || async move {
            if !has_domain {
                return Existence::Exists;
            }
            let mx = mx.await;
            match &*mx.lookup.outcome {
                Outcome::NxDomain => Existence::NxDomain,
                o if o.is_definitive() => Existence::Exists,
                _ => Existence::Unknown(mx.lookup.failed().expect("failed")),
            }
        })
    }

    /// The domain's MX hosts and their addresses.
    pub fn mx(&self) -> impl Future<Output = Arc<MxFact>> + Send + 'a {
        // Without given IPs (and with a domain), the sending IPs are
        // inferred from the MX hosts.
        let inferred = self.target.ips.is_empty();
        let dns = self.dns.clone();
        let domain = self.domain().to_string();
        let caps = self.caps.clone();
        self.mx.get(move || async move {
            let answer = dns.mx(&domain).await;
            let mut records = answer.mx().unwrap_or_default();
            records.sort();
            if records.len() > caps::MX_HOSTS {
                note(
                    &caps,
                    Cap {
                        what: "MX hosts",
                        limit: caps::MX_HOSTS,
                        found: records.len(),
                        // Sending IPs inferred from them are cut short too.
                        affects: Affects::Facts(if inferred {
                            &[Fact::MxHosts, Fact::SendingIps]
                        } else {
                            &[Fact::MxHosts]
                        }),
                    },
                );
                records.truncate(caps::MX_HOSTS);
            }
            let lookups = join_all(records.iter().map(|(_, h)| {
                let dns = dns.clone();
                let h = h.clone();
                async move {
                    if h.is_empty() {
                        let none = Arc::new(Outcome::NoData);
                        return (none.clone(), none);
                    }
                    dns.a_and_aaaa(&h).await
                }
            }))
            .await;
            let hosts = records
                .into_iter()
                .zip(lookups)
                .map(|((preference, name), (a, aaaa))| MxHost {
                    preference,
                    a: Lookup::new(&name, RecordType::A, a),
                    aaaa: Lookup::new(&name, RecordType::AAAA, aaaa),
                    name,
                })
                .collect();
            MxFact {
                lookup: Lookup::new(&domain, RecordType::MX, answer),
                hosts,
            }
        })
    }

    /// The sending IPs: as given, or inferred from the MX hosts and the
    /// single-address `ip4:`/`ip6:` terms of the domain's own SPF record,
    /// each with its source, and the lookups that failed on the way.
    pub fn sending_ips(&self) -> impl Future<Output = Arc<Found<SendingIp>>> + Send + 'a {
        let given = self.target.ips.clone();
        let source = self.target.ips_source.unwrap_or("argument");
        let mx = self.mx();
        let dns = self.dns.clone();
        let domain = self.domain().to_string();
        let caps = self.caps.clone();
        let max_addresses = self.target.max_addresses;
        self.sending_ips.get(move || async move {
            if !given.is_empty() || domain.is_empty() {
                return Found::complete(
                    given
                        .into_iter()
                        .map(|ip| SendingIp {
                            ip,
                            source,
                            via: None,
                        })
                        .collect(),
                );
            }
            let (mx, txt) = futures::join!(mx, dns.txt(&domain));
            let mut found = infer_ips(&domain, &mx, &txt);
            let limit = caps::INFERRED_IPS.min(max_addresses);
            if found.items.len() > limit {
                note(
                    &caps,
                    Cap {
                        what: "sending IPs inferred from the MX hosts and the SPF record",
                        limit,
                        found: found.items.len(),
                        affects: Affects::Facts(&[Fact::SendingIps]),
                    },
                );
                found.items.truncate(limit);
            }
            found
        })
    }

    /// The domain's SPF tree, walked with the run's identities.
    pub fn spf_tree(&self) -> impl Future<Output = Arc<spf::SpfNode>> + Send + 'a {
        let dns = self.dns.clone();
        let domain = self.domain().to_string();
        let id = self.identity();
        self.spf_tree
            .get(move || async move { spf::walk(&dns, &domain, id).await })
    }

    /// The SPF identities of this run for the audited domain.
    /// The envelope sender a message came with: the MAIL FROM of the
    /// connection that delivered it to us, else its Return-Path, else
    /// `--mail-from` ("" is the null sender).
    pub fn mail_from_of(&self, m: &Scanned<'_>) -> Option<String> {
        match &self.target.connection {
            Some(c) => Some(c.mail_from.clone()),
            None => m
                .return_path
                .clone()
                .or_else(|| self.target.mail_from.clone()),
        }
    }

    /// The HELO name of the sending server: the connection's, else
    /// `--helo` (a received message's is its sending hop's, which
    /// `Request::received` put there when the connection came from one of
    /// the operator's relays).
    pub fn helo(&self) -> Option<&str> {
        self.target
            .connection
            .as_ref()
            .filter(|c| !self.target.trust.relays_to(c.client_ip))
            .map(|c| c.helo.as_str())
            .or(self.target.helo.as_deref())
    }

    pub fn identity(&self) -> spf::Identity {
        spf::Identity::for_domain(
            self.domain(),
            self.target.mail_from.as_deref(),
            self.target.helo.as_deref(),
        )
    }

    /// The DMARC record in force for the audited domain.
    pub fn dmarc(&self) -> impl Future<Output = Arc<dmarc_discovery::Discovery>> + Send + 'a {
        let dns = self.dns.clone();
        let domain = self.domain().to_string();
        self.dmarc
            .get(move || async move { dmarc_discovery::discover(&dns, &domain).await })
    }

    /// The DKIM key lookups: named selectors, those of the messages'
    /// signatures by the domain, and the probe list, all asked at once.
    pub fn dkim_keys(&self) -> impl Future<Output = Arc<Vec<dkim::KeyLookup>>> + Send + 'a {
        let dns = self.dns.clone();
        let domain = self.domain().to_string();
        let from_messages = self.message_selectors(&domain);
        let named = self.target.selectors.clone();
        let probe = self.rules.dkim_selectors.clone();
        let caps = self.caps.clone();
        self.dkim_keys.get(move || async move {
            let (keys, wanted) =
                dkim::lookup_keys(&dns, &domain, &named, &from_messages, &probe).await;
            if wanted > caps::SELECTORS {
                note(
                    &caps,
                    Cap {
                        what: "DKIM selectors (named, from messages and probed)",
                        limit: caps::SELECTORS,
                        found: wanted,
                        affects: Affects::Facts(&[Fact::DkimKeys]),
                    },
                );
            }
            keys
        })
    }

    /// The selectors of the messages' signatures made by `domain`.
    fn message_selectors(&self, domain: &str) -> Vec<String> {
        let mut out = Vec::new();
        for p in &self.messages {
            for (d, s) in &p.signatures {
                if d == domain && !out.contains(s) {
                    out.push(s.clone());
                }
            }
        }
        out
    }

    /// The domains the messages link to, without repeats.
    pub fn link_domains(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for p in &self.messages {
            for d in &p.link_domains {
                if !out.contains(d) {
                    out.push(d.clone());
                }
            }
        }
        out
    }

    /// What the blocklist check looks up: the given subjects (`blacklist`,
    /// ranges kept as ranges); in an audit the sending IPs, the MX hosts'
    /// addresses and the domain; and the messages' link domains; with the
    /// lookups that failed finding them.
    pub async fn blocklist_subjects(&self) -> (Subjects, Vec<FailedLookup>) {
        if let Some((_, subjects)) = &self.target.subjects {
            return (subjects.clone(), Vec::new());
        }
        let mut out: Found<Subject> = Found::default();
        let push = |out: &mut Found<Subject>, s: Subject| {
            if !out.items.contains(&s) {
                out.items.push(s);
            }
        };
        if let Some(domain) = &self.target.domain {
            let (ips, mx, existence) =
                futures::join!(self.sending_ips(), self.mx(), self.existence());
            for f in &ips.failed {
                out.fail(f.clone());
            }
            for ip in &ips.items {
                push(&mut out, Subject::Ip(ip.ip));
            }
            let addrs = mx.addresses();
            for f in addrs.failed {
                out.fail(f);
            }
            for (_, ip) in addrs.items {
                push(&mut out, Subject::Ip(ip));
            }
            if *existence != Existence::NxDomain {
                push(&mut out, Subject::Domain(domain.clone()));
            }
        }
        for d in self.link_domains() {
            push(&mut out, Subject::Domain(d));
        }
        (Subjects::from(out.items), out.failed)
    }
}

/// The cap on the PTR names followed per address.
fn ptr_names_cap(found: usize) -> Cap {
    Cap {
        what: "PTR names of one address",
        limit: reverse::MAX_NAMES,
        found,
        affects: Affects::Facts(&[Fact::ReverseDns]),
    }
}

fn note(caps: &std::sync::Mutex<Vec<Cap>>, cap: Cap) {
    let mut caps = caps.lock().expect("caps lock");
    match caps.iter_mut().find(|c| c.what == cap.what) {
        Some(c) => c.found = c.found.max(cap.found),
        None => caps.push(cap),
    }
}

/// Sending IPs inferred from the MX hosts' addresses, then the
/// single-address `ip4:`/`ip6:` terms of the domain's own SPF record.
fn infer_ips(domain: &str, mx: &MxFact, txt: &Outcome) -> Found<SendingIp> {
    let mut out: Found<SendingIp> = Found::default();
    let push = |out: &mut Found<SendingIp>, ip: IpAddr, source: &'static str, via: String| {
        if !out.items.iter().any(|s| s.ip == ip) {
            out.items.push(SendingIp {
                ip,
                source,
                via: Some(via),
            });
        }
    };
    let addrs = mx.addresses();
    for f in addrs.failed {
        out.fail(f);
    }
    for (host, ip) in addrs.items {
        push(&mut out, ip, "mx", host);
    }
    match txt.txt() {
        Err(failed) => out.fail(FailedLookup::new(domain, "TXT", failed)),
        Ok(records) => {
            let spf: Vec<&Vec<u8>> = records.iter().filter(|t| is_spf(t)).collect();
            if let [only] = spf.as_slice()
                && let Ok(rec) = SpfRecord::parse(&String::from_utf8_lossy(only))
            {
                for term in &rec.terms {
                    match &term.kind {
                        TermKind::Directive {
                            mechanism: Mechanism::Ip4(net),
                            ..
                        } if net.prefix_len() == 32 => {
                            push(&mut out, IpAddr::V4(net.addr()), "spf", term.raw.clone())
                        }
                        TermKind::Directive {
                            mechanism: Mechanism::Ip6(net),
                            ..
                        } if net.prefix_len() == 128 => {
                            push(&mut out, IpAddr::V6(net.addr()), "spf", term.raw.clone())
                        }
                        _ => {}
                    }
                }
            }
        }
    }
    out
}

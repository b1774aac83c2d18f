//! Runs an audit: works out the sending IPs, runs the selected checks
//! concurrently over one shared resolver, and assembles the report model.
//!
//! Every check starts at once; the ones that need the sending IPs (SPF
//! evaluation, PTR) wait on one shared future that infers them when none
//! were given. So wall time follows the longest chain of dependent lookups.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::FutureExt;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::checks::{self, Context};
use crate::dns::bulk::BulkClient;
use crate::dns::{Dns, StatsSnapshot};
use crate::dnsbl::{Dnsbl, ListLookup, Subject, Subjects};
use crate::findings::{Finding, Severity, Status};
use crate::message::Loaded;
use crate::records::spf::{Mechanism, SpfRecord, TermKind, is_spf};
use crate::rules::{Advice, Rules};

/// Where a sending IP came from.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SendingIp {
    pub ip: IpAddr,
    /// "argument", "mx" or "spf".
    pub source: &'static str,
    /// The MX host or SPF term it was found through.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
}

/// What to audit.
#[derive(Debug, Clone)]
pub struct AuditRequest {
    pub domain: String,
    /// Sending IPs given by the user (ranges already expanded).
    pub ips: Vec<IpAddr>,
    pub helo: Option<String>,
    pub mail_from: Option<String>,
    /// Checks to run (registry IDs); all when `None`.
    pub checks: Option<BTreeSet<String>>,
    /// DKIM selectors named by the user.
    pub selectors: Vec<String>,
    /// Message files to scan, already read.
    pub messages: Vec<Loaded>,
}

/// A finding with its severity settled and its advice attached.
#[derive(Debug, Clone)]
pub struct ResolvedFinding {
    pub finding: Finding,
    pub severity: Severity,
    pub advice: Advice,
}

/// One check's verdict and data.
#[derive(Debug, Clone)]
pub struct CheckResult {
    pub id: &'static str,
    pub status: Status,
    /// The check's own data: an object (empty when skipped), or for the
    /// message scan an array with one entry (and status) per message.
    pub data: Value,
}

/// The report model every renderer reads.
#[derive(Debug, Clone)]
pub struct AuditReport {
    pub generated_at: time::OffsetDateTime,
    pub duration: Duration,
    /// The audited domain (`None` for a blocklist check of loose subjects).
    pub domain: Option<String>,
    /// The targets as given to `mailaudit blacklist`.
    pub subjects: Vec<String>,
    pub ips: Vec<SendingIp>,
    pub messages: Vec<String>,
    pub checks: Vec<CheckResult>,
    pub findings: Vec<ResolvedFinding>,
    pub stats: StatsSnapshot,
}

impl AuditReport {
    /// The overall verdict: the worst check status (skipped ones aside).
    pub fn status(&self) -> Status {
        self.checks
            .iter()
            .map(|c| c.status)
            .filter(|s| *s != Status::Skipped)
            .max()
            .unwrap_or(Status::Pass)
    }

    pub fn count(&self, severity: Severity) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == severity)
            .count()
    }

    /// The worst finding severity, if any.
    pub fn worst(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).max()
    }
}

/// One resolver, one set of rules and one blocklist engine (with its list
/// health cache), shared by every audit in a process.
#[derive(Clone)]
pub struct Engine {
    pub dns: Dns,
    pub rules: Arc<Rules>,
    /// `None`: the blocklist check is skipped.
    pub dnsbl: Option<Arc<Dnsbl>>,
}

impl Engine {
    /// An engine without blocklists; see [`Engine::with_dnsbl`].
    pub fn new(dns: Dns, rules: Rules) -> Engine {
        Engine {
            dns,
            rules: Arc::new(rules),
            dnsbl: None,
        }
    }

    pub fn with_dnsbl(mut self, dnsbl: Dnsbl) -> Engine {
        self.dnsbl = Some(Arc::new(dnsbl));
        self
    }

    pub async fn audit(&self, req: &AuditRequest) -> AuditReport {
        let started = Instant::now();
        let generated_at = time::OffsetDateTime::now_utc();
        let ctx = Context {
            dns: self.dns.clone(),
            rules: self.rules.clone(),
            domain: req.domain.clone(),
            helo: req.helo.clone(),
            mail_from: req.mail_from.clone(),
        };
        let wants = |id: &str| req.checks.as_ref().is_none_or(|set| set.contains(id));
        let prepared: Vec<checks::message::Prepared<'_>> = req
            .messages
            .iter()
            .map(|m| checks::message::prepare(m, &self.rules))
            .collect();
        let link_domains = checks::message::link_domains(&prepared);

        let ips = {
            let ctx = ctx.clone();
            let given = req.ips.clone();
            async move {
                if given.is_empty() {
                    infer_ips(&ctx).await
                } else {
                    given
                        .into_iter()
                        .map(|ip| SendingIp {
                            ip,
                            source: "argument",
                            via: None,
                        })
                        .collect::<Vec<_>>()
                }
            }
            .boxed()
            .shared()
        };

        let spf = async {
            if !wants("spf") {
                return None;
            }
            let (tree, ips) = futures::join!(checks::spf::walk(&ctx), ips.clone());
            let addrs: Vec<IpAddr> = ips.iter().map(|s| s.ip).collect();
            Some(checks::spf::finish(&ctx, tree, &addrs).await)
        };
        let dmarc = async {
            if wants("dmarc") {
                Some(checks::dmarc::run(&ctx).await)
            } else {
                None
            }
        };
        let mx = async {
            if wants("mx") {
                Some(checks::mx::run(&ctx).await)
            } else {
                None
            }
        };
        let ptr = async {
            if !wants("ptr") {
                return None;
            }
            let ips = ips.clone().await;
            if ips.is_empty() {
                return None;
            }
            let addrs: Vec<IpAddr> = ips.iter().map(|s| s.ip).collect();
            Some(checks::ptr::run(&ctx, &addrs).await)
        };
        let dkim = async {
            if !wants("dkim") {
                return None;
            }
            let from_messages = checks::message::selectors_for(&prepared, &req.domain);
            Some(checks::dkim::run(&ctx, &req.selectors, &from_messages).await)
        };
        let message = async {
            if !wants("message") || prepared.is_empty() {
                return None;
            }
            let mctx = checks::message::MessageContext {
                dns: self.dns.clone(),
                rules: self.rules.clone(),
                sending_ip: req.ips.first().copied(),
                mail_from: req.mail_from.clone(),
                helo: req.helo.clone(),
            };
            Some(checks::message::run(&prepared, &mctx).await)
        };
        let dnsbl = async {
            let engine = self.dnsbl.as_ref().filter(|_| wants("dnsbl"))?;
            let ips = ips.clone().await;
            let addrs: Vec<IpAddr> = ips.iter().map(|s| s.ip).collect();
            Some(checks::dnsbl::run(&ctx, engine, &addrs, &link_domains).await)
        };
        let (spf, dmarc, mx, ptr, dkim, message, dnsbl, ips) =
            futures::join!(spf, dmarc, mx, ptr, dkim, message, dnsbl, ips.clone());

        let mut assembler = Assembler::new(&self.rules);
        assembler.add("spf", spf);
        assembler.add("dmarc", dmarc);
        assembler.add("mx", mx);
        assembler.add("ptr", ptr);
        assembler.add("dkim", dkim);
        // The message check is an array (one entry per message) even when
        // it did not run, so consumers always read one shape.
        let no_messages = message.is_none();
        assembler.add("message", Some(message.unwrap_or_default()));
        if no_messages {
            assembler.force_status("message", Status::Skipped);
        }
        let nothing_checked = dnsbl
            .as_ref()
            .is_some_and(|(r, _)| r.lists_checked == 0 && r.counts.unknown == 0);
        assembler.add("dnsbl", dnsbl);
        if nothing_checked {
            assembler.force_status("dnsbl", Status::Skipped);
        }

        AuditReport {
            generated_at,
            duration: started.elapsed(),
            domain: Some(req.domain.clone()),
            subjects: Vec::new(),
            ips,
            messages: req.messages.iter().map(|m| m.path.clone()).collect(),
            checks: assembler.checks,
            findings: assembler.findings,
            stats: self.dns.stats(),
        }
    }
}

impl Engine {
    /// Scans messages on their own (`mailaudit message`): the message check,
    /// and the domains of their links on the domain blocklists.
    pub async fn scan_messages(
        &self,
        messages: &[Loaded],
        sending_ip: Option<IpAddr>,
        mail_from: Option<String>,
        helo: Option<String>,
    ) -> AuditReport {
        let started = Instant::now();
        let generated_at = time::OffsetDateTime::now_utc();
        let prepared: Vec<checks::message::Prepared<'_>> = messages
            .iter()
            .map(|m| checks::message::prepare(m, &self.rules))
            .collect();
        let links: Subjects = checks::message::link_domains(&prepared)
            .into_iter()
            .map(Subject::Domain)
            .collect::<Vec<_>>()
            .into();
        let mctx = checks::message::MessageContext {
            dns: self.dns.clone(),
            rules: self.rules.clone(),
            sending_ip,
            mail_from,
            helo,
        };
        let dnsbl = async {
            let engine = self.dnsbl.as_ref()?;
            if links.is_empty() {
                return None;
            }
            let lookup = ListLookup::Resolver(self.dns.clone());
            Some(
                engine
                    .check(
                        &self.dns,
                        &lookup,
                        &links,
                        self.dns.config().concurrency,
                        true,
                    )
                    .await,
            )
        };
        let (message, dnsbl) = futures::join!(checks::message::run(&prepared, &mctx), dnsbl);
        let mut assembler = Assembler::new(&self.rules);
        assembler.add("message", Some(message));
        if let Some(d) = dnsbl {
            let nothing_checked = d.0.lists_checked == 0 && d.0.counts.unknown == 0;
            assembler.add("dnsbl", Some(d));
            if nothing_checked {
                assembler.force_status("dnsbl", Status::Skipped);
            }
        }
        AuditReport {
            generated_at,
            duration: started.elapsed(),
            domain: None,
            subjects: Vec::new(),
            ips: sending_ip
                .map(|ip| SendingIp {
                    ip,
                    source: "argument",
                    via: None,
                })
                .into_iter()
                .collect(),
            messages: messages.iter().map(|m| m.path.clone()).collect(),
            checks: assembler.checks,
            findings: assembler.findings,
            stats: self.dns.stats(),
        }
    }

    /// Checks loose subjects (addresses, ranges, domains) on the blocklists:
    /// `mailaudit blacklist`. With `ranges`, the questions go through the
    /// bulk client and only results worth reporting are kept.
    pub async fn blacklist(
        &self,
        inputs: Vec<String>,
        subjects: &Subjects,
        ranges: bool,
    ) -> Result<AuditReport, std::io::Error> {
        let started = Instant::now();
        let generated_at = time::OffsetDateTime::now_utc();
        let engine = self
            .dnsbl
            .as_ref()
            .ok_or_else(|| std::io::Error::other("no blocklist engine configured"))?;
        let lookup = if ranges {
            ListLookup::Bulk(Arc::new(BulkClient::new(&self.dns, 4).await?))
        } else {
            ListLookup::Resolver(self.dns.clone())
        };
        let (report, mut findings) = engine
            .check(
                &self.dns,
                &lookup,
                subjects,
                self.dns.config().concurrency,
                !ranges,
            )
            .await;
        if report.lists_checked > 0 {
            findings.splice(0..0, engine.resolver_findings(&self.dns));
        }
        let nothing_checked = report.lists_checked == 0 && report.counts.unknown == 0;
        let mut assembler = Assembler::new(&self.rules);
        assembler.add("dnsbl", Some((report, findings)));
        if nothing_checked {
            assembler.force_status("dnsbl", Status::Skipped);
        }
        Ok(AuditReport {
            generated_at,
            duration: started.elapsed(),
            domain: None,
            subjects: inputs,
            ips: Vec::new(),
            messages: Vec::new(),
            checks: assembler.checks,
            findings: assembler.findings,
            stats: self.dns.stats(),
        })
    }
}

/// Collects check results in registry order, settling severities.
pub(crate) struct Assembler<'r> {
    rules: &'r Rules,
    pub checks: Vec<CheckResult>,
    pub findings: Vec<ResolvedFinding>,
}

impl<'r> Assembler<'r> {
    pub fn new(rules: &'r Rules) -> Self {
        Assembler {
            rules,
            checks: Vec::new(),
            findings: Vec::new(),
        }
    }

    pub fn resolve(&self, finding: Finding) -> ResolvedFinding {
        let advice = self.rules.advice(finding.id).clone();
        ResolvedFinding {
            severity: finding.severity.unwrap_or(advice.severity),
            finding,
            advice,
        }
    }

    /// Overrides a check's status (a check that asked nothing is skipped,
    /// whatever its findings say).
    pub fn force_status(&mut self, id: &str, status: Status) {
        if let Some(c) = self.checks.iter_mut().find(|c| c.id == id) {
            c.status = status;
        }
    }

    /// Adds one check's output (`None`: skipped).
    pub fn add<T: Serialize>(&mut self, id: &'static str, output: Option<(T, Vec<Finding>)>) {
        debug_assert!(checks::info(id).is_some(), "unregistered check {id}");
        let Some((data, findings)) = output else {
            self.checks.push(CheckResult {
                id,
                status: Status::Skipped,
                data: Value::Object(Map::new()),
            });
            return;
        };
        let resolved: Vec<ResolvedFinding> =
            findings.into_iter().map(|f| self.resolve(f)).collect();
        let status =
            Status::from_findings(resolved.iter().map(|f| (f.severity, f.finding.unknown)));
        let data = serde_json::to_value(data).unwrap_or(Value::Null);
        self.checks.push(CheckResult { id, status, data });
        self.findings.extend(resolved);
    }
}

/// Sending IPs when none were given: the MX hosts' addresses, then the
/// single-address ip4:/ip6: terms of the domain's own SPF record.
pub async fn infer_ips(ctx: &Context) -> Vec<SendingIp> {
    let domain = ctx.domain.as_str();
    let (mx_addrs, txt) = futures::join!(checks::mx::host_addresses(ctx), ctx.dns.txt(domain));
    let mut out: Vec<SendingIp> = Vec::new();
    let mut push = |ip: IpAddr, source: &'static str, via: String| {
        if !out.iter().any(|s| s.ip == ip) {
            out.push(SendingIp {
                ip,
                source,
                via: Some(via),
            });
        }
    };
    for (host, ip) in mx_addrs {
        push(ip, "mx", host);
    }
    let records: Vec<Vec<u8>> = txt.txt().into_iter().filter(|t| is_spf(t)).collect();
    if let [only] = records.as_slice()
        && let Ok(rec) = SpfRecord::parse(&String::from_utf8_lossy(only))
    {
        for term in &rec.terms {
            match &term.kind {
                TermKind::Directive {
                    mechanism: Mechanism::Ip4(net),
                    ..
                } if net.prefix_len() == 32 => {
                    push(IpAddr::V4(net.addr()), "spf", term.raw.clone())
                }
                TermKind::Directive {
                    mechanism: Mechanism::Ip6(net),
                    ..
                } if net.prefix_len() == 128 => {
                    push(IpAddr::V6(net.addr()), "spf", term.raw.clone())
                }
                _ => {}
            }
        }
    }
    out
}

//! The run scaffolding: one engine per process (resolver, rules, blocklists
//! with their health cache), and one way to run a selection of checks over
//! the facts of a target and assemble the report.
//!
//! `audit`, `message` and `blocklist` are selections from the one registry
//! ([`crate::checks::REGISTRY`]) over the same scaffolding. Every selected
//! check starts at once; the facts they share are computed once. When the
//! checks are done, three things that no single check can see are settled
//! here, in one place:
//!
//! - a domain that does not exist (NXDOMAIN from a resolver not shown to
//!   lie) is one `domain.nxdomain` finding, and the checks that read its
//!   records say they did not run;
//! - a resolver that lies (NXDOMAIN for a real top-level domain) or answers
//!   nothing is one `dns.*` finding; every check is then `unknown` (or
//!   `fail` on findings that needed no DNS), and the lookup failures it
//!   caused are folded into that one line;
//! - an offline run says that names outside the loaded zones were not
//!   asked.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

use futures::future::join_all;

use crate::blocklist::BlocklistEngine;
use crate::checks::{self, Check, Ran};
use crate::dns::Dns;
use crate::dns::health::Health;
use crate::facts::{Existence, Facts, SendingIp, Target};
use crate::findings::{self as ids, Finding, Status};
use crate::report::model::{
    CatalogueUsed, CheckReport, Made, Report, ReportTarget, ResolvedFinding, RunKind,
};
use crate::rules::Rules;

/// What to run.
#[derive(Debug, Clone)]
pub struct Request {
    pub kind: RunKind,
    pub target: Target,
    /// Checks to run (registry IDs) within the kind's selection; all when
    /// `None`.
    pub checks: Option<BTreeSet<String>>,
    /// When the run must end (`--deadline`): what has not finished by then
    /// is `unknown`, and the report is still made.
    pub deadline: Option<Instant>,
}

impl Request {
    /// An audit of `domain` with everything else unset.
    pub fn audit(domain: &str) -> Request {
        Request {
            kind: RunKind::Audit,
            target: Target {
                domain: Some(domain.to_string()),
                ..Target::default()
            },
            checks: None,
            deadline: None,
        }
    }

    /// A blocklist run (`mailaudit blocklist`): the targets as given, and
    /// their subjects ([`crate::blocklist::subjects_of`]).
    pub fn blocklist(targets: Vec<String>, subjects: crate::blocklist::Subjects) -> Request {
        Request {
            kind: RunKind::Blocklist,
            target: Target {
                subjects: Some((targets, subjects)),
                ..Target::default()
            },
            checks: None,
            deadline: None,
        }
    }

    /// A check of the recipient list `input` (`mailaudit recipients`).
    pub fn recipients(input: crate::recipients::RecipientsInput) -> Request {
        Request {
            kind: RunKind::Recipients,
            target: Target {
                recipients: Some(std::sync::Arc::new(input)),
                ..Target::default()
            },
            checks: None,
            deadline: None,
        }
    }

    /// A message as it arrived: delivered to a test address over
    /// `connection`, or read from the reader's mailbox with `trust` naming
    /// their own relays (`message --received`). The sending hop's address
    /// is the sending IP, its HELO and the envelope sender the SPF
    /// identities, and the From domain is audited whole; without a From
    /// domain (nor an envelope one) only the message is checked.
    pub fn received(
        message: crate::message::Loaded,
        connection: Option<crate::message::received::Connection>,
        trust: crate::message::received::Trust,
    ) -> Request {
        let sender =
            crate::message::received::sender_of(&message.bytes, connection.as_ref(), &trust);
        let envelope_domain = sender
            .mail_from
            .as_deref()
            .and_then(|m| m.rsplit_once('@'))
            .and_then(|(_, d)| crate::dns::name::normalize_domain(d).ok());
        let domain = sender.from_domain.clone().or(envelope_domain);
        let ips_source = Some(if connection.is_some() {
            "connection"
        } else {
            "received"
        });
        Request {
            kind: if domain.is_some() {
                RunKind::Audit
            } else {
                RunKind::Message
            },
            target: Target {
                domain,
                ips: sender.ip.into_iter().collect(),
                helo: sender.helo,
                mail_from: sender.mail_from.filter(|m| !m.is_empty()),
                messages: vec![message],
                connection,
                trust,
                ips_source,
                ..Target::default()
            },
            checks: None,
            deadline: None,
        }
    }

    /// The checks of this kind of run, in registry order: the report has
    /// an entry for each, run or not.
    pub fn checks_of_kind(&self) -> Vec<&'static dyn Check> {
        checks::of_kind(self.kind).collect()
    }

    /// Whether `--checks` selected the check.
    pub fn wants(&self, id: &str) -> bool {
        self.checks.as_ref().is_none_or(|set| set.contains(id))
    }

    /// The checks this request runs, in registry order.
    pub fn selection(&self) -> Vec<&'static dyn Check> {
        self.checks_of_kind()
            .into_iter()
            .filter(|c| self.wants(c.id()))
            .collect()
    }
}

/// One resolver, one set of rules and one blocklist configuration (with its
/// list health cache), shared by every run in a process.
#[derive(Clone)]
pub struct Engine {
    pub dns: Dns,
    pub rules: Arc<Rules>,
    /// `None`: the blocklist check is skipped.
    pub blocklist: Option<Arc<BlocklistEngine>>,
}

impl Engine {
    /// An engine without blocklists; see [`Engine::with_blocklist`].
    pub fn new(dns: Dns, rules: Rules) -> Engine {
        Engine {
            dns,
            rules: Arc::new(rules),
            blocklist: None,
        }
    }

    pub fn with_blocklist(mut self, blocklists: BlocklistEngine) -> Engine {
        self.blocklist = Some(Arc::new(blocklists));
        self
    }

    /// Runs the request's checks and assembles the report.
    pub async fn run(&self, req: &Request) -> Report {
        let started = Instant::now();
        let generated_at = time::OffsetDateTime::now_utc();
        // This run's questions are counted apart from other runs' (a
        // batch shares the resolver and cache).
        let dns = self.dns.for_run();
        let facts = Facts::new(
            dns.clone(),
            self.rules.clone(),
            self.blocklist.clone(),
            &req.target,
        );
        let selection = req.checks_of_kind();
        let (runs, existence, ips) = execute(req, &facts, &selection).await;

        let missing = req.kind == RunKind::Audit
            && existence
                .as_deref()
                .is_some_and(|e| *e == Existence::NxDomain);
        let unfinished: Vec<&'static str> = selection
            .iter()
            .zip(&runs)
            .filter(|(_, r)| r.is_none())
            .map(|(c, _)| c.id())
            .collect();
        let mut run_level: Vec<Finding> = Vec::new();
        if missing {
            run_level.push(nxdomain(facts.domain()));
        }
        let resolver_failed = resolver_failure(&self.dns).map(|(finding, reason)| {
            run_level.push(finding);
            reason
        });
        run_level.extend(deadline_reached(&unfinished));
        if resolver_failed.is_none() {
            run_level.extend(not_checked_offline(&dns, &self.dns.config().scope));
        }
        // Caps reached (docs/limits.md): said once each; the checks that
        // saw only part of what they should are unknown.
        let caps = facts.caps();
        run_level.extend(caps.iter().map(|cap| cap_reached(cap, &selection)));

        let verdicts = Overrides {
            missing,
            resolver_failed,
            // A zone whose signatures do not validate is invisible to
            // validating receivers: what the other checks read of it is
            // not what those receivers see (dnssec.bogus says so once).
            bogus: facts
                .dnssec_if_known()
                .is_some_and(|d| matches!(d.verdict(), crate::dns::dnssec::Validation::Bogus(_))),
            caps,
        };
        let mut findings: Vec<ResolvedFinding> =
            run_level.into_iter().map(|f| self.resolve(f)).collect();
        let mut reports = Vec::new();
        for (check, ran) in selection.iter().zip(runs) {
            let (report, own) = self.check_report(check.info(), ran, &verdicts);
            reports.push(report);
            findings.extend(own);
        }

        let mut report = Report {
            kind: req.kind,
            generated_at,
            duration: started.elapsed(),
            target: report_target(req, ips),
            checks: reports,
            findings,
            stats: dns.stats(),
            made: self.made(),
            requirements: Vec::new(),
            changes: None,
        };
        // The providers' requirements are about how mail is sent; a
        // recipient list alone says nothing of that.
        if req.kind != RunKind::Recipients {
            report.requirements =
                crate::report::requirements::evaluate(&report, &self.rules.requirements);
        }
        report
    }

    /// One check's part of the report: its status (its findings', unless
    /// the run says it cannot stand: the domain missing, the resolver
    /// broken, the zone bogus, a fact it reads capped, the deadline) and
    /// its findings with their advice.
    fn check_report(
        &self,
        info: &'static checks::CheckInfo,
        ran: Option<Ran>,
        run: &Overrides,
    ) -> (CheckReport, Vec<ResolvedFinding>) {
        let mut report = CheckReport {
            id: info.id,
            title: info.title,
            status: Status::Skipped,
            reason: None,
            per_item: info.per_item,
            rows: info.rows,
            detail: None,
        };
        let ran = match ran {
            _ if run.missing && info.domain_records => {
                Ran::skipped("not run: the domain does not exist")
            }
            Some(ran) => ran,
            None => {
                report.status = Status::Unknown;
                report.reason =
                    Some("not finished by the deadline: see run.deadline-reached".into());
                return (report, Vec::new());
            }
        };
        let (detail, own) = match ran {
            Ran::Skipped { reason, detail } => {
                report.reason = Some(reason);
                report.detail = detail;
                return (report, Vec::new());
            }
            Ran::Done { detail, findings } => (detail, findings),
        };
        let mut resolved: Vec<ResolvedFinding> = own.into_iter().map(|f| self.resolve(f)).collect();
        if run.resolver_failed.is_some() {
            // The lookup failures are the resolver's, said once at run
            // level; what needed no DNS stands.
            resolved.retain(|f| !f.finding.unknown);
        }
        report.status =
            Status::from_findings(resolved.iter().map(|f| (f.severity, f.finding.unknown)));
        if let Some(why) = &run.resolver_failed {
            report.status = report.status.max(Status::Unknown);
            report.reason = Some(why.clone());
        } else if run.bogus && info.domain_records && !info.judges_dnssec {
            report.status = Status::Unknown;
            report.reason = Some(
                "the zone's DNSSEC signatures do not validate, so validating receivers see none of these records: see dnssec.bogus".into(),
            );
        } else if let Some(cap) = run.caps.iter().find(|c| c.affects(info.id, info.reads)) {
            report.status = report.status.max(Status::Unknown);
            report.reason = Some(format!(
                "only the first {} {} were checked: see run.cap-reached",
                cap.limit, cap.what
            ));
        }
        report.detail = Some(detail);
        (report, resolved)
    }

    /// What the engine knows of how the report is made: its resolvers (or
    /// that it is offline) and the blocklist catalogue.
    fn made(&self) -> Made {
        let config = self.dns.config();
        let offline = config.scope.is_some();
        Made {
            dns: if offline { "offline" } else { "live" },
            resolvers: if offline {
                Vec::new()
            } else if config.nameservers.is_empty() {
                // The system's, from resolv.conf.
                self.dns.servers().iter().map(|ip| ip.to_string()).collect()
            } else {
                config
                    .nameservers
                    .iter()
                    .map(|ns| match ns.port() {
                        53 => ns.ip().to_string(),
                        _ => ns.to_string(),
                    })
                    .collect()
            },
            catalogue: self.blocklist.as_ref().map(|b| {
                let catalog = &b.config.catalog;
                CatalogueUsed {
                    source: catalog.source.clone(),
                    updated: catalog.updated.clone(),
                    lists: catalog.lists.len(),
                }
            }),
            ..Made::default()
        }
    }

    fn resolve(&self, finding: Finding) -> ResolvedFinding {
        let advice = self.rules.advice(finding.id).clone();
        ResolvedFinding {
            severity: finding.severity.unwrap_or(advice.severity),
            finding,
            advice,
        }
    }
}

/// `f`, unless `deadline` comes first.
async fn by<F: std::future::Future>(
    deadline: Option<tokio::time::Instant>,
    f: F,
) -> Option<F::Output> {
    match deadline {
        // Past the deadline, nothing starts: what a run has not begun is
        // unknown, however quickly it might have finished (the timer only
        // fires at its next tick).
        Some(at) if tokio::time::Instant::now() >= at => None,
        Some(at) => tokio::time::timeout_at(at, f).await.ok(),
        None => Some(f.await),
    }
}

/// The one finding about a resolver that lied or answered nothing, and the
/// reason every check gives for being unknown.
fn resolver_failure(dns: &Dns) -> Option<(Finding, String)> {
    let (finding, reason) = match dns.health() {
        Health::Working => return None,
        Health::Broken { tld, name } => (
            Finding::new(
                ids::DNS_RESOLVER_BROKEN,
                servers(dns),
                format!(
                    "The resolver says the top-level domain {tld} does not exist (asked because it denied {name}): it answers NXDOMAIN for names that exist, so no absence it reports can be believed."
                ),
            )
            .with("tld", &tld)
            .with("name", &name),
            format!(
                "the resolver is broken (it denies the top-level domain {tld}): see dns.resolver-broken"
            ),
        ),
        Health::Unreachable { asked, how } => (
            Finding::new(
                ids::DNS_RESOLVER_UNREACHABLE,
                servers(dns),
                format!("The resolver answered none of the {asked} questions of this run ({how})."),
            )
            .with("questions", asked)
            .with("failures", &how),
            "the resolver answered no question: see dns.resolver-unreachable".into(),
        ),
    };
    Some((finding.with("resolvers", dns.servers()).unknown(), reason))
}

fn given_ips(target: &Target) -> Vec<SendingIp> {
    target
        .ips
        .iter()
        .map(|ip| SendingIp {
            ip: *ip,
            source: target.ips_source.unwrap_or("argument"),
            via: None,
        })
        .collect()
}

fn servers(dns: &Dns) -> String {
    let s: Vec<String> = dns.servers().iter().map(|s| s.to_string()).collect();
    if s.is_empty() {
        "resolver".into()
    } else {
        s.join(", ")
    }
}

/// What the run as a whole says over each check's own verdict.
struct Overrides {
    /// The audited domain does not exist.
    missing: bool,
    /// The resolver is broken: why.
    resolver_failed: Option<String>,
    /// The zone's DNSSEC signatures do not validate.
    bogus: bool,
    caps: Vec<crate::facts::Cap>,
}

/// The selected checks, the domain's existence and the sending IPs (found
/// in an audit, given otherwise), each given up at the deadline (`None`).
async fn execute(
    req: &Request,
    facts: &Facts<'_>,
    selection: &[&'static dyn Check],
) -> (
    Vec<Option<Ran>>,
    Option<Arc<Existence>>,
    (Vec<SendingIp>, Vec<String>),
) {
    let deadline = req.deadline.map(tokio::time::Instant::from_std);
    futures::join!(
        join_all(selection.iter().map(|c| async {
            if req.wants(c.id()) {
                by(deadline, c.run(facts)).await
            } else {
                Some(Ran::skipped("not selected with --checks"))
            }
        })),
        by(deadline, facts.existence()),
        async {
            if req.kind != RunKind::Audit {
                return (given_ips(&req.target), Vec::new());
            }
            match by(deadline, facts.sending_ips()).await {
                Some(found) => {
                    let failed = found.failed.iter().map(|f| f.describe()).collect();
                    (found.items.clone(), failed)
                }
                None => (Vec::new(), vec!["not finished by the deadline".to_string()]),
            }
        }
    )
}

/// `domain.nxdomain`.
fn nxdomain(domain: &str) -> Finding {
    Finding::new(
        ids::DOMAIN_NXDOMAIN,
        domain,
        format!("{domain} does not exist: the DNS answers NXDOMAIN for it."),
    )
    .with("domain", domain)
}

/// `run.deadline-reached` when checks did not finish.
fn deadline_reached(unfinished: &[&'static str]) -> Option<Finding> {
    if unfinished.is_empty() {
        return None;
    }
    Some(
        Finding::new(
            ids::RUN_DEADLINE_REACHED,
            "run",
            format!(
                "The deadline came before {} finished: {} unknown.",
                unfinished.join(", "),
                if unfinished.len() == 1 {
                    "it is"
                } else {
                    "they are"
                }
            ),
        )
        .with("checks", unfinished)
        .unknown(),
    )
}

/// `dns.not-checked-offline` when questions fell outside the loaded zones.
fn not_checked_offline(dns: &Dns, scope: &Option<Vec<String>>) -> Option<Finding> {
    let not_checked = dns
        .stats()
        .by_outcome
        .get("not_checked")
        .copied()
        .unwrap_or(0);
    (not_checked > 0).then(|| {
        Finding::new(
            ids::DNS_NOT_CHECKED_OFFLINE,
            "offline",
            format!(
                "{not_checked} question(s) were about names outside the loaded zone files and were not asked; what needed them is unknown."
            ),
        )
        .with("questions", not_checked)
        .with("zones", scope)
    })
}

/// `run.cap-reached` for one cap, naming the selected checks it makes
/// unknown.
fn cap_reached(cap: &crate::facts::Cap, selection: &[&'static dyn Check]) -> Finding {
    Finding::new(
        ids::RUN_CAP_REACHED,
        cap.what,
        format!(
            "{} {}: only the first {} were checked (docs/limits.md); the rest is unknown.",
            cap.found, cap.what, cap.limit
        ),
    )
    .with("what", cap.what)
    .with("found", cap.found)
    .with("limit", cap.limit)
    .with(
        "checks",
        selection
            .iter()
            .filter(|c| cap.affects(c.id(), c.info().reads))
            .map(|c| c.id())
            .collect::<Vec<_>>(),
    )
    .unknown()
}

/// What was audited, as the report says it.
fn report_target(req: &Request, ips: (Vec<SendingIp>, Vec<String>)) -> ReportTarget {
    ReportTarget {
        domain: req.target.domain.clone(),
        ips: ips.0,
        ips_failed: ips.1,
        messages: req.target.messages.iter().map(|m| m.path.clone()).collect(),
        recipients: req.target.recipients.as_ref().map(|r| r.list.shown.clone()),
        subjects: match (&req.target.subjects, &req.target.smtp) {
            (Some((given, _)), _) => given.clone(),
            (None, Some(smtp)) if req.kind == RunKind::Smtp => smtp.hosts.clone(),
            _ => Vec::new(),
        },
    }
}

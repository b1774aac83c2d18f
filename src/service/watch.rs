//! Watching in the service (issue 22): watched targets in the store, a
//! run of each when it is due (`serve`'s scheduler, or `mailaudit watch
//! run` from cron), its report stored like any audit and compared with the
//! last definitive one, and the alerts `crate::watch` confirms delivered:
//! a log line, a webhook (JSON, HMAC-signed with a secret) and mail
//! through a relay (docs/monitoring.md).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures::StreamExt;
use serde::Serialize;

use super::store::{Store, StoreError, WatchRow, WatchRun};
use super::{AuditRequest, Job, Refused, Service, ServiceConfig, new_id, now_ms};
use crate::report::baseline::Baseline;
use crate::watch::{Alert, Memory};

/// Shortest interval between runs of one watch: list operators ask for
/// restraint, and a listing does not change by the minute.
pub const MIN_EVERY: Duration = Duration::from_secs(5 * 60);

/// How watches run and whom they tell.
#[derive(Debug, Clone)]
pub struct WatchConfig {
    /// Runs that must see a change before it is alerted.
    pub confirm_runs: u32,
    /// Watches run at once.
    pub parallel: usize,
    pub webhook: Option<Webhook>,
    pub email: Option<EmailAlerts>,
}

impl Default for WatchConfig {
    fn default() -> Self {
        WatchConfig {
            confirm_runs: crate::watch::CONFIRM_RUNS,
            parallel: 4,
            webhook: None,
            email: None,
        }
    }
}

/// `--webhook URL` (and `--webhook-secret-file`).
#[derive(Clone)]
pub struct Webhook {
    pub url: String,
    /// The HMAC-SHA256 key of the signature header.
    pub secret: Option<Vec<u8>>,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook")
            .field("url", &self.url)
            .field("secret", &self.secret.as_ref().map(|_| "(set)"))
            .finish()
    }
}

/// `--alert-smtp HOST:PORT --alert-from ADDRESS --alert-to ADDRESS`.
#[derive(Debug, Clone)]
pub struct EmailAlerts {
    pub relay: String,
    pub from: String,
    pub to: Vec<String>,
    /// `--alert-smtp-ca`: authorities trusted for the relay's STARTTLS
    /// besides the public ones.
    pub extra_roots: Vec<rustls::pki_types::CertificateDer<'static>>,
}

/// The header that carries the webhook body's HMAC-SHA256 under the
/// secret: `sha256=<hex>`.
pub const SIGNATURE_HEADER: &str = "X-Mailaudit-Signature";

/// The signature of `body` under `secret`, as the header carries it.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
    let tag = ring::hmac::sign(&key, body);
    format!("sha256={}", data_encoding::HEXLOWER.encode(tag.as_ref()))
}

/// Which watches to run.
#[derive(Debug, Clone, Copy)]
pub enum Which {
    /// Those due at this time (Unix ms), each taken once across
    /// instances.
    Due(i64),
    /// Every watch, now, whatever its schedule.
    All,
}

/// What one run of a watch came to.
#[derive(Debug, Clone, Serialize)]
pub struct Ran {
    pub watch: String,
    pub target: String,
    /// Its report's permalink id.
    pub audit: String,
    pub verdict: String,
    pub alerts: Vec<Alert>,
    /// Deliveries that failed (each in a sentence).
    pub undelivered: Vec<String>,
}

/// The JSON body of a webhook (docs/monitoring.md).
#[derive(Debug, Serialize)]
struct Notice<'a> {
    event: &'static str,
    watch: NoticeWatch<'a>,
    audit: &'a str,
    verdict: &'a str,
    sent_at: String,
    alerts: &'a [Alert],
}

#[derive(Debug, Serialize)]
struct NoticeWatch<'a> {
    id: &'a str,
    target: &'a str,
}

/// The first run of a new watch: spread over its interval by its id, so
/// that watches added together do not run together.
fn first_run(id: &str, now: i64, every_ms: i64) -> i64 {
    let hash = super::token_hash(id);
    let n = u64::from_be_bytes(hash[..8].try_into().expect("8 bytes"));
    now + (n % every_ms.max(1) as u64) as i64
}

/// The next run after `was` that is later than `now`: missed runs are not
/// made up.
fn next_run(was: i64, now: i64, every_ms: i64) -> i64 {
    let every = every_ms.max(1);
    if was > now {
        return was + every;
    }
    was + ((now - was) / every + 1) * every
}

/// Watches `request`'s domain every `every` in `store`: the new watch (an
/// error when the domain is watched already, or the request is not valid
/// under `config`).
pub async fn add(
    store: &Store,
    config: &ServiceConfig,
    request: &AuditRequest,
    every: Duration,
) -> Result<WatchRow, Refused> {
    if every < MIN_EVERY {
        return Err(Refused::Invalid(format!(
            "every: at least {} minutes between runs",
            MIN_EVERY.as_secs() / 60
        )));
    }
    let request = request.normalised(config).map_err(Refused::Invalid)?;
    if store.watch(&request.domain).await?.is_some() {
        return Err(Refused::Invalid(format!(
            "target: {} is watched already",
            request.domain
        )));
    }
    let id = new_id();
    let now = now_ms();
    let every_ms = every.as_millis() as i64;
    let row = WatchRow {
        next_run: first_run(&id, now, every_ms),
        id,
        target: request.domain.clone(),
        request: serde_json::to_string(&request).expect("serialises"),
        every_ms,
        created_at: now,
        memory: serde_json::to_string(&Memory::default()).expect("serialises"),
        runs: 0,
    };
    store.insert_watch(&row).await?;
    Ok(row)
}

/// An interval in its largest whole unit: `6h`, `1d`, `90m`.
pub fn every_words(ms: i64) -> String {
    let minutes = ms / 60_000;
    if minutes % 1440 == 0 {
        format!("{}d", minutes / 1440)
    } else if minutes % 60 == 0 {
        format!("{}h", minutes / 60)
    } else {
        format!("{minutes}m")
    }
}

/// A watch as the API shows it, with its last run.
pub fn watch_json(w: &WatchRow, last: Option<&WatchRun>) -> serde_json::Value {
    let request: serde_json::Value = serde_json::from_str(&w.request).unwrap_or_default();
    serde_json::json!({
        "id": w.id,
        "target": w.target,
        "every": every_words(w.every_ms),
        "ips": request["ips"],
        "selectors": request["selectors"],
        "checks": request["checks"],
        "created_at": super::rfc3339(w.created_at),
        "next_run": super::rfc3339(w.next_run),
        "runs": w.runs,
        "last": last.map(run_json),
        "links": {"self": format!("/api/v1/watches/{}", w.id), "html": format!("/watches/{}", w.id)},
    })
}

/// One run as the API shows it.
pub fn run_json(r: &WatchRun) -> serde_json::Value {
    serde_json::json!({
        "audit": r.audit_id,
        "ran_at": super::rfc3339(r.ran_at),
        "verdict": r.verdict,
        "score": r.score,
        "errors": r.errors,
        "warnings": r.warnings,
        "unknown": r.unknown,
        "alerts": serde_json::from_str::<serde_json::Value>(&r.alerts).unwrap_or_default(),
        "links": {"report": format!("/api/v1/audits/{}", r.audit_id), "html": format!("/audits/{}", r.audit_id)},
    })
}

/// Every watch in `store` with its last run, by target.
pub async fn list(store: &Store) -> Result<Vec<(WatchRow, Option<WatchRun>)>, StoreError> {
    let mut out = Vec::new();
    for w in store.watches().await? {
        let last = store.watch_runs(&w.id, 1).await?.into_iter().next();
        out.push((w, last));
    }
    Ok(out)
}

impl Service {
    /// [`add`] to this service's store, for `client` (counted against
    /// `--rate` like a submitted audit: a watch is audits to come).
    pub async fn add_watch(
        &self,
        request: &AuditRequest,
        every: Duration,
        client: Option<std::net::IpAddr>,
    ) -> Result<WatchRow, Refused> {
        if let Some(client) = client {
            self.rate_limit(client).await?;
        }
        add(&self.store, &self.config, request, every).await
    }

    /// Runs the watches `which` names, `--watch-parallel` at a time; what
    /// each came to (a run that could not be made is left out, and logged).
    pub async fn run_watches(self: &Arc<Self>, which: Which) -> Result<Vec<Ran>, StoreError> {
        let rows = match which {
            Which::All => self.store.watches().await?,
            Which::Due(now) => {
                let mut taken = Vec::new();
                for row in self.store.due_watches(now).await? {
                    let next = next_run(row.next_run, now, row.every_ms);
                    if self.store.claim_watch(&row.id, row.next_run, next).await? {
                        taken.push(row);
                    }
                }
                taken
            }
        };
        let parallel = self.config.watch.parallel.max(1);
        let ran: Vec<Option<Ran>> = futures::stream::iter(rows)
            .map(|row| {
                let service = Arc::clone(self);
                async move { service.run_watch_once(&row).await }
            })
            .buffer_unordered(parallel)
            .collect()
            .await;
        let mut ran: Vec<Ran> = ran.into_iter().flatten().collect();
        ran.sort_by(|a, b| a.target.cmp(&b.target));
        Ok(ran)
    }

    /// Whether a run of the watch `id` is under way here.
    pub fn watch_running(&self, id: &str) -> bool {
        self.watching.lock().expect("watching lock").contains(id)
    }

    /// Runs the watch `id` now, in the background, for `client` (counted
    /// against `--rate`): false when it is running already.
    pub async fn run_watch_now(
        self: &Arc<Self>,
        id: &str,
        client: Option<std::net::IpAddr>,
    ) -> Result<bool, Refused> {
        if self.closing() {
            return Err(Refused::Closing);
        }
        let Some(row) = self.store.watch(id).await? else {
            return Err(Refused::Invalid("no such watch".into()));
        };
        if self.watch_running(&row.id) {
            return Ok(false);
        }
        if let Some(client) = client {
            self.rate_limit(client).await?;
        }
        let service = Arc::clone(self);
        tokio::spawn(async move { service.run_watch_once(&row).await });
        Ok(true)
    }

    /// [`Service::run_watch`], unless the watch is being run already; a
    /// run that could not be made is logged (`None` either way).
    async fn run_watch_once(&self, row: &WatchRow) -> Option<Ran> {
        if !self
            .watching
            .lock()
            .expect("watching lock")
            .insert(row.id.clone())
        {
            return None;
        }
        let ran = self.run_watch(row).await;
        self.watching.lock().expect("watching lock").remove(&row.id);
        ran.map_err(|e| {
            tracing::error!(watch = %row.id, target = %row.target, "the run failed: {e}");
        })
        .ok()
    }

    /// One run of a watch: the audit, stored; the comparison with the last
    /// definitive report; the memory stepped; the alerts delivered.
    async fn run_watch(&self, row: &WatchRow) -> Result<Ran, String> {
        let request: AuditRequest = serde_json::from_str(&row.request)
            .map_err(|e| format!("the stored request cannot be read: {e}"))?;
        // As a submitted audit runs: with the operator's probe, fetch and
        // spam-filter settings.
        let job = Job::audit(request);
        let (engine_request, _) = job.engine_request(&self.config)?;
        let id = new_id();
        let job = serde_json::to_string(&job).expect("serialises");
        let store_err = |e: StoreError| e.to_string();
        let started = now_ms();
        let mut report = self.engine.run(&engine_request).await;
        report.made.command = vec![
            "mailaudit".into(),
            "watch".into(),
            format!("run {}", row.target),
        ];
        report.made.zone_files = self.config.zone_files.clone();
        // What changed since the last report that saw everything.
        if let Some(old) = self
            .store
            .last_definitive_report(&row.id)
            .await
            .map_err(store_err)?
            && let Ok(baseline) = Baseline::parse(&old)
        {
            report.changes = Some(baseline.compare(&report));
        }
        let mut memory: Memory = serde_json::from_str(&row.memory).unwrap_or_default();
        let alerts = crate::watch::step(&mut memory, &report, self.config.watch.confirm_runs);
        let (verdict, reports) = super::rendered(&report);
        let run = WatchRun {
            audit_id: id.clone(),
            ran_at: now_ms(),
            verdict: verdict.clone(),
            score: report.score() as i64,
            errors: report.count(crate::findings::Severity::Error) as i64,
            warnings: report.count(crate::findings::Severity::Warning) as i64,
            unknown: report.unknown_checks() as i64,
            alerts: serde_json::to_string(&alerts).expect("serialises"),
        };
        // The audit, its reports, the history row and the memory: one
        // transaction, so a run is stored whole or not at all.
        self.store
            .store_watch_run(
                &row.id,
                &row.target,
                started,
                &job,
                &reports,
                &run,
                &serde_json::to_string(&memory).expect("serialises"),
            )
            .await
            .map_err(store_err)?;
        let mut ran = Ran {
            watch: row.id.clone(),
            target: row.target.clone(),
            audit: id,
            verdict,
            alerts,
            undelivered: Vec::new(),
        };
        if !ran.alerts.is_empty() {
            ran.undelivered = self.deliver(&ran).await;
        }
        let m = &self.metrics;
        m.dns_questions
            .fetch_add(report.stats.queries, Ordering::Relaxed);
        m.finished.fetch_add(1, Ordering::Relaxed);
        m.run_ms
            .fetch_add((run.ran_at - started).max(0) as u64, Ordering::Relaxed);
        m.watch_runs.fetch_add(1, Ordering::Relaxed);
        m.watch_alerts
            .fetch_add(ran.alerts.len() as u64, Ordering::Relaxed);
        m.watch_undelivered
            .fetch_add(ran.undelivered.len() as u64, Ordering::Relaxed);
        Ok(ran)
    }

    /// Tells of `ran`'s alerts: a log line each, the webhook, the mail.
    /// What could not be delivered, in sentences (also logged).
    async fn deliver(&self, ran: &Ran) -> Vec<String> {
        for a in &ran.alerts {
            tracing::warn!(
                watch = %ran.watch,
                target = %ran.target,
                alert = a.kind.as_str(),
                audit = %ran.audit,
                "{}",
                crate::report::terminal::safe(&a.summary)
            );
        }
        let mut failed = Vec::new();
        let notice = Notice {
            event: "mailaudit.watch.alerts",
            watch: NoticeWatch {
                id: &ran.watch,
                target: &ran.target,
            },
            audit: &ran.audit,
            verdict: &ran.verdict,
            sent_at: super::rfc3339(now_ms()),
            alerts: &ran.alerts,
        };
        let body = serde_json::to_vec(&notice).expect("serialises");
        if let Some(hook) = &self.config.watch.webhook
            && let Err(e) = post(hook, &body).await
        {
            failed.push(format!("the webhook {}: {e}", hook.url));
        }
        if let Some(mail) = &self.config.watch.email
            && let Err(e) = crate::smtp::submit(
                &mail.relay,
                &mail.from,
                &mail.to,
                &alert_mail(mail, ran),
                &mail.extra_roots,
                Duration::from_secs(30),
            )
            .await
        {
            failed.push(format!("the mail through {}: {e}", mail.relay));
        }
        for f in &failed {
            tracing::error!(watch = %ran.watch, "alert not delivered: {f}");
        }
        failed
    }
}

/// Posts `body` to the webhook, three times at most (1 s, then 4 s
/// apart) while it fails.
async fn post(hook: &Webhook, body: &[u8]) -> Result<(), String> {
    let client = crate::web::operator_client(Duration::from_secs(10))?;
    let mut last = String::new();
    for wait in [0u64, 1, 4] {
        tokio::time::sleep(Duration::from_secs(wait)).await;
        let mut request = client
            .post(&hook.url)
            .header("Content-Type", "application/json")
            .body(body.to_vec());
        if let Some(secret) = &hook.secret {
            request = request.header(SIGNATURE_HEADER, sign(secret, body));
        }
        match request.send().await {
            Ok(r) if r.status().is_success() => return Ok(()),
            Ok(r) => last = format!("it answered HTTP {}", r.status().as_u16()),
            Err(e) => last = crate::web::describe_error(&e),
        }
    }
    Err(last)
}

/// The alert mail: plain text, one line per alert.
fn alert_mail(mail: &EmailAlerts, ran: &Ran) -> String {
    let date = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc2822)
        .unwrap_or_default();
    // Header values come from our own words and the target (a domain
    // name): no line breaks reach the header.
    let one_line = |s: &str| s.replace(['\r', '\n'], " ");
    let mut text = format!(
        "From: {}\r\nTo: {}\r\nSubject: mailaudit: {} change(s) for {}\r\nDate: {date}\r\nMessage-ID: <{}@mailaudit>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n",
        one_line(&mail.from),
        one_line(&mail.to.join(", ")),
        ran.alerts.len(),
        one_line(&ran.target),
        ran.audit
    );
    for a in &ran.alerts {
        text.push_str(&format!(
            "{}: {} (first seen {}, seen in {} runs)\r\n",
            a.kind.as_str(),
            crate::report::terminal::safe(&a.summary),
            a.since,
            a.runs
        ));
    }
    text.push_str(&format!("\r\nThe report: audit {}\r\n", ran.audit));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_are_spread_and_missed_ones_not_made_up() {
        let every = 6 * 3600 * 1000;
        let a = first_run("a", 0, every);
        let b = first_run("b", 0, every);
        assert!((0..every).contains(&a) && (0..every).contains(&b));
        assert_ne!(a, b);
        // Due at 10, now 10: next at 10 + every.
        assert_eq!(next_run(10, 10, every), 10 + every);
        // Three intervals missed: the next is the first one after now.
        assert_eq!(next_run(10, 10 + 3 * every + 5, every), 10 + 4 * every);
    }

    #[test]
    fn the_signature_is_hmac_sha256_of_the_body() {
        // RFC 4231 test case 2.
        assert_eq!(
            sign(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}

//! `mailaudit watch`: add, list and remove watched domains, run the ones
//! that are due (from cron or a systemd timer) and show a watch's history,
//! in the store `serve` uses (docs/monitoring.md).

use mailaudit::input::InputError;
use mailaudit::reach::Reach;
use mailaudit::report::terminal::safe;
use mailaudit::service::store::{Store, WatchRow};
use mailaudit::service::watch::{Which, add, every_words, list, run_json, watch_json};
use mailaudit::service::{AuditRequest, Refused, Service, ServiceConfig, rfc3339};
use serde_json::json;

use crate::app::{AppError, Exit};
use crate::cli::{WatchAction, WatchArgs, WatchRunArgs};
use crate::serve::Operator;

fn refused(e: Refused) -> AppError {
    match e {
        Refused::Invalid(why) => InputError(why).into(),
        Refused::Store(e) => AppError::Runtime(e.to_string()),
        other => AppError::Runtime(format!("{other:?}")),
    }
}

fn store_error(e: mailaudit::service::store::StoreError) -> AppError {
    AppError::Runtime(e.to_string())
}

/// The watch named by a domain or an id, or a one-line error.
async fn named(store: &Store, target: &str) -> Result<WatchRow, AppError> {
    let key = mailaudit::input::domain("target", target)
        .unwrap_or_else(|_| target.trim().to_ascii_lowercase());
    store
        .watch(&key)
        .await
        .map_err(store_error)?
        .ok_or_else(|| {
            InputError(format!("{target}: not watched (see mailaudit watch list)")).into()
        })
}

pub fn run(args: WatchArgs) -> Result<Exit, AppError> {
    let url = crate::serve::database_url(&args.store)?;
    // What a run needs is checked before anything is opened.
    let run_setup = match &args.action {
        WatchAction::Run(r) => Some(run_setup(r)?),
        _ => None,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| AppError::Runtime(format!("cannot start the async runtime: {e}")))?;
    rt.block_on(async move {
        let store = Store::open(&url)
            .await
            .map_err(|e| InputError(format!("--database: {e}")))?;
        match args.action {
            WatchAction::Add(a) => {
                let request = AuditRequest {
                    domain: a.target.clone(),
                    ips: a.ip.clone(),
                    selectors: a.selector.clone(),
                    checks: a.checks.clone(),
                };
                let row = add(&store, &ServiceConfig::default(), &request, a.every)
                    .await
                    .map_err(refused)?;
                println!(
                    "watching {} every {} (watch {}); first run due {}",
                    row.target,
                    every_words(row.every_ms),
                    row.id,
                    rfc3339(row.next_run)
                );
                Ok(Exit::Ok)
            }
            WatchAction::List(l) => {
                let out = list(&store).await.map_err(store_error)?;
                if l.json {
                    let watches: Vec<_> = out.iter().map(|(w, last)| watch_json(w, last.as_ref())).collect();
                    println!("{}", serde_json::to_string_pretty(&json!({ "watches": watches })).expect("json"));
                } else if out.is_empty() {
                    println!("no domain is watched (mailaudit watch add DOMAIN)");
                } else {
                    for (w, last) in &out {
                        let last = match last {
                            Some(r) => format!("{} at {} (score {}/10)", r.verdict, rfc3339(r.ran_at), r.score),
                            None => "not run yet".into(),
                        };
                        println!(
                            "{}  every {}  {} run(s)  last: {}  next: {}",
                            w.target,
                            every_words(w.every_ms),
                            w.runs,
                            last,
                            rfc3339(w.next_run)
                        );
                    }
                }
                Ok(Exit::Ok)
            }
            WatchAction::Remove { target } => {
                let row = named(&store, &target).await?;
                store.remove_watch(&row.id).await.map_err(store_error)?;
                println!("no longer watching {}", row.target);
                Ok(Exit::Ok)
            }
            WatchAction::History(h) => {
                let row = named(&store, &h.target).await?;
                let runs = store
                    .watch_runs(&row.id, h.limit as i64)
                    .await
                    .map_err(store_error)?;
                if h.json {
                    let mut body = watch_json(&row, runs.first());
                    body["runs"] = json!(runs.iter().map(run_json).collect::<Vec<_>>());
                    println!("{}", serde_json::to_string_pretty(&body).expect("json"));
                    return Ok(Exit::Ok);
                }
                println!("{}: {} run(s), every {}", row.target, row.runs, every_words(row.every_ms));
                for r in &runs {
                    println!(
                        "  {}  {:<26} score {:>2}/10  {} error(s), {} warning(s), {} unknown  audit {}",
                        rfc3339(r.ran_at),
                        r.verdict,
                        r.score,
                        r.errors,
                        r.warnings,
                        r.unknown,
                        r.audit_id
                    );
                    let alerts: Vec<mailaudit::watch::Alert> =
                        serde_json::from_str(&r.alerts).unwrap_or_default();
                    for a in alerts {
                        println!("      alert {}: {}", a.kind.as_str(), safe(&a.summary));
                    }
                }
                Ok(Exit::Ok)
            }
            WatchAction::Run(r) => {
                let (operator, config) = run_setup.expect("checked above");
                let (engine, _server) = operator.engine().await?;
                let service = Service::start(engine, store, config)
                    .await
                    .map_err(store_error)?;
                let which = if r.all {
                    Which::All
                } else {
                    Which::Due(
                        (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64,
                    )
                };
                let ran = service.run_watches(which).await.map_err(store_error)?;
                let mut undelivered = false;
                for r in &ran {
                    println!(
                        "{}: {} (audit {}), {} alert(s)",
                        r.target,
                        r.verdict,
                        r.audit,
                        r.alerts.len()
                    );
                    for a in &r.alerts {
                        println!("  {}: {}", a.kind.as_str(), safe(&a.summary));
                    }
                    for u in &r.undelivered {
                        undelivered = true;
                        eprintln!("mailaudit: {}: alert not delivered: {}", r.target, safe(u));
                    }
                }
                if ran.is_empty() {
                    println!("no watch was due");
                }
                service.shut_down().await;
                Ok(if undelivered { Exit::Runtime } else { Exit::Ok })
            }
        }
    })
}

/// The flags of `watch run`, checked: the engine's parts and the
/// service's configuration (no queue of its own: a `serve` beside it
/// keeps its own).
fn run_setup(args: &WatchRunArgs) -> Result<(Operator, ServiceConfig), AppError> {
    if let Some(dir) = &args.dns.web {
        return Err(InputError(format!(
            "--web {}: watches fetch from the sites themselves (--fetch)",
            dir.display()
        ))
        .into());
    }
    let operator = Operator::from_args(
        &args.smtp,
        args.fetch,
        Reach::Any,
        &args.rules,
        args.no_blocklist,
        &args.blocklist,
        &args.dns,
    )?;
    let config = ServiceConfig {
        workers: 0,
        zone_files: operator.dns.zone_files.clone(),
        smtp: operator.smtp.clone(),
        web: operator.web.clone(),
        watch: crate::serve::watch_config(&args.alerts)?,
        ..ServiceConfig::default()
    };
    Ok((operator, config))
}

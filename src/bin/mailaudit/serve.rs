//! `mailaudit serve`: validate the flags (a bad one is one line and exit
//! 2, before anything listens), open the store, start the engine and the
//! service on a multi-threaded runtime, and stop gracefully on SIGTERM or
//! Ctrl-C.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use mailaudit::blocklist::BlocklistEngine;
use mailaudit::engine::Engine;
use mailaudit::input::InputError;
use mailaudit::reach::Reach;
use mailaudit::rules::Rules;
use mailaudit::service::smtp_in::{SmtpInConfig, generated_tls, listen, tls_from_files};
use mailaudit::service::store::Store;
use mailaudit::service::watch::{EmailAlerts, WatchConfig, Webhook};
use mailaudit::service::{Service, ServiceConfig, TestAddresses, serve, token_hash};

use crate::app::{
    AppError, DnsPlan, Exit, blocklist_config, smtp_target, trust_anchors, web_options,
};
use crate::cli::{AlertArgs, ServeArgs, StoreArgs};

/// The tokens of `--token-file`, as SHA-256 hashes: a line is a token, or
/// `sha256:HEX` of one.
fn read_tokens(path: &Path) -> Result<Vec<[u8; 32]>, AppError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| InputError(format!("--token-file {}: {e}", path.display())))?;
    let mut tokens = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = |why: &str| {
            AppError::from(InputError(format!(
                "--token-file {} line {}: {why}",
                path.display(),
                n + 1
            )))
        };
        if let Some(hex) = line.strip_prefix("sha256:") {
            let bytes = data_encoding::HEXLOWER_PERMISSIVE
                .decode(hex.as_bytes())
                .map_err(|_| bad("not 64 hex digits after sha256:"))?;
            tokens.push(
                bytes
                    .try_into()
                    .map_err(|_| bad("not 64 hex digits after sha256:"))?,
            );
        } else if line.len() < 16 {
            return Err(bad("a token has at least 16 characters"));
        } else if !line
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b';' && b != b',')
        {
            return Err(bad("a token is printable ASCII without spaces, ';' or ','"));
        } else {
            tokens.push(token_hash(line));
        }
    }
    if tokens.is_empty() {
        return Err(InputError(format!("--token-file {}: no token in it", path.display())).into());
    }
    Ok(tokens)
}

/// The database URL: `--database`, else SQLite in `--data DIR` (made when
/// missing).
pub fn database_url(args: &StoreArgs) -> Result<String, AppError> {
    if let Some(url) = &args.database {
        if !(url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            return Err(InputError(format!(
                "--database {url:?}: not a postgres:// or sqlite:// URL"
            ))
            .into());
        }
        return Ok(url.clone());
    }
    std::fs::create_dir_all(&args.data)
        .map_err(|e| InputError(format!("--data {}: {e}", args.data.display())))?;
    let file = args.data.join("mailaudit.sqlite");
    Ok(format!("sqlite://{}", file.display()))
}

/// Where uploaded recipient lists are spooled while checked: the data
/// directory (SQLite) or the system's temporary directory.
fn spool_dir(args: &StoreArgs) -> Result<std::path::PathBuf, AppError> {
    if args.database.is_some() {
        return Ok(std::env::temp_dir());
    }
    let dir = args.data.join("spool");
    std::fs::create_dir_all(&dir)
        .map_err(|e| InputError(format!("--data {}: {e}", args.data.display())))?;
    Ok(dir)
}

/// `--smtp-listen` and its companions, checked: where, the test
/// addresses, and how the listener behaves.
fn smtp_in_config(
    args: &ServeArgs,
) -> Result<Option<(SocketAddr, TestAddresses, SmtpInConfig)>, AppError> {
    let t = &args.test_addresses;
    let (Some(addr), Some(domain)) = (t.smtp_listen, t.mail_domain.as_deref()) else {
        return Ok(None);
    };
    let mail_domain = mailaudit::input::domain("--mail-domain", domain)?;
    let hostname = match t.smtp_listen_hostname.as_deref() {
        Some(h) => mailaudit::input::domain("--smtp-listen-hostname", h)?,
        None => mail_domain.clone(),
    };
    let tls = match (&t.smtp_listen_cert, &t.smtp_listen_key) {
        (Some(cert), Some(key)) => tls_from_files(cert, key).map_err(InputError)?,
        _ => generated_tls(&hostname).map_err(AppError::Runtime)?,
    };
    Ok(Some((
        addr,
        TestAddresses {
            mail_domain,
            lifetime: t.test_lifetime,
            trusted_relays: t
                .smtp_listen_trusted_relay
                .iter()
                .map(|r| mailaudit::input::ip_or_cidr("--smtp-listen-trusted-relay", r))
                .collect::<Result<Vec<_>, _>>()?,
        },
        SmtpInConfig {
            hostname,
            tls: Some(tls),
            max_size: t.smtp_listen_max_size as usize,
            command_timeout: t.smtp_listen_timeout,
            session_limit: t.smtp_listen_session_limit,
            max_connections: t.smtp_listen_max_connections,
            max_per_client: t.smtp_listen_max_per_client,
            lmtp: t.smtp_listen_lmtp,
        },
    )))
}

/// What `serve` and `watch run` build their engine from, and the
/// operator's probe and fetch settings, from the flags they share.
pub struct Operator {
    pub dns: DnsPlan,
    pub rules: Rules,
    pub blocklist: Option<mailaudit::blocklist::BlocklistConfig>,
    pub smtp: Option<mailaudit::facts::SmtpTarget>,
    pub web: Option<mailaudit::web::WebOptions>,
}

impl Operator {
    /// The flags, checked; `reach`: which addresses the probe and the
    /// fetches may connect to.
    #[allow(clippy::too_many_arguments)]
    pub fn from_args(
        smtp_args: &crate::cli::SmtpArgs,
        fetch: bool,
        reach: Reach,
        rules: &crate::cli::RulesArgs,
        no_blocklist: bool,
        blocklist: &crate::cli::BlocklistArgs,
        dns: &crate::cli::DnsArgs,
    ) -> Result<Operator, AppError> {
        // One read of --ca-file for the probe and the fetches.
        let roots = (smtp_args.smtp || fetch)
            .then(|| trust_anchors(smtp_args).map(Arc::new))
            .transpose()?;
        let smtp = match &roots {
            Some(roots) if smtp_args.smtp => Some(smtp_target(
                smtp_args,
                Vec::new(),
                Arc::clone(roots),
                reach,
            )?),
            _ => None,
        };
        let web = roots
            .filter(|_| fetch)
            .map(|roots| web_options(smtp_args, roots, reach));
        let rules_dir = rules.dir.as_deref();
        Ok(Operator {
            rules: Rules::load(rules_dir)?,
            blocklist: (!no_blocklist)
                .then(|| blocklist_config(blocklist, rules_dir))
                .transpose()?,
            dns: DnsPlan::from_args(dns)?,
            smtp,
            web,
        })
    }

    /// The engine, and the embedded DNS server it asks when offline (it
    /// serves as long as that is kept).
    pub async fn engine(
        self,
    ) -> Result<(Engine, Option<mailaudit::dns::server::ZoneServer>), AppError> {
        let (resolver, server) = self.dns.start().await?;
        let mut engine = Engine::new(resolver, self.rules);
        if let Some(config) = self.blocklist {
            engine = engine.with_blocklist(BlocklistEngine::new(config));
        }
        Ok((engine, server))
    }
}

/// The alert flags, checked: how watches run and whom they tell.
pub fn watch_config(args: &AlertArgs) -> Result<WatchConfig, AppError> {
    let webhook = match &args.webhook {
        Some(url) => {
            let parsed = reqwest::Url::parse(url)
                .map_err(|e| InputError(format!("--webhook {url:?}: {e}")))?;
            if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
                return Err(InputError(format!("--webhook {url:?}: not an http(s) URL")).into());
            }
            let secret = match &args.webhook_secret_file {
                Some(path) => {
                    let text = std::fs::read_to_string(path).map_err(|e| {
                        InputError(format!("--webhook-secret-file {}: {e}", path.display()))
                    })?;
                    let key = text.lines().next().unwrap_or("").trim().to_string();
                    if key.len() < 16 {
                        return Err(InputError(format!(
                            "--webhook-secret-file {}: the key (its first line) has fewer than 16 characters",
                            path.display()
                        ))
                        .into());
                    }
                    Some(key.into_bytes())
                }
                None => None,
            };
            Some(Webhook {
                url: url.clone(),
                secret,
            })
        }
        None => None,
    };
    let email = match &args.alert_smtp {
        Some(relay) => {
            if relay
                .rsplit_once(':')
                .is_none_or(|(h, p)| h.is_empty() || p.parse::<u16>().is_err())
            {
                return Err(InputError(format!("--alert-smtp {relay:?}: not HOST:PORT")).into());
            }
            let address = |flag: &str, a: &str| -> Result<String, AppError> {
                let m = mailaudit::input::mailbox(flag, a)?;
                if m.contains(['<', '>', '"', ',', ';', '\\']) || m.len() > 254 {
                    return Err(InputError(format!("{flag} {a:?}: not a mail address")).into());
                }
                Ok(m)
            };
            let from = address("--alert-from", args.alert_from.as_deref().unwrap_or(""))?;
            let to = args
                .alert_to
                .iter()
                .map(|a| address("--alert-to", a))
                .collect::<Result<Vec<_>, _>>()?;
            let extra_roots = match &args.alert_smtp_ca {
                Some(path) => crate::app::pem_certificates("--alert-smtp-ca", path)?,
                None => Vec::new(),
            };
            Some(EmailAlerts {
                relay: relay.clone(),
                from,
                to,
                extra_roots,
            })
        }
        None => None,
    };
    Ok(WatchConfig {
        confirm_runs: args.confirm_runs as u32,
        parallel: args.watch_parallel,
        webhook,
        email,
    })
}

/// Whether clients of this address can only be on this machine.
fn loopback(addr: &SocketAddr) -> bool {
    addr.ip().is_loopback()
}

pub fn run(args: ServeArgs) -> Result<Exit, AppError> {
    let tokens = match &args.token_file {
        Some(path) => read_tokens(path)?,
        None => Vec::new(),
    };
    if tokens.is_empty() && !loopback(&args.listen) && !args.insecure_no_auth {
        return Err(InputError(format!(
            "--listen {}: anyone who can reach this address could use the service; give --token-file FILE (or --insecure-no-auth)",
            args.listen
        ))
        .into());
    }
    if let Some(dir) = &args.dns.web {
        return Err(InputError(format!(
            "--web {}: the service fetches from the sites themselves (--fetch), never from a directory",
            dir.display()
        ))
        .into());
    }
    if args.allow_private && !args.smtp.smtp && !args.fetch {
        return Err(InputError(
            "--allow-private: nothing would connect anywhere; give --smtp or --fetch".into(),
        )
        .into());
    }
    let reach = if args.allow_private {
        Reach::Any
    } else {
        Reach::Public
    };
    let operator = Operator::from_args(
        &args.smtp,
        args.fetch,
        reach,
        &args.rules,
        args.no_blocklist,
        &args.blocklist,
        &args.dns,
    )?;
    let url = database_url(&args.store)?;
    let smtp_in = smtp_in_config(&args)?;
    let config = ServiceConfig {
        workers: args.workers,
        queue: args.queue,
        body_limit: args.max_body as usize,
        tokens,
        max_addresses: args.max_addresses,
        retention: args.retention,
        zone_files: operator.dns.zone_files.clone(),
        rate_per_minute: args.rate,
        spool: spool_dir(&args.store)?,
        smtp: operator.smtp.clone(),
        web: operator.web.clone(),
        trusted_proxies: args.trusted_proxy.clone(),
        tests: smtp_in.as_ref().map(|(_, tests, _)| tests.clone()),
        rspamd: crate::app::rspamd(&args.spam_filter)?,
        watch: watch_config(&args.alerts)?,
        watch_tick: Some(std::time::Duration::from_secs(60)),
        ..ServiceConfig::default()
    };

    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("MAILAUDIT_LOG").unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new(
                    "info,hickory_server=error,hickory_proto=warn,hickory_resolver=warn,sqlx=warn",
                )
            }),
        )
        .with_ansi(false)
        .init();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| AppError::Runtime(format!("cannot start the async runtime: {e}")))?;
    rt.block_on(async move {
        let store = Store::open(&url)
            .await
            .map_err(|e| InputError(format!("--database: {e}")))?;
        let (engine, _server) = operator.engine().await?;
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .map_err(|e| AppError::Runtime(format!("--listen {}: {e}", args.listen)))?;
        // Both listeners are bound before anything is served: a port in
        // use is an error at start, not later.
        let smtp_listener = match &smtp_in {
            Some((addr, _, _)) => Some(
                tokio::net::TcpListener::bind(addr)
                    .await
                    .map_err(|e| AppError::Runtime(format!("--smtp-listen {addr}: {e}")))?,
            ),
            None => None,
        };
        let service = Service::start(engine, store, config)
            .await
            .map_err(|e| AppError::Runtime(e.to_string()))?;
        if let (Some(listener), Some((addr, tests, smtp_config))) = (smtp_listener, smtp_in) {
            tracing::info!(
                "taking mail for test-*@{} on {}",
                tests.mail_domain,
                listener.local_addr().unwrap_or(addr)
            );
            tokio::spawn(listen(listener, Arc::clone(&service), smtp_config));
        }
        tracing::info!(
            "serving on http://{} (store: {})",
            listener.local_addr().unwrap_or(args.listen),
            redact(&url)
        );
        serve(listener, Arc::clone(&service), shutdown_signal())
            .await
            .map_err(|e| AppError::Runtime(format!("the HTTP server: {e}")))?;
        tracing::info!("stopped; audits still waiting run at the next start");
        Ok(Exit::Ok)
    })
}

/// A database URL without its password, for the log.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let user = &url[scheme + 3..at];
            let user = user.split(':').next().unwrap_or_default();
            format!("{}{user}@{}", &url[..scheme + 3], &url[at + 1..])
        }
        _ => url.to_string(),
    }
}

/// Resolves at SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
    tracing::info!("shutting down: no new requests; running audits finish");
}

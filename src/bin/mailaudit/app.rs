//! From parsed flags to a finished run: validate every input first (so a
//! bad one stops the run before any work or output), then run, render and
//! write the report atomically, and map the outcome to an exit code.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::CommandFactory;
use thiserror::Error;

use std::sync::Arc;

use mailaudit::batch;
use mailaudit::blocklist::catalog::Catalog;
use mailaudit::blocklist::{BlocklistConfig, BlocklistEngine, Progress};
use mailaudit::checks;
use mailaudit::dns::name;
use mailaudit::dns::server::{Zone, ZoneError, ZoneServer};
use mailaudit::dns::{Dns, DnsConfig};
use mailaudit::engine::{Engine, Request};
use mailaudit::facts::Target;
use mailaudit::findings::Status;
use mailaudit::input::{self, InputError};
use mailaudit::reach::Reach;
use mailaudit::report::TextOptions;
use mailaudit::report::baseline::Baseline;
use mailaudit::report::batch::BatchWriter;
use mailaudit::report::model::{Report, RunKind, Verdict};
use mailaudit::report::terminal;
use mailaudit::report::{self, Format};
use mailaudit::rules::{Rules, RulesError};

use crate::cli::{
    AuditArgs, BlocklistArgs, BlocklistRunArgs, Cli, Command, DnsArgs, FailOn, MessageArgs,
};
use mailaudit::output::Destination;

/// Process exit codes (also in `--help`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// The audit ran.
    Ok = 0,
    /// A finding reached the --fail-on severity.
    Findings = 1,
    /// Usage or input error.
    Input = 2,
    /// Runtime failure (cannot write the output, cannot start DNS).
    Runtime = 3,
}

#[derive(Debug, Error)]
pub enum AppError {
    #[error(transparent)]
    Input(#[from] InputError),
    #[error(transparent)]
    Rules(#[from] RulesError),
    #[error(transparent)]
    Zone(#[from] ZoneError),
    #[error("{0}")]
    Runtime(String),
}

impl AppError {
    pub fn exit(&self) -> Exit {
        match self {
            AppError::Input(_) | AppError::Rules(_) => Exit::Input,
            AppError::Zone(ZoneError::Start(_)) => Exit::Runtime,
            AppError::Zone(_) => Exit::Input,
            AppError::Runtime(_) => Exit::Runtime,
        }
    }
}

pub fn run(cli: Cli) -> Result<Exit, AppError> {
    match cli.command {
        Command::Audit(args) => run_audit(*args),
        Command::Blocklist(args) => run_blocklist(args),
        Command::Message(args) => run_message(args),
        Command::Smtp(args) => run_smtp(args),
        Command::Recipients(args) => run_recipients(args),
        // main.rs sends `serve` to serve.rs, which builds on this file.
        #[cfg(feature = "serve")]
        Command::Serve(_) => unreachable!("main.rs runs serve"),
        #[cfg(feature = "serve")]
        Command::Watch(_) => unreachable!("main.rs runs watch"),
        Command::Explain(args) => {
            let rules = Rules::load(args.rules.dir.as_deref())?;
            let text =
                report::advice::explain(&rules, &args.id).map_err(|e| InputError(e.to_string()))?;
            print_text(&text)
        }
        Command::Findings(args) => {
            let rules = Rules::load(args.rules.dir.as_deref())?;
            print_text(&report::advice::catalogue(&rules))
        }
        Command::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "mailaudit", &mut script);
            print_bytes(&script)
        }
        Command::Man => {
            let mut page = Vec::new();
            clap_mangen::Man::new(Cli::command())
                .render(&mut page)
                .map_err(|e| AppError::Runtime(format!("cannot render the manual page: {e}")))?;
            print_bytes(&page)
        }
    }
}

/// Writes `text` to standard output; a failed write is exit 3.
fn print_text(text: &str) -> Result<Exit, AppError> {
    print_bytes(text.as_bytes())
}

fn print_bytes(bytes: &[u8]) -> Result<Exit, AppError> {
    mailaudit::output::write(&Destination::Stdout, bytes)
        .map_err(|e| AppError::Runtime(format!("cannot write to standard output: {e}")))?;
    Ok(Exit::Ok)
}

/// The blocklist settings, validated.
pub fn blocklist_config(
    args: &BlocklistArgs,
    rules_dir: Option<&Path>,
) -> Result<BlocklistConfig, AppError> {
    let catalog = Catalog::load(args.catalog.as_deref(), rules_dir)?;
    let mut config = BlocklistConfig::new(catalog);
    for zone in &args.lists {
        let z = name::normalize_domain(zone)
            .map_err(|e| InputError(format!("--dnsbl {zone:?}: {e}")))?;
        if !z.contains('.') {
            return Err(InputError(format!(
                "--dnsbl {zone:?}: a list zone has at least two labels"
            ))
            .into());
        }
        if !config.explicit.contains(&z) {
            config.explicit.push(z);
        }
    }
    // Ranges are checked by clap (cli.rs).
    config.per_list_concurrency = args.per_list_concurrency;
    config.per_list_qps = args.per_list_qps;
    if let Some(date) = &args.in_service_since {
        let format = time::macros::format_description!("[year]-[month]-[day]");
        let d = time::Date::parse(date, &format).map_err(|e| {
            InputError(format!(
                "--in-service-since {date:?}: not a date of the form YYYY-MM-DD ({e})"
            ))
        })?;
        config.in_service_since = Some(d);
    }
    let (key, from) = match &args.dqs_key {
        Some(k) => (Some(k.clone()), "--dqs-key"),
        None => (
            std::env::var("MAILAUDIT_DQS_KEY")
                .ok()
                .filter(|k| !k.is_empty()),
            "MAILAUDIT_DQS_KEY",
        ),
    };
    if let Some(key) = key {
        // The key itself is never repeated, not even in the error.
        let secret = mailaudit::blocklist::Secret::new(&key)
            .map_err(|e| InputError(format!("{from}: not a DQS key: {e}")))?;
        config
            .keys
            .insert(mailaudit::blocklist::DQS_KEY.to_string(), secret);
    }
    Ok(config)
}

/// DNS set-up, validated.
pub struct DnsPlan {
    config: DnsConfig,
    /// `--web DIR`.
    pub web_root: Option<PathBuf>,
    zones: Vec<Zone>,
    /// The zone files' paths, for the report's "how it was made".
    pub zone_files: Vec<String>,
}

impl DnsPlan {
    pub fn from_args(args: &DnsArgs) -> Result<DnsPlan, AppError> {
        if !args.zones.is_empty() && !args.nameservers.is_empty() {
            return Err(InputError(
                "--zone and --nameserver exclude each other: --zone audits offline against the embedded server".into(),
            )
            .into());
        }
        let nameservers = args
            .nameservers
            .iter()
            .map(|n| input::nameserver(n))
            .collect::<Result<Vec<_>, _>>()?;
        let mut zones: Vec<Zone> = Vec::new();
        let files = zone_files(&args.zones)?;
        for path in &files {
            let zone = Zone::load(path)?;
            if zone.signing_records > 0 {
                eprintln!(
                    "mailaudit: {}: {} record(s) made by DNSSEC signing (RRSIG, NSEC, DNSKEY...) left out; the zone is served unsigned",
                    report::terminal::safe(&path.display().to_string()),
                    zone.signing_records
                );
            }
            if zones.iter().any(|z| z.origin == zone.origin) {
                return Err(InputError(format!(
                    "--zone {}: a second zone for {}",
                    path.display(),
                    zone.origin
                ))
                .into());
            }
            zones.push(zone);
        }
        if let Some(dir) = &args.web
            && !dir.is_dir()
        {
            return Err(InputError(format!("--web {}: not a directory", dir.display())).into());
        }
        if let Some(path) = &args.trust_anchor {
            mailaudit::dns::dnssec::read_trust_anchor(path)
                .map_err(|e| InputError(format!("--trust-anchor {}: {e}", path.display())))?;
        }
        Ok(DnsPlan {
            web_root: args.web.clone(),
            config: DnsConfig {
                nameservers,
                timeout: Duration::from_millis(args.timeout),
                retries: args.retries,
                concurrency: args.concurrency,
                scope: None,
                trust_anchor: args.trust_anchor.clone(),
            },
            zones,
            zone_files: files.iter().map(|p| p.display().to_string()).collect(),
        })
    }

    /// Starts the embedded server if zones were given, and the resolver.
    /// The server lives as long as the returned guard.
    pub async fn start(self) -> Result<(Dns, Option<ZoneServer>), AppError> {
        let mut config = self.config;
        let server = if self.zones.is_empty() {
            None
        } else {
            let server = ZoneServer::start(self.zones).await?;
            config.nameservers = vec![server.addr()];
            config.scope = Some(server.origins().to_vec());
            Some(server)
        };
        let dns = Dns::new(config).map_err(|e| AppError::Runtime(e.to_string()))?;
        Ok((dns, server))
    }
}

/// The zone files named: files as given, directories as their `*.zone`
/// files in name order.
fn zone_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, AppError> {
    let mut out = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(|e| InputError(format!("--zone {}: {e}", path.display())))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "zone"))
                .collect();
            if found.is_empty() {
                return Err(InputError(format!(
                    "--zone {}: no *.zone files in this directory",
                    path.display()
                ))
                .into());
            }
            found.sort();
            out.extend(found);
        } else {
            out.push(path.clone());
        }
    }
    Ok(out)
}

/// The format an output file's name asks for: its extension, text when
/// it has none (`/dev/stdout`); an extension we do not write is an error,
/// not a text report under a misleading name.
fn format_of(path: &Path) -> Result<&'static dyn Format, AppError> {
    match path.extension() {
        None => Ok(report::FORMATS[0]),
        Some(ext) => report::format_of_path(path).ok_or_else(|| {
            InputError(format!(
                "-o {}: mailaudit does not write .{} reports (it writes .{}; or give --format)",
                path.display(),
                ext.to_string_lossy(),
                report::FORMATS
                    .iter()
                    .flat_map(|f| f.extensions().first())
                    .copied()
                    .collect::<Vec<_>>()
                    .join(", .")
            ))
            .into()
        }),
    }
}

/// Where and how the report goes.
pub struct OutputPlan {
    pub format: &'static dyn Format,
    pub destination: Destination,
    pub fail_on: FailOn,
    /// `--baseline`: its path as given, and the report read from it.
    pub baseline: Option<(String, Baseline)>,
    pub text: TextOptions,
}

/// Colours only for a person at a terminal: standard output is one, and
/// neither `NO_COLOR` (https://no-color.org) nor `TERM=dumb` says no.
fn colour_wanted(destination: &Destination) -> bool {
    use std::io::IsTerminal;
    matches!(destination, Destination::Stdout)
        && std::io::stdout().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        && std::env::var_os("TERM").is_none_or(|t| t != "dumb")
}

/// Reads `--baseline FILE`: a JSON report of schema version 1, or exit 2.
fn read_baseline(path: &Path) -> Result<(String, Baseline), AppError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| InputError(format!("--baseline {shown}: {e}")))?;
    let baseline =
        Baseline::parse(&text).map_err(|e| InputError(format!("--baseline {shown}: {e}")))?;
    Ok((shown, baseline))
}

impl OutputPlan {
    pub fn from_args(args: &crate::cli::OutputArgs) -> Result<OutputPlan, AppError> {
        let format = match (args.format, args.output.as_deref()) {
            (Some(format), _) => format,
            (None, Some(path)) => format_of(path)?,
            (None, None) => report::FORMATS[0],
        };
        let destination =
            mailaudit::output::destination("-o", args.output.as_deref()).map_err(InputError)?;
        Ok(OutputPlan {
            format,
            text: TextOptions {
                colour: colour_wanted(&destination),
                brief: args.brief,
            },
            destination,
            fail_on: args.fail_on,
            baseline: args.baseline.as_deref().map(read_baseline).transpose()?,
        })
    }

    /// Renders and writes the report; the exit code from `--fail-on`: a
    /// finding at or above it, or a verdict of unknown (nothing verified is
    /// not a pass).
    pub fn finish(&self, mut report: Report) -> Result<Exit, AppError> {
        if let Some((shown, baseline)) = &self.baseline {
            let (was, is) = (baseline.target(), report::baseline::target_of(&report));
            if was != is {
                return Err(InputError(format!(
                    "--baseline {shown}: a report of {was}, not of {is}"
                ))
                .into());
            }
            report.changes = Some(baseline.compare(&report));
        }
        let report = &report;
        self.write(&self.format.render(report, &self.text))?;
        // The report went to a file: say where, and what it says.
        if let Destination::File(path) | Destination::Device(path) = &self.destination {
            eprintln!(
                "mailaudit: wrote {}: {}, score {}/10 ({})",
                report::terminal::safe(&path.display().to_string()),
                report.verdict().label(),
                report.score(),
                report.counts_line(),
            );
        }
        Ok(self.exit_for(report))
    }

    /// The exit code `--fail-on` asks for this report: a finding at or
    /// above it, or a verdict of unknown (nothing verified is not a pass).
    pub fn exit_for(&self, report: &Report) -> Exit {
        let Some(threshold) = self.fail_on.threshold() else {
            return Exit::Ok;
        };
        let unverified = report.status() == Status::Unknown;
        match report.worst() {
            Some(worst) if worst >= threshold => Exit::Findings,
            _ if unverified => Exit::Findings,
            _ => Exit::Ok,
        }
    }

    /// Writes the report (see `output.rs`): a failed write or flush is
    /// exit 3, and leaves no file behind.
    pub fn write(&self, text: &str) -> Result<(), AppError> {
        mailaudit::output::write(&self.destination, text.as_bytes()).map_err(|e| {
            AppError::Runtime(format!(
                "cannot write the report to {}: {e}",
                match &self.destination {
                    Destination::Stdout => "standard output".to_string(),
                    Destination::Device(p) | Destination::File(p) => p.display().to_string(),
                }
            ))
        })
    }
}

/// The settings every subcommand shares, validated before any work.
struct Setup {
    rules: Rules,
    /// `None`: no blocklist check.
    blocklist: Option<BlocklistConfig>,
    dns: DnsPlan,
    output: OutputPlan,
}

impl Setup {
    fn new(
        rules_dir: Option<&Path>,
        blocklist: Option<&BlocklistArgs>,
        dns: &DnsArgs,
        output: &crate::cli::OutputArgs,
    ) -> Result<Setup, AppError> {
        Ok(Setup {
            rules: Rules::load(rules_dir)?,
            blocklist: blocklist
                .map(|a| blocklist_config(a, rules_dir))
                .transpose()?,
            dns: DnsPlan::from_args(dns)?,
            output: OutputPlan::from_args(output)?,
        })
    }

    /// Starts the run; the output plan comes back for the report.
    fn start(self, progress: Option<Arc<dyn Progress>>) -> Result<(Session, OutputPlan), AppError> {
        Ok((
            Session::start(self.dns, self.rules, self.blocklist, progress)?,
            self.output,
        ))
    }
}

/// A progress bar for sweeps of ranges, on standard error when it is a
/// terminal (indicatif draws nothing otherwise, so reports and pipes stay
/// clean).
struct SweepBar(indicatif::ProgressBar);

impl SweepBar {
    fn shared() -> Arc<dyn Progress> {
        SweepBar::counting("blocklist lookups")
    }

    /// A bar that counts `what` ("recipient domains").
    fn counting(what: &str) -> Arc<dyn Progress> {
        let bar =
            indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr());
        if let Ok(style) = indicatif::ProgressStyle::with_template(&format!(
            "{{spinner}} {{pos}}/{{len}} {what}, {{per_sec}}, {{eta}} left {{wide_bar}}"
        )) {
            bar.set_style(style);
        }
        Arc::new(SweepBar(bar))
    }
}

impl Progress for SweepBar {
    fn start(&self, total: u64) {
        self.0.set_length(total);
        self.0.set_position(0);
    }

    fn advance(&self) {
        self.0.inc(1);
    }

    fn finish(&self) {
        self.0.finish_and_clear();
    }
}

/// A running engine: the async runtime, the resolver (and the embedded
/// server for --zone) and the checks' shared state.
struct Session {
    rt: tokio::runtime::Runtime,
    engine: Engine,
    /// Keeps the embedded DNS server of an offline run alive.
    _server: Option<ZoneServer>,
    /// `--web DIR`: the HTTPS server of an offline run, and the directory.
    web: Option<mailaudit::web::WebServer>,
    web_root: Option<String>,
    zone_files: Vec<String>,
}

impl Session {
    /// One thread is enough for this I/O-bound work, and faster: answers
    /// wake their queries without crossing threads (a blocklist sweep of a
    /// /20 runs about 40% faster than on the multi-threaded scheduler).
    fn start(
        dns: DnsPlan,
        rules: Rules,
        blocklist: Option<BlocklistConfig>,
        progress: Option<Arc<dyn Progress>>,
    ) -> Result<Session, AppError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| AppError::Runtime(format!("cannot start the async runtime: {e}")))?;
        let zone_files = dns.zone_files.clone();
        let web_root = dns.web_root.as_ref().map(|d| d.display().to_string());
        let web = match &dns.web_root {
            Some(dir) => Some(
                rt.block_on(mailaudit::web::WebServer::start(dir))
                    .map_err(|e| InputError(e.to_string()))?,
            ),
            None => None,
        };
        let (resolver, server) = rt.block_on(dns.start())?;
        let mut engine = Engine::new(resolver, rules);
        if let Some(config) = blocklist {
            let mut lists = BlocklistEngine::new(config);
            if let Some(bar) = progress {
                lists = lists.with_progress(bar);
            }
            engine = engine.with_blocklist(lists);
        }
        Ok(Session {
            rt,
            engine,
            _server: server,
            web,
            web_root,
            zone_files,
        })
    }

    /// Runs the request.
    fn run(&self, request: &Request) -> Report {
        let mut request = request.clone();
        self.adjust(&mut request);
        let mut report = self.rt.block_on(self.engine.run(&request));
        self.stamp(&mut report);
        report
    }

    /// With `--web DIR`, HTTPS fetches go to the run's own server and
    /// trust its certificate authority.
    fn adjust(&self, request: &mut Request) {
        if let (Some(server), Some(web)) = (&self.web, request.target.web.as_mut()) {
            let mut roots = (*web.roots).clone();
            let _ = roots.add(server.ca.clone());
            web.roots = Arc::new(roots);
            web.connect_to = Some(server.addr);
        }
    }

    /// The report says how it was made, down to the command line and the
    /// zone files.
    fn stamp(&self, report: &mut Report) {
        report.made.command = std::env::args_os()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        report.made.zone_files = self.zone_files.clone();
        report.made.web_root = self.web_root.clone();
    }
}

/// The SMTP probe's settings: the trust anchors ([`trust_anchors`]), the
/// EHLO name, the port and timeout, and which addresses it may reach.
pub(crate) fn smtp_target(
    args: &crate::cli::SmtpArgs,
    hosts: Vec<String>,
    roots: Arc<rustls::RootCertStore>,
    reach: Reach,
) -> Result<mailaudit::facts::SmtpTarget, AppError> {
    let helo = match &args.smtp_helo {
        Some(h) => input::helo(h)?,
        None => std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .map(|h| h.trim().to_string())
            .filter(|h| h.contains('.') && input::helo(h).is_ok())
            .unwrap_or_else(|| "localhost".into()),
    };
    Ok(mailaudit::facts::SmtpTarget {
        options: mailaudit::smtp::ProbeOptions {
            port: args.smtp_port,
            timeout: Duration::from_millis(args.smtp_timeout),
            helo,
            relay_test: args.smtp_relay_test,
            slow_banner: mailaudit::smtp::SLOW_BANNER,
            roots,
            reach,
        },
        sending: args.smtp_sending,
        hosts,
    })
}

/// How HTTPS fetches (MTA-STS policies, BIMI logos) are made: the port
/// and timeout of the flags, the trust anchors, which addresses they may
/// reach.
pub(crate) fn web_options(
    args: &crate::cli::SmtpArgs,
    roots: Arc<rustls::RootCertStore>,
    reach: Reach,
) -> mailaudit::web::WebOptions {
    mailaudit::web::WebOptions {
        connect_to: None,
        port: args.https_port,
        timeout: Duration::from_millis(args.smtp_timeout),
        roots,
        reach,
    }
}

/// The Mozilla trust anchors and those of `--ca-file`.
/// The certificates of a PEM file given with `flag` (at least one).
pub(crate) fn pem_certificates(
    flag: &str,
    path: &Path,
) -> Result<Vec<rustls_pki_types::CertificateDer<'static>>, AppError> {
    use rustls_pki_types::pem::PemObject;
    let shown = path.display();
    let mut certs = Vec::new();
    for cert in rustls_pki_types::CertificateDer::pem_file_iter(path)
        .map_err(|e| InputError(format!("{flag} {shown}: {e}")))?
    {
        certs.push(cert.map_err(|e| InputError(format!("{flag} {shown}: {e}")))?);
    }
    if certs.is_empty() {
        return Err(InputError(format!("{flag} {shown}: no certificate in it")).into());
    }
    Ok(certs)
}

pub(crate) fn trust_anchors(
    args: &crate::cli::SmtpArgs,
) -> Result<rustls::RootCertStore, AppError> {
    let extra = match &args.ca_file {
        Some(path) => pem_certificates("--ca-file", path)?,
        None => Vec::new(),
    };
    mailaudit::smtp::roots(&extra).map_err(|e| {
        InputError(format!(
            "--ca-file {}: {e}",
            args.ca_file.as_deref().unwrap_or(Path::new("")).display()
        ))
        .into()
    })
}

fn run_smtp(args: crate::cli::SmtpCommandArgs) -> Result<Exit, AppError> {
    let hosts = args
        .hosts
        .iter()
        .map(|h| match h.parse::<std::net::IpAddr>() {
            Ok(ip) => Ok(ip.to_string()),
            Err(_) => input::domain("host", h),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let target = smtp_target(
        &args.smtp,
        hosts,
        Arc::new(trust_anchors(&args.smtp)?),
        Reach::Any,
    )?;
    let setup = Setup::new(args.rules.dir.as_deref(), None, &args.dns, &args.output)?;
    let request = Request {
        kind: RunKind::Smtp,
        target: Target {
            smtp: Some(target),
            ..Target::default()
        },
        checks: None,
        deadline: None,
    };
    let (session, output) = setup.start(None)?;
    output.finish(session.run(&request))
}

/// A recipient list to check: opened and understood now, so that a bad
/// file or column is an input error before anything runs. Standard input
/// (`-`) is spooled to a temporary file (the list is read twice), which
/// the returned guard keeps.
fn recipients_input(
    path: &Path,
    args: &crate::cli::RecipientsArgs,
    quiet: bool,
) -> Result<
    (
        mailaudit::recipients::RecipientsInput,
        Option<tempfile::NamedTempFile>,
    ),
    AppError,
> {
    use mailaudit::recipients::{ListFile, RecipientsInput, RowFormat};
    let shown = path.display().to_string();
    let (file, spool) = if path == Path::new("-") {
        let mut tmp = tempfile::NamedTempFile::new()
            .map_err(|e| AppError::Runtime(format!("cannot spool standard input: {e}")))?;
        std::io::copy(&mut std::io::stdin().lock(), &mut tmp)
            .map_err(|e| InputError(format!("-: {e}")))?;
        (tmp.path().to_path_buf(), Some(tmp))
    } else {
        (path.to_path_buf(), None)
    };
    let list = ListFile::open(&file, &shown, args.column.as_deref())
        .map_err(|e| InputError(format!("{shown}: {e}")))?;
    // Checked as -o is (no symbolic link, directory or FIFO), and the
    // directory must exist: the files are written only at the end.
    let writable = |p: &Path, flag: &str| -> Result<Destination, AppError> {
        let dir = p.parent().filter(|d| !d.as_os_str().is_empty());
        if dir.is_some_and(|d| !d.is_dir()) {
            return Err(InputError(format!("{flag} {}: no such directory", p.display())).into());
        }
        Ok(mailaudit::output::destination(flag, Some(p)).map_err(InputError)?)
    };
    let flagged = match &args.flagged {
        Some(p) => {
            let format = if p.extension().is_some_and(|e| e == "jsonl") {
                RowFormat::JsonLines
            } else {
                RowFormat::Csv
            };
            Some((writable(p, "--flagged")?, format))
        }
        None => None,
    };
    let clean = args
        .clean
        .as_deref()
        .map(|p| writable(p, "--clean"))
        .transpose()?;
    Ok((
        RecipientsInput {
            list,
            flagged,
            clean,
            progress: (!quiet).then(|| SweepBar::counting("recipient domains")),
        },
        spool,
    ))
}

fn run_recipients(args: crate::cli::RecipientsCommandArgs) -> Result<Exit, AppError> {
    let setup = Setup::new(
        args.rules.dir.as_deref(),
        (!args.no_blocklist).then_some(&args.blocklist),
        &args.dns,
        &args.output,
    )?;
    let (input, _spool) = recipients_input(&args.file, &args.list, args.quiet)?;
    let request = Request::recipients(input);
    let (session, output) = setup.start(None)?;
    output.finish(session.run(&request))
}

/// `--helo` and `--mail-from`, validated as MTAs send them.
fn smtp_identities(
    helo: Option<&str>,
    mail_from: Option<&str>,
) -> Result<(Option<String>, Option<String>), AppError> {
    Ok((
        helo.map(input::helo).transpose()?,
        mail_from.map(input::reverse_path).transpose()?,
    ))
}

fn run_audit(args: AuditArgs) -> Result<Exit, AppError> {
    let (helo, mail_from) = smtp_identities(args.helo.as_deref(), args.mail_from.as_deref())?;
    let checks = if args.checks.is_empty() {
        None
    } else {
        let mut set = BTreeSet::new();
        for c in &args.checks {
            let c = c.trim().to_ascii_lowercase();
            if checks::find(&c).is_none() {
                let known: Vec<&str> = checks::REGISTRY.iter().map(|c| c.id()).collect();
                return Err(InputError(format!(
                    "--checks {c:?}: unknown check (known: {})",
                    known.join(", ")
                ))
                .into());
            }
            set.insert(c);
        }
        Some(set)
    };
    let setup = Setup::new(
        args.rules.dir.as_deref(),
        (!args.no_blocklist).then_some(&args.blocklist),
        &args.dns,
        &args.output,
    )?;
    let selectors = args
        .selectors
        .iter()
        .map(|s| input::selector(s))
        .collect::<Result<Vec<_>, _>>()?;
    let messages = load_messages(&args.messages, args.max_message_size)?;
    let list = &args.recipient_list;
    let (recipients, _spool) = match &args.recipients {
        Some(path) => {
            let (input, spool) = recipients_input(path, list, args.batch.quiet)?;
            (Some(Arc::new(input)), spool)
        }
        None if list.column.is_some() || list.flagged.is_some() || list.clean.is_some() => {
            return Err(InputError(
                "--column, --flagged and --clean need --recipients FILE".into(),
            )
            .into());
        }
        None => (None, None),
    };
    // Offline (--zone) nothing is fetched from the Internet either: only
    // from the run's own server (--web).
    let fetches = args.dns.zones.is_empty() || args.dns.web.is_some();
    // One set of trust anchors (and one read of --ca-file) for the SMTP
    // probe and the HTTPS fetches, when either needs them.
    let roots = if args.smtp.smtp || fetches {
        Some(Arc::new(trust_anchors(&args.smtp)?))
    } else {
        None
    };
    // What every audit of the run shares; each adds its domain and IPs.
    let base = Request {
        kind: RunKind::Audit,
        target: Target {
            domain: None,
            ips: Vec::new(),
            helo,
            mail_from,
            selectors,
            messages,
            subjects: None,
            max_addresses: args.max_addresses as usize,
            smtp: match &roots {
                Some(roots) if args.smtp.smtp => Some(smtp_target(
                    &args.smtp,
                    Vec::new(),
                    Arc::clone(roots),
                    Reach::Any,
                )?),
                _ => None,
            },
            web: roots
                .filter(|_| fetches)
                .map(|roots| web_options(&args.smtp, roots, Reach::Any)),
            recipients,
            rspamd: rspamd(&args.spam_filter)?,
            ..Target::default()
        },
        checks,
        deadline: None,
    };
    let audit_of = |domain: String, ips: Vec<std::net::IpAddr>, selectors: &[String]| {
        let mut r = base.clone();
        r.target.domain = Some(domain);
        r.target.ips = ips;
        r.target.selectors.extend_from_slice(selectors);
        r
    };

    if let Some(file) = &args.domains {
        let text = read_batch_file(file)?;
        let (lines, mut skipped) = batch::parse_domains(&text);
        let mut requests = Vec::new();
        for line in lines {
            match input::expand(
                &format!("line {}", line.line),
                &line.ips,
                input::AddressCap::flag(args.max_addresses),
            ) {
                Ok(ips) => requests.push(audit_of(line.domain, ips, &line.selectors)),
                Err(e) => skipped.push(batch::Skipped {
                    line: line.line,
                    reason: e.0,
                }),
            }
        }
        skipped.sort_by_key(|s| s.line);
        return run_batch(setup, RunKind::Audit, file, requests, skipped, &args.batch);
    }

    let domain = input::domain("domain", args.domain.as_deref().unwrap_or_default())?;
    let nets = args
        .ips
        .iter()
        .map(|v| input::ip_or_cidr("--ip", v).map(|n| (v.clone(), n)))
        .collect::<Result<Vec<_>, _>>()?;
    let ips = if nets.is_empty() {
        Vec::new()
    } else {
        input::expand("--ip", &nets, input::AddressCap::flag(args.max_addresses))?
    };
    let mut request = audit_of(domain, ips, &[]);
    if one_of_a_batch(&setup) {
        return run_batch(
            setup,
            RunKind::Audit,
            Path::new("-"),
            vec![request],
            Vec::new(),
            &args.batch,
        );
    }
    let (session, output) = setup.start(None)?;
    request.deadline = args.batch.deadline.map(|d| Instant::now() + d);
    output.finish(session.run(&request))
}

fn load_messages(
    paths: &[PathBuf],
    max: u64,
) -> Result<Vec<mailaudit::message::Loaded>, InputError> {
    paths
        .iter()
        .map(|p| mailaudit::message::load(p, max))
        .collect()
}

fn run_message(args: MessageArgs) -> Result<Exit, AppError> {
    let ip = args
        .ip
        .as_deref()
        .map(|v| {
            v.parse::<std::net::IpAddr>()
                .map_err(|_| InputError(format!("--ip {v:?}: not an IPv4 or IPv6 address")))
        })
        .transpose()?;
    let (helo, mail_from) = smtp_identities(args.helo.as_deref(), args.mail_from.as_deref())?;
    if args.received && args.files.len() != 1 {
        return Err(InputError(format!(
            "--received reads one message as it was received; {} files were given",
            args.files.len()
        ))
        .into());
    }
    let relays = args
        .trusted_relays
        .iter()
        .map(|r| input::ip_or_cidr("--trusted-relay", r))
        .collect::<Result<Vec<_>, _>>()?;
    let authserv_id = args
        .authserv_id
        .as_deref()
        .map(|id| {
            let id = id.trim();
            if id.is_empty() || !id.bytes().all(|b| b.is_ascii_graphic()) || id.contains(';') {
                Err(InputError(format!(
                    "--authserv-id {id:?}: not an authserv-id (a host name, as your server writes it)"
                )))
            } else {
                Ok(id.to_ascii_lowercase())
            }
        })
        .transpose()?;
    let rspamd = rspamd(&args.spam_filter)?;
    let mut messages = load_messages(&args.files, args.max_message_size)?;
    let setup = Setup::new(
        args.rules.dir.as_deref(),
        (!args.no_blocklist).then_some(&args.blocklist),
        &args.dns,
        &args.output,
    )?;
    let request = if args.received {
        let trust = mailaudit::message::received::Trust {
            relays,
            authserv_id,
        };
        let mut request = Request::received(messages.remove(0), None, trust);
        if mail_from.is_some() {
            request.target.mail_from = mail_from;
        }
        request.target.rspamd = rspamd;
        request
    } else {
        Request {
            kind: RunKind::Message,
            target: Target {
                ips: ip.into_iter().collect(),
                helo,
                mail_from,
                messages,
                rspamd,
                ..Target::default()
            },
            checks: None,
            deadline: None,
        }
    };
    let (session, output) = setup.start(None)?;
    output.finish(session.run(&request))
}

/// `--rspamd URL`, checked.
pub(crate) fn rspamd(
    args: &crate::cli::SpamFilterArgs,
) -> Result<Option<mailaudit::rspamd::Rspamd>, InputError> {
    args.rspamd
        .as_deref()
        .map(|url| {
            mailaudit::rspamd::parse_url(url)
                .map_err(|why| InputError(format!("--rspamd: {why}")))?;
            Ok(mailaudit::rspamd::Rspamd {
                url: url.to_string(),
                timeout: std::time::Duration::from_secs(30),
            })
        })
        .transpose()
}

fn run_blocklist(args: BlocklistRunArgs) -> Result<Exit, AppError> {
    let setup = Setup::new(
        args.rules.dir.as_deref(),
        Some(&args.blocklist),
        &args.dns,
        &args.output,
    )?;
    if let Some(file) = &args.file {
        let text = read_batch_file(file)?;
        let (items, mut skipped) = batch::parse_targets(&text, |t| {
            let key = match mailaudit::blocklist::target(t)? {
                Ok((_, net)) => net.to_string(),
                Err(domain) => domain,
            };
            Ok(key)
        });
        let mut requests = Vec::new();
        for item in items {
            let targets = vec![item.target];
            match mailaudit::blocklist::subjects_of(
                &targets,
                input::AddressCap::flag(args.max_addresses),
            ) {
                Ok((subjects, _)) => requests.push(Request::blocklist(targets, subjects)),
                Err(e) => skipped.push(batch::Skipped {
                    line: item.line,
                    reason: e.to_string(),
                }),
            }
        }
        skipped.sort_by_key(|s| s.line);
        return run_batch(
            setup,
            RunKind::Blocklist,
            file,
            requests,
            skipped,
            &args.batch,
        );
    }
    let (subjects, ranges) = mailaudit::blocklist::subjects_of(
        &args.targets,
        input::AddressCap::flag(args.max_addresses),
    )?;
    let mut request = Request::blocklist(args.targets.clone(), subjects);
    if one_of_a_batch(&setup) {
        return run_batch(
            setup,
            RunKind::Blocklist,
            Path::new("-"),
            vec![request],
            Vec::new(),
            &args.batch,
        );
    }
    let (session, output) = setup.start((ranges && !args.batch.quiet).then(SweepBar::shared))?;
    request.deadline = args.batch.deadline.map(|d| Instant::now() + d);
    output.finish(session.run(&request))
}

/// CSV and JSON Lines are batch formats: a single run is a batch of one.
fn one_of_a_batch(setup: &Setup) -> bool {
    setup.output.format.one_of_a_batch()
}

/// The text of a batch file (`-`: standard input).
fn read_batch_file(path: &Path) -> Result<String, AppError> {
    let shown = path.display();
    let mut text = String::new();
    let read = if path == Path::new("-") {
        use std::io::Read;
        std::io::stdin().read_to_string(&mut text).map(|_| ())
    } else {
        std::fs::read_to_string(path).map(|t| text = t)
    };
    read.map_err(|e| InputError(format!("{shown}: {e}")))?;
    Ok(text)
}

/// A progress bar for a batch on standard error (drawn only when it is a
/// terminal): done/total, rate, time left, and how many are not ready.
fn batch_bar(total: usize, quiet: bool) -> indicatif::ProgressBar {
    if quiet {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(total as u64),
        indicatif::ProgressDrawTarget::stderr(),
    );
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{pos}/{len} audited, {per_sec}, {eta} left, {msg} {wide_bar}",
    ) {
        bar.set_style(style);
    }
    bar
}

/// Runs a batch: every request on one engine, `--parallel` at once, each
/// report written as soon as it and all before it are done (JSON Lines,
/// CSV, a text table; the HTML overview at the end). The exit code follows
/// `--fail-on` over every report.
fn run_batch(
    setup: Setup,
    kind: RunKind,
    file: &Path,
    requests: Vec<Request>,
    skipped: Vec<batch::Skipped>,
    args: &crate::cli::BatchArgs,
) -> Result<Exit, AppError> {
    let Some(format) = setup.output.format.batch() else {
        return Err(InputError(
            "--format markdown: a batch is written as jsonl, csv, text or html".into(),
        )
        .into());
    };
    if setup.output.baseline.is_some() {
        return Err(InputError("--baseline compares one report, not a batch".into()).into());
    }
    let (session, output) = setup.start(None)?;
    let shown = terminal::safe(&file.display().to_string()).into_owned();
    for s in &skipped {
        eprintln!(
            "mailaudit: {shown}:{}: skipped: {}",
            s.line,
            terminal::safe(&s.reason)
        );
    }
    let runtime = |e: std::io::Error| AppError::Runtime(format!("cannot write the report: {e}"));
    let sink = mailaudit::output::Sink::open(&output.destination).map_err(runtime)?;
    let checks = mailaudit::checks::of_kind(kind).map(|c| c.id()).collect();
    let mut writer = BatchWriter::new(format, checks, sink).map_err(runtime)?;
    for s in &skipped {
        writer.skipped(format!("{shown}:{}: {}", s.line, s.reason));
    }
    let bar = batch_bar(requests.len(), args.quiet);
    let deadline = args.deadline.map(|d| Instant::now() + d);
    let mut exit = Exit::Ok;
    let mut not_ready = 0usize;
    let mut failed: Option<std::io::Error> = None;
    session.rt.block_on(batch::run_ordered(
        &session.engine,
        requests.into_iter().map(|mut r| {
            r.deadline = deadline;
            session.adjust(&mut r);
            r
        }),
        args.parallel,
        |mut report| {
            session.stamp(&mut report);
            if failed.is_none()
                && let Err(e) = writer.report(&report)
            {
                failed = Some(e);
            }
            if output.exit_for(&report) == Exit::Findings {
                exit = Exit::Findings;
            }
            if report.verdict() != Verdict::ReadyToSend {
                not_ready += 1;
            }
            bar.set_message(format!("{not_ready} not ready"));
            bar.inc(1);
        },
    ));
    bar.finish_and_clear();
    if let Some(e) = failed {
        return Err(runtime(e));
    }
    let totals = writer.totals();
    writer
        .finish()
        .and_then(|sink| sink.commit())
        .map_err(runtime)?;
    if let Destination::File(path) | Destination::Device(path) = &output.destination {
        eprintln!(
            "mailaudit: wrote {}: {} audited: {} listed on blocklists, {} fix before sending, {} could not check everything, {} ready to send",
            terminal::safe(&path.display().to_string()),
            totals.iter().sum::<usize>(),
            totals[0],
            totals[1],
            totals[2],
            totals[3]
        );
    }
    Ok(exit)
}

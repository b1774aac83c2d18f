//! The command line, as raw flags (STYLE §12). `app` turns them into a
//! validated plan.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use mailaudit::findings::Severity;
use mailaudit::report::Format;

#[derive(Debug, Parser)]
#[command(
    name = "mailaudit",
    version,
    about = "Email deliverability auditor: SPF, DKIM, DMARC, MX, reverse DNS, blocklists and messages, with advice for every finding",
    after_help = "Exit codes: 0 the audit ran; 1 a finding at or above --fail-on, or (with --fail-on) a verdict of unknown; 2 usage or input error; 3 runtime failure."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Audit a domain and its sending IPs.
    #[command(after_help = "Examples:
  mailaudit audit example.com
  mailaudit audit example.com --ip 192.0.2.10 --helo mail.example.com -o report.html
  mailaudit audit example.com --message campaign.eml --selector s1 --in-service-since 2026-09-01
  mailaudit audit example.com --zone example.com.zone     # offline, before publishing
  mailaudit audit example.com --zone zones/ --web web/     # offline, with the MTA-STS policy file
  mailaudit audit example.com --smtp                        # also probe the MX hosts on port 25
  mailaudit audit example.com --format json --fail-on error   # a CI gate
  mailaudit audit --domains customers.txt -o overview.html --parallel 32
  mailaudit audit --domains customers.txt --deadline 10m -o audit.csv")]
    Audit(Box<AuditArgs>),
    /// Check addresses, ranges and domains on DNS blocklists.
    #[command(
        visible_alias = "blacklist",
        after_help = "Examples:
  mailaudit blocklist 192.0.2.10
  mailaudit blocklist 192.0.2.10 --in-service-since 2026-09-01 -o listing.md
  mailaudit blocklist 203.0.113.0/24 example.com --dnsbl zen.spamhaus.org
  mailaudit blacklist --file addresses.txt --format jsonl   # the same command"
    )]
    Blocklist(BlocklistRunArgs),
    /// Scan messages (.eml): DKIM, DMARC alignment, unsubscribe headers and
    /// link, RFC 5322 basics; the domains of their links on blocklists.
    #[command(after_help = "Examples:
  mailaudit message campaign.eml
  mailaudit message campaign.eml --ip 192.0.2.10 --mail-from bounces@example.com")]
    Message(MessageArgs),
    /// Probe mail servers on port 25: banner, EHLO, STARTTLS, TLS version
    /// and certificate; no message is sent.
    #[command(after_help = "Examples:
  mailaudit smtp mx1.example.com
  mailaudit smtp 192.0.2.25 mx2.example.com --smtp-relay-test
  mailaudit smtp mx.example.com --ca-file internal-ca.pem -o smtp.html")]
    Smtp(SmtpCommandArgs),
    /// Check a recipient list before a campaign: invalid addresses, dead
    /// and mistyped domains, role accounts, disposable addresses,
    /// duplicates and listed domains. No recipient's server is contacted.
    #[command(after_help = "Examples:
  mailaudit recipients subscribers.csv
  mailaudit recipients list.csv --column \"E-mail\" --flagged flagged.csv --clean clean.csv
  cat addresses.txt | mailaudit recipients - --format json")]
    Recipients(RecipientsCommandArgs),
    /// Run the audit service: a web page and a JSON API (docs/api.md) on
    /// one shared engine, every report stored under a permalink.
    #[cfg(feature = "serve")]
    #[command(after_help = "Examples:
  mailaudit serve                                   # http://127.0.0.1:8025, data in ./mailaudit-data
  mailaudit serve --listen 0.0.0.0:8025 --token-file tokens.txt --retention 90d
  mailaudit serve --database postgres://mailaudit@db/mailaudit --workers 8")]
    Serve(Box<ServeArgs>),
    /// Watch domains: audit them again on a schedule, keep the history,
    /// and alert on changes seen twice (docs/monitoring.md).
    #[cfg(feature = "serve")]
    #[command(after_help = "Examples:
  mailaudit watch add example.com --every 6h --ip 192.0.2.10
  mailaudit watch run --webhook https://hooks.example.net/mail --webhook-secret-file hook.key   # from cron
  mailaudit watch list
  mailaudit watch history example.com
  mailaudit watch remove example.com")]
    Watch(Box<WatchArgs>),
    /// Print everything mailaudit says about one finding ID: what it
    /// means, every step that fixes it, references.
    #[command(after_help = "Examples:
  mailaudit explain dnsbl.listed
  mailaudit findings            # every ID")]
    Explain(ExplainArgs),
    /// List every finding ID with its default severity, topic and title.
    Findings(FindingsArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish,
    /// powershell), generated from these options.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), generated from these options.
    Man,
}

#[derive(Debug, Args)]
pub struct SmtpCommandArgs {
    /// The mail servers: host names or IP addresses.
    #[arg(required = true, value_name = "HOST|IP")]
    pub hosts: Vec<String>,

    #[command(flatten)]
    pub smtp: SmtpArgs,

    #[command(flatten)]
    pub rules: RulesArgs,

    #[command(flatten)]
    pub dns: DnsArgs,

    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct RecipientsCommandArgs {
    /// The list: CSV with a header, or one address a line (`-`: standard
    /// input).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    #[command(flatten)]
    pub list: RecipientsArgs,

    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,

    #[command(flatten)]
    pub rules: RulesArgs,

    #[command(flatten)]
    pub blocklist: BlocklistArgs,

    /// Do not look the recipient domains up on domain blocklists.
    #[arg(long = "no-dnsbl")]
    pub no_blocklist: bool,

    #[command(flatten)]
    pub dns: DnsArgs,

    #[command(flatten)]
    pub output: OutputArgs,
}

/// How a recipient list is read and what is written from it.
#[derive(Debug, Args)]
#[command(next_help_heading = "Recipient list")]
pub struct RecipientsArgs {
    /// The address column: its header, or its number from 1 (default:
    /// the column headed email, address..., else the one holding @).
    #[arg(long, value_name = "NAME|N")]
    pub column: Option<String>,

    /// Write the flagged rows (row, address, reasons, details) to FILE:
    /// CSV, or JSON Lines when FILE ends in .jsonl.
    #[arg(long, value_name = "FILE")]
    pub flagged: Option<PathBuf>,

    /// Write the list without its undeliverable and duplicate rows to
    /// FILE (same columns; typos are flagged, never rewritten).
    #[arg(long, value_name = "FILE")]
    pub clean: Option<PathBuf>,
}

/// The SMTP probe's settings (`audit --smtp`, `mailaudit smtp`).
#[derive(Debug, Args)]
#[command(next_help_heading = "SMTP probe and HTTPS fetches")]
pub struct SmtpArgs {
    /// Probe the MX hosts on port 25 (off by default: many networks block
    /// outbound port 25; then the result is unknown, not a failure).
    #[arg(long)]
    pub smtp: bool,

    /// Probe the sending IPs too.
    #[arg(long, requires = "smtp")]
    pub smtp_sending: bool,

    /// Test for an open relay: MAIL FROM:<>, RCPT TO: an address of a
    /// reserved domain, RSET (never DATA: no message is sent).
    #[arg(long)]
    pub smtp_relay_test: bool,

    /// The port to connect to (25; another one for test servers).
    #[arg(long, value_name = "PORT", default_value_t = 25,
          value_parser = clap::value_parser!(u16).range(1..))]
    pub smtp_port: u16,

    /// Time allowed for the connection and for each reply, in
    /// milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(1..=300_000))]
    pub smtp_timeout: u64,

    /// The name to announce in EHLO (default: this host's name).
    #[arg(long, value_name = "NAME")]
    pub smtp_helo: Option<String>,

    /// Also trust the certificate authorities in this PEM file (an
    /// internal CA), beside the Mozilla set: for the SMTP probe and the
    /// MTA-STS policy fetch.
    #[arg(long, value_name = "PEM")]
    pub ca_file: Option<PathBuf>,

    /// The port of HTTPS fetches (MTA-STS policies): 443, or a test
    /// server's.
    #[arg(long, value_name = "PORT", default_value_t = 443,
          value_parser = clap::value_parser!(u16).range(1..))]
    pub https_port: u16,
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// A finding ID, as in reports (e.g. dnsbl.listed).
    #[arg(value_name = "FINDING-ID")]
    pub id: String,

    #[command(flatten)]
    pub rules: RulesArgs,
}

#[derive(Debug, Args)]
pub struct FindingsArgs {
    #[command(flatten)]
    pub rules: RulesArgs,
}

/// `--checks` help: every check of an audit, from the registry.
fn checks_help() -> String {
    let ids: Vec<&str> = mailaudit::checks::of_kind(mailaudit::report::model::RunKind::Audit)
        .map(|c| c.id())
        .collect();
    format!(
        "Run only these checks (comma-separated): {}",
        ids.join(", ")
    )
}

/// `--rules DIR` help: every rules file, from the rules loader.
fn rules_help() -> String {
    format!(
        "Directory whose rules files ({}) replace the built-in ones",
        mailaudit::rules::FILES.join(", ")
    )
}

#[cfg(feature = "serve")]
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The address and port to listen on. Another address than loopback
    /// needs --token-file (or --insecure-no-auth).
    #[arg(long, value_name = "IP:PORT", default_value = "127.0.0.1:8025")]
    pub listen: std::net::SocketAddr,

    #[command(flatten)]
    pub store: StoreArgs,

    /// Audits run at once.
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = count::<256>)]
    pub workers: usize,

    /// Audits that may wait; more are refused (429 with Retry-After).
    #[arg(long, value_name = "N", default_value_t = 1000, value_parser = count::<1_000_000>)]
    pub queue: usize,

    /// Largest request body in bytes (413 above).
    #[arg(long, value_name = "BYTES", default_value_t = 10 << 20,
          value_parser = clap::value_parser!(u64).range(1024..=1 << 30))]
    pub max_body: u64,

    /// Submissions one client address may make per minute (`30/min`);
    /// more are refused (429 with Retry-After). Reading is not limited.
    #[arg(long, value_name = "N/min", value_parser = rate)]
    pub rate: Option<u32>,

    /// A reverse proxy in front (repeatable): from it, the client for
    /// --rate is the rightmost X-Forwarded-For address that is not a
    /// proxy; from anyone else the header is ignored.
    #[arg(long, value_name = "IP")]
    pub trusted_proxy: Vec<std::net::IpAddr>,

    /// Most sending IPs one request may name (ranges expanded).
    #[arg(long, value_name = "N", default_value_t = 256,
          value_parser = clap::value_parser!(u64).range(1..=1 << 16))]
    pub max_addresses: u64,

    /// Require a token: one a line (or `sha256:HEX` of one, so the file
    /// need not hold the token itself); `#` comments and blank lines are
    /// ignored. The API takes `Authorization: Bearer TOKEN`, the page a
    /// login.
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,

    /// Listen on a non-loopback address without --token-file.
    #[arg(long)]
    pub insecure_no_auth: bool,

    /// Delete finished audits older than this (`90d`, `12h`).
    #[arg(long, value_name = "DURATION", value_parser = retention)]
    pub retention: Option<std::time::Duration>,

    /// Fetch MTA-STS policies and BIMI logos over HTTPS for requests
    /// (off: those checks say they were not run).
    #[arg(long)]
    pub fetch: bool,

    /// Let the SMTP probe and the HTTPS fetches connect to private,
    /// loopback, link-local and cloud metadata addresses (off: a
    /// requester cannot make the server reach its own network).
    #[arg(long)]
    pub allow_private: bool,

    #[command(flatten)]
    pub smtp: SmtpArgs,

    #[command(flatten)]
    pub test_addresses: TestAddressArgs,

    #[command(flatten)]
    pub alerts: AlertArgs,

    #[command(flatten)]
    pub spam_filter: SpamFilterArgs,

    #[command(flatten)]
    pub rules: RulesArgs,

    /// Skip the blocklist check.
    #[arg(long = "no-dnsbl")]
    pub no_blocklist: bool,

    #[command(flatten)]
    pub blocklist: BlocklistArgs,

    #[command(flatten)]
    pub dns: DnsArgs,
}

/// Where the service and the watches keep what they store.
#[cfg(feature = "serve")]
#[derive(Debug, Args)]
pub struct StoreArgs {
    /// Where the reports are stored (SQLite, created when missing).
    #[arg(
        long,
        value_name = "DIR",
        default_value = "mailaudit-data",
        global = true
    )]
    pub data: PathBuf,

    /// Store in this database instead (postgres://USER@HOST/DB for several
    /// instances behind one load balancer, or sqlite://FILE).
    #[arg(long, value_name = "URL", global = true)]
    pub database: Option<String>,
}

/// How watches tell of the changes they confirm (`serve`, `watch run`).
#[cfg(feature = "serve")]
#[derive(Debug, Args)]
pub struct AlertArgs {
    /// POST each run's confirmed changes to this URL as JSON
    /// (docs/monitoring.md).
    #[arg(long, value_name = "URL")]
    pub webhook: Option<String>,

    /// Sign each webhook body with HMAC-SHA256 under the key in FILE (its
    /// first line); the signature is the X-Mailaudit-Signature header.
    #[arg(long, value_name = "FILE", requires = "webhook")]
    pub webhook_secret_file: Option<PathBuf>,

    /// Mail each run's confirmed changes through this relay (STARTTLS when
    /// offered); needs --alert-from and --alert-to.
    #[arg(long, value_name = "HOST:PORT", requires_all = ["alert_from", "alert_to"])]
    pub alert_smtp: Option<String>,

    /// The sender of alert mail.
    #[arg(long, value_name = "ADDRESS", requires = "alert_smtp")]
    pub alert_from: Option<String>,

    /// A recipient of alert mail (repeatable).
    #[arg(long, value_name = "ADDRESS", requires = "alert_smtp")]
    pub alert_to: Vec<String>,

    /// Also trust the certificate authorities in FILE (PEM) for the
    /// relay's STARTTLS.
    #[arg(long, value_name = "FILE", requires = "alert_smtp")]
    pub alert_smtp_ca: Option<PathBuf>,

    /// Runs that must see a change before it is alerted (an unknown run
    /// neither counts nor breaks the count).
    #[arg(long, value_name = "N", default_value_t = 2, value_parser = count::<100>)]
    pub confirm_runs: usize,

    /// Watches run at once.
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = count::<64>)]
    pub watch_parallel: usize,
}

#[cfg(feature = "serve")]
#[derive(Debug, Args)]
pub struct WatchArgs {
    #[command(subcommand)]
    pub action: WatchAction,

    #[command(flatten)]
    pub store: StoreArgs,
}

#[cfg(feature = "serve")]
#[derive(Debug, Subcommand)]
pub enum WatchAction {
    /// Watch a domain (and its sending IPs).
    Add(WatchAddArgs),
    /// The watched domains, their schedule and last verdict.
    List(WatchListArgs),
    /// Stop watching a domain (its reports stay until --retention).
    Remove {
        /// The domain (or the watch's id).
        target: String,
    },
    /// Run the watches that are due, once (for cron or a systemd timer).
    Run(Box<WatchRunArgs>),
    /// The runs of a watch, newest first, with what each alerted.
    History(WatchHistoryArgs),
}

#[cfg(feature = "serve")]
#[derive(Debug, Args)]
pub struct WatchAddArgs {
    /// The domain to watch.
    pub target: String,

    /// How often to audit it again (`6h`, `1d`; at least 5m). Runs of
    /// several watches are spread over the interval.
    #[arg(long, value_name = "DURATION", default_value = "6h", value_parser = retention)]
    pub every: std::time::Duration,

    /// A sending IP or range (repeatable).
    #[arg(long, value_name = "IP|CIDR")]
    pub ip: Vec<String>,

    /// A DKIM selector to look up besides the common ones (repeatable).
    #[arg(long, value_name = "SELECTOR")]
    pub selector: Vec<String>,

    /// Only these checks (comma-separated; all by default).
    #[arg(long, value_name = "CHECK,...", value_delimiter = ',')]
    pub checks: Vec<String>,
}

#[cfg(feature = "serve")]
#[derive(Debug, Args)]
pub struct WatchListArgs {
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[cfg(feature = "serve")]
#[derive(Debug, Args)]
pub struct WatchHistoryArgs {
    /// The domain (or the watch's id).
    pub target: String,

    /// Runs shown at most.
    #[arg(long, value_name = "N", default_value_t = 50, value_parser = count::<10_000>)]
    pub limit: usize,

    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[cfg(feature = "serve")]
#[derive(Debug, Args)]
pub struct WatchRunArgs {
    /// Run every watch now, whether it is due or not.
    #[arg(long)]
    pub all: bool,

    #[command(flatten)]
    pub alerts: AlertArgs,

    /// Fetch MTA-STS policies and BIMI logos over HTTPS (off: those checks
    /// say they were not run).
    #[arg(long)]
    pub fetch: bool,

    #[command(flatten)]
    pub smtp: SmtpArgs,

    #[command(flatten)]
    pub rules: RulesArgs,

    /// Skip the blocklist check.
    #[arg(long = "no-dnsbl")]
    pub no_blocklist: bool,

    #[command(flatten)]
    pub blocklist: BlocklistArgs,

    #[command(flatten)]
    pub dns: DnsArgs,
}

/// Test addresses: `serve` takes mail over SMTP and audits what arrives.
#[cfg(feature = "serve")]
#[derive(Debug, Args)]
pub struct TestAddressArgs {
    /// Take mail for test addresses on this address (0.0.0.0:25 in
    /// production, behind the mail domain's MX); needs --mail-domain.
    #[arg(long, value_name = "ADDR:PORT", requires = "mail_domain")]
    pub smtp_listen: Option<std::net::SocketAddr>,

    /// The domain of the test addresses (test-...@DOMAIN); its MX must
    /// point at --smtp-listen.
    #[arg(long, value_name = "DOMAIN", requires = "smtp_listen")]
    pub mail_domain: Option<String>,

    /// The name the listener greets with (default: --mail-domain).
    #[arg(long, value_name = "NAME", requires = "smtp_listen")]
    pub smtp_listen_hostname: Option<String>,

    /// The listener's STARTTLS certificate chain (PEM); without it a
    /// self-signed one is made at start.
    #[arg(long, value_name = "FILE", requires_all = ["smtp_listen_key", "smtp_listen"])]
    pub smtp_listen_cert: Option<PathBuf>,

    /// The key of --smtp-listen-cert (PEM).
    #[arg(long, value_name = "FILE", requires = "smtp_listen_cert")]
    pub smtp_listen_key: Option<PathBuf>,

    /// Largest message taken (552 above).
    #[arg(long, value_name = "BYTES", default_value_t = 10 << 20,
          value_parser = clap::value_parser!(u64).range(1024..=1 << 30))]
    pub smtp_listen_max_size: u64,

    /// Longest wait for a client's command or line (`60s`, `5m`).
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = wait)]
    pub smtp_listen_timeout: std::time::Duration,

    /// Longest SMTP session, whatever the client does.
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = wait)]
    pub smtp_listen_session_limit: std::time::Duration,

    /// SMTP sessions at once, in all.
    #[arg(long, value_name = "N", default_value_t = 200, value_parser = count::<100_000>)]
    pub smtp_listen_max_connections: usize,

    /// SMTP sessions at once from one address.
    #[arg(long, value_name = "N", default_value_t = 20, value_parser = count::<100_000>)]
    pub smtp_listen_max_per_client: usize,

    /// Speak LMTP (LHLO, a reply per recipient) instead of SMTP, for an MTA
    /// of yours that hands test mail over (with --smtp-listen-trusted-relay).
    #[arg(long, requires = "smtp_listen")]
    pub smtp_listen_lmtp: bool,

    /// An MTA of yours that hands test mail to the listener (repeatable):
    /// a message from it is judged from the host its Received field names
    /// before it, not from the MTA.
    #[arg(long, value_name = "IP|CIDR", requires = "smtp_listen")]
    pub smtp_listen_trusted_relay: Vec<String>,

    /// How long a test address takes mail (`24h`, `7d`).
    #[arg(long, value_name = "DURATION", default_value = "24h", value_parser = retention)]
    pub test_lifetime: std::time::Duration,
}

/// A wait: a number and a unit (`s`, `m`), from a second to a day.
#[cfg(feature = "serve")]
fn wait(s: &str) -> Result<std::time::Duration, String> {
    let bad = || format!("{s:?} is not a wait like 60s or 5m (1s to 1440m)");
    let split = s.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (n, unit) = s.split_at(split);
    let n: u64 = n.parse().map_err(|_| bad())?;
    let secs = match unit {
        "s" => n,
        "m" => n.saturating_mul(60),
        _ => return Err(bad()),
    };
    if secs == 0 || secs > 86_400 {
        return Err(bad());
    }
    Ok(std::time::Duration::from_secs(secs))
}

/// A rate: `N/min` (or a bare N), from 1 to 100000.
#[cfg(feature = "serve")]
fn rate(s: &str) -> Result<u32, String> {
    let n = s.strip_suffix("/min").unwrap_or(s);
    match n.parse::<u32>() {
        Ok(n) if (1..=100_000).contains(&n) => Ok(n),
        _ => Err(format!("{s:?} is not a rate like 30/min (1 to 100000)")),
    }
}

/// A retention period or interval (`90d`, `12h`, `30m`).
#[cfg(feature = "serve")]
fn retention(s: &str) -> Result<std::time::Duration, String> {
    mailaudit::input::period(s)
}

/// `--rules DIR`, for every subcommand that reads the rules.
#[derive(Debug, Args)]
pub struct RulesArgs {
    #[arg(long = "rules", value_name = "DIR", help = rules_help())]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct MessageArgs {
    /// The message files (.eml, RFC 5322).
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,

    /// The IP the message is sent from, for SPF (default: the client
    /// address in the topmost Received header, if any).
    #[arg(long = "ip", value_name = "IP")]
    pub ip: Option<String>,

    /// The envelope sender, for SPF (default: the Return-Path header).
    #[arg(long = "mail-from", value_name = "ADDRESS")]
    pub mail_from: Option<String>,

    /// The HELO/EHLO name of the sending server.
    #[arg(long, value_name = "NAME")]
    pub helo: Option<String>,

    /// The message as you received it: the sending IP and HELO are the
    /// first hop of its Received path from outside your --trusted-relay
    /// networks, and its From domain is audited whole (SPF, DMARC, PTR,
    /// blocklists, ...), as for a test address. One FILE.
    #[arg(long, conflicts_with_all = ["ip", "helo"])]
    pub received: bool,

    /// With --received: your own receiving server's authserv-id; its
    /// Authentication-Results above the sending hop are marked trusted
    /// (everyone else's are shown, never believed).
    #[arg(long, value_name = "ID", requires = "received")]
    pub authserv_id: Option<String>,

    /// With --received: a network of your own relays (repeatable); hops
    /// from them are followed to the one before.
    #[arg(long = "trusted-relay", value_name = "CIDR", requires = "received")]
    pub trusted_relays: Vec<String>,

    #[command(flatten)]
    pub spam_filter: SpamFilterArgs,

    /// Read at most this many bytes of each message.
    #[arg(long, value_name = "BYTES", default_value_t = mailaudit::message::DEFAULT_MAX_SIZE,
          value_parser = clap::value_parser!(u64).range(1..=1 << 30))]
    pub max_message_size: u64,

    #[command(flatten)]
    pub rules: RulesArgs,

    /// Skip the blocklist check of the domains the messages link to.
    #[arg(long = "no-dnsbl")]
    pub no_blocklist: bool,

    #[command(flatten)]
    pub blocklist: BlocklistArgs,

    #[command(flatten)]
    pub dns: DnsArgs,

    #[command(flatten)]
    pub output: OutputArgs,
}

/// A real spam filter asked about each message.
#[derive(Debug, Args, Clone)]
pub struct SpamFilterArgs {
    /// Ask the rspamd at URL (its normal worker, e.g.
    /// http://127.0.0.1:11333) to score each message; its score, action
    /// and symbols are shown as rspamd's opinion.
    #[arg(long, value_name = "URL")]
    pub rspamd: Option<String>,
}

#[derive(Debug, Args)]
pub struct BlocklistRunArgs {
    /// What to check: IP addresses, CIDR ranges (203.0.113.0/24) and
    /// domains.
    #[arg(required_unless_present = "file", value_name = "IP|CIDR|DOMAIN")]
    pub targets: Vec<String>,

    /// Check every address, range and domain of FILE (`-`: standard
    /// input), any number a line; `#` comments are ignored, bad entries
    /// skipped and said. Each line is its own report.
    #[arg(long, value_name = "FILE", conflicts_with = "targets")]
    pub file: Option<PathBuf>,

    #[command(flatten)]
    pub batch: BatchArgs,

    /// Refuse address ranges larger than this many addresses in all.
    #[arg(long, value_name = "N", default_value_t = 4096,
          value_parser = clap::value_parser!(u64).range(1..=1 << 24))]
    pub max_addresses: u64,

    #[command(flatten)]
    pub rules: RulesArgs,

    #[command(flatten)]
    pub blocklist: BlocklistArgs,

    #[command(flatten)]
    pub dns: DnsArgs,

    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Blocklists")]
pub struct BlocklistArgs {
    /// Query this list (repeatable) instead of the catalogue's default
    /// selection; zones not in the catalogue are read with RFC 5782
    /// generic semantics.
    #[arg(long = "dnsbl", value_name = "ZONE")]
    pub lists: Vec<String>,

    /// Read the list catalogue from FILE (same format as rules/dnsbl.toml).
    #[arg(long = "dnsbl-catalog", value_name = "FILE")]
    pub catalog: Option<PathBuf>,

    /// Questions in flight on one list at once.
    #[arg(long, value_name = "N", default_value_t = 64, value_parser = count::<4096>)]
    pub per_list_concurrency: usize,

    /// Questions per second sent to one list (default: no limit).
    #[arg(long, value_name = "QPS")]
    #[arg(value_parser = qps)]
    pub per_list_qps: Option<f64>,

    /// The date the addresses came into your service (YYYY-MM-DD), for
    /// delisting requests.
    #[arg(long, value_name = "DATE")]
    pub in_service_since: Option<String>,

    /// A Spamhaus Data Query Service key (free for low volume, and
    /// answered through public resolvers): ZEN and DBL are then asked as
    /// KEY.zen.dq.spamhaus.net and KEY.dbl.dq.spamhaus.net instead. Never
    /// written into a report. The MAILAUDIT_DQS_KEY environment variable
    /// gives it without showing it in the process list.
    #[arg(long = "dqs-key", value_name = "KEY")]
    pub dqs_key: Option<String>,
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// The domain to audit (example.com).
    #[arg(required_unless_present = "domains", conflicts_with = "domains")]
    pub domain: Option<String>,

    /// Audit every domain of FILE (`-`: standard input), one a line,
    /// optionally followed by its sending IPs/ranges and `selector=NAME`:
    /// `example.com 192.0.2.10 198.51.100.0/28 selector=s1`. Blank lines
    /// and `#` comments are ignored; a bad line is skipped and said.
    #[arg(long, value_name = "FILE")]
    pub domains: Option<PathBuf>,

    #[command(flatten)]
    pub batch: BatchArgs,

    /// A sending IP or range (repeatable). Without it, the IPs are taken
    /// from the MX hosts and the domain's own SPF record.
    #[arg(long = "ip", value_name = "IP|CIDR")]
    pub ips: Vec<String>,

    /// The HELO/EHLO name the sending server announces.
    #[arg(long, value_name = "NAME")]
    pub helo: Option<String>,

    /// The envelope sender used for SPF evaluation (default postmaster@DOMAIN).
    #[arg(long = "mail-from", value_name = "ADDRESS")]
    pub mail_from: Option<String>,

    #[arg(long, value_name = "LIST", value_delimiter = ',', help = checks_help())]
    pub checks: Vec<String>,

    /// A DKIM selector of the domain to check (repeatable); common ones
    /// are probed anyway.
    #[arg(long = "selector", value_name = "SELECTOR")]
    pub selectors: Vec<String>,

    /// A message to scan (repeatable): DKIM, DMARC alignment, unsubscribe
    /// headers and link, RFC 5322 basics.
    #[arg(long = "message", value_name = "FILE.eml")]
    pub messages: Vec<PathBuf>,

    #[command(flatten)]
    pub spam_filter: SpamFilterArgs,

    /// Read at most this many bytes of each message.
    #[arg(long, value_name = "BYTES", default_value_t = mailaudit::message::DEFAULT_MAX_SIZE,
          value_parser = clap::value_parser!(u64).range(1..=1 << 30))]
    pub max_message_size: u64,

    /// Refuse address ranges larger than this many addresses.
    #[arg(long, value_name = "N", default_value_t = 4096,
          value_parser = clap::value_parser!(u64).range(1..=1 << 24))]
    pub max_addresses: u64,

    /// The campaign's recipient list (CSV or one address a line): its
    /// summary joins the report and judges the "recipients who asked for
    /// your mail" row of the checklist.
    #[arg(long, value_name = "FILE", conflicts_with = "domains")]
    pub recipients: Option<PathBuf>,

    #[command(flatten)]
    pub recipient_list: RecipientsArgs,

    #[command(flatten)]
    pub rules: RulesArgs,

    /// Skip the blocklist check.
    #[arg(long = "no-dnsbl")]
    pub no_blocklist: bool,

    #[command(flatten)]
    pub smtp: SmtpArgs,

    #[command(flatten)]
    pub blocklist: BlocklistArgs,

    #[command(flatten)]
    pub dns: DnsArgs,

    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Batches and deadlines")]
pub struct BatchArgs {
    /// Audits in flight at once in a batch (they share one resolver,
    /// cache and limits).
    #[arg(long, value_name = "N", default_value_t = 16, value_parser = count::<1024>)]
    pub parallel: usize,

    /// The whole run must end within DURATION (`90s`, `5m`, `1h`): what
    /// has not finished is reported `unknown`, and the report is written.
    #[arg(long, value_name = "DURATION", value_parser = duration)]
    pub deadline: Option<std::time::Duration>,

    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

/// A duration: a number and a unit (`ms`, `s`, `m`, `h`), up to a day.
fn duration(s: &str) -> Result<std::time::Duration, String> {
    let bad = || format!("{s:?} is not a duration like 500ms, 90s, 5m or 1h (at most 24h)");
    let split = s.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (n, unit) = s.split_at(split);
    let n: u64 = n.parse().map_err(|_| bad())?;
    let ms = match unit {
        "ms" => n,
        "s" => n.saturating_mul(1000),
        "m" => n.saturating_mul(60_000),
        "h" => n.saturating_mul(3_600_000),
        _ => return Err(bad()),
    };
    if ms == 0 || ms > 86_400_000 {
        return Err(bad());
    }
    Ok(std::time::Duration::from_millis(ms))
}

#[derive(Debug, Args)]
#[command(next_help_heading = "DNS")]
pub struct DnsArgs {
    /// Name server to ask (repeatable; default: the system's resolv.conf).
    #[arg(long = "nameserver", value_name = "IP[:PORT]")]
    pub nameservers: Vec<String>,

    /// Audit offline: serve these zone files (or the *.zone files of a
    /// directory) from an embedded DNS server and ask nothing else
    /// (repeatable).
    #[arg(long = "zone", value_name = "FILE|DIR")]
    pub zones: Vec<PathBuf>,

    /// Serve DIR/<host>/<path> over HTTPS on loopback for this run and
    /// fetch MTA-STS policies and BIMI logos from it (with a certificate
    /// authority made for the run): check them before publishing.
    #[arg(long = "web", value_name = "DIR")]
    pub web: Option<PathBuf>,

    /// DNSSEC: validate from the DNSKEY records in FILE (zone-file lines)
    /// instead of the IANA root keys, as for an offline signed root.
    #[arg(long = "trust-anchor", value_name = "FILE")]
    pub trust_anchor: Option<PathBuf>,

    /// Time allowed for one DNS attempt, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 2000,
          value_parser = clap::value_parser!(u64).range(1..=600_000))]
    pub timeout: u64,

    /// Further attempts after a DNS query times out or fails.
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(0..=10))]
    pub retries: u32,

    /// DNS queries in flight at once.
    #[arg(long, value_name = "N", default_value_t = 64, value_parser = count::<4096>)]
    pub concurrency: usize,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Output")]
pub struct OutputArgs {
    /// Report format (default: from the -o file name, else text).
    #[arg(long, value_name = "FORMAT", value_parser = format_arg())]
    pub format: Option<&'static dyn Format>,

    /// Write the report to FILE instead of standard output.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Exit with code 1 when a finding is at or above this severity, or
    /// when the verdict is unknown (nothing verified is not a pass).
    #[arg(long, value_enum, default_value_t = FailOn::Never)]
    pub fail_on: FailOn,

    /// Text report: the first step of each finding only, no evidence.
    #[arg(long)]
    pub brief: bool,

    /// An earlier JSON report of the same target: the report says what
    /// changed since (new, resolved, delisted, newly listed).
    #[arg(long, value_name = "OLD.json")]
    pub baseline: Option<PathBuf>,
}

/// `--format NAME`: one of the report formats the library has (clap
/// offers their names, in help and completions).
fn format_arg() -> impl clap::builder::TypedValueParser<Value = &'static dyn Format> {
    use clap::builder::TypedValueParser as _;
    clap::builder::PossibleValuesParser::new(mailaudit::report::FORMATS.iter().map(|f| f.name()))
        .map(|name| mailaudit::report::format_named(&name).expect("a format's own name"))
}

/// A count from 1 to `MAX`.
fn count<const MAX: usize>(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if (1..=MAX).contains(&n) => Ok(n),
        _ => Err(format!("{s:?} is not a whole number from 1 to {MAX}")),
    }
}

/// Questions per second: from 0.01 (one every 100 s) to 1,000,000.
fn qps(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(q) if (0.01..=1e6).contains(&q) => Ok(q),
        _ => Err(format!(
            "{s:?} is not a number of questions per second from 0.01 to 1000000"
        )),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    Never,
    Warning,
    Error,
}

impl FailOn {
    pub fn threshold(self) -> Option<Severity> {
        match self {
            FailOn::Never => None,
            FailOn::Warning => Some(Severity::Warning),
            FailOn::Error => Some(Severity::Error),
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration("500ms"), Ok(std::time::Duration::from_millis(500)));
        assert_eq!(duration("90s"), Ok(std::time::Duration::from_secs(90)));
        assert_eq!(duration("5m"), Ok(std::time::Duration::from_secs(300)));
        assert_eq!(duration("1h"), Ok(std::time::Duration::from_secs(3600)));
        for bad in [
            "",
            "5",
            "m",
            "0s",
            "25h",
            "1.5s",
            "-1s",
            "99999999999999999999s",
        ] {
            assert!(duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    /// Every example in `--help` parses: they are what people copy first.
    #[test]
    fn every_help_example_parses() {
        let cli = Cli::command();
        let mut seen = 0;
        for sub in cli.get_subcommands() {
            let Some(help) = sub.get_after_help() else {
                continue;
            };
            for line in help.to_string().lines() {
                let Some(example) = line.trim().strip_prefix("mailaudit ") else {
                    continue;
                };
                let example = example.split("  #").next().unwrap().trim();
                let args = std::iter::once("mailaudit").chain(example.split_whitespace());
                if let Err(e) = Cli::try_parse_from(args) {
                    panic!("{example}: {e}");
                }
                seen += 1;
            }
        }
        assert!(seen >= 10, "{seen} examples");
    }

    #[test]
    fn completions_and_manual_page_generate() {
        let mut script = Vec::new();
        clap_complete::generate(
            clap_complete::Shell::Bash,
            &mut Cli::command(),
            "mailaudit",
            &mut script,
        );
        assert!(String::from_utf8(script).unwrap().contains("blacklist"));
        let mut page = Vec::new();
        clap_mangen::Man::new(Cli::command())
            .render(&mut page)
            .unwrap();
        assert!(String::from_utf8(page).unwrap().contains(".TH mailaudit 1"));
    }
}

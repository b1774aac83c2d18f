//! The SMTP listener of the test addresses (`serve --smtp-listen`): it
//! takes mail only for live test addresses of the mail domain (any other
//! recipient: 550, and it never relays), offers STARTTLS with the
//! operator's certificate or one made at start, limits the message size,
//! every command's wait, the whole session, the connections at once and
//! per client; and records what it saw of the connection (client address
//! and port, HELO, MAIL FROM, TLS, time), which the audit of the message
//! believes ([`crate::message::received::Connection`]).
//!
//! Nothing is stored until a message has arrived whole: a client that
//! drips or floods is cut off with nothing kept.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use super::{Refused, Service, Unknown, store::TestRow};
use crate::message::received::{Connection, Tls};

/// How the listener behaves (`serve --smtp-listen-*` flags).
#[derive(Clone)]
pub struct SmtpInConfig {
    /// The name in the greeting and in EHLO.
    pub hostname: String,
    /// STARTTLS with this; `None`: not offered.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Largest message, in octets (552 above).
    pub max_size: usize,
    /// Longest wait for a command or a line of data.
    pub command_timeout: Duration,
    /// Longest session, whatever the client does.
    pub session_limit: Duration,
    /// Sessions at once, in all.
    pub max_connections: usize,
    /// Sessions at once from one address.
    pub max_per_client: usize,
    /// Speak LMTP (RFC 2033) instead of SMTP: LHLO, and a reply for each
    /// recipient after the data (an MTA in front hands test mail over).
    pub lmtp: bool,
}

impl Default for SmtpInConfig {
    fn default() -> Self {
        SmtpInConfig {
            hostname: "localhost".into(),
            tls: None,
            max_size: 10 << 20,
            // RFC 5321 §4.5.3.2 asks for minutes; a test address needs
            // less patience than a mail server.
            command_timeout: Duration::from_secs(60),
            session_limit: Duration::from_secs(600),
            max_connections: 200,
            max_per_client: 20,
            lmtp: false,
        }
    }
}

/// A certificate for STARTTLS made at start for `hostname` (self-signed:
/// senders that deliver opportunistically do not verify it).
pub fn generated_tls(hostname: &str) -> Result<Arc<rustls::ServerConfig>, String> {
    let cert = rcgen::generate_simple_self_signed(vec![hostname.to_string()])
        .map_err(|e| format!("cannot make a certificate for {hostname}: {e}"))?;
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
    server_tls(vec![cert.cert.der().clone()], key)
}

/// A STARTTLS configuration from a chain and its key.
pub fn server_tls(
    chain: Vec<rustls::pki_types::CertificateDer<'static>>,
    key: rustls::pki_types::PrivateKeyDer<'static>,
) -> Result<Arc<rustls::ServerConfig>, String> {
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .map_err(|e| format!("the certificate and key do not go together: {e}"))?;
    Ok(Arc::new(config))
}

/// Reads a PEM certificate chain and key (`--smtp-listen-cert`, `--smtp-listen-key`).
pub fn tls_from_files(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> Result<Arc<rustls::ServerConfig>, String> {
    use rustls::pki_types::pem::PemObject;
    let chain = rustls::pki_types::CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("--smtp-listen-cert {}: {e}", cert.display()))?;
    if chain.is_empty() {
        return Err(format!(
            "--smtp-listen-cert {}: no certificate in it",
            cert.display()
        ));
    }
    let key = rustls::pki_types::PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("--smtp-listen-key {}: {e}", key.display()))?;
    server_tls(chain, key)
}

/// Accepts SMTP sessions until the service closes.
pub async fn listen(listener: TcpListener, service: Arc<Service>, config: SmtpInConfig) {
    let config = Arc::new(config);
    let all = Arc::new(Semaphore::new(config.max_connections.max(1)));
    let per_client: Arc<Mutex<HashMap<IpAddr, usize>>> = Arc::default();
    let mut stop = service.stop.subscribe();
    loop {
        let (stream, peer) = tokio::select! {
            _ = async { let _ = stop.wait_for(|s| *s).await; } => return,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(_) => {
                    // Out of file descriptors and the like: wait, go on.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        if service.closing() {
            return;
        }
        let _ = stream.set_nodelay(true);
        let client = peer.ip().to_canonical();
        let permit = all.clone().try_acquire_owned();
        let over_client = {
            let mut map = per_client.lock().expect("per-client lock");
            let n = map.entry(client).or_insert(0);
            if *n >= config.max_per_client {
                true
            } else {
                *n += 1;
                false
            }
        };
        let (service, config, per_client) = (service.clone(), config.clone(), per_client.clone());
        tokio::spawn(async move {
            let mut stream = stream;
            match permit {
                Ok(_permit) if !over_client => {
                    let _ = tokio::time::timeout(
                        config.session_limit,
                        session(Box::new(stream), peer, &service, &config),
                    )
                    .await;
                }
                _ => {
                    let _ = stream
                        .write_all(b"421 4.7.0 Too many connections, try again later\r\n")
                        .await;
                }
            }
            if !over_client {
                let mut map = per_client.lock().expect("per-client lock");
                if let Some(n) = map.get_mut(&client) {
                    *n -= 1;
                    if *n == 0 {
                        map.remove(&client);
                    }
                }
            }
        });
    }
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// The longest command line (RFC 5321 §4.5.3.1.4: 512) and text line
/// (§4.5.3.1.6: 1000) we read, with some slack.
const MAX_COMMAND: usize = 2048;
const MAX_LINE: usize = 8192;
/// Recipients per message.
const MAX_RECIPIENTS: usize = 10;

enum Line {
    Text(Vec<u8>),
    /// The line was longer than the limit (read and dropped).
    TooLong,
    Closed,
}

struct Session<'s> {
    io: BufReader<Box<dyn Io>>,
    config: &'s SmtpInConfig,
}

impl Session<'_> {
    async fn reply(&mut self, text: &str) -> std::io::Result<()> {
        let io = self.io.get_mut();
        io.write_all(text.as_bytes()).await?;
        io.write_all(b"\r\n").await?;
        io.flush().await
    }

    /// One line (without CRLF), waiting at most the command timeout.
    async fn line(&mut self, max: usize) -> std::io::Result<Line> {
        let wait = self.config.command_timeout;
        let mut buf = Vec::new();
        let mut limited = (&mut self.io).take(max as u64 + 2);
        let read = limited.read_until(b'\n', &mut buf);
        match tokio::time::timeout(wait, read).await {
            Err(_) => Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "command timeout",
            )),
            Ok(Err(e)) => Err(e),
            Ok(Ok(0)) => Ok(Line::Closed),
            Ok(Ok(_)) if !buf.ends_with(b"\n") => {
                if buf.len() > max {
                    // Drop the rest of the line.
                    loop {
                        let mut rest = Vec::new();
                        let mut limited = (&mut self.io).take(MAX_LINE as u64);
                        let more = limited.read_until(b'\n', &mut rest);
                        match tokio::time::timeout(wait, more).await {
                            Ok(Ok(0)) => return Ok(Line::Closed),
                            Ok(Ok(_)) if rest.ends_with(b"\n") => return Ok(Line::TooLong),
                            Ok(Ok(_)) => continue,
                            Ok(Err(e)) => return Err(e),
                            Err(_) => {
                                return Err(std::io::Error::new(
                                    std::io::ErrorKind::TimedOut,
                                    "command timeout",
                                ));
                            }
                        }
                    }
                }
                Ok(Line::Closed) // the peer closed mid-line
            }
            Ok(Ok(_)) => {
                buf.pop();
                if buf.ends_with(b"\r") {
                    buf.pop();
                }
                Ok(Line::Text(buf))
            }
        }
    }
}

/// The envelope of the message being received.
#[derive(Default)]
struct Envelope {
    mail_from: Option<String>,
    recipients: Vec<(String, TestRow)>,
}

async fn session(stream: Box<dyn Io>, peer: SocketAddr, service: &Service, config: &SmtpInConfig) {
    let mut s = Session {
        io: BufReader::new(stream),
        config,
    };
    let _ = run(&mut s, peer, service).await;
}

/// The address inside `<...>` of `FROM:<a@b> params` (after the colon);
/// `None` when there are no brackets. Parameters follow it.
fn path_of(arg: &str) -> Option<(String, &str)> {
    let arg = arg.trim_start();
    let rest = arg.strip_prefix('<')?;
    let end = rest.find('>')?;
    Some((rest[..end].trim().to_string(), &rest[end + 1..]))
}

/// Printable ASCII (or UTF-8 beyond it, SMTPUTF8), no controls.
fn printable(s: &str) -> bool {
    !s.is_empty() && s.len() <= 320 && !s.chars().any(|c| c.is_control() || c == ' ')
}

async fn run(s: &mut Session<'_>, peer: SocketAddr, service: &Service) -> std::io::Result<()> {
    let config = s.config;
    let started = Instant::now();
    let mail_domain = service
        .config
        .tests
        .as_ref()
        .map(|t| t.mail_domain.clone())
        .unwrap_or_default();
    s.reply(&format!(
        "220 {} {} mailaudit test addresses",
        config.hostname,
        if config.lmtp { "LMTP" } else { "ESMTP" }
    ))
    .await?;
    let mut helo: Option<String> = None;
    let mut tls: Option<Tls> = None;
    let mut envelope = Envelope::default();
    let mut bad = 0;
    loop {
        let line = match s.line(MAX_COMMAND).await? {
            Line::Closed => return Ok(()),
            Line::TooLong => {
                s.reply("500 5.5.2 Line too long").await?;
                bad += 1;
                if bad >= 5 {
                    s.reply("421 4.7.0 Too many errors").await?;
                    return Ok(());
                }
                continue;
            }
            Line::Text(t) => t,
        };
        let text = String::from_utf8_lossy(&line).into_owned();
        let (verb, arg) = match text.split_once(' ') {
            Some((v, a)) => (v.to_ascii_uppercase(), a.trim().to_string()),
            None => (text.trim().to_ascii_uppercase(), String::new()),
        };
        match verb.as_str() {
            // RFC 2033 §4.1: an LMTP server refuses HELO and EHLO; an SMTP
            // one does not know LHLO.
            "EHLO" | "HELO" if config.lmtp => {
                s.reply("500 5.5.1 This is LMTP: say LHLO").await?;
            }
            "EHLO" | "HELO" | "LHLO" if (verb == "LHLO") == config.lmtp => {
                if !printable(&arg) || arg.len() > 255 {
                    s.reply("501 5.5.4 Give your host name").await?;
                    continue;
                }
                helo = Some(arg.clone());
                envelope = Envelope::default();
                if verb == "HELO" {
                    s.reply(&format!("250 {}", config.hostname)).await?;
                } else {
                    let mut lines = vec![
                        format!("250-{} greets {arg}", config.hostname),
                        format!("250-SIZE {}", config.max_size),
                        "250-8BITMIME".to_string(),
                        "250-ENHANCEDSTATUSCODES".to_string(),
                        "250-PIPELINING".to_string(),
                    ];
                    if config.tls.is_some() && tls.is_none() {
                        lines.push("250-STARTTLS".into());
                    }
                    lines.push("250 SMTPUTF8".into());
                    s.reply(&lines.join("\r\n")).await?;
                }
            }
            "STARTTLS" => {
                let Some(server) = config.tls.clone().filter(|_| tls.is_none()) else {
                    s.reply("502 5.5.1 STARTTLS not offered").await?;
                    continue;
                };
                if !s.io.buffer().is_empty() {
                    // Commands sent before the handshake would be taken
                    // as if encrypted (CVE-2011-0411): refuse.
                    s.reply("554 5.5.1 Data after STARTTLS").await?;
                    return Ok(());
                }
                s.reply("220 2.0.0 Ready to start TLS").await?;
                let plain = std::mem::replace(
                    &mut s.io,
                    BufReader::new(Box::new(tokio::io::duplex(1).0) as Box<dyn Io>),
                )
                .into_inner();
                let acceptor = tokio_rustls::TlsAcceptor::from(server);
                let stream = match tokio::time::timeout(
                    config.command_timeout,
                    acceptor.accept(plain),
                )
                .await
                {
                    Ok(Ok(stream)) => stream,
                    _ => return Ok(()),
                };
                let (_, conn) = stream.get_ref();
                tls = Some(Tls {
                    version: conn
                        .protocol_version()
                        .map(|v| format!("{v:?}").replace("TLSv1_", "TLSv1."))
                        .unwrap_or_default(),
                    cipher: conn
                        .negotiated_cipher_suite()
                        .map(|c| format!("{:?}", c.suite()))
                        .unwrap_or_default(),
                });
                s.io = BufReader::new(Box::new(stream));
                // RFC 3207 §4.2: forget everything; a new EHLO is due.
                helo = None;
                envelope = Envelope::default();
            }
            "MAIL" => {
                if helo.is_none() {
                    s.reply("503 5.5.1 Say EHLO first").await?;
                    continue;
                }
                if envelope.mail_from.is_some() {
                    s.reply("503 5.5.1 Sender already given").await?;
                    continue;
                }
                let Some((path, params)) = arg
                    .get(..5)
                    .filter(|p| p.eq_ignore_ascii_case("FROM:"))
                    .and_then(|_| path_of(&arg[5..]))
                else {
                    s.reply("501 5.5.4 Syntax: MAIL FROM:<address>").await?;
                    continue;
                };
                if !path.is_empty() && !printable(&path) {
                    s.reply("501 5.1.7 Bad sender address").await?;
                    continue;
                }
                let size = params
                    .split_whitespace()
                    .find_map(|p| {
                        p.to_ascii_uppercase()
                            .strip_prefix("SIZE=")
                            .map(str::to_string)
                    })
                    .and_then(|n| n.parse::<u64>().ok());
                if size.is_some_and(|n| n > config.max_size as u64) {
                    s.reply(&format!(
                        "552 5.3.4 Message larger than {} octets",
                        config.max_size
                    ))
                    .await?;
                    continue;
                }
                envelope.mail_from = Some(path);
                s.reply("250 2.1.0 OK").await?;
            }
            "RCPT" => {
                if envelope.mail_from.is_none() {
                    s.reply("503 5.5.1 Need MAIL first").await?;
                    continue;
                }
                let Some((address, _)) = arg
                    .get(..3)
                    .filter(|p| p.eq_ignore_ascii_case("TO:"))
                    .and_then(|_| path_of(&arg[3..]))
                else {
                    s.reply("501 5.5.4 Syntax: RCPT TO:<address>").await?;
                    continue;
                };
                if envelope.recipients.len() >= MAX_RECIPIENTS {
                    s.reply("452 4.5.3 Too many recipients").await?;
                    continue;
                }
                let Some((local, domain)) = address.rsplit_once('@') else {
                    s.reply("550 5.1.3 Not an address here").await?;
                    continue;
                };
                if !domain
                    .trim_end_matches('.')
                    .eq_ignore_ascii_case(&mail_domain)
                {
                    s.reply("550 5.7.1 Relaying denied: this server takes mail only for its test addresses")
                        .await?;
                    continue;
                }
                match service.live_test(local).await {
                    Ok(test) => {
                        envelope
                            .recipients
                            .push((address.to_ascii_lowercase(), test));
                        s.reply("250 2.1.5 OK").await?;
                    }
                    Err(Unknown::NoSuchTest) => {
                        s.reply("550 5.1.1 No such test address").await?;
                    }
                    Err(Unknown::Expired) => {
                        s.reply("550 5.1.1 This test address has expired; make a new one")
                            .await?;
                    }
                    Err(Unknown::Store(_)) => {
                        s.reply("451 4.3.0 Temporary failure, try again later")
                            .await?;
                    }
                }
            }
            "DATA" => {
                if envelope.recipients.is_empty() {
                    s.reply("503 5.5.1 Need RCPT first").await?;
                    continue;
                }
                s.reply("354 End data with <CR><LF>.<CR><LF>").await?;
                let mut message = Vec::new();
                let mut over = false;
                loop {
                    let line = match s.line(MAX_LINE).await? {
                        Line::Closed => return Ok(()),
                        Line::TooLong => {
                            over = true;
                            continue;
                        }
                        Line::Text(t) => t,
                    };
                    if line == b"." {
                        break;
                    }
                    let line = line.strip_prefix(b".").unwrap_or(&line);
                    if message.len() + line.len() + 2 > config.max_size {
                        over = true;
                        // A flood: past twice the limit, stop listening.
                        if message.len() + line.len() > 2 * config.max_size {
                            s.reply("552 5.3.4 Message too large").await?;
                            return Ok(());
                        }
                        message.extend_from_slice(line);
                        message.truncate(config.max_size);
                        continue;
                    }
                    message.extend_from_slice(line);
                    message.extend_from_slice(b"\r\n");
                }
                let mail_from = envelope.mail_from.take().unwrap_or_default();
                let recipients = std::mem::take(&mut envelope.recipients);
                if over {
                    let refusal =
                        format!("552 5.3.4 Message larger than {} octets", config.max_size);
                    // LMTP: one reply for each recipient taken.
                    let n = if config.lmtp { recipients.len() } else { 1 };
                    s.reply(&vec![refusal; n].join("\r\n")).await?;
                    continue;
                }
                let connection = Connection {
                    client_ip: peer.ip().to_canonical(),
                    client_port: peer.port(),
                    helo: helo.clone().unwrap_or_default(),
                    mail_from,
                    recipients: recipients.iter().map(|(a, _)| a.clone()).collect(),
                    tls: tls.clone(),
                    received_at: time::OffsetDateTime::now_utc().unix_timestamp(),
                    receiver: config.hostname.clone(),
                };
                // One audit per test named (the same test twice is one).
                let mut ids = Vec::new();
                let mut failed = None;
                let mut each: Vec<(&str, Result<String, ()>)> = Vec::new();
                for (_, test) in &recipients {
                    if let Some((_, done)) = each.iter().find(|(t, _)| *t == test.id) {
                        let done = done.clone();
                        each.push((&test.id, done));
                        continue;
                    }
                    match service
                        .receive(test, connection.clone(), message.clone())
                        .await
                    {
                        Ok(id) => {
                            ids.push(id.clone());
                            each.push((&test.id, Ok(id)));
                        }
                        Err(e) => {
                            failed = Some(e);
                            each.push((&test.id, Err(())));
                        }
                    }
                }
                if config.lmtp {
                    // RFC 2033 §4.2: a reply for each recipient, in order.
                    if matches!(failed, Some(Refused::Closing)) && ids.is_empty() {
                        s.reply("421 4.3.2 Shutting down, try again later").await?;
                        return Ok(());
                    }
                    let lines: Vec<String> = recipients
                        .iter()
                        .zip(&each)
                        .map(|((address, _), (_, done))| match done {
                            Ok(id) => format!("250 2.0.0 <{address}> OK: queued as {id}"),
                            Err(()) => {
                                format!("451 4.3.0 <{address}> Temporary failure, try again later")
                            }
                        })
                        .collect();
                    s.reply(&lines.join("\r\n")).await?;
                    continue;
                }
                match (ids.is_empty(), failed) {
                    (false, _) => {
                        s.reply(&format!("250 2.0.0 OK: queued as {}", ids.join(" ")))
                            .await?
                    }
                    (true, Some(Refused::Closing)) => {
                        s.reply("421 4.3.2 Shutting down, try again later").await?;
                        return Ok(());
                    }
                    (true, _) => {
                        s.reply("451 4.3.0 Temporary failure, try again later")
                            .await?
                    }
                }
            }
            "RSET" => {
                envelope = Envelope::default();
                s.reply("250 2.0.0 OK").await?;
            }
            "NOOP" => s.reply("250 2.0.0 OK").await?,
            "VRFY" => s.reply("252 2.5.0 Cannot verify").await?,
            "QUIT" => {
                s.reply("221 2.0.0 Bye").await?;
                return Ok(());
            }
            _ => {
                bad += 1;
                s.reply("502 5.5.2 Command not recognised").await?;
                if bad >= 5 {
                    s.reply("421 4.7.0 Too many errors").await?;
                    return Ok(());
                }
            }
        }
        if started.elapsed() > config.session_limit {
            s.reply("421 4.4.2 Session too long").await?;
            return Ok(());
        }
    }
}

//! The SMTP probe: connect to a mail server on port 25, read its banner,
//! say EHLO, run STARTTLS and look at the TLS session and the certificate
//! chain, optionally test for an open relay (MAIL FROM, RCPT TO, RSET:
//! never DATA), then QUIT. No message is ever sent.
//!
//! Everything the server says is bounded (line length, lines per reply,
//! a timeout per step) and kept as text for the report.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// The longest reply line read (RFC 5321 §4.5.3.1.5 allows 512 octets).
const MAX_LINE: usize = 2048;
/// Lines of one multi-line reply read at most.
const MAX_LINES: usize = 64;
/// A certificate expiring within this many days is said to be expiring.
pub const EXPIRING_DAYS: i64 = 14;
/// A banner later than this is slow (greeting delays hold senders back).
pub const SLOW_BANNER: Duration = Duration::from_secs(5);

/// How to probe.
#[derive(Clone)]
pub struct ProbeOptions {
    /// 25, or another port in tests.
    pub port: u16,
    /// Allowed for the connection and for each reply.
    pub timeout: Duration,
    /// The name announced in EHLO.
    pub helo: String,
    /// Also test whether the server relays for strangers.
    pub relay_test: bool,
    /// A greeting later than this is slow ([`SLOW_BANNER`]).
    pub slow_banner: Duration,
    /// Trust anchors: the Mozilla set and any `--ca-file`.
    pub roots: Arc<RootCertStore>,
    /// Which addresses may be probed (all but for `serve`).
    pub reach: crate::reach::Reach,
}

impl std::fmt::Debug for ProbeOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProbeOptions")
            .field("port", &self.port)
            .field("timeout", &self.timeout)
            .field("helo", &self.helo)
            .field("relay_test", &self.relay_test)
            .field("reach", &self.reach)
            .finish_non_exhaustive()
    }
}

/// The Mozilla trust anchors (webpki-roots) and `extra` ones.
pub fn roots(extra: &[CertificateDer<'static>]) -> Result<RootCertStore, String> {
    let mut store = RootCertStore::empty();
    store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for c in extra {
        store
            .add(c.clone())
            .map_err(|e| format!("not a usable trust anchor: {e}"))?;
    }
    Ok(store)
}

/// One probe of one address of one host.
#[derive(Debug, Clone)]
pub struct Probe {
    pub host: String,
    pub address: IpAddr,
    pub port: u16,
    /// Why no SMTP conversation took place (refused, timed out, not
    /// allowed to connect).
    pub unreachable: Option<String>,
    /// No connection was tried: the address is one this run may not
    /// reach ([`crate::reach::Reach`]).
    pub not_allowed: bool,
    pub banner: Option<String>,
    /// Milliseconds from connect to the banner.
    pub banner_ms: Option<u64>,
    pub ehlo_name: Option<String>,
    pub extensions: Vec<String>,
    pub starttls: bool,
    pub tls: Option<TlsSession>,
    /// With the relay test: whether a stranger's recipient was accepted.
    pub open_relay: Option<bool>,
    /// The conversation broke off (closed, a timeout, a reply that is not
    /// SMTP): what was seen before stands, the rest is unknown.
    pub error: Option<String>,
    /// The certificate chain presented after STARTTLS (leaf first, DER),
    /// for DANE (RFC 7672) matching.
    pub chain: Vec<CertificateDer<'static>>,
}

#[derive(Debug, Clone)]
pub struct TlsSession {
    /// TLSv1.2 or TLSv1.3, when the handshake succeeded.
    pub version: Option<String>,
    pub cipher: Option<String>,
    /// Why the handshake failed.
    pub failed: Option<String>,
    /// The server offers no TLS version of 1.2 or later.
    pub too_old: bool,
    /// The server's certificate (the first of its chain), when one came.
    pub certificate: Option<Certificate>,
}

#[derive(Debug, Clone)]
pub struct Certificate {
    pub subject: String,
    pub issuer: String,
    /// The DNS names it is valid for (subjectAltName, else the CN).
    pub names: Vec<String>,
    /// RFC 3339.
    pub not_after: String,
    pub days_left: i64,
    /// The chain leads to a trust anchor (checked as of a time inside
    /// its validity, so that expiry is said apart).
    pub trusted: bool,
    pub untrusted_because: Option<String>,
    /// One of `names` matches the host name.
    pub name_matches: bool,
}

/// Accepts every certificate (the probe only looks) and keeps the chain.
#[derive(Debug)]
struct Recorder {
    inner: Arc<WebPkiServerVerifier>,
    /// The chain the server presented (leaf first).
    seen: Mutex<Vec<CertificateDer<'static>>>,
}

impl ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        *self.seen.lock().expect("recorder lock") = std::iter::once(end_entity)
            .chain(intermediates)
            .map(|c| c.clone().into_owned())
            .collect();
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// A reply: its code and lines (without the code).
#[derive(Debug)]
struct Reply {
    code: u16,
    lines: Vec<String>,
}

/// Reads one (multi-line) reply within `timeout`.
async fn reply<S: AsyncRead + Unpin>(s: &mut S, timeout: Duration) -> Result<Reply, String> {
    let mut lines = Vec::new();
    loop {
        let line = tokio::time::timeout(timeout, read_line(s))
            .await
            .map_err(|_| format!("no reply within {} s", timeout.as_secs_f32()))??;
        if line.len() < 3 || !line.as_bytes()[..3].iter().all(u8::is_ascii_digit) {
            return Err(format!(
                "not an SMTP reply: {:?}",
                line.chars().take(80).collect::<String>()
            ));
        }
        let code: u16 = line[..3].parse().expect("three digits");
        let more = line.as_bytes().get(3) == Some(&b'-');
        lines.push(line.get(4..).unwrap_or("").trim_end().to_string());
        if !more {
            return Ok(Reply { code, lines });
        }
        if lines.len() >= MAX_LINES {
            return Err(format!("a reply of more than {MAX_LINES} lines"));
        }
    }
}

/// One line, at most [`MAX_LINE`] octets, without its line break.
async fn read_line<S: AsyncRead + Unpin>(s: &mut S) -> Result<String, String> {
    let mut buf = Vec::new();
    loop {
        let mut b = [0u8; 1];
        match s.read(&mut b).await {
            Ok(0) => {
                return Err(if buf.is_empty() {
                    "the server closed the connection".into()
                } else {
                    "the server closed the connection mid-line".into()
                });
            }
            Ok(_) => {}
            Err(e) => return Err(format!("read failed: {e}")),
        }
        if b[0] == b'\n' {
            if buf.last() == Some(&b'\r') {
                buf.pop();
            }
            return Ok(String::from_utf8_lossy(&buf).into_owned());
        }
        buf.push(b[0]);
        if buf.len() > MAX_LINE {
            return Err(format!("a reply line longer than {MAX_LINE} octets"));
        }
    }
}

async fn send<S: AsyncWrite + Unpin>(s: &mut S, line: &str) -> Result<(), String> {
    s.write_all(format!("{line}\r\n").as_bytes())
        .await
        .map_err(|e| format!("write failed: {e}"))?;
    s.flush().await.map_err(|e| format!("write failed: {e}"))
}

/// A command and its reply.
async fn command<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    line: &str,
    timeout: Duration,
) -> Result<Reply, String> {
    send(s, line).await?;
    reply(s, timeout).await
}

/// The first word of a greeting or EHLO line: the name the server gives.
fn first_word(line: &str) -> Option<String> {
    line.split_whitespace()
        .next()
        .map(|w| w.trim_end_matches('.').to_ascii_lowercase())
}

/// EHLO, then the extension keywords of the reply.
async fn ehlo<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    opts: &ProbeOptions,
) -> Result<(Option<String>, Vec<String>), String> {
    let r = command(s, &format!("EHLO {}", opts.helo), opts.timeout).await?;
    if r.code != 250 {
        return Err(format!(
            "EHLO refused: {} {}",
            r.code,
            r.lines.first().map_or("", String::as_str)
        ));
    }
    let name = r.lines.first().and_then(|l| first_word(l));
    let extensions = r
        .lines
        .iter()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .map(|k| k.to_ascii_uppercase())
        .collect();
    Ok((name, extensions))
}

/// Hands `message` (header and body, CRLF line ends) to the relay at
/// `relay` (`host:port`) for `to`, from `from`: the alert mail of watches.
/// STARTTLS is used when the relay offers it, its certificate checked
/// against the public roots and `extra_roots`; a relay that offers
/// nothing is spoken to in the clear (a local relay on loopback).
pub async fn submit(
    relay: &str,
    from: &str,
    to: &[String],
    message: &str,
    extra_roots: &[CertificateDer<'static>],
    timeout: Duration,
) -> Result<(), String> {
    let host = relay
        .rsplit_once(':')
        .map(|(h, _)| h.trim_start_matches('[').trim_end_matches(']'))
        .unwrap_or(relay)
        .to_string();
    let mut tcp = tokio::time::timeout(timeout, TcpStream::connect(relay))
        .await
        .map_err(|_| format!("no connection within {} s", timeout.as_secs()))?
        .map_err(|e| format!("cannot connect: {e}"))?;
    let greeting = reply(&mut tcp, timeout).await?;
    if greeting.code != 220 {
        return Err(format!("it greets with {}", greeting.code));
    }
    let helo = "mailaudit.invalid";
    let r = command(&mut tcp, &format!("EHLO {helo}"), timeout).await?;
    if r.code != 250 {
        return Err(format!("EHLO refused: {}", r.code));
    }
    let starttls = r
        .lines
        .iter()
        .skip(1)
        .any(|l| l.trim().eq_ignore_ascii_case("STARTTLS"));
    if !starttls {
        return transact(&mut tcp, from, to, message, timeout).await;
    }
    let r = command(&mut tcp, "STARTTLS", timeout).await?;
    if r.code != 220 {
        return Err(format!("STARTTLS refused: {}", r.code));
    }
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    for c in extra_roots {
        roots
            .add(c.clone())
            .map_err(|e| format!("a --alert-smtp-ca certificate: {e}"))?;
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = ServerName::try_from(host.clone()).map_err(|e| format!("{host}: {e}"))?;
    let mut tls = tokio::time::timeout(
        timeout,
        tokio_rustls::TlsConnector::from(Arc::new(config)).connect(name, tcp),
    )
    .await
    .map_err(|_| "no TLS handshake in time".to_string())?
    .map_err(|e| format!("TLS: {e}"))?;
    let r = command(&mut tls, &format!("EHLO {helo}"), timeout).await?;
    if r.code != 250 {
        return Err(format!("EHLO refused after STARTTLS: {}", r.code));
    }
    transact(&mut tls, from, to, message, timeout).await
}

/// MAIL, RCPT, DATA (dot-stuffed) and QUIT.
async fn transact<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    from: &str,
    to: &[String],
    message: &str,
    timeout: Duration,
) -> Result<(), String> {
    let expect = |r: Reply, code: u16, what: &str| -> Result<(), String> {
        if r.code == code {
            Ok(())
        } else {
            Err(format!(
                "{what} refused: {} {}",
                r.code,
                r.lines.first().map_or("", String::as_str)
            ))
        }
    };
    expect(
        command(s, &format!("MAIL FROM:<{from}>"), timeout).await?,
        250,
        "MAIL FROM",
    )?;
    for rcpt in to {
        expect(
            command(s, &format!("RCPT TO:<{rcpt}>"), timeout).await?,
            250,
            "RCPT TO",
        )?;
    }
    expect(command(s, "DATA", timeout).await?, 354, "DATA")?;
    let mut data = String::with_capacity(message.len() + 16);
    for line in message.split("\r\n") {
        if line.starts_with('.') {
            data.push('.');
        }
        data.push_str(line);
        data.push_str("\r\n");
    }
    if data.ends_with("\r\n\r\n") {
        data.truncate(data.len() - 2);
    }
    data.push_str(".\r\n");
    s.write_all(data.as_bytes())
        .await
        .map_err(|e| format!("write failed: {e}"))?;
    s.flush().await.map_err(|e| format!("write failed: {e}"))?;
    expect(reply(s, timeout).await?, 250, "the message")?;
    let _ = command(s, "QUIT", timeout).await;
    Ok(())
}

/// Probes `host` at `address`. Never fails: what could not be seen is
/// said in the result.
pub async fn probe(host: &str, address: IpAddr, opts: &ProbeOptions) -> Probe {
    let mut p = Probe {
        host: host.to_string(),
        address,
        port: opts.port,
        unreachable: None,
        not_allowed: false,
        banner: None,
        banner_ms: None,
        ehlo_name: None,
        extensions: Vec::new(),
        starttls: false,
        tls: None,
        open_relay: None,
        error: None,
        chain: Vec::new(),
    };
    if let Some(why) = opts.reach.refuses(address) {
        p.unreachable = Some(format!("not connected: {why}"));
        p.not_allowed = true;
        return p;
    }
    let target = SocketAddr::new(address, opts.port);
    let started = Instant::now();
    let mut tcp = match tokio::time::timeout(opts.timeout, TcpStream::connect(target)).await {
        Err(_) => {
            p.unreachable = Some(format!(
                "no connection within {} s",
                opts.timeout.as_secs_f32()
            ));
            return p;
        }
        Ok(Err(e)) => {
            p.unreachable = Some(format!("connection failed: {e}"));
            return p;
        }
        Ok(Ok(s)) => s,
    };
    if let Err(e) = converse(&mut tcp, &mut p, opts, started).await {
        p.error = Some(e);
    }
    p
}

async fn converse(
    tcp: &mut TcpStream,
    p: &mut Probe,
    opts: &ProbeOptions,
    started: Instant,
) -> Result<(), String> {
    let greeting = reply(tcp, opts.timeout).await?;
    p.banner_ms = Some(started.elapsed().as_millis() as u64);
    p.banner = greeting.lines.first().cloned();
    if greeting.code != 220 {
        return Err(format!(
            "the server greets with {} (not 220): it does not take mail",
            greeting.code
        ));
    }
    let (name, extensions) = ehlo(tcp, opts).await?;
    p.ehlo_name = name;
    p.starttls = extensions.iter().any(|e| e == "STARTTLS");
    p.extensions = extensions;
    if !p.starttls {
        relay_and_quit(tcp, p, opts).await;
        return Ok(());
    }
    let r = command(tcp, "STARTTLS", opts.timeout).await?;
    if r.code != 220 {
        p.tls = Some(TlsSession {
            version: None,
            cipher: None,
            failed: Some(format!("STARTTLS refused: {}", r.code)),
            too_old: false,
            certificate: None,
        });
        let _ = command(tcp, "QUIT", opts.timeout).await;
        return Ok(());
    }
    let recorder = Arc::new(Recorder {
        inner: WebPkiServerVerifier::builder(Arc::clone(&opts.roots))
            .build()
            .map_err(|e| format!("cannot set up certificate checks: {e}"))?,
        seen: Mutex::new(Vec::new()),
    });
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .dangerous()
    .with_custom_certificate_verifier(recorder.clone())
    .with_no_client_auth();
    let server_name = server_name(&p.host, p.address);
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let handshake =
        tokio::time::timeout(opts.timeout, connector.connect(server_name, &mut *tcp)).await;
    let chain = std::mem::take(&mut *recorder.seen.lock().expect("recorder lock"));
    let certificate = chain
        .first()
        .map(|leaf| inspect(leaf, &chain[1..], &p.host, p.address, &recorder.inner));
    p.chain = chain;
    match handshake {
        Err(_) => {
            p.tls = Some(TlsSession {
                version: None,
                cipher: None,
                failed: Some(format!(
                    "no TLS handshake within {} s",
                    opts.timeout.as_secs_f32()
                )),
                too_old: false,
                certificate,
            });
            Ok(())
        }
        Ok(Err(e)) => {
            let text = e.to_string();
            let too_old = text.contains("ProtocolVersion")
                || text.contains("does not support TLS 1.2")
                || text.contains("Tls12Or13");
            p.tls = Some(TlsSession {
                version: None,
                cipher: None,
                failed: Some(text),
                too_old,
                certificate,
            });
            Ok(())
        }
        Ok(Ok(mut tls)) => {
            let (_, conn) = tls.get_ref();
            p.tls = Some(TlsSession {
                version: conn
                    .protocol_version()
                    .map(|v| v.as_str().unwrap_or("unknown").replace("TLSv1_", "TLSv1.")),
                cipher: conn
                    .negotiated_cipher_suite()
                    .map(|c| format!("{:?}", c.suite())),
                failed: None,
                too_old: false,
                certificate,
            });
            // RFC 3207 §4.2: the session starts over.
            if ehlo(&mut tls, opts).await.is_ok() {
                relay_and_quit(&mut tls, p, opts).await;
            }
            Ok(())
        }
    }
}

/// The relay test, if asked, then QUIT; failures here change nothing
/// already seen.
async fn relay_and_quit<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    p: &mut Probe,
    opts: &ProbeOptions,
) {
    if opts.relay_test {
        p.open_relay = relay(s, opts).await.ok();
    }
    let _ = command(s, "QUIT", opts.timeout).await;
}

/// MAIL FROM:<>, RCPT TO: an address of a reserved domain (RFC 2606), then
/// RSET: whether the server takes mail for strangers from strangers.
async fn relay<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    opts: &ProbeOptions,
) -> Result<bool, String> {
    let from = command(s, "MAIL FROM:<>", opts.timeout).await?;
    if from.code != 250 {
        return Ok(false);
    }
    let rcpt = command(s, "RCPT TO:<relay-test@mailaudit.invalid>", opts.timeout).await?;
    let _ = command(s, "RSET", opts.timeout).await;
    Ok(rcpt.code == 250 || rcpt.code == 251)
}

fn server_name(host: &str, address: IpAddr) -> ServerName<'static> {
    ServerName::try_from(host.to_string()).unwrap_or(ServerName::IpAddress(address.into()))
}

/// What the certificate says, and whether it is trusted and names the
/// host (each said apart from expiry).
fn inspect(
    leaf: &CertificateDer<'static>,
    intermediates: &[CertificateDer<'static>],
    host: &str,
    address: IpAddr,
    verifier: &WebPkiServerVerifier,
) -> Certificate {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let parsed = x509_parser::parse_x509_certificate(leaf.as_ref())
        .ok()
        .map(|(_, c)| c);
    let (subject, issuer, names, not_before, not_after) = match &parsed {
        Some(c) => {
            let mut names: Vec<String> = c
                .subject_alternative_name()
                .ok()
                .flatten()
                .map(|san| {
                    san.value
                        .general_names
                        .iter()
                        .filter_map(|g| match g {
                            x509_parser::extensions::GeneralName::DNSName(n) => {
                                Some(n.to_ascii_lowercase())
                            }
                            _ => None,
                        })
                        .collect()
                })
                .unwrap_or_default();
            if names.is_empty() {
                names = c
                    .subject()
                    .iter_common_name()
                    .filter_map(|cn| cn.as_str().ok())
                    .map(str::to_ascii_lowercase)
                    .collect();
            }
            (
                c.subject().to_string(),
                c.issuer().to_string(),
                names,
                c.validity().not_before.timestamp(),
                c.validity().not_after.timestamp(),
            )
        }
        None => (String::new(), String::new(), Vec::new(), now, now),
    };
    // Trust as of a moment inside the validity period, so an expired
    // certificate is not also called untrusted.
    let inside = (not_before + 60).min(not_after).max(0) as u64;
    let at = UnixTime::since_unix_epoch(Duration::from_secs(inside));
    let verdict =
        verifier.verify_server_cert(leaf, intermediates, &server_name(host, address), &[], at);
    let (trusted, untrusted_because) = match &verdict {
        Ok(_) => (true, None),
        Err(rustls::Error::InvalidCertificate(
            rustls::CertificateError::NotValidForName
            | rustls::CertificateError::NotValidForNameContext { .. },
        )) => (true, None),
        Err(e) if parsed.is_none() => (false, Some(format!("unreadable certificate: {e}"))),
        Err(e) => (false, Some(e.to_string())),
    };
    let name_matches = names.iter().any(|n| name_match(n, host));
    Certificate {
        subject,
        issuer,
        names,
        not_after: time::OffsetDateTime::from_unix_timestamp(not_after)
            .ok()
            .and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .unwrap_or_default(),
        days_left: (not_after - now).div_euclid(86_400),
        trusted,
        untrusted_because,
        name_matches,
    }
}

/// Whether a certificate name (possibly `*.example.com`) covers `host`.
pub fn name_match(pattern: &str, host: &str) -> bool {
    crate::dns::name::wildcard_match(pattern, host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_names_match_like_rfc_6125() {
        assert!(name_match("mx.example.com", "MX.example.com."));
        assert!(name_match("*.example.com", "mx.example.com"));
        assert!(!name_match("*.example.com", "a.mx.example.com"));
        assert!(!name_match("*.example.com", "example.com"));
        assert!(!name_match("mx.example.org", "mx.example.com"));
    }

    #[tokio::test]
    async fn replies_are_bounded() {
        let long = format!("220 {}\r\n", "x".repeat(MAX_LINE + 10));
        let mut r = long.as_bytes();
        assert!(reply(&mut r, Duration::from_secs(1)).await.is_err());
        let many = "250-x\r\n".repeat(MAX_LINES + 1) + "250 x\r\n";
        let mut r = many.as_bytes();
        assert!(reply(&mut r, Duration::from_secs(1)).await.is_err());
        let mut r = "HTTP/1.1 400 Bad Request\r\n".as_bytes();
        assert!(reply(&mut r, Duration::from_secs(1)).await.is_err());
        let mut r = "250-mx.example.com hello\r\n250-PIPELINING\r\n250 STARTTLS\r\n".as_bytes();
        let ok = reply(&mut r, Duration::from_secs(1)).await.unwrap();
        assert_eq!(ok.code, 250);
        assert_eq!(ok.lines.len(), 3);
    }
}

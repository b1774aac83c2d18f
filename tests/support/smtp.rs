//! A real SMTP server on loopback for the probe's tests: a banner (after a
//! delay, or never), EHLO with or without STARTTLS, a TLS handshake with a
//! certificate made at test time (rcgen), or the refusal of a server that
//! speaks only TLS 1.1, and an open relay or not. It never takes a message.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the server does after STARTTLS.
#[derive(Clone)]
pub enum Tls {
    /// A handshake with this chain and key.
    Cert(Vec<CertificateDer<'static>>, Arc<PrivateKeyDer<'static>>),
    /// A fatal protocol_version alert: a server that knows only TLS 1.1.
    OldOnly,
    /// Something that is not TLS at all.
    Garbage,
}

#[derive(Clone)]
pub struct Config {
    /// The greeting line after "220 ".
    pub banner: String,
    /// The name in the first line of the EHLO reply.
    pub ehlo_name: String,
    /// `None`: no STARTTLS offered.
    pub tls: Option<Tls>,
    pub banner_delay: Duration,
    /// Accept connections and say nothing.
    pub silent: bool,
    pub open_relay: bool,
}

impl Config {
    pub fn plain(name: &str) -> Config {
        Config {
            banner: format!("{name} ESMTP test"),
            ehlo_name: name.to_string(),
            tls: None,
            banner_delay: Duration::ZERO,
            silent: false,
            open_relay: false,
        }
    }

    pub fn with_tls(name: &str, tls: Tls) -> Config {
        Config {
            tls: Some(tls),
            ..Config::plain(name)
        }
    }
}

/// A running test server (SMTP here, HTTPS in https.rs); stops when
/// dropped.
pub struct Server {
    pub addr: SocketAddr,
    pub task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub async fn start(config: Config) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let config = Arc::new(config);
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let config = Arc::clone(&config);
            tokio::spawn(async move {
                let _ = session(stream, &config).await;
            });
        }
    });
    Server { addr, task }
}

async fn line<S: AsyncRead + Unpin>(s: &mut S) -> std::io::Result<String> {
    let mut buf = Vec::new();
    loop {
        let mut b = [0u8; 1];
        if s.read(&mut b).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if b[0] == b'\n' {
            return Ok(String::from_utf8_lossy(&buf).trim_end().to_string());
        }
        buf.push(b[0]);
    }
}

/// Commands until QUIT, STARTTLS (`Ok(true)`) or the end.
async fn commands<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    config: &Config,
    tls_done: bool,
) -> std::io::Result<bool> {
    loop {
        let cmd = line(s).await?;
        let verb = cmd
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        let reply = match verb.as_str() {
            "EHLO" => {
                let mut r = format!(
                    "250-{} hello\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n",
                    config.ehlo_name
                );
                if config.tls.is_some() && !tls_done {
                    r.push_str("250-STARTTLS\r\n");
                }
                r.push_str("250 8BITMIME\r\n");
                r
            }
            "STARTTLS" if config.tls.is_some() && !tls_done => {
                s.write_all(b"220 2.0.0 ready to start TLS\r\n").await?;
                return Ok(true);
            }
            "MAIL" => "250 2.1.0 ok\r\n".into(),
            "RCPT" if config.open_relay => "250 2.1.5 ok\r\n".into(),
            "RCPT" => "554 5.7.1 relay access denied\r\n".into(),
            "RSET" => "250 2.0.0 ok\r\n".into(),
            "QUIT" => {
                s.write_all(b"221 2.0.0 bye\r\n").await?;
                return Ok(false);
            }
            _ => "502 5.5.2 not implemented\r\n".into(),
        };
        s.write_all(reply.as_bytes()).await?;
    }
}

async fn session(mut stream: TcpStream, config: &Config) -> std::io::Result<()> {
    if config.silent {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        return Ok(());
    }
    tokio::time::sleep(config.banner_delay).await;
    stream
        .write_all(format!("220 {}\r\n", config.banner).as_bytes())
        .await?;
    if !commands(&mut stream, config, false).await? {
        return Ok(());
    }
    match config.tls.as_ref().expect("STARTTLS only when offered") {
        Tls::OldOnly => {
            // Read the ClientHello's record header, then refuse with a
            // fatal protocol_version alert in a TLS 1.1 record.
            let mut head = [0u8; 5];
            stream.read_exact(&mut head).await?;
            stream
                .write_all(&[0x15, 0x03, 0x02, 0x00, 0x02, 0x02, 0x46])
                .await?;
            Ok(())
        }
        Tls::Garbage => {
            let mut head = [0u8; 5];
            stream.read_exact(&mut head).await?;
            stream.write_all(b"this is not TLS\r\n").await?;
            Ok(())
        }
        Tls::Cert(chain, key) => {
            let config_tls = rustls::ServerConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain.clone(), key.clone_key())
            .unwrap();
            let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config_tls));
            let mut tls = acceptor.accept(stream).await?;
            commands(&mut tls, config, true).await?;
            Ok(())
        }
    }
}

/// A certificate authority made at test time, and certificates it issues.
pub struct Ca {
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
    pub cert: CertificateDer<'static>,
}

impl Ca {
    pub fn new(name: &str) -> Ca {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
        ];
        let cert = params.self_signed(&key).unwrap().der().clone();
        Ca {
            issuer: rcgen::Issuer::new(params, key),
            cert,
        }
    }

    /// The CA certificate as PEM (for `--ca-file`).
    pub fn pem(&self) -> String {
        use std::fmt::Write;
        let b64 = data_encoding::BASE64.encode(&self.cert);
        let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
        for chunk in b64.as_bytes().chunks(64) {
            let _ = writeln!(out, "{}", std::str::from_utf8(chunk).unwrap());
        }
        out.push_str("-----END CERTIFICATE-----\n");
        out
    }

    /// A server certificate for `names`, valid from `from_days` to
    /// `to_days` days from now; the chain (leaf, CA) and key.
    pub fn issue(&self, names: &[&str], from_days: i64, to_days: i64) -> Tls {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params =
            rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now + time::Duration::days(from_days);
        params.not_after = now + time::Duration::days(to_days);
        params.distinguished_name.push(
            rcgen::DnType::CommonName,
            names.first().copied().unwrap_or("x"),
        );
        let leaf = params.signed_by(&key, &self.issuer).unwrap();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        Tls::Cert(vec![leaf.der().clone(), self.cert.clone()], Arc::new(key))
    }
}

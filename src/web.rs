//! HTTPS fetches of policies that domains publish on the web (MTA-STS):
//! reqwest over rustls with mailaudit's trust anchors, the addresses
//! resolved by mailaudit's own resolver beforehand (so `--zone` and the
//! embedded server drive them too), no redirects followed (RFC 8461 §3.3),
//! no proxy, a size cap and a timeout.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use rustls::RootCertStore;

/// The most of a body read (RFC 8461 §3.3 suggests 64 KiB for policies).
pub const MAX_BODY: usize = 64 * 1024;

/// How to fetch.
#[derive(Clone)]
pub struct WebOptions {
    /// 443, or a test server's port.
    pub port: u16,
    pub timeout: Duration,
    pub roots: Arc<RootCertStore>,
    /// Offline (`--web DIR`): connect here whatever the name resolves to.
    pub connect_to: Option<SocketAddr>,
    /// Which resolved addresses may be connected to (all but for `serve`).
    pub reach: crate::reach::Reach,
}

impl std::fmt::Debug for WebOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebOptions")
            .field("port", &self.port)
            .field("timeout", &self.timeout)
            .field("reach", &self.reach)
            .finish_non_exhaustive()
    }
}

/// What came back.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: String,
}

/// Why nothing usable came back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchError {
    /// The certificate is not valid for the host (untrusted, expired, for
    /// another name): senders refuse it too.
    Certificate(String),
    /// No answer in time: maybe the server, maybe the network here.
    Timeout,
    /// Refused, reset, or not HTTPS: senders fail the same way.
    Connect(String),
    /// Larger than [`MAX_BODY`].
    TooLarge,
    /// Not tried: every address is one this run may not reach
    /// ([`crate::reach::Reach`]); what is there is unknown.
    NotAllowed(String),
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FetchError::Certificate(e) => write!(f, "its certificate is not valid: {e}"),
            FetchError::Timeout => write!(f, "no answer in time"),
            FetchError::Connect(e) => write!(f, "{e}"),
            FetchError::TooLarge => write!(f, "larger than {MAX_BODY} octets"),
            FetchError::NotAllowed(why) => write!(f, "not tried: {why}"),
        }
    }
}

/// GETs `https://host[:port]path` from `addresses`.
pub async fn get(
    host: &str,
    path: &str,
    addresses: &[IpAddr],
    opts: &WebOptions,
) -> Result<Fetched, FetchError> {
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| FetchError::Connect(e.to_string()))?
    .with_root_certificates(Arc::clone(&opts.roots))
    .with_no_client_auth();
    let addrs: Vec<SocketAddr> = match opts.connect_to {
        Some(to) => vec![to],
        None => {
            let allowed: Vec<SocketAddr> = addresses
                .iter()
                .filter(|ip| opts.reach.refuses(**ip).is_none())
                .map(|ip| SocketAddr::new(*ip, opts.port))
                .collect();
            if allowed.is_empty()
                && let Some(why) = addresses.iter().find_map(|ip| opts.reach.refuses(*ip))
            {
                return Err(FetchError::NotAllowed(why));
            }
            allowed
        }
    };
    let port = opts.connect_to.map_or(opts.port, |to| to.port());
    let client = reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .resolve_to_addrs(host, &addrs)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(opts.timeout)
        .user_agent(concat!("mailaudit/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| FetchError::Connect(e.to_string()))?;
    let url = if port == 443 {
        format!("https://{host}{path}")
    } else {
        format!("https://{host}:{port}{path}")
    };
    let mut response = client.get(&url).send().await.map_err(classify)?;
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(classify)? {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_BODY {
            return Err(FetchError::TooLarge);
        }
    }
    Ok(Fetched {
        status,
        content_type,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// The cause of a reqwest error, as the report says it. The rustls error
/// travels through hyper and io::Error wrappers (io::Error hides its inner
/// error from `source()`), so each level is read as text too.
fn classify(e: reqwest::Error) -> FetchError {
    if e.is_timeout() {
        return FetchError::Timeout;
    }
    let mut source: Option<&dyn std::error::Error> = Some(&e);
    let mut deepest = e.to_string();
    while let Some(s) = source {
        let text = s.to_string();
        if let Some(why) = text.split("invalid peer certificate: ").nth(1) {
            return FetchError::Certificate(why.to_string());
        }
        if let Some(io) = s.downcast_ref::<std::io::Error>()
            && let Some(inner) = io.get_ref()
        {
            let inner = inner.to_string();
            if let Some(why) = inner.split("invalid peer certificate: ").nth(1) {
                return FetchError::Certificate(why.to_string());
            }
            deepest = inner;
        } else {
            deepest = text;
        }
        source = s.source();
    }
    FetchError::Connect(deepest)
}

/// An HTTPS server on loopback for offline runs (`--web DIR`): it serves
/// `DIR/<host>/<path>` for every host that is a directory of DIR, with a
/// certificate for those hosts from a certificate authority made for the
/// run (trusted by that run only), so an audit can check an MTA-STS
/// policy or a BIMI logo before it is published. Request heads are
/// bounded; paths are confined to the host's directory.
pub struct WebServer {
    pub addr: SocketAddr,
    /// The run's certificate authority, to trust.
    pub ca: rustls::pki_types::CertificateDer<'static>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for WebServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Why `--web DIR` cannot be served.
#[derive(Debug, thiserror::Error)]
#[error("--web {dir}: {why}")]
pub struct WebServerError {
    pub dir: String,
    pub why: String,
}

impl WebServer {
    pub async fn start(root: &std::path::Path) -> Result<WebServer, WebServerError> {
        let err = |why: String| WebServerError {
            dir: root.display().to_string(),
            why,
        };
        let mut hosts: Vec<String> = std::fs::read_dir(root)
            .map_err(|e| err(e.to_string()))?
            .filter_map(|e| e.ok())
            .filter(|e| e.path().is_dir())
            .filter_map(|e| e.file_name().to_str().map(str::to_ascii_lowercase))
            .collect();
        hosts.sort();
        if hosts.is_empty() {
            return Err(err("no host directories in it (DIR/<host>/<path>)".into()));
        }
        let (ca, chain, key) = certificates(&hosts).map_err(|e| err(e.to_string()))?;
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| err(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| err(e.to_string()))?;
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0))
            .await
            .map_err(|e| err(e.to_string()))?;
        let addr = listener.local_addr().map_err(|e| err(e.to_string()))?;
        let root = root.to_path_buf();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (acceptor, root) = (acceptor.clone(), root.clone());
                tokio::spawn(async move {
                    if let Ok(tls) = acceptor.accept(stream).await {
                        let _ = serve(tls, &root).await;
                    }
                });
            }
        });
        Ok(WebServer { addr, ca, task })
    }
}

type Chain = (
    rustls::pki_types::CertificateDer<'static>,
    Vec<rustls::pki_types::CertificateDer<'static>>,
    rustls::pki_types::PrivateKeyDer<'static>,
);

/// A CA for the run and a certificate for `hosts` it signed.
fn certificates(hosts: &[String]) -> Result<Chain, rcgen::Error> {
    let ca_key = rcgen::KeyPair::generate()?;
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(
        rcgen::DnType::CommonName,
        "mailaudit offline web (this run only)",
    );
    ca_params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    let ca = ca_params.self_signed(&ca_key)?.der().clone();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let key = rcgen::KeyPair::generate()?;
    let leaf = rcgen::CertificateParams::new(hosts.to_vec())?.signed_by(&key, &issuer)?;
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(rustls::pki_types::PrivatePkcs8KeyDer::from(
        key.serialize_der(),
    ));
    Ok((ca.clone(), vec![leaf.der().clone(), ca], key))
}

/// One request: the file `root/<host>/<path>`, or 404.
async fn serve<S>(mut s: S, root: &std::path::Path) -> std::io::Result<()>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if s.read(&mut b).await? == 0 || head.len() > 16_384 {
            return Ok(());
        }
        head.push(b[0]);
    }
    let head = String::from_utf8_lossy(&head);
    let path = head.split_whitespace().nth(1).unwrap_or("/");
    let host = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("host").then(|| v.trim().to_string())
        })
        .unwrap_or_default();
    let host = host.split(':').next().unwrap_or("").to_ascii_lowercase();
    let file = confined(root, &host, path);
    let (status, kind, body) = match file.and_then(|f| std::fs::read(f).ok()) {
        Some(body) => {
            let kind = if path.ends_with(".svg") {
                "image/svg+xml"
            } else {
                "text/plain"
            };
            ("200 OK", kind, body)
        }
        None => ("404 Not Found", "text/plain", b"not found\n".to_vec()),
    };
    let reply = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(reply.as_bytes()).await?;
    s.write_all(&body).await?;
    s.shutdown().await
}

/// `root/host/path` when every part is a plain name (no `..`, no
/// separators in the host), else `None`.
fn confined(root: &std::path::Path, host: &str, path: &str) -> Option<std::path::PathBuf> {
    if host.is_empty() || host.contains(['/', '\\']) || host.starts_with('.') {
        return None;
    }
    let mut out = root.join(host);
    for part in path.split('?').next()?.split('/').filter(|p| !p.is_empty()) {
        if part == ".." || part == "." || part.contains('\\') {
            return None;
        }
        out.push(part);
    }
    out.is_file().then_some(out)
}

/// An HTTP client for an address the operator configured (a webhook, a
/// spam filter): the public roots, no proxy, no redirects, the system's
/// resolver, `timeout` for the whole exchange.
pub fn operator_client(timeout: Duration) -> Result<reqwest::Client, String> {
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(Arc::new(RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    }))
    .with_no_client_auth();
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .user_agent(concat!("mailaudit/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| e.to_string())
}

/// A client error in a sentence (reqwest's innermost cause).
pub fn describe_error(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return "no answer in time".into();
    }
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text = s.to_string();
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn served_paths_stay_inside_the_host_directory() {
        let dir = tempfile::tempdir().unwrap();
        let host = dir.path().join("mta-sts.example.com/.well-known");
        std::fs::create_dir_all(&host).unwrap();
        std::fs::write(host.join("mta-sts.txt"), "x").unwrap();
        std::fs::write(dir.path().join("secret"), "x").unwrap();
        let root = dir.path();
        assert!(confined(root, "mta-sts.example.com", "/.well-known/mta-sts.txt").is_some());
        assert!(confined(root, "mta-sts.example.com", "/.well-known/mta-sts.txt?x=1").is_some());
        for (h, p) in [
            ("mta-sts.example.com", "/../secret"),
            ("mta-sts.example.com", "/.well-known/../../secret"),
            ("..", "/secret"),
            ("", "/secret"),
            ("a/b", "/x"),
            ("mta-sts.example.com", "/.well-known"),
        ] {
            assert!(confined(root, h, p).is_none(), "{h} {p}");
        }
    }
}

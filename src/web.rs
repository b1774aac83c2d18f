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
}

impl std::fmt::Debug for WebOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebOptions")
            .field("port", &self.port)
            .field("timeout", &self.timeout)
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
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FetchError::Certificate(e) => write!(f, "its certificate is not valid: {e}"),
            FetchError::Timeout => write!(f, "no answer in time"),
            FetchError::Connect(e) => write!(f, "{e}"),
            FetchError::TooLarge => write!(f, "larger than {MAX_BODY} octets"),
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
    let addrs: Vec<SocketAddr> = addresses
        .iter()
        .map(|ip| SocketAddr::new(*ip, opts.port))
        .collect();
    let client = reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .resolve_to_addrs(host, &addrs)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(opts.timeout)
        .user_agent(concat!("mailaudit/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| FetchError::Connect(e.to_string()))?;
    let url = if opts.port == 443 {
        format!("https://{host}{path}")
    } else {
        format!("https://{host}:{}{path}", opts.port)
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

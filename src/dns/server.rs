//! The embedded authoritative DNS server.
//!
//! `--zone FILE` loads RFC 1035 zone files into an in-process hickory-server
//! on loopback and the resolver is pointed at it, so a domain's records can
//! be audited before they are published. The integration tests use the same
//! server through one seam, an [`Interceptor`] that sees every question
//! before the zones answer it and may answer it itself (late, not at all,
//! with an error code, truncated, or with records of its choosing). The
//! faults themselves live in the test code; a server started with
//! [`ZoneServer::start`] has no interceptor and answers from its zones.

use std::collections::{BTreeMap, HashMap};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::{Header, HeaderCounts, ResponseCode};
use hickory_proto::rr::{LowerName, Name, RecordSet, RecordType, RrKey};
use hickory_proto::serialize::txt::Parser;
use hickory_resolver::net::runtime::{Time, TokioRuntimeProvider};
use hickory_server::Server;
use hickory_server::dnssec::NxProofKind;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::store::in_memory::InMemoryZoneHandler;
use hickory_server::zone_handler::{
    AxfrPolicy, Catalog, MessageResponseBuilder, ZoneHandler, ZoneType,
};
use thiserror::Error;
use tokio::net::{TcpListener, UdpSocket};

#[derive(Debug, Error)]
pub enum ZoneError {
    #[error("zone file {path}: cannot read: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("zone file {path}: {line}{message}")]
    Syntax {
        path: String,
        /// "line N: " when the line could be found, else "".
        line: String,
        message: String,
    },
    #[error("cannot start the embedded DNS server: {0}")]
    Start(String),
}

/// One parsed zone, ready to serve.
#[derive(Debug, Clone)]
pub struct Zone {
    /// The origin, lower case, without the trailing dot.
    pub origin: String,
    origin_name: Name,
    records: BTreeMap<RrKey, RecordSet>,
    /// Served signed with this key (NSEC, RRSIGs made at start).
    key: Option<crate::dns::dnssec::ZoneKey>,
    /// Records of a signed zone's file that were left out (RRSIG, NSEC,
    /// DNSKEY...): the zone is served unsigned.
    pub signing_records: usize,
}

impl Zone {
    /// Parses zone-file text; `path` names the input in error messages.
    pub fn parse(text: &str, path: &str) -> Result<Zone, ZoneError> {
        let (stripped, signing_records) = crate::dns::signed_zone::strip(text);
        let text = stripped.as_str();
        if let Some((line, len)) = long_string(text) {
            return Err(ZoneError::Syntax {
                path: path.to_string(),
                line: format!("line {line}: "),
                message: format!(
                    "a character-string of {len} octets; one holds at most 255 (RFC 1035 §3.3): split it into several quoted strings, as \"v=DKIM1; \" \"p=...\""
                ),
            });
        }
        let parse = |t: &str| Parser::new(t.to_string(), None, None).parse();
        let (origin_name, records) = parse(text).map_err(|e| ZoneError::Syntax {
            path: path.to_string(),
            line: error_line(text, &parse).map_or(String::new(), |n| format!("line {n}: ")),
            message: e.to_string(),
        })?;
        let soa = RrKey::new(origin_name.clone().into(), RecordType::SOA);
        if !records.contains_key(&soa) {
            return Err(ZoneError::Syntax {
                path: path.to_string(),
                line: String::new(),
                message: format!("no SOA record at the zone origin {origin_name}"),
            });
        }
        let origin = origin_name.to_ascii().to_ascii_lowercase();
        Ok(Zone {
            origin: origin.trim_end_matches('.').to_string(),
            origin_name,
            records,
            key: None,
            signing_records,
        })
    }

    /// The same zone, served signed with `key`: the server adds the DNSKEY,
    /// NSEC and RRSIG records when it starts. The parent zone chains to it
    /// with [`crate::dns::dnssec::ZoneKey::ds_line`].
    pub fn signed(mut self, key: crate::dns::dnssec::ZoneKey) -> Zone {
        self.key = Some(key);
        self
    }

    pub fn load(path: &Path) -> Result<Zone, ZoneError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ZoneError::Read {
            path: shown.clone(),
            source,
        })?;
        Zone::parse(&text, &shown)
    }
}

/// The first quoted string longer than 255 octets: its line and length.
/// The parser would take it and the server could then never answer the
/// name (a record it cannot encode), so it is refused when the zone loads.
fn long_string(text: &str) -> Option<(usize, usize)> {
    let mut line = 1;
    let mut in_string = false;
    let mut start_line = 1;
    let mut len = 0usize;
    let mut bytes = text.bytes();
    while let Some(b) = bytes.next() {
        match (in_string, b) {
            (_, b'\n') if !in_string => line += 1,
            (false, b';') => {
                // A comment runs to the end of the line.
                for c in bytes.by_ref() {
                    if c == b'\n' {
                        line += 1;
                        break;
                    }
                }
            }
            (false, b'"') => {
                in_string = true;
                start_line = line;
                len = 0;
            }
            (true, b'"') => {
                in_string = false;
                if len > 255 {
                    return Some((start_line, len));
                }
            }
            (true, b'\\') => {
                // \DDD is one octet; \X is X.
                len += 1;
                match bytes.next() {
                    Some(d) if d.is_ascii_digit() => {
                        bytes.next();
                        bytes.next();
                    }
                    Some(b'\n') => line += 1,
                    _ => {}
                }
            }
            (true, b'\n') => {
                line += 1;
                len += 1;
            }
            (true, _) => len += 1,
            _ => {}
        }
    }
    None
}

/// The zone parser reports no positions: find the first line whose prefix
/// no longer parses (ignoring prefixes that only end inside a parenthesis).
fn error_line<E>(
    text: &str,
    parse: &impl Fn(&str) -> Result<(Name, BTreeMap<RrKey, RecordSet>), E>,
) -> Option<usize> {
    let lines: Vec<&str> = text.lines().collect();
    let mut prefix = String::with_capacity(text.len());
    let mut depth = 0i32;
    for (i, line) in lines.iter().enumerate() {
        prefix.push_str(line);
        prefix.push('\n');
        let code = line.split(';').next().unwrap_or("");
        depth += code.matches('(').count() as i32 - code.matches(')').count() as i32;
        if depth <= 0 && parse(&prefix).is_err() {
            return Some(i + 1);
        }
    }
    None
}

/// What an [`Interceptor`] does with one question.
#[derive(Debug, Clone)]
pub enum Intercept {
    /// Answer from the zones.
    Serve,
    /// Answer with this response code and no records.
    Rcode(ResponseCode),
    /// Over UDP, an empty answer with the TC bit set; over TCP, serve.
    Truncate,
    /// These records as the answer section (NOERROR).
    Answer(Vec<hickory_proto::rr::Record>),
    /// Send nothing at all.
    Silence,
}

/// Sees every question before the zones answer it (the test seam).
#[async_trait::async_trait]
pub trait Interceptor: Send + Sync + 'static {
    /// Decides what happens to (`name`, `rtype`); it may wait first.
    async fn intercept(&self, name: &str, rtype: RecordType, over_tcp: bool) -> Intercept;
    /// Called when the question has been dealt with.
    fn finished(&self, _name: &str, _rtype: RecordType) {}
}

struct Handler {
    catalog: Catalog,
    /// For a DS question at a zone's apex, the parent zone alone: the DS
    /// set lives at the delegation in the parent (RFC 4035 §3.1.4.1),
    /// while the catalog would pick the child.
    parents: HashMap<LowerName, Catalog>,
    interceptor: Option<Arc<dyn Interceptor>>,
}

impl Handler {
    /// The catalog that answers `request`.
    fn catalog_for(&self, request: &Request) -> &Catalog {
        match request.request_info() {
            Ok(info) if info.query.query_type() == RecordType::DS => {
                self.parents.get(info.query.name()).unwrap_or(&self.catalog)
            }
            _ => &self.catalog,
        }
    }
}

#[async_trait::async_trait]
impl RequestHandler for Handler {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        mut response_handle: R,
    ) -> ResponseInfo {
        let (Some(interceptor), Ok(info)) = (&self.interceptor, request.request_info()) else {
            return self
                .catalog_for(request)
                .handle_request::<R, T>(request, response_handle)
                .await;
        };
        // The labels as they came (no escaping), lower case.
        let raw = crate::dns::wire::raw_name(info.query.name());
        let name = String::from_utf8_lossy(&raw)
            .trim_end_matches('.')
            .to_string();
        let rtype = info.query.query_type();
        let tcp = request.protocol() != hickory_resolver::net::xfer::Protocol::Udp;
        let action = interceptor.intercept(&name, rtype, tcp).await;
        let response = match action {
            Intercept::Serve => None,
            Intercept::Truncate if tcp => None,
            Intercept::Silence => {
                interceptor.finished(&name, rtype);
                return ResponseInfo::from(Header {
                    metadata: hickory_proto::op::Metadata::response_from_request(&request.metadata),
                    counts: HeaderCounts::default(),
                });
            }
            other => Some(other),
        };
        let info = match response {
            None => {
                self.catalog_for(request)
                    .handle_request::<R, T>(request, response_handle)
                    .await
            }
            Some(Intercept::Rcode(code)) => {
                let response = MessageResponseBuilder::from_message_request(request)
                    .error_msg(&request.metadata, code);
                send(&mut response_handle, response, request).await
            }
            Some(Intercept::Answer(records)) => {
                let mut metadata =
                    hickory_proto::op::Metadata::response_from_request(&request.metadata);
                metadata.authoritative = true;
                let response = MessageResponseBuilder::from_message_request(request).build(
                    metadata,
                    records.iter(),
                    std::iter::empty(),
                    std::iter::empty(),
                    std::iter::empty(),
                );
                send(&mut response_handle, response, request).await
            }
            Some(_) => {
                let mut metadata =
                    hickory_proto::op::Metadata::response_from_request(&request.metadata);
                metadata.truncation = true;
                metadata.authoritative = true;
                let response = MessageResponseBuilder::from_message_request(request)
                    .build_no_records(metadata);
                send(&mut response_handle, response, request).await
            }
        };
        interceptor.finished(&name, rtype);
        info
    }
}

async fn send<'a, R: ResponseHandler>(
    handle: &mut R,
    response: hickory_server::zone_handler::MessageResponse<
        '_,
        'a,
        impl Iterator<Item = &'a hickory_proto::rr::Record> + Send + 'a,
        impl Iterator<Item = &'a hickory_proto::rr::Record> + Send + 'a,
        impl Iterator<Item = &'a hickory_proto::rr::Record> + Send + 'a,
        impl Iterator<Item = &'a hickory_proto::rr::Record> + Send + 'a,
    >,
    request: &Request,
) -> ResponseInfo {
    match handle.send_response(response).await {
        Ok(info) => info,
        Err(_) => ResponseInfo::from(Header {
            metadata: hickory_proto::op::Metadata::response_from_request(&request.metadata),
            counts: HeaderCounts::default(),
        }),
    }
}

/// A running embedded server. Dropping it stops it.
pub struct ZoneServer {
    addr: SocketAddr,
    origins: Vec<String>,
    _server: Server<Handler>,
}

impl ZoneServer {
    /// Serves `zones` on a free loopback port (UDP and TCP on the same port).
    /// Must be called inside a tokio runtime.
    pub async fn start(zones: Vec<Zone>) -> Result<ZoneServer, ZoneError> {
        ZoneServer::start_with(zones, None).await
    }

    /// Like [`ZoneServer::start`], with every question shown to
    /// `interceptor` first.
    pub async fn start_with(
        zones: Vec<Zone>,
        interceptor: Option<Arc<dyn Interceptor>>,
    ) -> Result<ZoneServer, ZoneError> {
        ZoneServer::start_at(zones, interceptor, None).await
    }

    /// Like [`ZoneServer::start_with`], on `addr` (UDP and TCP) when
    /// given: a benchmark's server on port 53 for tools that cannot be
    /// given a port.
    pub async fn start_at(
        zones: Vec<Zone>,
        interceptor: Option<Arc<dyn Interceptor>>,
        addr: Option<SocketAddr>,
    ) -> Result<ZoneServer, ZoneError> {
        let mut catalog = Catalog::new();
        let mut origins = Vec::new();
        let mut handlers: Vec<(LowerName, Arc<dyn ZoneHandler>)> = Vec::new();
        for zone in zones {
            let proof = zone.key.as_ref().map(|_| NxProofKind::Nsec);
            let mut handler = InMemoryZoneHandler::<TokioRuntimeProvider>::new(
                zone.origin_name.clone(),
                zone.records,
                ZoneType::Primary,
                AxfrPolicy::Deny,
                proof,
            )
            .map_err(ZoneError::Start)?;
            if let Some(key) = &zone.key {
                let sign = |e: String| ZoneError::Start(format!("signing {}: {e}", zone.origin));
                let signer = key.signer(&zone.origin_name).map_err(sign)?;
                handler
                    .add_zone_signing_key_mut(signer)
                    .map_err(|e| sign(e.to_string()))?;
                handler.secure_zone_mut().map_err(|e| sign(e.to_string()))?;
            }
            let handler: Arc<dyn ZoneHandler> = Arc::new(handler);
            let name = LowerName::from(zone.origin_name);
            catalog.upsert(name.clone(), vec![Arc::clone(&handler)]);
            handlers.push((name, handler));
            origins.push(zone.origin);
        }
        let mut parents = HashMap::new();
        for (name, _) in &handlers {
            let parent = handlers
                .iter()
                .filter(|(p, _)| p != name && p.zone_of(name))
                .max_by_key(|(p, _)| p.num_labels());
            if let Some((p, h)) = parent {
                let mut only = Catalog::new();
                only.upsert(p.clone(), vec![Arc::clone(h)]);
                parents.insert(name.clone(), only);
            }
        }
        let handler = Handler {
            catalog,
            parents,
            interceptor,
        };

        let (udp, tcp) = match addr {
            None => bind_pair().await?,
            Some(addr) => {
                let bind = |e: std::io::Error| ZoneError::Start(format!("{addr}: {e}"));
                (
                    UdpSocket::bind(addr).await.map_err(bind)?,
                    TcpListener::bind(addr).await.map_err(bind)?,
                )
            }
        };
        let addr = udp
            .local_addr()
            .map_err(|e| ZoneError::Start(e.to_string()))?;
        let mut server = Server::new(handler);
        server.register_socket(udp);
        server.register_listener(tcp, Duration::from_secs(10), 65_535);
        Ok(ZoneServer {
            addr,
            origins,
            _server: server,
        })
    }

    /// Loads zone files and serves them.
    pub async fn from_files(paths: &[impl AsRef<Path>]) -> Result<ZoneServer, ZoneError> {
        let zones = paths
            .iter()
            .map(|p| Zone::load(p.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        ZoneServer::start(zones).await
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The origins of the served zones (lower case, no trailing dot).
    pub fn origins(&self) -> &[String] {
        &self.origins
    }
}

async fn bind_pair() -> Result<(UdpSocket, TcpListener), ZoneError> {
    let mut last = String::new();
    for _ in 0..20 {
        let udp = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .map_err(|e| ZoneError::Start(e.to_string()))?;
        let port = udp
            .local_addr()
            .map_err(|e| ZoneError::Start(e.to_string()))?
            .port();
        match TcpListener::bind((Ipv4Addr::LOCALHOST, port)).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(e) => last = e.to_string(),
        }
    }
    Err(ZoneError::Start(format!("no free loopback port: {last}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str =
        "$ORIGIN z.test.\n$TTL 300\n@ IN SOA ns.z.test. h.z.test. 1 3600 600 86400 300\n";

    #[test]
    fn strings_over_255_octets_are_load_errors_naming_the_line() {
        let long = "a".repeat(256);
        let text = format!("{HEAD}; a comment with a \" quote\nk IN TXT \"{long}\"\n");
        let e = Zone::parse(&text, "z.zone").unwrap_err().to_string();
        assert!(
            e.contains("z.zone: line 5") && e.contains("256 octets"),
            "{e}"
        );
        // 255 octets, or a long record split into strings, load.
        let ok = format!(
            "{HEAD}k IN TXT \"{}\" \"{}\"\n",
            "a".repeat(255),
            "b".repeat(200)
        );
        assert!(Zone::parse(&ok, "z.zone").is_ok());
    }
}

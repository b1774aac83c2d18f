//! The embedded authoritative DNS server.
//!
//! `--zone FILE` loads RFC 1035 zone files into an in-process hickory-server
//! on loopback and the resolver is pointed at it, so a domain's records can
//! be audited before they are published. The integration tests use the same
//! server, and can make it misbehave per name ([`Fault`]): answer late, not
//! at all, with SERVFAIL or REFUSED, or truncated over UDP. So every fault
//! path is exercised over real DNS on a real socket.

use std::collections::{BTreeMap, HashMap};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use hickory_proto::op::{Header, HeaderCounts, ResponseCode};
use hickory_proto::rr::{Name, RecordSet, RecordType, RrKey};
use hickory_proto::serialize::txt::Parser;
use hickory_resolver::net::runtime::{Time, TokioRuntimeProvider};
use hickory_server::Server;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::store::in_memory::InMemoryZoneHandler;
use hickory_server::zone_handler::{AxfrPolicy, Catalog, MessageResponseBuilder, ZoneType};
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
}

impl Zone {
    /// Parses zone-file text; `path` names the input in error messages.
    pub fn parse(text: &str, path: &str) -> Result<Zone, ZoneError> {
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
        })
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

/// A way for the server to misbehave on a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Answer normally, after this delay.
    Delay(Duration),
    /// Never answer.
    Drop,
    ServFail,
    Refused,
    /// Over UDP, an empty answer with the TC bit set; over TCP, the answer.
    Truncate,
}

#[derive(Default)]
struct Faults {
    /// Exact names, or "*.zone" for every name below a zone.
    by_name: HashMap<String, Fault>,
    /// Added to every answer.
    latency: Duration,
    /// Questions received, per (name, type).
    log: HashMap<(String, RecordType), u32>,
    /// Questions being handled now, and the most at any one time.
    in_flight: u32,
    max_in_flight: u32,
}

impl Faults {
    fn find(&self, name: &str, rtype: RecordType) -> Option<Fault> {
        if let Some(f) = self.by_name.get(&format!("{name}/{rtype}")) {
            return Some(*f);
        }
        if let Some(f) = self.by_name.get(name) {
            return Some(*f);
        }
        let mut rest = name;
        while let Some((_, parent)) = rest.split_once('.') {
            if let Some(f) = self.by_name.get(&format!("*.{parent}")) {
                return Some(*f);
            }
            rest = parent;
        }
        None
    }
}

struct Handler {
    catalog: Catalog,
    faults: Arc<RwLock<Faults>>,
}

#[async_trait::async_trait]
impl RequestHandler for Handler {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        response_handle: R,
    ) -> ResponseInfo {
        let (name, rtype) = match request.request_info() {
            Ok(info) => {
                let n = info.query.name().to_string().to_ascii_lowercase();
                (n.trim_end_matches('.').to_string(), info.query.query_type())
            }
            Err(_) => {
                return self
                    .catalog
                    .handle_request::<R, T>(request, response_handle)
                    .await;
            }
        };
        let (fault, latency) = {
            let mut faults = self.faults.write().expect("faults lock");
            *faults.log.entry((name.clone(), rtype)).or_default() += 1;
            faults.in_flight += 1;
            faults.max_in_flight = faults.max_in_flight.max(faults.in_flight);
            (faults.find(&name, rtype), faults.latency)
        };
        let info = self
            .answer::<R, T>(request, response_handle, fault, latency)
            .await;
        self.faults.write().expect("faults lock").in_flight -= 1;
        info
    }
}

impl Handler {
    async fn answer<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        mut response_handle: R,
        fault: Option<Fault>,
        latency: Duration,
    ) -> ResponseInfo {
        let delay = latency
            + match fault {
                Some(Fault::Delay(d)) => d,
                _ => Duration::ZERO,
            };
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let code = match fault {
            Some(Fault::Drop) => {
                // Hold the request long enough for any client to give up.
                tokio::time::sleep(Duration::from_secs(30)).await;
                return ResponseInfo::from(Header {
                    metadata: hickory_proto::op::Metadata::response_from_request(&request.metadata),
                    counts: HeaderCounts::default(),
                });
            }
            Some(Fault::ServFail) => Some(ResponseCode::ServFail),
            Some(Fault::Refused) => Some(ResponseCode::Refused),
            Some(Fault::Truncate)
                if request.protocol() == hickory_resolver::net::xfer::Protocol::Udp =>
            {
                let mut metadata =
                    hickory_proto::op::Metadata::response_from_request(&request.metadata);
                metadata.truncation = true;
                metadata.authoritative = true;
                let response = MessageResponseBuilder::from_message_request(request)
                    .build_no_records(metadata);
                return send(&mut response_handle, response, request).await;
            }
            _ => None,
        };
        match code {
            Some(code) => {
                let response = MessageResponseBuilder::from_message_request(request)
                    .error_msg(&request.metadata, code);
                send(&mut response_handle, response, request).await
            }
            None => {
                self.catalog
                    .handle_request::<R, T>(request, response_handle)
                    .await
            }
        }
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
    faults: Arc<RwLock<Faults>>,
    _server: Server<Handler>,
}

impl ZoneServer {
    /// Serves `zones` on a free loopback port (UDP and TCP on the same port).
    /// Must be called inside a tokio runtime.
    pub async fn start(zones: Vec<Zone>) -> Result<ZoneServer, ZoneError> {
        let mut catalog = Catalog::new();
        let mut origins = Vec::new();
        for zone in zones {
            let handler = InMemoryZoneHandler::<TokioRuntimeProvider>::new(
                zone.origin_name.clone(),
                zone.records,
                ZoneType::Primary,
                AxfrPolicy::Deny,
            )
            .map_err(ZoneError::Start)?;
            catalog.upsert(zone.origin_name.into(), vec![Arc::new(handler)]);
            origins.push(zone.origin);
        }
        let faults = Arc::new(RwLock::new(Faults::default()));
        let handler = Handler {
            catalog,
            faults: faults.clone(),
        };

        let (udp, tcp) = bind_pair().await?;
        let addr = udp
            .local_addr()
            .map_err(|e| ZoneError::Start(e.to_string()))?;
        let mut server = Server::new(handler);
        server.register_socket(udp);
        server.register_listener(tcp, Duration::from_secs(10), 65_535);
        Ok(ZoneServer {
            addr,
            origins,
            faults,
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

    /// Makes the server misbehave on `name` ("*.zone" for every name below
    /// `zone`).
    pub fn set_fault(&self, name: &str, fault: Fault) {
        self.faults
            .write()
            .expect("faults lock")
            .by_name
            .insert(name.trim_end_matches('.').to_ascii_lowercase(), fault);
    }

    /// Like [`ZoneServer::set_fault`], for one record type only.
    pub fn set_fault_for(&self, name: &str, rtype: RecordType, fault: Fault) {
        let key = format!(
            "{}/{rtype}",
            name.trim_end_matches('.').to_ascii_lowercase()
        );
        self.faults
            .write()
            .expect("faults lock")
            .by_name
            .insert(key, fault);
    }

    pub fn clear_faults(&self) {
        self.faults.write().expect("faults lock").by_name.clear();
    }

    /// Delays every answer by `latency`.
    pub fn set_latency(&self, latency: Duration) {
        self.faults.write().expect("faults lock").latency = latency;
    }

    /// How many times (name, type) was asked.
    pub fn queries_for(&self, name: &str, rtype: RecordType) -> u32 {
        let key = (name.trim_end_matches('.').to_ascii_lowercase(), rtype);
        self.faults
            .read()
            .expect("faults lock")
            .log
            .get(&key)
            .copied()
            .unwrap_or(0)
    }

    /// The most questions the server was handling at one time.
    pub fn max_in_flight(&self) -> u32 {
        self.faults.read().expect("faults lock").max_in_flight
    }

    /// Questions received in all.
    pub fn total_queries(&self) -> u32 {
        self.faults.read().expect("faults lock").log.values().sum()
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

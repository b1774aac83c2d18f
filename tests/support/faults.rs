//! Fault injection for the embedded DNS server, in test code: an
//! [`Interceptor`] that makes the server answer late, not at all, with
//! SERVFAIL or REFUSED, truncated over UDP, or with a malformed answer (a
//! record of another name or type), per name; and that logs every question.
//! Shared by the integration tests and the benchmarks (`#[path]`).

#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::{A, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use mailaudit::dns::server::{Intercept, Interceptor, Zone, ZoneServer};

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
    /// A record for another owner name than the one asked.
    WrongName,
    /// A record of another type than the one asked.
    WrongType,
    /// NXDOMAIN, for every name this fault covers.
    NxDomain,
    /// NOERROR with no records.
    NoData,
    /// A record of the type asked at the name asked (A or TXT), without
    /// the signature a signed zone gives it: a server that lost its
    /// signatures, or a forged answer.
    Unsigned,
}

#[derive(Default)]
struct State {
    /// Exact names ("name" or "name/TYPE"), "*.zone" for every name below
    /// a zone, "*" for every name.
    by_name: HashMap<String, Fault>,
    /// Added to every answer.
    latency: Duration,
    /// Questions received, per (name, type).
    log: HashMap<(String, RecordType), u32>,
    in_flight: u32,
    max_in_flight: u32,
    /// Per zone (a name's last two labels): in flight now, and the most.
    zone_in_flight: HashMap<String, (u32, u32)>,
}

/// The zone a name is counted under: its last two labels.
fn zone_of(name: &str) -> String {
    let labels: Vec<&str> = name.trim_end_matches('.').rsplit('.').take(2).collect();
    labels
        .into_iter()
        .rev()
        .collect::<Vec<_>>()
        .join(".")
        .to_ascii_lowercase()
}

impl State {
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
        self.by_name.get("*").copied()
    }
}

#[derive(Default)]
pub struct Faults(RwLock<State>);

#[async_trait::async_trait]
impl Interceptor for Faults {
    async fn intercept(&self, name: &str, rtype: RecordType, _tcp: bool) -> Intercept {
        let (fault, latency) = {
            let mut s = self.0.write().expect("faults lock");
            *s.log.entry((name.to_string(), rtype)).or_default() += 1;
            s.in_flight += 1;
            s.max_in_flight = s.max_in_flight.max(s.in_flight);
            let zone = s.zone_in_flight.entry(zone_of(name)).or_default();
            zone.0 += 1;
            zone.1 = zone.1.max(zone.0);
            (s.find(name, rtype), s.latency)
        };
        let delay = latency
            + match fault {
                Some(Fault::Delay(d)) => d,
                _ => Duration::ZERO,
            };
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        match fault {
            None | Some(Fault::Delay(_)) => Intercept::Serve,
            Some(Fault::Drop) => {
                // Hold the question long enough for any client to give up.
                tokio::time::sleep(Duration::from_secs(30)).await;
                Intercept::Silence
            }
            Some(Fault::ServFail) => Intercept::Rcode(ResponseCode::ServFail),
            Some(Fault::Refused) => Intercept::Rcode(ResponseCode::Refused),
            Some(Fault::NxDomain) => Intercept::Rcode(ResponseCode::NXDomain),
            Some(Fault::Truncate) => Intercept::Truncate,
            Some(Fault::NoData) => Intercept::Answer(Vec::new()),
            Some(Fault::WrongName) => {
                let other = Name::from_ascii(format!("stray.{name}.")).expect("name");
                Intercept::Answer(vec![record(other, rtype)])
            }
            Some(Fault::Unsigned) => {
                let owner = Name::from_ascii(format!("{name}.")).expect("name");
                Intercept::Answer(vec![record(owner, rtype)])
            }
            Some(Fault::WrongType) => {
                let owner = Name::from_ascii(format!("{name}.")).expect("name");
                let other = if rtype == RecordType::A {
                    RecordType::TXT
                } else {
                    RecordType::A
                };
                Intercept::Answer(vec![record(owner, other)])
            }
        }
    }

    fn finished(&self, name: &str, _rtype: RecordType) {
        let mut s = self.0.write().expect("faults lock");
        s.in_flight -= 1;
        if let Some(zone) = s.zone_in_flight.get_mut(&zone_of(name)) {
            zone.0 = zone.0.saturating_sub(1);
        }
    }
}

/// A record of `rtype` at `owner` (A or TXT; anything else gets an A).
fn record(owner: Name, rtype: RecordType) -> Record {
    let data = match rtype {
        RecordType::TXT => RData::TXT(TXT::new(vec!["v=spf1 -all".to_string()])),
        _ => RData::A(A::new(127, 0, 0, 2)),
    };
    Record::from_rdata(owner, 60, data)
}

/// The embedded server with the fault interceptor in front of it.
pub struct FaultServer {
    pub server: ZoneServer,
    faults: Arc<Faults>,
}

impl FaultServer {
    pub async fn from_files(paths: &[impl AsRef<Path>]) -> FaultServer {
        let zones: Vec<Zone> = paths
            .iter()
            .map(|p| Zone::load(p.as_ref()).expect("fixture zone loads"))
            .collect();
        let faults = Arc::new(Faults::default());
        let server = ZoneServer::start_with(zones, Some(faults.clone()))
            .await
            .expect("server starts");
        FaultServer { server, faults }
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// Makes the server misbehave on `name` ("*.zone" for every name below
    /// `zone`, "*" for every name).
    pub fn set_fault(&self, name: &str, fault: Fault) {
        self.faults
            .0
            .write()
            .expect("faults lock")
            .by_name
            .insert(name.trim_end_matches('.').to_ascii_lowercase(), fault);
    }

    /// Like [`FaultServer::set_fault`], for one record type only.
    pub fn set_fault_for(&self, name: &str, rtype: RecordType, fault: Fault) {
        let key = format!(
            "{}/{rtype}",
            name.trim_end_matches('.').to_ascii_lowercase()
        );
        self.faults
            .0
            .write()
            .expect("faults lock")
            .by_name
            .insert(key, fault);
    }

    pub fn clear_faults(&self) {
        self.faults.0.write().expect("faults lock").by_name.clear();
    }

    /// Delays every answer by `latency`.
    pub fn set_latency(&self, latency: Duration) {
        self.faults.0.write().expect("faults lock").latency = latency;
    }

    /// How many times (name, type) was asked.
    pub fn queries_for(&self, name: &str, rtype: RecordType) -> u32 {
        let key = (name.trim_end_matches('.').to_ascii_lowercase(), rtype);
        self.faults
            .0
            .read()
            .expect("faults lock")
            .log
            .get(&key)
            .copied()
            .unwrap_or(0)
    }

    /// The most questions the server was handling at one time.
    pub fn max_in_flight(&self) -> u32 {
        self.faults.0.read().expect("faults lock").max_in_flight
    }

    /// The most questions below `zone` (its last two labels) the server
    /// was handling at one time since the last [`FaultServer::reset_peaks`].
    pub fn max_in_flight_at(&self, zone: &str) -> u32 {
        self.faults
            .0
            .read()
            .expect("faults lock")
            .zone_in_flight
            .get(zone)
            .map_or(0, |z| z.1)
    }

    /// Forgets the per-zone peaks (what is in flight stays counted).
    pub fn reset_peaks(&self) {
        for z in self
            .faults
            .0
            .write()
            .expect("faults lock")
            .zone_in_flight
            .values_mut()
        {
            z.1 = z.0;
        }
    }

    /// Every (name, type) asked so far.
    pub fn asked(&self) -> std::collections::HashSet<(String, RecordType)> {
        self.faults
            .0
            .read()
            .expect("faults lock")
            .log
            .keys()
            .cloned()
            .collect()
    }

    /// Questions received in all.
    pub fn total_queries(&self) -> u32 {
        self.faults
            .0
            .read()
            .expect("faults lock")
            .log
            .values()
            .sum()
    }
}

impl FaultServer {
    /// Serves zones given as text (generated by a test).
    pub async fn from_texts(texts: &[String]) -> FaultServer {
        let zones: Vec<Zone> = texts
            .iter()
            .map(|t| Zone::parse(t, "generated.zone").expect("generated zone parses"))
            .collect();
        FaultServer::from_zones(zones).await
    }

    /// Serves parsed zones (signed ones among them).
    pub async fn from_zones(zones: Vec<Zone>) -> FaultServer {
        let faults = Arc::new(Faults::default());
        let server = ZoneServer::start_with(zones, Some(faults.clone()))
            .await
            .expect("server starts");
        FaultServer { server, faults }
    }
}

//! A lean query path for blocklist sweeps of whole address ranges.
//!
//! hickory-resolver tops out near 35,000 lookups a second on this kind of
//! machine, and slows down with more in flight; a /16 against a few lists is
//! hundreds of thousands of A lookups. This client keeps a few UDP sockets,
//! writes each question itself (one label sequence, type A, RD set), matches
//! answers by ID and question on a receive task per socket, and decodes them
//! with hickory-proto. It has no cache (a sweep never asks twice) and falls
//! back to the shared resolver (TCP) for the rare truncated answer. Its
//! questions are counted in the shared [`Dns`] statistics.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{RData, RecordType};
use tokio::net::UdpSocket;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::dns::{Dns, Outcome, OutcomeKind, Rdata, Rr};

/// What the receive task hands back.
enum Reply {
    Answer(Outcome),
    Truncated,
}

struct Slot {
    /// The question, lower case with a trailing dot, to match the answer.
    qname: Vec<u8>,
    tx: oneshot::Sender<Reply>,
}

struct Socket {
    udp: Arc<UdpSocket>,
    pending: Mutex<HashMap<u16, Slot>>,
    next_id: AtomicU16,
}

/// The bulk client. Dropping it stops its receive tasks.
pub struct BulkClient {
    sockets: Vec<Arc<Socket>>,
    tasks: Vec<JoinHandle<()>>,
    next_socket: AtomicUsize,
    server: SocketAddr,
    timeout: Duration,
    retries: u32,
    dns: Dns,
}

impl Drop for BulkClient {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl BulkClient {
    /// A client that asks the first name server of `dns`, with its timeout
    /// and retry settings.
    pub async fn new(dns: &Dns, sockets: usize) -> std::io::Result<BulkClient> {
        let server = dns
            .config()
            .nameservers
            .first()
            .copied()
            .or_else(|| dns.servers().first().map(|ip| SocketAddr::new(*ip, 53)))
            .ok_or_else(|| std::io::Error::other("no name server configured"))?;
        let bind: SocketAddr = if server.is_ipv4() {
            (Ipv4Addr::UNSPECIFIED, 0).into()
        } else {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let mut socks = Vec::new();
        let mut tasks = Vec::new();
        for i in 0..sockets.max(1) {
            let udp = Arc::new(bind_udp(bind)?);
            let sock = Arc::new(Socket {
                udp,
                pending: Mutex::new(HashMap::new()),
                next_id: AtomicU16::new((i as u16).wrapping_mul(7919)),
            });
            tasks.push(tokio::spawn(receive(sock.clone(), server)));
            socks.push(sock);
        }
        Ok(BulkClient {
            sockets: socks,
            tasks,
            next_socket: AtomicUsize::new(0),
            server,
            timeout: dns.config().timeout,
            retries: dns.config().retries,
            dns: dns.clone(),
        })
    }

    /// The A records of `name`, as a typed outcome.
    pub async fn a(&self, name: &str) -> Outcome {
        if !self.dns.in_scope(name) {
            self.dns.count(OutcomeKind::NotChecked);
            return Outcome::NotChecked;
        }
        let qname = {
            let mut q = name.trim_end_matches('.').to_ascii_lowercase().into_bytes();
            q.push(b'.');
            q
        };
        let Some(packet) = encode_query(&qname) else {
            self.dns.count(OutcomeKind::Error);
            return Outcome::Error(format!("invalid query name {name:?}"));
        };
        for _ in 0..=self.retries {
            let sock = &self.sockets
                [self.next_socket.fetch_add(1, Ordering::Relaxed) % self.sockets.len()];
            let (tx, rx) = oneshot::channel();
            let id = {
                let mut pending = sock.pending.lock().expect("pending lock");
                let mut id = sock.next_id.fetch_add(1, Ordering::Relaxed);
                while pending.contains_key(&id) {
                    id = sock.next_id.fetch_add(1, Ordering::Relaxed);
                }
                pending.insert(
                    id,
                    Slot {
                        qname: qname.clone(),
                        tx,
                    },
                );
                id
            };
            let mut packet = packet.clone();
            packet[..2].copy_from_slice(&id.to_be_bytes());
            if let Err(e) = sock.udp.send_to(&packet, self.server).await {
                sock.pending.lock().expect("pending lock").remove(&id);
                self.dns.count(OutcomeKind::Error);
                return Outcome::Error(format!("send: {e}"));
            }
            match tokio::time::timeout(self.timeout, rx).await {
                Ok(Ok(Reply::Answer(outcome))) => {
                    self.dns.count(outcome.kind());
                    return outcome;
                }
                Ok(Ok(Reply::Truncated)) => {
                    // Rare for A answers: ask the full resolver (TCP).
                    return (*self.dns.query(name, RecordType::A).await).clone();
                }
                _ => {
                    sock.pending.lock().expect("pending lock").remove(&id);
                }
            }
        }
        self.dns.count(OutcomeKind::Timeout);
        Outcome::Timeout
    }
}

/// A non-blocking UDP socket with a receive buffer large enough for a
/// burst of answers (the default drops some at a few hundred in flight).
fn bind_udp(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    let domain = if addr.is_ipv4() {
        socket2::Domain::IPV4
    } else {
        socket2::Domain::IPV6
    };
    let sock = socket2::Socket::new(domain, socket2::Type::DGRAM, Some(socket2::Protocol::UDP))?;
    // Best effort: the kernel caps it at net.core.rmem_max.
    let _ = sock.set_recv_buffer_size(4 << 20);
    sock.set_nonblocking(true)?;
    sock.bind(&addr.into())?;
    UdpSocket::from_std(sock.into())
}

/// A DNS question for `qname` (with trailing dot), type A, class IN, RD
/// set; the ID is filled in per send. `None` for a name that cannot be
/// encoded (empty or over-long labels).
fn encode_query(qname: &[u8]) -> Option<Vec<u8>> {
    let mut p = Vec::with_capacity(18 + qname.len());
    p.extend_from_slice(&[0, 0, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    let name = &qname[..qname.len() - 1];
    if name.len() > 253 {
        return None;
    }
    for label in name.split(|b| *b == b'.') {
        if label.is_empty() || label.len() > 63 {
            return None;
        }
        p.push(label.len() as u8);
        p.extend_from_slice(label);
    }
    p.push(0);
    p.extend_from_slice(&[0, 1, 0, 1]);
    Some(p)
}

async fn receive(sock: Arc<Socket>, server: SocketAddr) {
    let mut buf = vec![0u8; 4096];
    loop {
        let (len, from) = match sock.udp.recv_from(&mut buf).await {
            Ok(x) => x,
            Err(_) => continue,
        };
        if from != server || len < 12 {
            continue;
        }
        let id = u16::from_be_bytes([buf[0], buf[1]]);
        let Ok(msg) = Message::from_vec(&buf[..len]) else {
            continue;
        };
        let question_matches = |expected: &[u8]| {
            msg.queries
                .first()
                .is_some_and(|q| q.name().to_ascii().to_ascii_lowercase().as_bytes() == expected)
        };
        let slot = {
            let mut pending = sock.pending.lock().expect("pending lock");
            match pending.get(&id) {
                Some(slot) if question_matches(&slot.qname) => pending.remove(&id),
                _ => None,
            }
        };
        let Some(slot) = slot else { continue };
        let reply = if msg.metadata.truncation {
            Reply::Truncated
        } else {
            Reply::Answer(outcome_of(&msg))
        };
        let _ = slot.tx.send(reply);
    }
}

fn outcome_of(msg: &Message) -> Outcome {
    match msg.metadata.response_code {
        ResponseCode::NoError => {
            let rrs: Vec<Rr> = msg
                .answers
                .iter()
                .filter_map(|r| match &r.data {
                    RData::A(a) => Some(Rr {
                        name: r.name.to_ascii().trim_end_matches('.').to_ascii_lowercase(),
                        ttl: r.ttl,
                        data: Rdata::A(a.0),
                    }),
                    _ => None,
                })
                .collect();
            if rrs.is_empty() {
                Outcome::NoData
            } else {
                Outcome::Records(rrs)
            }
        }
        ResponseCode::NXDomain => Outcome::NxDomain,
        ResponseCode::ServFail => Outcome::ServFail,
        ResponseCode::Refused => Outcome::Refused,
        code => Outcome::Error(format!("RCODE {code}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_a_question() {
        let p = encode_query(b"2.0.0.127.bl.example.").unwrap();
        assert_eq!(&p[2..6], &[0x01, 0x00, 0, 1]);
        assert_eq!(p[12], 1);
        assert_eq!(&p[13..14], b"2");
        assert_eq!(&p[p.len() - 4..], &[0, 1, 0, 1]);
        let parsed = Message::from_vec(&p).unwrap();
        assert_eq!(parsed.queries[0].name().to_ascii(), "2.0.0.127.bl.example.");
        assert!(encode_query(b"a..b.").is_none());
    }
}

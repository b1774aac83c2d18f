//! The query path every lookup takes: a few UDP sockets, questions written
//! by hand (one label sequence, RD set, EDNS with a 1232-octet payload),
//! answers matched by ID and question on a receive task per socket and
//! decoded with hickory-proto.
//!
//! hickory-resolver tops out near 35,000 lookups a second on this kind of
//! machine, and its client hides what a server really answered: records
//! with the wrong owner name or type, and CNAME loops, all come back as
//! "no records". This client hands the whole message to the caller
//! ([`crate::dns`] reads it), has no cache (the caller keeps one) and says
//! when an answer was truncated so the caller can ask over TCP.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_proto::op::Message;
use hickory_proto::rr::RecordType;
use tokio::net::UdpSocket;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// How one question over UDP ended.
#[derive(Debug)]
pub enum Reply {
    Answer(Message),
    /// The TC bit was set: ask again over TCP.
    Truncated,
    Timeout,
    /// The question could not be written or sent.
    Error(String),
}

struct Slot {
    /// The question, lower case with a trailing dot, to match the answer.
    qname: Vec<u8>,
    qtype: u16,
    tx: oneshot::Sender<Reply>,
}

struct Socket {
    udp: Arc<UdpSocket>,
    pending: Mutex<HashMap<u16, Slot>>,
    next_id: AtomicU16,
}

/// The UDP client. Dropping it stops its receive tasks.
pub struct WireClient {
    sockets: Vec<Arc<Socket>>,
    tasks: Vec<JoinHandle<()>>,
    next_socket: AtomicUsize,
    server: SocketAddr,
    timeout: Duration,
    retries: u32,
}

impl Drop for WireClient {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl WireClient {
    /// A client that asks `server`, each attempt waiting `timeout`, with
    /// `retries` further attempts. Must be called inside a tokio runtime.
    pub fn new(
        server: SocketAddr,
        timeout: Duration,
        retries: u32,
        sockets: usize,
    ) -> std::io::Result<WireClient> {
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
        Ok(WireClient {
            sockets: socks,
            tasks,
            next_socket: AtomicUsize::new(0),
            server,
            timeout,
            retries,
        })
    }

    /// Asks (`name`, `rtype`) over UDP, retrying on timeouts.
    pub async fn query(&self, name: &str, rtype: RecordType) -> Reply {
        let qname = {
            let mut q = name.trim_end_matches('.').to_ascii_lowercase().into_bytes();
            q.push(b'.');
            q
        };
        let qtype = u16::from(rtype);
        let Some(packet) = encode_query(&qname, qtype) else {
            return Reply::Error(format!("invalid query name {name:?}"));
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
                        qtype,
                        tx,
                    },
                );
                id
            };
            let mut packet = packet.clone();
            packet[..2].copy_from_slice(&id.to_be_bytes());
            if let Err(e) = sock.udp.send_to(&packet, self.server).await {
                sock.pending.lock().expect("pending lock").remove(&id);
                return Reply::Error(format!("send: {e}"));
            }
            match tokio::time::timeout(self.timeout, rx).await {
                Ok(Ok(reply)) => return reply,
                _ => {
                    sock.pending.lock().expect("pending lock").remove(&id);
                }
            }
        }
        Reply::Timeout
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

/// A DNS question for `qname` (with trailing dot), class IN, RD set, with
/// an EDNS OPT record offering 1232 octets (RFC 6891; the size DNS Flag Day
/// 2020 settled on); the ID is filled in per send. `None` for a name that
/// cannot be encoded (empty or over-long labels).
fn encode_query(qname: &[u8], qtype: u16) -> Option<Vec<u8>> {
    let mut p = Vec::with_capacity(29 + qname.len());
    p.extend_from_slice(&[0, 0, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1]);
    let name = &qname[..qname.len() - 1];
    if name.is_empty() {
        p.push(0);
    } else {
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
    }
    p.extend_from_slice(&qtype.to_be_bytes());
    p.extend_from_slice(&[0, 1]);
    // OPT: root owner, type 41, UDP payload size as class, no flags.
    p.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0]);
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
        let msg = match decode(&buf[..len]) {
            Ok(msg) => msg,
            Err(e) => {
                // An answer to our question that cannot be decoded is a
                // failed lookup now, not a timeout later.
                let question = raw_question(&buf[..len]);
                let slot = {
                    let mut pending = sock.pending.lock().expect("pending lock");
                    match (pending.get(&id), &question) {
                        (Some(slot), Some((qname, qtype)))
                            if *qname == slot.qname && *qtype == slot.qtype =>
                        {
                            pending.remove(&id)
                        }
                        _ => None,
                    }
                };
                if let Some(slot) = slot {
                    let _ = slot.tx.send(Reply::Error(format!(
                        "malformed answer: cannot be decoded: {e}"
                    )));
                }
                continue;
            }
        };
        let question_matches = |expected: &[u8], qtype: u16| {
            msg.queries.first().is_some_and(|q| {
                u16::from(q.query_type()) == qtype && raw_name(q.name()) == expected
            })
        };
        let slot = {
            let mut pending = sock.pending.lock().expect("pending lock");
            match pending.get(&id) {
                Some(slot) if question_matches(&slot.qname, slot.qtype) => pending.remove(&id),
                _ => None,
            }
        };
        let Some(slot) = slot else { continue };
        let reply = if msg.metadata.truncation {
            Reply::Truncated
        } else {
            Reply::Answer(msg)
        };
        let _ = slot.tx.send(reply);
    }
}

/// Decodes an answer. One thing hickory-proto refuses is read as receivers
/// read it: a TXT record with no character-string at all (RDLENGTH 0;
/// RFC 1035 §3.3.14 asks for one or more, but servers do send it, as the
/// RFC 7208 suite's `null-text` case does) is a TXT record of zero
/// strings, so the other records of the answer still count. Any other
/// record with no data is still a malformed answer.
fn decode(buf: &[u8]) -> Result<Message, hickory_proto::serialize::binary::DecodeError> {
    use hickory_proto::op::OpCode;
    use hickory_proto::rr::RData;
    use hickory_proto::rr::rdata::TXT;
    let err = match Message::from_vec(buf) {
        Ok(msg) => return Ok(msg),
        Err(e) => e,
    };
    if buf.len() < 12 {
        return Err(err);
    }
    // Read as an UPDATE message, whose records may carry no data; then
    // only empty TXT records are accepted.
    let mut copy = buf.to_vec();
    let op = (copy[2] >> 3) & 0x0f;
    copy[2] = (copy[2] & 0x87) | (u8::from(OpCode::Update) << 3);
    let Ok(mut msg) = Message::from_vec(&copy) else {
        return Err(err);
    };
    let mut ok = true;
    for r in msg
        .answers
        .iter_mut()
        .chain(msg.authorities.iter_mut())
        .chain(msg.additionals.iter_mut())
    {
        match r.data {
            RData::Update0(RecordType::TXT) => r.data = RData::TXT(TXT::new(Vec::new())),
            RData::Update0(_) => ok = false,
            _ => {}
        }
    }
    if !ok {
        return Err(err);
    }
    msg.metadata.op_code = OpCode::from_u8(op);
    Ok(msg)
}

/// The question of a message read by hand (lower-case name with a trailing
/// dot, type), for answers hickory-proto cannot decode as a whole.
fn raw_question(buf: &[u8]) -> Option<(Vec<u8>, u16)> {
    if buf.len() < 12 || u16::from_be_bytes([buf[4], buf[5]]) != 1 {
        return None;
    }
    let mut i = 12;
    let mut name = Vec::new();
    loop {
        let len = *buf.get(i)? as usize;
        i += 1;
        if len == 0 {
            break;
        }
        if len > 63 {
            return None;
        }
        name.extend(buf.get(i..i + len)?.iter().map(u8::to_ascii_lowercase));
        name.push(b'.');
        i += len;
    }
    if name.is_empty() {
        name.push(b'.');
    }
    let qtype = u16::from_be_bytes([*buf.get(i)?, *buf.get(i + 1)?]);
    Some((name, qtype))
}

/// A name's labels as sent on the wire, lower case, dot-joined, with the
/// trailing dot: the form the questions are kept in (no escaping, so a
/// name with unusual octets still matches its answer).
pub fn raw_name(name: &hickory_proto::rr::Name) -> Vec<u8> {
    let mut out = Vec::new();
    for label in name.iter() {
        out.extend(label.iter().map(u8::to_ascii_lowercase));
        out.push(b'.');
    }
    if out.is_empty() {
        out.push(b'.');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_a_question() {
        let p = encode_query(b"2.0.0.127.bl.example.", 1).unwrap();
        assert_eq!(&p[2..6], &[0x01, 0x00, 0, 1]);
        assert_eq!(p[12], 1);
        assert_eq!(&p[13..14], b"2");
        let parsed = Message::from_vec(&p).unwrap();
        assert_eq!(parsed.queries[0].name().to_ascii(), "2.0.0.127.bl.example.");
        assert_eq!(parsed.queries[0].query_type(), RecordType::A);
        assert!(parsed.edns.is_some(), "EDNS offered");
        assert!(encode_query(b"a..b.", 1).is_none());
        let root = Message::from_vec(&encode_query(b".", 6).unwrap()).unwrap();
        assert!(root.queries[0].name().is_root());
        assert_eq!(
            raw_question(&p),
            Some((b"2.0.0.127.bl.example.".to_vec(), 1))
        );
    }

    /// An answer with `rdata` (type, bytes) after a TXT "v=spf1 -all".
    fn answer_with(rtype: u16, rdata: &[u8]) -> Vec<u8> {
        let mut m = vec![0, 1, 0x81, 0x80, 0, 1, 0, 2, 0, 0, 0, 0];
        m.extend_from_slice(b"\x01n\x04test\x00\x00\x10\x00\x01");
        let spf = b"\x0bv=spf1 -all";
        for (t, data) in [(16u16, &spf[..]), (rtype, rdata)] {
            m.extend_from_slice(&[0xc0, 12]);
            m.extend_from_slice(&t.to_be_bytes());
            m.extend_from_slice(&[0, 1, 0, 0, 0, 60]);
            m.extend_from_slice(&(data.len() as u16).to_be_bytes());
            m.extend_from_slice(data);
        }
        m
    }

    #[test]
    fn a_txt_record_without_strings_is_read_as_empty() {
        // Issue 18.8 (the RFC 7208 suite's null-text): the other record
        // of the answer still counts.
        let msg = decode(&answer_with(16, &[])).expect("decodes");
        assert_eq!(msg.metadata.op_code, hickory_proto::op::OpCode::Query);
        assert_eq!(msg.answers.len(), 2);
        // Any other record without data is still malformed.
        assert!(decode(&answer_with(1, &[])).is_err());
        assert!(decode(&answer_with(16, b"\x03abc")).is_ok());
    }
}

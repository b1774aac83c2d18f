//! The path a message took: its `Received` header fields read as hops
//! (who handed it to whom, from which address, over which protocol, with
//! or without TLS, when), the SMTP connection that delivered it to us when
//! mailaudit received it itself (a test address), and which address sent
//! it: the first hop, from the top, that did not come from the reader's
//! own trusted relays.
//!
//! What a header says is what the host that wrote it claimed. Only two
//! things are believed: the connection we saw ourselves, and hops written
//! by the reader's trusted relays (`--trusted-relay`). Everything below
//! the first untrusted hop could have been written by the sender;
//! `Authentication-Results` are shown, and only those carrying the
//! reader's own `--authserv-id` above that hop are marked trusted
//! (RFC 8601 §5).

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::message;

/// A hop whose `Received` date is this much later than the one before it
/// is slow (`received.slow-hop`): queued, throttled or deferred on the way.
pub const SLOW_HOP_SECS: i64 = 10 * 60;

/// Hops read from one message at most (a stranger's header may hold
/// thousands; receivers refuse mail past about 100 hops, RFC 5321 §6.3).
pub const MAX_HOPS: usize = 100;

/// The SMTP connection that delivered a message to mailaudit's listener:
/// what we saw ourselves, so believed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connection {
    pub client_ip: IpAddr,
    pub client_port: u16,
    /// The name given in EHLO or HELO.
    pub helo: String,
    /// The reverse path of MAIL FROM, without brackets ("" for the null
    /// sender).
    pub mail_from: String,
    /// The accepted RCPT TO addresses.
    pub recipients: Vec<String>,
    /// STARTTLS, when the client used it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<Tls>,
    /// When the message was accepted (Unix seconds).
    pub received_at: i64,
    /// The name our listener gave in its greeting.
    pub receiver: String,
}

/// The TLS of a connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tls {
    pub version: String,
    pub cipher: String,
}

/// One hop, as a `Received` field (or our own connection) describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hop {
    /// The name the sending host gave (its HELO, or the `from` host).
    pub from: Option<String>,
    /// The sending host's address, as the receiving host wrote it.
    pub ip: Option<IpAddr>,
    /// The sending host's reverse DNS name, as the receiving host wrote it.
    pub rdns: Option<String>,
    /// The receiving host.
    pub by: Option<String>,
    /// The protocol (`with`), as written: ESMTPS, ESMTP, HTTP...
    pub with: Option<String>,
    /// Whether the hop was encrypted: true for the `S` protocols or a TLS
    /// version named; false for SMTP or LMTP without either; `None` when
    /// the hop was no SMTP hop or says nothing.
    pub tls: Option<bool>,
    /// The TLS version, when the header names it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_version: Option<String>,
    /// When the receiving host took it (Unix seconds).
    pub at: Option<i64>,
    /// Seconds since the hop before it (negative: the clocks disagree).
    pub delay: Option<i64>,
    /// Written by us or by a trusted relay: believed.
    pub trusted: bool,
    /// The connection mailaudit's listener saw itself.
    pub ours: bool,
}

impl Hop {
    /// Whether the hop crossed a network between two machines (its
    /// sending address is not internal, or it is the connection we saw),
    /// so its encryption matters.
    pub fn over_a_network(&self) -> bool {
        self.ours
            || self
                .ip
                .is_some_and(|ip| crate::reach::internal(ip).is_none())
    }
}

/// An `Authentication-Results` (or `ARC-Authentication-Results`) field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuthResults {
    /// `Authentication-Results` or `ARC-Authentication-Results`.
    pub field: String,
    /// The host that wrote it (its authserv-id).
    pub authserv_id: String,
    /// method=result pairs, as written.
    pub results: Vec<String>,
    /// Written by the reader's own receiver (`--authserv-id`), above the
    /// first hop not from a trusted relay: its verdicts can be believed.
    pub trusted: bool,
}

/// The path of one message.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Path {
    /// Oldest first: the first hop is where the message was submitted;
    /// with a connection, the last is the delivery to us.
    pub hops: Vec<Hop>,
    /// `Received` fields that could not be read as a hop.
    pub unreadable: usize,
    /// More hops than [`MAX_HOPS`] were present (only that many read).
    pub capped: bool,
    /// Index into `hops` of the hop that delivered the message from
    /// outside the reader's systems: its address is the sending IP.
    pub sender: Option<usize>,
    pub auth_results: Vec<AuthResults>,
}

impl Path {
    /// The hop whose address is the sending IP.
    pub fn sending_hop(&self) -> Option<&Hop> {
        self.sender.map(|i| &self.hops[i])
    }
}

/// What tells a hop written by a trusted relay: the networks of the
/// reader's own relays, and the authserv-id of its own receiver.
#[derive(Debug, Clone, Default)]
pub struct Trust {
    pub relays: Vec<IpNet>,
    pub authserv_id: Option<String>,
}

impl Trust {
    /// Whether `ip` is one of the reader's own relays.
    pub fn relays_to(&self, ip: IpAddr) -> bool {
        self.relays.iter().any(|n| n.contains(&ip))
    }
}

/// Reads the path of a parsed message, with the connection we saw when
/// it was delivered to us.
pub fn path(
    msg: &mail_parser::Message<'_>,
    connection: Option<&Connection>,
    trust: &Trust,
) -> Path {
    let mut out = Path::default();
    // Newest first, as they stand in the header.
    let mut newest_first: Vec<Hop> = Vec::new();
    if let Some(c) = connection {
        newest_first.push(Hop {
            from: Some(c.helo.clone()),
            ip: Some(c.client_ip),
            rdns: None,
            by: Some(c.receiver.clone()),
            with: Some(if c.tls.is_some() { "ESMTPS" } else { "ESMTP" }.into()),
            tls: Some(c.tls.is_some()),
            tls_version: c.tls.as_ref().map(|t| t.version.clone()),
            at: Some(c.received_at),
            delay: None,
            trusted: true,
            ours: true,
        });
    }
    // Each Received field and where it stands among the header fields
    // (an Authentication-Results above the boundary hop may be trusted).
    let raw = message::raw_headers(msg);
    // (position among the header fields, as `raw` lists them too; a field
    // that does not read as a hop has none).
    let fields = msg.parts.first().map_or(&[][..], |p| &p.headers[..]);
    let received = fields
        .iter()
        .filter(|h| h.name == mail_parser::HeaderName::Received)
        .count();
    let parsed: Vec<(usize, &mail_parser::Received<'_>)> = fields
        .iter()
        .enumerate()
        .filter(|(_, h)| h.name == mail_parser::HeaderName::Received)
        .filter_map(|(i, h)| h.value.as_received().map(|r| (i, r)))
        .collect();
    out.unreadable = received - parsed.len();
    out.capped = parsed.len() > MAX_HOPS;
    let positions: Vec<usize> = parsed.iter().take(MAX_HOPS).map(|(i, _)| *i).collect();
    newest_first.extend(parsed.iter().take(MAX_HOPS).map(|(_, r)| hop_of(r)));

    // The sending hop: from the top, the first whose sender is not one of
    // the reader's own hosts (a trusted relay, the same machine, a private
    // network). Each header down to it was written by a trusted host (the
    // top one by the reader's own receiver, each next one by the relay
    // the one above names), so they are believed; those below it could
    // have been written by anyone.
    let relay = |ip: IpAddr| trust.relays_to(ip);
    let mut boundary = None;
    let mut believed = 0;
    for (i, h) in newest_first.iter().enumerate() {
        believed = i + 1;
        let Some(ip) = h.ip else {
            // A hop without an address (a local pickup, an HTTP
            // submission) names no sender to follow.
            break;
        };
        if relay(ip) || (!h.ours && own_network(ip)) {
            continue;
        }
        boundary = Some(i);
        break;
    }
    for (i, h) in newest_first.iter_mut().enumerate() {
        h.trusted = i < believed;
    }
    // Our own Authentication-Results may stand above the boundary hop's
    // Received field (a message we received ourselves has none of ours).
    let offset = usize::from(connection.is_some());
    let trusted_above = boundary
        .filter(|b| *b >= offset)
        .and_then(|b| positions.get(b - offset).copied());
    out.auth_results = auth_results(&raw, trust, trusted_above);

    newest_first.reverse();
    for i in 1..newest_first.len() {
        if let (Some(before), Some(now)) = (newest_first[i - 1].at, newest_first[i].at) {
            newest_first[i].delay = Some(now - before);
        }
    }
    out.sender = boundary.map(|b| newest_first.len() - 1 - b);
    out.hops = newest_first;
    out
}

/// An address of the reader's own networks without saying so: the same
/// machine, a private network (RFC 1918, RFC 4193) or a link.
fn own_network(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback() || v4.is_private() || v4.is_link_local(),
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || (v6.segments()[0] & 0xfe00) == 0xfc00
                || (v6.segments()[0] & 0xffc0) == 0xfe80
        }
    }
}

fn host(h: &mail_parser::Host<'_>) -> String {
    match h {
        mail_parser::Host::Name(n) => n.to_string(),
        mail_parser::Host::IpAddr(ip) => format!("[{ip}]"),
    }
}

fn hop_of(r: &mail_parser::Received<'_>) -> Hop {
    use mail_parser::Protocol as P;
    let with = r.with();
    let mut tls = match with {
        Some(
            P::ESMTPS
            | P::ESMTPSA
            | P::LMTPS
            | P::LMTPSA
            | P::UTF8SMTPS
            | P::UTF8SMTPSA
            | P::UTF8LMTPS
            | P::UTF8LMTPSA,
        ) => Some(true),
        Some(
            P::SMTP
            | P::ESMTP
            | P::ESMTPA
            | P::LMTP
            | P::LMTPA
            | P::UTF8SMTP
            | P::UTF8SMTPA
            | P::UTF8LMTP
            | P::UTF8LMTPA,
        ) => Some(false),
        _ => None,
    };
    let tls_version = r.tls_version().map(|v| format!("{v:?}").replace('_', "."));
    if tls_version.is_some() && tls.is_some() {
        tls = Some(true);
    }
    let ip = r.from_ip().or(match r.from() {
        Some(mail_parser::Host::IpAddr(ip)) => Some(*ip),
        _ => None,
    });
    Hop {
        from: r.helo().or(r.from()).map(host),
        ip,
        rdns: r
            .from_iprev()
            .map(str::to_string)
            .or_else(|| match (r.from(), r.helo()) {
                // "from HELO (RDNS [IP])": the name in the comment.
                (Some(mail_parser::Host::Name(n)), Some(_)) => Some(n.to_string()),
                _ => None,
            }),
        by: r.by().map(host),
        with: with.map(|p| format!("{p:?}")),
        tls,
        tls_version,
        at: r.date().map(|d| d.to_timestamp()),
        delay: None,
        trusted: false,
        ours: false,
    }
}

/// The Authentication-Results and ARC-Authentication-Results fields;
/// those with the reader's authserv-id standing above header position
/// `trusted_above` are trusted.
fn auth_results(
    raw: &[(String, String)],
    trust: &Trust,
    trusted_above: Option<usize>,
) -> Vec<AuthResults> {
    let mut out = Vec::new();
    for (i, (name, value)) in raw.iter().enumerate() {
        let arc = name.eq_ignore_ascii_case("ARC-Authentication-Results");
        if !arc && !name.eq_ignore_ascii_case("Authentication-Results") {
            continue;
        }
        let mut parts = value.split(';').map(str::trim);
        // ARC-Authentication-Results starts with i=N.
        let mut first = parts.next().unwrap_or("");
        if arc && first.starts_with("i=") {
            first = parts.next().unwrap_or("");
        }
        let authserv_id = first
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        let results: Vec<String> = parts
            .filter(|p| !p.is_empty())
            .map(|p| p.split_whitespace().next().unwrap_or("").to_string())
            .filter(|p| p.contains('='))
            .take(20)
            .collect();
        let trusted = !arc
            && trust
                .authserv_id
                .as_deref()
                .is_some_and(|id| id.eq_ignore_ascii_case(&authserv_id))
            && trusted_above.is_some_and(|pos| i < pos);
        out.push(AuthResults {
            field: if arc {
                "ARC-Authentication-Results"
            } else {
                "Authentication-Results"
            }
            .into(),
            authserv_id,
            results,
            trusted,
        });
        if out.len() >= 20 {
            break;
        }
    }
    out
}

/// Who sent a message, as its path and headers say: what a run of it
/// needs before the checks start (the domain to audit, the sending IP
/// and the envelope).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sender {
    /// The sending hop's address (the connection's client, when we
    /// received it).
    pub ip: Option<IpAddr>,
    /// The name it gave in HELO, as the hop records it.
    pub helo: Option<String>,
    /// The domain of the single From address, normalised.
    pub from_domain: Option<String>,
    /// The envelope sender: the connection's MAIL FROM, else the
    /// Return-Path ("" for the null sender).
    pub mail_from: Option<String>,
}

/// Reads who sent `bytes` (a message that is none has no sender).
pub fn sender_of(bytes: &[u8], connection: Option<&Connection>, trust: &Trust) -> Sender {
    let Some(msg) = mail_parser::MessageParser::default().parse(bytes) else {
        return Sender::default();
    };
    let p = path(&msg, connection, trust);
    let hop = p.sending_hop();
    let from_domain = msg
        .from()
        .and_then(|a| a.first())
        .and_then(|a| a.address())
        .and_then(|a| a.rsplit_once('@'))
        .and_then(|(_, d)| crate::dns::name::normalize_domain(d).ok())
        .filter(|d| d.contains('.'));
    let return_path = msg
        .return_address()
        .map(|a| a.trim_matches(['<', '>']).to_string());
    Sender {
        ip: hop.and_then(|h| h.ip),
        // The connection's HELO, unless it came from one of the reader's
        // relays: then the sending hop's.
        helo: match connection.filter(|c| !trust.relays_to(c.client_ip)) {
            Some(c) => Some(c.helo.clone()),
            None => hop
                .and_then(|h| h.from.clone())
                .filter(|h| !h.starts_with('[')),
        },
        from_domain,
        mail_from: connection.map(|c| c.mail_from.clone()).or(return_path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> mail_parser::Message<'_> {
        mail_parser::MessageParser::default()
            .parse(text.as_bytes())
            .expect("parses")
    }

    const THREE_HOPS: &str = "Authentication-Results: mx.reader.test; spf=pass smtp.mailfrom=shop.test; dkim=pass header.d=shop.test\r\n\
Received: from relay.reader.test (relay.reader.test [10.0.0.5])\r\n\tby mx.reader.test with ESMTPS id 1; Tue, 1 Dec 2026 10:20:00 +0000\r\n\
Received: from out.esp.test (out.esp.test [192.0.2.10])\r\n\tby relay.reader.test with ESMTP id 2; Tue, 1 Dec 2026 10:19:00 +0000\r\n\
Authentication-Results: mx.reader.test; dkim=pass header.d=forged.test\r\n\
Received: from app (app.esp.test [198.51.100.7])\r\n\tby out.esp.test with ESMTPSA id 3; Tue, 1 Dec 2026 10:00:00 +0000\r\n\
From: a@shop.test\r\nSubject: x\r\n\r\nbody\r\n";

    #[test]
    fn hops_are_read_oldest_first_with_their_tls_and_delays() {
        let msg = parse(THREE_HOPS);
        let p = path(&msg, None, &Trust::default());
        assert_eq!(p.hops.len(), 3);
        assert_eq!(p.hops[0].ip, Some("198.51.100.7".parse().unwrap()));
        assert_eq!(p.hops[0].tls, Some(true));
        assert_eq!(p.hops[1].tls, Some(false));
        assert_eq!(p.hops[1].delay, Some(19 * 60));
        assert_eq!(p.hops[2].delay, Some(60));
        // Without trusted relays, a private address is still the reader's
        // own: the sender is the first public one.
        assert_eq!(
            p.sending_hop().unwrap().ip,
            Some("192.0.2.10".parse().unwrap())
        );
        assert!(p.auth_results.iter().all(|a| !a.trusted));
    }

    #[test]
    fn trusted_relays_move_the_boundary_and_trust_our_results_above_it() {
        let msg = parse(THREE_HOPS);
        let trust = Trust {
            relays: vec!["10.0.0.0/8".parse().unwrap()],
            authserv_id: Some("mx.reader.test".into()),
        };
        let p = path(&msg, None, &trust);
        let sender = p.sending_hop().unwrap();
        assert_eq!(sender.ip, Some("192.0.2.10".parse().unwrap()));
        assert_eq!(sender.from.as_deref(), Some("out.esp.test"));
        assert!(sender.trusted);
        assert!(
            !p.hops[0].trusted,
            "below the boundary: the sender wrote it"
        );
        // The top one is ours; the one below the boundary claims our name
        // but the sender could have written it.
        assert_eq!(
            p.auth_results.iter().map(|a| a.trusted).collect::<Vec<_>>(),
            [true, false]
        );
    }

    #[test]
    fn our_connection_is_the_newest_hop_and_the_sender() {
        let msg = parse(THREE_HOPS);
        let c = Connection {
            client_ip: "203.0.113.9".parse().unwrap(),
            client_port: 40000,
            helo: "mx.reader.test".into(),
            mail_from: "b@shop.test".into(),
            recipients: vec!["test-x@audit.test".into()],
            tls: None,
            received_at: 1_796_120_460, // 2026-12-01 10:21:00
            receiver: "audit.test".into(),
        };
        let p = path(&msg, Some(&c), &Trust::default());
        assert_eq!(p.hops.len(), 4);
        let last = p.hops.last().unwrap();
        assert!(last.ours && last.trusted && last.tls == Some(false));
        assert_eq!(p.sender, Some(3));
    }
}

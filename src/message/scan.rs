//! The part of the message scan that needs no DNS: each file parsed once
//! (mail-parser), its RFC 5322 basics, List-Unsubscribe and one-click
//! headers, the unsubscribe link in the body, the domains its links point
//! to, and the DKIM signatures it carries. It runs synchronously when a run
//! starts, so the link domains and signing selectors are known before any
//! lookup and the checks that need them can start at once.

use std::net::IpAddr;

use mail_auth::AuthenticatedMessage;

use crate::findings::{self as ids, Finding};
use crate::message::{self, LinkFound, ListUnsubscribe, Loaded, received};
use crate::rules::Rules;

/// Link domains handed to the domain blocklists, per message.
pub const MAX_LINK_DOMAINS: usize = 50;

/// What `scan` found without DNS.
pub struct Scanned<'a> {
    pub loaded: &'a Loaded,
    /// Why the file is not a message.
    pub problem: Option<String>,
    pub parsed: Option<mail_parser::Message<'a>>,
    pub from_address: Option<String>,
    pub from_domain: Option<String>,
    pub subject: Option<String>,
    /// Findings that need no DNS.
    pub findings: Vec<Finding>,
    pub list_unsubscribe: ListUnsubscribe,
    /// The List-Unsubscribe-Post values.
    pub post: Vec<String>,
    pub link: Option<LinkFound>,
    pub link_domains: Vec<String>,
    /// Distinct link domains in all (more than `link_domains` holds when
    /// [`MAX_LINK_DOMAINS`] was reached).
    pub link_domains_found: usize,
    /// (d=, s=) of each DKIM-Signature that parses.
    pub signatures: Vec<(String, String)>,
    /// The Received path, and which hop sent it (`sending_ip`).
    pub path: received::Path,
    pub return_path: Option<String>,
}

impl Scanned<'_> {
    /// The address that sent the message to the reader's systems (or to
    /// us): the sending hop's, when the path names one.
    pub fn sending_ip(&self) -> Option<IpAddr> {
        self.path.sending_hop().and_then(|h| h.ip)
    }
}

/// Parses and checks one message without DNS.
pub fn scan<'a>(loaded: &'a Loaded, rules: &Rules) -> Scanned<'a> {
    scan_delivered(loaded, rules, None, &received::Trust::default())
}

/// [`scan`], for a message delivered over `connection` (to a test
/// address) or read with the reader's trusted relays.
pub fn scan_delivered<'a>(
    loaded: &'a Loaded,
    rules: &Rules,
    connection: Option<&received::Connection>,
    trust: &received::Trust,
) -> Scanned<'a> {
    let file = loaded.path.as_str();
    let mut p = Scanned {
        loaded,
        problem: message::unparseable(&loaded.bytes),
        parsed: None,
        from_address: None,
        from_domain: None,
        subject: None,
        findings: Vec::new(),
        list_unsubscribe: ListUnsubscribe::default(),
        post: Vec::new(),
        link: None,
        link_domains: Vec::new(),
        link_domains_found: 0,
        signatures: Vec::new(),
        path: received::Path::default(),
        return_path: None,
    };
    if p.problem.is_none() {
        match mail_parser::MessageParser::default().parse(&loaded.bytes[..]) {
            Some(m) => p.parsed = Some(m),
            None => p.problem = Some("the message parser could not read it".into()),
        }
    }
    if let Some(problem) = &p.problem {
        p.findings.push(
            Finding::new(
                ids::MESSAGE_UNPARSEABLE,
                file,
                format!("{file} is not an email message: {problem}."),
            )
            .with("file", file)
            .with("problem", problem)
            .with("size", loaded.size),
        );
        return p;
    }
    let msg = p.parsed.as_ref().expect("parsed");
    let headers = message::raw_headers(msg);
    p.subject = msg.subject().map(str::to_string);

    match from_mailbox(msg, &headers, file) {
        FromHeader::Valid { address, domain } => {
            p.from_address = Some(address);
            p.from_domain = Some(domain);
        }
        FromHeader::Several => {} // reported as a duplicate header
        FromHeader::Invalid(finding) => p.findings.push(*finding),
    }
    p.findings.extend(date_and_message_id(msg, &headers, file));
    p.findings.extend(duplicated_headers(&headers, file));

    let unsubscribe = unsubscribe_headers(&headers, file);
    p.findings.extend(unsubscribe.findings);
    p.list_unsubscribe = unsubscribe.list_unsubscribe;
    p.post = unsubscribe.post;

    let (html, text) = body_parts(msg);
    p.link = message::unsubscribe_link(
        &html,
        &text,
        &rules.unsubscribe_keywords,
        &p.list_unsubscribe.uris,
    );
    if p.link.is_none() {
        p.findings.push(
            Finding::new(
                ids::MESSAGE_UNSUBSCRIBE_LINK_MISSING,
                file,
                "No visible unsubscribe link in the message body.",
            )
            .with("text_parts", text.len())
            .with("html_parts", html.len()),
        );
    }
    (p.link_domains, p.link_domains_found) = message::link_domains(&html, &text, MAX_LINK_DOMAINS);

    // Envelope hints and the signatures the message carries.
    p.path = received::path(msg, connection, trust);
    p.return_path = msg
        .return_address()
        .map(|a| a.trim_matches(['<', '>']).to_string())
        .filter(|a| a.contains('@'));
    p.signatures = dkim_signers(msg, &loaded.bytes);
    p
}

/// What the From header holds.
enum FromHeader {
    /// Exactly one valid mailbox.
    Valid { address: String, domain: String },
    /// Several From headers (a duplicate, reported by [`duplicated_headers`]).
    Several,
    /// No From, or not exactly one valid mailbox: the finding.
    Invalid(Box<Finding>),
}

fn from_mailbox(
    msg: &mail_parser::Message<'_>,
    headers: &[(String, String)],
    file: &str,
) -> FromHeader {
    let froms = message::values(headers, "From");
    let mailboxes: Vec<Option<&str>> = msg
        .from()
        .map(|a| a.iter().map(|addr| addr.address()).collect())
        .unwrap_or_default();
    let invalid = |summary: String| {
        FromHeader::Invalid(Box::new(
            Finding::new(ids::MESSAGE_FROM_INVALID, file, summary).with("from", froms[0]),
        ))
    };
    match (froms.len(), mailboxes.as_slice()) {
        (0, _) => FromHeader::Invalid(Box::new(
            Finding::new(
                ids::MESSAGE_FROM_INVALID,
                file,
                "The message has no From header.",
            )
            .with("file", file),
        )),
        (1, [Some(addr)]) => match addr
            .rsplit_once('@')
            .map(|(l, d)| (l, crate::dns::name::normalize_domain(d)))
        {
            Some((local, Ok(domain))) if !local.is_empty() && domain.contains('.') => {
                FromHeader::Valid {
                    address: addr.to_string(),
                    domain,
                }
            }
            _ => invalid(format!("The From address {addr:?} is not a valid mailbox.")),
        },
        (1, list) => invalid(format!(
            "The From header holds {} mailboxes, not exactly one with a valid address.",
            list.len()
        )),
        _ => FromHeader::Several,
    }
}

/// A missing or unreadable Date, a missing Message-ID.
fn date_and_message_id(
    msg: &mail_parser::Message<'_>,
    headers: &[(String, String)],
    file: &str,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    let dates = message::values(headers, "Date");
    if dates.is_empty() {
        findings.push(
            Finding::new(
                ids::MESSAGE_DATE_MISSING,
                file,
                "The message has no Date header.",
            )
            .with("file", file),
        );
    } else if msg.date().is_none() {
        findings.push(
            Finding::new(
                ids::MESSAGE_DATE_MISSING,
                file,
                "The Date header cannot be read as an RFC 5322 date.",
            )
            .with("date", dates[0]),
        );
    }
    if message::values(headers, "Message-ID").is_empty() {
        findings.push(
            Finding::new(
                ids::MESSAGE_MESSAGE_ID_MISSING,
                file,
                "The message has no Message-ID header.",
            )
            .with("file", file),
        );
    }
    findings
}

/// Header fields RFC 5322 allows once that appear more often.
fn duplicated_headers(headers: &[(String, String)], file: &str) -> Option<Finding> {
    let duplicated: Vec<(&str, usize)> = message::SINGLE_INSTANCE
        .iter()
        .map(|h| (*h, message::values(headers, h).len()))
        .filter(|(_, n)| *n > 1)
        .collect();
    if duplicated.is_empty() {
        return None;
    }
    Some(
        Finding::new(
            ids::MESSAGE_DUPLICATE_HEADER,
            file,
            format!(
                "Header fields that may appear once appear more often: {}.",
                duplicated
                    .iter()
                    .map(|(h, n)| format!("{h} ({n}x)"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
        .with(
            "headers",
            duplicated
                .iter()
                .map(|(h, n)| serde_json::json!({"name": h, "count": n}))
                .collect::<Vec<_>>(),
        ),
    )
}

/// List-Unsubscribe and List-Unsubscribe-Post as read, and what is wrong
/// with them (their DKIM coverage is checked in verify).
struct UnsubscribeHeaders {
    list_unsubscribe: ListUnsubscribe,
    post: Vec<String>,
    findings: Vec<Finding>,
}

fn unsubscribe_headers(headers: &[(String, String)], file: &str) -> UnsubscribeHeaders {
    let values = message::values(headers, "List-Unsubscribe");
    let list_unsubscribe = message::list_unsubscribe(&values);
    let post: Vec<String> = message::values(headers, "List-Unsubscribe-Post")
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut findings = Vec::new();
    if values.is_empty() {
        findings.push(Finding::new(
            ids::MESSAGE_LIST_UNSUBSCRIBE_MISSING,
            file,
            "The message has no List-Unsubscribe header.",
        ));
        let signs = bulk_signs(headers);
        if !signs.is_empty() {
            findings.push(
                Finding::new(
                    ids::MESSAGE_BULK_WITHOUT_UNSUBSCRIBE,
                    file,
                    format!(
                        "The message looks like bulk mail ({}) and gives its recipients no List-Unsubscribe.",
                        signs.join("; ")
                    ),
                )
                .with("signs", &signs),
            );
        }
        return UnsubscribeHeaders {
            list_unsubscribe,
            post,
            findings,
        };
    }
    if !list_unsubscribe.problems.is_empty() {
        findings.push(
            Finding::new(
                ids::MESSAGE_LIST_UNSUBSCRIBE_INVALID,
                file,
                format!(
                    "The List-Unsubscribe header is malformed: {}.",
                    list_unsubscribe.problems.join("; ")
                ),
            )
            .with("value", values.join(" | "))
            .with("problems", &list_unsubscribe.problems),
        );
    }
    match post.as_slice() {
        [] => findings.push(Finding::new(
            ids::MESSAGE_ONE_CLICK_MISSING,
            file,
            "The message has List-Unsubscribe but no List-Unsubscribe-Post: List-Unsubscribe=One-Click (RFC 8058).",
        )),
        [v] if v.trim() == "List-Unsubscribe=One-Click" => {
            if list_unsubscribe.https.is_none() {
                findings.push(
                    Finding::new(
                        ids::MESSAGE_ONE_CLICK_NO_HTTPS,
                        file,
                        "List-Unsubscribe-Post is set, but List-Unsubscribe has no HTTPS address to POST to.",
                    )
                    .with("uris", &list_unsubscribe.uris),
                );
            }
        }
        other => findings.push(
            Finding::new(
                ids::MESSAGE_LIST_UNSUBSCRIBE_INVALID,
                file,
                format!(
                    "List-Unsubscribe-Post must appear once with exactly \"List-Unsubscribe=One-Click\"; found {other:?}."
                ),
            )
            .with("values", other),
        ),
    }
    UnsubscribeHeaders {
        list_unsubscribe,
        post,
        findings,
    }
}

/// The decoded HTML parts and text parts of the body.
fn body_parts(msg: &mail_parser::Message<'_>) -> (Vec<String>, Vec<String>) {
    let mut html = Vec::new();
    let mut text = Vec::new();
    for part in msg.parts.iter() {
        if let Some(contents) = part.text_contents() {
            if matches!(&part.body, mail_parser::PartType::Html(_)) {
                html.push(contents.to_string());
            } else {
                text.push(contents.to_string());
            }
        }
    }
    (html, text)
}

/// (d=, s=) of each DKIM-Signature that parses, lower-cased.
fn dkim_signers(msg: &mail_parser::Message<'_>, bytes: &[u8]) -> Vec<(String, String)> {
    AuthenticatedMessage::from_parsed(msg, bytes, false)
        .dkim_headers
        .iter()
        .map(|h| {
            (
                h.header.d.to_ascii_lowercase(),
                h.header.s.to_ascii_lowercase(),
            )
        })
        .collect()
}

/// Recipients in To and Cc from which a message looks like a mass mailing.
const MANY_RECIPIENTS: usize = 10;

/// What makes a message look like mail to many people: a `Precedence:
/// bulk`, `list` or `junk` header, a `List-Id`, or at least
/// [`MANY_RECIPIENTS`] addresses in To and Cc (commas outside quotes and
/// angle brackets counted).
fn bulk_signs(headers: &[(String, String)]) -> Vec<String> {
    let mut signs = Vec::new();
    for v in message::values(headers, "Precedence") {
        let v = v.trim().to_ascii_lowercase();
        if ["bulk", "list", "junk"].contains(&v.as_str()) {
            signs.push(format!("Precedence: {v}"));
        }
    }
    if !message::values(headers, "List-Id").is_empty() {
        signs.push("a List-Id header".to_string());
    }
    let recipients: usize = ["To", "Cc"]
        .iter()
        .flat_map(|h| message::values(headers, h))
        .map(count_addresses)
        .sum();
    if recipients >= MANY_RECIPIENTS {
        signs.push(format!("{recipients} addresses in To and Cc"));
    }
    signs
}

/// The addresses in an address-list header: its `@`s outside quoted
/// strings (display names may hold commas, never a bare `@` worth
/// counting twice).
fn count_addresses(value: &str) -> usize {
    let mut quoted = false;
    let mut escaped = false;
    let mut count = 0;
    for c in value.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '@' if !quoted => count += 1,
            _ => {}
        }
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn bulk_signs_are_read_from_the_headers() {
        assert!(bulk_signs(&h(&[("To", "one@example.net")])).is_empty());
        assert_eq!(
            bulk_signs(&h(&[("Precedence", " Bulk ")])),
            ["Precedence: bulk"]
        );
        assert_eq!(
            bulk_signs(&h(&[("List-Id", "<news.shop.test>")])),
            ["a List-Id header"]
        );
        let many: Vec<String> = (0..12).map(|i| format!("u{i}@example.net")).collect();
        assert_eq!(
            bulk_signs(&h(&[
                ("To", &many[..6].join(", ")),
                ("Cc", &many[6..].join(", "))
            ])),
            ["12 addresses in To and Cc"]
        );
        // A display name with an @ in quotes is one address.
        assert_eq!(count_addresses("\"a@b, c@d\" <x@example.net>"), 1);
    }
}

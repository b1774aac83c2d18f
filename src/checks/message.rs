//! The message scan: each `.eml` parsed once (mail-parser), then its DKIM
//! signatures verified through our resolver (mail-auth), DMARC evaluated
//! for its From domain, its unsubscribe headers and body link checked, and
//! its RFC 5322 basics.
//!
//! Two phases: [`prepare`] is synchronous (parse, headers, links), so the
//! domains of the body's links are known before any lookup and the
//! blocklist check can start at once; [`verify`] does the DNS work.
//!
//! mail-auth would ask DNS itself; instead every key it needs is fetched
//! through [`Dns`] (cache, statistics, typed failures) and handed to it in
//! a pre-filled cache, so it never sends a query of its own.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use futures::future::join_all;
use hickory_proto::op::ResponseCode;
use mail_auth::common::parse::TxtRecordParser;
use mail_auth::common::verify::DomainKey;
use mail_auth::{
    AuthenticatedMessage, DkimResult, MessageAuthenticator, Parameters, ResolverCache, Txt,
};
use serde::Serialize;

use crate::checks::{Context, dmarc, spf};
use crate::dns::{Dns, Outcome};
use crate::findings::{self as ids, Finding, Status};
use crate::message::{self, LinkFound, ListUnsubscribe, Loaded};
use crate::records::dmarc::{Alignment, Policy};
use crate::rules::Rules;

/// Link domains handed to the domain blocklists, per message.
pub const MAX_LINK_DOMAINS: usize = 50;

/// What `prepare` found without DNS.
pub struct Prepared<'a> {
    pub loaded: &'a Loaded,
    /// Why the file is not a message.
    pub problem: Option<String>,
    parsed: Option<mail_parser::Message<'a>>,
    pub from_address: Option<String>,
    pub from_domain: Option<String>,
    pub subject: Option<String>,
    /// Findings that need no DNS.
    pub findings: Vec<Finding>,
    pub list_unsubscribe: ListUnsubscribe,
    post: Vec<String>,
    pub link: Option<LinkFound>,
    pub link_domains: Vec<String>,
    /// (d=, s=) of each DKIM-Signature that parses.
    pub signatures: Vec<(String, String)>,
    pub received_ip: Option<IpAddr>,
    pub return_path: Option<String>,
}

/// Parses and checks one message without DNS.
pub fn prepare<'a>(loaded: &'a Loaded, rules: &Rules) -> Prepared<'a> {
    let file = loaded.path.as_str();
    let mut p = Prepared {
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
        signatures: Vec::new(),
        received_ip: None,
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

    // RFC 5322 basics.
    let froms = message::values(&headers, "From");
    let mailboxes: Vec<(Option<String>, String)> = msg
        .from()
        .map(|a| {
            a.iter()
                .map(|addr| {
                    (
                        addr.address().map(str::to_string),
                        addr.name().unwrap_or("").to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    match (froms.len(), mailboxes.as_slice()) {
        (0, _) => p.findings.push(
            Finding::new(
                ids::MESSAGE_FROM_INVALID,
                file,
                "The message has no From header.",
            )
            .with("file", file),
        ),
        (1, [(Some(addr), _)]) => match addr
            .rsplit_once('@')
            .map(|(l, d)| (l, crate::dns::name::normalize_domain(d)))
        {
            Some((local, Ok(domain))) if !local.is_empty() && domain.contains('.') => {
                p.from_address = Some(addr.clone());
                p.from_domain = Some(domain);
            }
            _ => p.findings.push(
                Finding::new(
                    ids::MESSAGE_FROM_INVALID,
                    file,
                    format!("The From address {addr:?} is not a valid mailbox."),
                )
                .with("from", froms[0]),
            ),
        },
        (1, list) => p.findings.push(
            Finding::new(
                ids::MESSAGE_FROM_INVALID,
                file,
                format!(
                    "The From header holds {} mailboxes, not exactly one with a valid address.",
                    list.len()
                ),
            )
            .with("from", froms[0]),
        ),
        _ => {} // several From headers: reported as a duplicate below
    }
    if message::values(&headers, "Date").is_empty() {
        p.findings.push(
            Finding::new(
                ids::MESSAGE_DATE_MISSING,
                file,
                "The message has no Date header.",
            )
            .with("file", file),
        );
    } else if msg.date().is_none() {
        p.findings.push(
            Finding::new(
                ids::MESSAGE_DATE_MISSING,
                file,
                "The Date header cannot be read as an RFC 5322 date.",
            )
            .with("date", message::values(&headers, "Date")[0]),
        );
    }
    if message::values(&headers, "Message-ID").is_empty() {
        p.findings.push(
            Finding::new(
                ids::MESSAGE_MESSAGE_ID_MISSING,
                file,
                "The message has no Message-ID header.",
            )
            .with("file", file),
        );
    }
    let duplicated: Vec<(&str, usize)> = message::SINGLE_INSTANCE
        .iter()
        .map(|h| (*h, message::values(&headers, h).len()))
        .filter(|(_, n)| *n > 1)
        .collect();
    if !duplicated.is_empty() {
        p.findings.push(
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
        );
    }

    // List-Unsubscribe and one-click (the DKIM coverage is checked in verify).
    let lu_values = message::values(&headers, "List-Unsubscribe");
    p.list_unsubscribe = message::list_unsubscribe(&lu_values);
    p.post = message::values(&headers, "List-Unsubscribe-Post")
        .iter()
        .map(|s| s.to_string())
        .collect();
    if lu_values.is_empty() {
        p.findings.push(Finding::new(
            ids::MESSAGE_LIST_UNSUBSCRIBE_MISSING,
            file,
            "The message has no List-Unsubscribe header.",
        ));
    } else if !p.list_unsubscribe.problems.is_empty() {
        p.findings.push(
            Finding::new(
                ids::MESSAGE_LIST_UNSUBSCRIBE_INVALID,
                file,
                format!(
                    "The List-Unsubscribe header is malformed: {}.",
                    p.list_unsubscribe.problems.join("; ")
                ),
            )
            .with("value", lu_values.join(" | "))
            .with("problems", &p.list_unsubscribe.problems),
        );
    }
    if !lu_values.is_empty() {
        match p.post.as_slice() {
            [] => p.findings.push(Finding::new(
                ids::MESSAGE_ONE_CLICK_MISSING,
                file,
                "The message has List-Unsubscribe but no List-Unsubscribe-Post: List-Unsubscribe=One-Click (RFC 8058).",
            )),
            [v] if v.trim() == "List-Unsubscribe=One-Click" => {
                if p.list_unsubscribe.https.is_none() {
                    p.findings.push(
                        Finding::new(
                            ids::MESSAGE_ONE_CLICK_NO_HTTPS,
                            file,
                            "List-Unsubscribe-Post is set, but List-Unsubscribe has no HTTPS address to POST to.",
                        )
                        .with("uris", &p.list_unsubscribe.uris),
                    );
                }
            }
            other => p.findings.push(
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
    }

    // The body: decoded text and HTML parts.
    let mut html = Vec::new();
    let mut text = Vec::new();
    for part in msg.parts.iter() {
        if let Some(contents) = part.text_contents() {
            let is_html = matches!(&part.body, mail_parser::PartType::Html(_));
            if is_html {
                html.push(contents.to_string());
            } else {
                text.push(contents.to_string());
            }
        }
    }
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
    p.link_domains = message::link_domains(&html, &text, MAX_LINK_DOMAINS);

    // Envelope hints.
    p.received_ip = msg.received().and_then(|r| r.from_ip());
    p.return_path = msg
        .return_address()
        .map(|a| a.trim_matches(['<', '>']).to_string())
        .filter(|a| a.contains('@'));
    let auth = AuthenticatedMessage::from_parsed(msg, &loaded.bytes, true);
    p.signatures = auth
        .dkim_headers
        .iter()
        .map(|h| {
            (
                h.header.d.to_ascii_lowercase(),
                h.header.s.to_ascii_lowercase(),
            )
        })
        .collect();
    p
}

/// What the scan of one message found: the JSON `checks.message[]` entry.
#[derive(Debug, Clone, Serialize)]
pub struct MessageReport {
    pub file: String,
    pub status: Status,
    pub size: u64,
    /// Only the first part of the file was read (see `read_limit`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_limit: Option<u64>,
    pub from_domain: Option<String>,
    pub subject: Option<String>,
    pub dkim: Vec<SignatureReport>,
    pub dmarc: Option<MessageDmarc>,
    pub list_unsubscribe: UnsubscribeHeaders,
    pub unsubscribe_link: UnsubscribeLink,
    pub link_domains: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SignatureReport {
    pub domain: String,
    pub selector: String,
    pub algorithm: String,
    /// pass, fail, neutral, permerror, temperror, none or unknown.
    pub result: String,
    pub reason: Option<String>,
    /// The header fields the signature covers (h=).
    pub signed_headers: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct MessageDmarc {
    /// pass, fail, none, temperror or unknown.
    pub result: String,
    pub domain: Option<String>,
    pub policy: Option<Policy>,
    pub aligned_dkim: bool,
    /// `None` when SPF could not be evaluated (no sending IP or envelope sender).
    pub aligned_spf: Option<bool>,
    pub spf: Option<MessageSpf>,
}

#[derive(Debug, Clone, Serialize)]
pub struct MessageSpf {
    pub ip: IpAddr,
    pub mail_from: String,
    pub result: spf::SpfResult,
}

#[derive(Debug, Clone, Serialize)]
pub struct UnsubscribeHeaders {
    pub uris: Vec<String>,
    /// List-Unsubscribe-Post is right and an HTTPS address is there.
    pub one_click: bool,
    /// Both headers are covered by a DKIM signature that verifies.
    pub signed: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct UnsubscribeLink {
    pub found: bool,
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matched: Option<String>,
}

/// What the DNS phase needs.
pub struct MessageContext {
    pub dns: Dns,
    pub rules: Arc<Rules>,
    /// The sending IP given by the user (--ip), if any.
    pub sending_ip: Option<IpAddr>,
    pub mail_from: Option<String>,
    pub helo: Option<String>,
}

/// mail-auth's TXT cache, filled from our resolver beforehand.
#[derive(Default)]
struct Prefilled(Mutex<HashMap<Box<str>, Txt>>);

impl ResolverCache<Box<str>, Txt> for Prefilled {
    fn get<Q>(&self, name: &Q) -> Option<Txt>
    where
        Box<str>: std::borrow::Borrow<Q>,
        Q: std::hash::Hash + Eq + ?Sized,
    {
        self.0.lock().expect("cache lock").get(name).cloned()
    }

    fn remove<Q>(&self, name: &Q) -> Option<Txt>
    where
        Box<str>: std::borrow::Borrow<Q>,
        Q: std::hash::Hash + Eq + ?Sized,
    {
        self.0.lock().expect("cache lock").remove(name)
    }

    fn insert(&self, key: Box<str>, value: Txt, _valid_until: std::time::Instant) {
        self.0.lock().expect("cache lock").insert(key, value);
    }
}

fn key_entry(outcome: &Outcome) -> Txt {
    use mail_auth::{DnsError, Error};
    match outcome {
        Outcome::Records(_) => {
            let mut first_err = None;
            for txt in outcome.txt() {
                match DomainKey::parse(&txt) {
                    Ok(k) => return Txt::DomainKey(Arc::new(k)),
                    Err(e) => {
                        first_err.get_or_insert(e);
                    }
                }
            }
            Txt::Error(first_err.unwrap_or(Error::Dns(DnsError::InvalidRecordType)))
        }
        Outcome::NxDomain => {
            Txt::Error(Error::Dns(DnsError::RecordNotFound(ResponseCode::NXDomain)))
        }
        Outcome::NoData => Txt::Error(Error::Dns(DnsError::RecordNotFound(ResponseCode::NoError))),
        other => Txt::Error(Error::Dns(DnsError::Resolver(other.describe()))),
    }
}

fn org_domain(d: &dmarc::Discovery, domain: &str) -> String {
    d.organizational_domain
        .clone()
        .unwrap_or_else(|| domain.to_string())
}

/// The DNS phase of one message.
pub async fn verify(p: &Prepared<'_>, ctx: &MessageContext) -> (MessageReport, Vec<Finding>) {
    let file = p.loaded.path.as_str();
    let mut findings = p.findings.clone();
    let mut report = MessageReport {
        file: file.to_string(),
        status: Status::Pass,
        size: p.loaded.size,
        read_limit: p.loaded.truncated.then_some(p.loaded.bytes.len() as u64),
        from_domain: p.from_domain.clone(),
        subject: p.subject.clone(),
        dkim: Vec::new(),
        dmarc: None,
        list_unsubscribe: UnsubscribeHeaders {
            uris: p.list_unsubscribe.uris.clone(),
            one_click: p.post.len() == 1
                && p.post[0].trim() == "List-Unsubscribe=One-Click"
                && p.list_unsubscribe.https.is_some(),
            signed: false,
        },
        unsubscribe_link: UnsubscribeLink {
            found: p.link.is_some(),
            url: p.link.as_ref().map(|l| l.url.clone()),
            matched: p.link.as_ref().map(|l| l.matched.clone()),
        },
        link_domains: p.link_domains.clone(),
    };
    let Some(msg) = &p.parsed else {
        report.status = status_of(&findings, &ctx.rules);
        return (report, findings);
    };

    // DKIM, through our resolver.
    let auth = AuthenticatedMessage::from_parsed(msg, &p.loaded.bytes, true);
    let mut names: Vec<String> = Vec::new();
    for h in &auth.dkim_headers {
        let n = format!("{}._domainkey.{}.", h.header.s, h.header.d).to_ascii_lowercase();
        if !names.contains(&n) {
            names.push(n);
        }
    }
    let answers = join_all(names.iter().map(|n| ctx.dns.txt(n))).await;
    let cache = Prefilled::default();
    let now = std::time::Instant::now();
    for (n, a) in names.iter().zip(&answers) {
        cache.insert(n.clone().into_boxed_str(), key_entry(a), now);
        if !a.is_definitive() {
            findings.push(Finding::lookup_failed(
                ids::MESSAGE_DNS_ERROR,
                file,
                n.trim_end_matches('.'),
                "TXT",
                a,
            ));
        }
    }
    for (d, _) in &p.signatures {
        // Keep mail-auth from asking for RFC 6651 report addresses itself.
        cache.insert(
            format!("_report._domainkey.{d}.").into_boxed_str(),
            Txt::Error(mail_auth::Error::Dns(mail_auth::DnsError::RecordNotFound(
                ResponseCode::NXDomain,
            ))),
            now,
        );
    }
    let mut passing: Vec<String> = Vec::new();
    let mut signed_lu = false;
    if auth.dkim_headers.is_empty() && auth.errors.is_empty() {
        findings.push(Finding::new(
            ids::MESSAGE_DKIM_MISSING,
            file,
            "The message has no DKIM signature.",
        ));
    } else if p.loaded.truncated {
        for (d, s) in &p.signatures {
            report.dkim.push(SignatureReport {
                domain: d.clone(),
                selector: s.clone(),
                algorithm: String::new(),
                result: "unknown".into(),
                reason: Some(format!(
                    "not verified: only the first {} bytes of the file were read",
                    p.loaded.bytes.len()
                )),
                signed_headers: Vec::new(),
            });
        }
    } else {
        let authenticator = MessageAuthenticator(ctx.dns.hickory().clone());
        let outputs = authenticator
            .verify_dkim(Parameters::new(&auth).with_txt_cache(&cache))
            .await;
        for out in &outputs {
            let (result, reason) = match out.result() {
                DkimResult::Pass => ("pass", None),
                DkimResult::Fail(e) => ("fail", Some(e.to_string())),
                DkimResult::Neutral(e) => ("neutral", Some(e.to_string())),
                DkimResult::PermError(e) => ("permerror", Some(e.to_string())),
                DkimResult::TempError(e) => ("temperror", Some(e.to_string())),
                DkimResult::None => ("none", None),
            };
            let (domain, selector, algorithm, signed_headers) = match out.signature() {
                Some(sig) => (
                    sig.d.to_ascii_lowercase(),
                    sig.s.clone(),
                    format!("{:?}", sig.a)
                        .to_ascii_lowercase()
                        .replace("sha", "-sha"),
                    sig.h
                        .iter()
                        .map(|h| h.to_ascii_lowercase())
                        .collect::<Vec<_>>(),
                ),
                None => (String::new(), String::new(), String::new(), Vec::new()),
            };
            if result == "pass" {
                passing.push(domain.clone());
                if signed_headers.iter().any(|h| h == "list-unsubscribe")
                    && signed_headers.iter().any(|h| h == "list-unsubscribe-post")
                {
                    signed_lu = true;
                }
            } else if result != "temperror" {
                findings.push(
                    Finding::new(
                        ids::MESSAGE_DKIM_INVALID,
                        file,
                        if domain.is_empty() {
                            format!("A DKIM-Signature header cannot be read: {}.", reason.as_deref().unwrap_or(""))
                        } else {
                            format!("The DKIM signature of {domain} (selector {selector}) does not verify: {}.", reason.as_deref().unwrap_or(result))
                        },
                    )
                    .with("domain", &domain)
                    .with("selector", &selector)
                    .with("result", result)
                    .with("reason", &reason),
                );
            }
            report.dkim.push(SignatureReport {
                domain,
                selector,
                algorithm,
                result: result.into(),
                reason,
                signed_headers,
            });
        }
    }
    report.list_unsubscribe.signed = signed_lu;
    if p.post.len() == 1
        && p.post[0].trim() == "List-Unsubscribe=One-Click"
        && !signed_lu
        && !p.loaded.truncated
    {
        findings.push(Finding::new(
            ids::MESSAGE_ONE_CLICK_UNSIGNED,
            file,
            "No DKIM signature that verifies covers both List-Unsubscribe and List-Unsubscribe-Post, so receivers will not offer one-click unsubscribe.",
        )
        .with("signatures", report.dkim.iter().map(|s| serde_json::json!({"domain": s.domain, "result": s.result, "h": s.signed_headers})).collect::<Vec<_>>()));
    }

    // DMARC for the From domain.
    if let Some(from_domain) = &p.from_domain {
        report.dmarc =
            Some(dmarc_for(p, ctx, from_domain, &passing, &report.dkim, &mut findings).await);
    }
    report.status = status_of(&findings, &ctx.rules);
    (report, findings)
}

async fn dmarc_for(
    p: &Prepared<'_>,
    ctx: &MessageContext,
    from_domain: &str,
    passing: &[String],
    sigs: &[SignatureReport],
    findings: &mut Vec<Finding>,
) -> MessageDmarc {
    let file = p.loaded.path.as_str();
    let disc = dmarc::discover(&ctx.dns, from_domain).await;
    let mut out = MessageDmarc {
        result: "none".into(),
        domain: disc.policy_domain().map(str::to_string),
        policy: None,
        aligned_dkim: false,
        aligned_spf: None,
        spf: None,
    };
    if let Some(i) = disc.failed {
        let step = &disc.steps[i];
        findings.push(Finding::lookup_failed(
            ids::MESSAGE_DNS_ERROR,
            file,
            &format!("_dmarc.{}", step.domain),
            "TXT",
            &step.answer,
        ));
        out.result = "temperror".into();
        return out;
    }
    let Some(record) = disc.record() else {
        return out;
    };
    let inherited = disc.found != Some(0);
    out.policy = Some(if inherited {
        record.subdomain_policy()
    } else {
        record.policy()
    });
    let from_org = org_domain(&disc, from_domain);
    let aligned = |d: &str, mode: Alignment, org: &str| match mode {
        Alignment::Strict => d == from_domain,
        Alignment::Relaxed => org == from_org,
    };
    for d in passing {
        let org = if d == from_domain {
            from_org.clone()
        } else {
            org_domain(&dmarc::discover(&ctx.dns, d).await, d)
        };
        if aligned(d, record.adkim, &org) {
            out.aligned_dkim = true;
        }
    }

    // SPF, when the sending IP and the envelope sender are known.
    let ip = p.received_ip.or(ctx.sending_ip);
    let mail_from = p.return_path.clone().or_else(|| ctx.mail_from.clone());
    if let (Some(ip), Some(mail_from)) = (ip, mail_from)
        && let Some(mf_domain) = mail_from
            .rsplit_once('@')
            .and_then(|(_, d)| crate::dns::name::normalize_domain(d).ok())
    {
        let spf_ctx = Context {
            dns: ctx.dns.clone(),
            rules: ctx.rules.clone(),
            domain: mf_domain.clone(),
            helo: ctx.helo.clone(),
            mail_from: Some(mail_from.clone()),
        };
        let tree = spf::walk(&spf_ctx).await;
        let (spf_report, _) = spf::finish(&spf_ctx, tree, &[ip]).await;
        let result = spf_report
            .evaluations
            .first()
            .map_or(spf::SpfResult::None, |e| e.result);
        let org = if mf_domain == from_domain {
            from_org.clone()
        } else {
            org_domain(&dmarc::discover(&ctx.dns, &mf_domain).await, &mf_domain)
        };
        out.aligned_spf =
            Some(result == spf::SpfResult::Pass && aligned(&mf_domain, record.aspf, &org));
        out.spf = Some(MessageSpf {
            ip,
            mail_from,
            result,
        });
    }

    let dkim_unknown = sigs
        .iter()
        .any(|s| s.result == "temperror" || s.result == "unknown");
    out.result = if out.aligned_dkim || out.aligned_spf == Some(true) {
        "pass".into()
    } else if dkim_unknown {
        "unknown".into()
    } else {
        findings.push(
            Finding::new(
                ids::MESSAGE_DMARC_FAIL,
                file,
                format!(
                    "No DKIM signature or SPF result aligned with the From domain {from_domain} passes, so DMARC fails (policy {}).",
                    out.policy.map_or("none", |p| p.as_str())
                ),
            )
            .with("from_domain", from_domain)
            .with("passing_dkim_domains", passing)
            .with("spf", &out.spf)
            .with("adkim", record.adkim)
            .with("aspf", record.aspf),
        );
        "fail".into()
    };
    out
}

/// A message's status from its findings (severities from the rules).
fn status_of(findings: &[Finding], rules: &Rules) -> Status {
    Status::from_findings(findings.iter().map(|f| {
        (
            f.severity.unwrap_or_else(|| rules.advice(f.id).severity),
            f.unknown,
        )
    }))
}

/// The selectors of the signatures made by `domain` (for the key check).
pub fn selectors_for(prepared: &[Prepared<'_>], domain: &str) -> Vec<String> {
    let mut out = Vec::new();
    for p in prepared {
        for (d, s) in &p.signatures {
            if d == domain && !out.contains(s) {
                out.push(s.clone());
            }
        }
    }
    out
}

/// The domains of every message's links, without repeats.
pub fn link_domains(prepared: &[Prepared<'_>]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for p in prepared {
        for d in &p.link_domains {
            if !out.contains(d) {
                out.push(d.clone());
            }
        }
    }
    out
}

/// Runs the DNS phase of every message concurrently.
pub async fn run(
    prepared: &[Prepared<'_>],
    ctx: &MessageContext,
) -> (Vec<MessageReport>, Vec<Finding>) {
    let results = join_all(prepared.iter().map(|p| verify(p, ctx))).await;
    let mut reports = Vec::new();
    let mut findings = Vec::new();
    for (r, mut f) in results {
        reports.push(r);
        findings.append(&mut f);
    }
    (reports, findings)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator: the same "random" inputs every run.
    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    /// Junk, truncated headers, 8-bit bytes and mangled messages never
    /// panic the parse phase or the record parsers.
    #[test]
    fn garbage_never_panics() {
        let rules = Rules::embedded();
        let mut rng = XorShift(0x5eed_cafe_f00d_d00d);
        let base = b"From: A <a@example.com>\r\nTo: b@example.net\r\nSubject: x\r\nList-Unsubscribe: <https://e.example/u>\r\nDKIM-Signature: v=1; a=rsa-sha256; d=example.com; s=s; h=from; bh=AAAA; b=AAAA\r\nContent-Type: multipart/alternative; boundary=\"q\"\r\n\r\n--q\r\nContent-Type: text/html\r\n\r\n<a href=\"https://e.example/u\">unsubscribe</a>\r\n--q--\r\n";
        for round in 0..1200 {
            let mut bytes: Vec<u8> = if round % 3 == 0 {
                (0..(rng.next() % 300)).map(|_| rng.next() as u8).collect()
            } else {
                let cut = (rng.next() as usize) % base.len();
                let mut b = base[..cut].to_vec();
                for _ in 0..(rng.next() % 8) {
                    if !b.is_empty() {
                        let at = (rng.next() as usize) % b.len();
                        b[at] = rng.next() as u8;
                    }
                }
                b
            };
            if round % 7 == 0 {
                bytes.extend_from_slice("héllo wörld \u{fffd}".as_bytes());
            }
            let loaded = Loaded {
                path: "fuzz.eml".into(),
                size: bytes.len() as u64,
                bytes,
                truncated: false,
            };
            let p = prepare(&loaded, &rules);
            assert!(
                p.problem.is_some() || !p.findings.iter().any(|f| f.id == ids::MESSAGE_UNPARSEABLE)
            );
            let text = String::from_utf8_lossy(&loaded.bytes);
            let _ = crate::records::spf::SpfRecord::parse(&format!("v=spf1 {text}"));
            let _ = crate::records::dmarc::DmarcRecord::parse(&format!("v=DMARC1; {text}"));
            let _ = crate::records::dkim::DkimKey::parse(&text);
        }
    }
}

//! The DNS phase of one message, in the steps it takes: fetch the keys of
//! its signatures, verify them, see what the verified ones cover, and
//! evaluate DMARC for its From domain (SPF for its envelope when the
//! sending IP and envelope sender are known).
//!
//! mail-auth would ask DNS itself; instead every key it needs is fetched
//! through [`Dns`] (cache, statistics, typed failures) and handed to it in
//! a pre-filled cache, so it never sends a query of its own.
//!
//! Verdicts that depend on another result wait for it: with a signature
//! that could not be verified (temperror), nothing is said about what the
//! signatures cover; with an SPF temperror or a DMARC lookup that failed,
//! DMARC is `unknown`, never `fail`.

use futures::future::join_all;
use mail_auth::dkim::DkimError;
use mail_auth::{AuthenticatedMessage, DkimResult, MessageAuthenticator, Parameters};

use super::{
    DmarcForIp, MessageDmarc, MessageReport, MessageSpf, SignatureReport, UnsubscribeHeaders,
    UnsubscribeLink,
};
use crate::dns::Dns;
use crate::facts::signing_keys::SigningKeys;
use crate::facts::spf::{self, SpfResult};
use crate::facts::{Facts, dmarc_discovery};
use crate::findings::{self as ids, Finding, Status};
use crate::message::scan::Scanned;
use crate::records::dkim::{DkimKey, KeyType, MIN_BITS, SignatureTags, looks_like_dkim};
use crate::records::dmarc::Alignment;
use crate::rules::Rules;

const ONE_CLICK: &str = "List-Unsubscribe=One-Click";

/// The DNS phase of one message.
pub async fn verify(p: &Scanned<'_>, facts: &Facts<'_>) -> (MessageReport, Vec<Finding>) {
    let file = p.loaded.path.as_str();
    let mut findings = p.findings.clone();
    let one_click_asked = p.post.len() == 1 && p.post[0].trim() == ONE_CLICK;
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
            one_click: one_click_asked && p.list_unsubscribe.https.is_some(),
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
        report.status = status_of(&findings, &facts.rules);
        return (report, findings);
    };

    let mut auth = AuthenticatedMessage::from_parsed(msg, &p.loaded.bytes, false);
    let signatures = auth.dkim_headers.len() + auth.errors.len();
    let capped = signatures > crate::facts::caps::SIGNATURES;
    if capped {
        facts.note_cap(crate::facts::Cap {
            what: "DKIM signatures in one message",
            limit: crate::facts::caps::SIGNATURES,
            found: signatures,
            affects: crate::facts::Affects::Check(crate::checks::Check::id(&super::Message)),
        });
        auth.dkim_headers.truncate(crate::facts::caps::SIGNATURES);
        auth.errors.truncate(crate::facts::caps::SIGNATURES);
    }
    let (signatures, keys) = verify_signatures(p, &auth, &facts.dns, &mut findings).await;
    report.dkim = signatures;
    // The keys that signed it, judged as the key check judges them; the
    // audited domain's own keys are the key check's to report.
    for (name, key) in &keys {
        let signer = name.split_once("._domainkey.").map(|(_, d)| d);
        if let Some(key) = key
            && signer != facts.target.domain.as_deref()
        {
            findings.extend(key.findings(name, file));
        }
    }

    // What the verified signatures cover: only known when none of them
    // is left undecided.
    let undecided = report
        .dkim
        .iter()
        .any(|s| s.result == "temperror" || s.result == "unknown");
    let signed = report.dkim.iter().any(|s| {
        s.result == "pass"
            && s.signed_headers.iter().any(|h| h == "list-unsubscribe")
            && s.signed_headers
                .iter()
                .any(|h| h == "list-unsubscribe-post")
    });
    report.list_unsubscribe.signed = signed;
    if one_click_asked && !signed && !undecided {
        findings.push(Finding::new(
            ids::MESSAGE_ONE_CLICK_UNSIGNED,
            file,
            "No DKIM signature that verifies covers both List-Unsubscribe and List-Unsubscribe-Post, so receivers will not offer one-click unsubscribe.",
        )
        .with("signatures", report.dkim.iter().map(|s| serde_json::json!({"domain": s.domain, "result": s.result, "h": s.signed_headers})).collect::<Vec<_>>()));
    }

    if let Some(from_domain) = &p.from_domain {
        report.dmarc =
            Some(evaluate_dmarc(p, facts, from_domain, &report.dkim, &mut findings).await);
    }
    report.status = status_of(&findings, &facts.rules);
    if capped {
        // Signatures past the cap were not verified: the message cannot
        // be called clean (run.cap-reached says which cap).
        report.status = report.status.max(Status::Unknown);
    }
    (report, findings)
}

/// Step 1 and 2: fetch the keys of the signatures through our resolver,
/// then let mail-auth verify them against that pre-filled cache.
async fn verify_signatures(
    p: &Scanned<'_>,
    auth: &AuthenticatedMessage<'_>,
    dns: &Dns,
    findings: &mut Vec<Finding>,
) -> (Vec<SignatureReport>, Vec<(String, Option<DkimKey>)>) {
    let file = p.loaded.path.as_str();
    let keys = SigningKeys::fetch(
        dns,
        auth.dkim_headers
            .iter()
            .map(|h| (h.header.s.as_str(), h.header.d.as_str())),
    )
    .await;
    for (name, failed) in keys.failed() {
        findings.push(Finding::lookup_failed(
            ids::MESSAGE_DNS_ERROR,
            file,
            name,
            "TXT",
            failed,
        ));
    }
    let mut out = Vec::new();
    if auth.dkim_headers.is_empty() && auth.errors.is_empty() {
        findings.push(Finding::new(
            ids::MESSAGE_DKIM_MISSING,
            file,
            "The message has no DKIM signature.",
        ));
        return (out, Vec::new());
    }
    if p.loaded.truncated {
        for (d, s) in &p.signatures {
            out.push(SignatureReport {
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
        return (out, Vec::new());
    }
    let authenticator = MessageAuthenticator(dns.hickory().clone());
    let outputs = authenticator
        .verify_dkim(Parameters::new(auth).with_txt_cache(&keys.cache))
        .await;
    // mail-auth reports the signatures it cannot read first, then the
    // others in header order: pair each result with its raw header field.
    let raw: Vec<&[u8]> = auth
        .errors
        .iter()
        .filter(|h| matches!(h.header, mail_auth::Error::Dkim(_)))
        .map(|h| h.value)
        .chain(auth.dkim_headers.iter().map(|h| h.value))
        .collect();
    let parsed: Vec<(String, Option<DkimKey>)> = keys
        .answers
        .iter()
        .map(|(n, a)| {
            let key = a.txt().ok().and_then(|txt| {
                txt.iter()
                    .map(|t| String::from_utf8_lossy(t).into_owned())
                    .find(|t| looks_like_dkim(t))
                    .map(|t| DkimKey::parse(&t))
            });
            (n.clone(), key)
        })
        .collect();
    for (o, value) in outputs.iter().zip(raw) {
        let tags = SignatureTags::parse(&String::from_utf8_lossy(value));
        let (result, reason) = match o.result() {
            DkimResult::Pass => ("pass", None),
            DkimResult::Fail(e) => ("fail", Some(e.to_string())),
            // A body that does not match its hash is a signature that does
            // not verify (RFC 6376 §6.1.3): fail, not neutral (RFC 8601).
            DkimResult::Neutral(e @ mail_auth::Error::Dkim(DkimError::FailedBodyHashMatch)) => {
                ("fail", Some(e.to_string()))
            }
            DkimResult::Neutral(e) => ("neutral", Some(e.to_string())),
            DkimResult::PermError(e) => ("permerror", Some(e.to_string())),
            DkimResult::TempError(e) => ("temperror", Some(e.to_string())),
            DkimResult::None => ("none", None),
        };
        let key_name = match (&tags.selector, &tags.domain) {
            (Some(s), Some(d)) => Some(format!("{s}._domainkey.{d}")),
            _ => None,
        };
        let key = key_name
            .as_ref()
            .and_then(|n| parsed.iter().find(|(k, _)| k == n))
            .and_then(|(_, key)| key.as_ref());
        let (result, reason) = match stricter(&tags, key, result) {
            Some((r, why)) => (r, Some(why)),
            None => (result, reason),
        };
        let (domain, selector, algorithm, signed_headers) = match o.signature() {
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
            // A signature mail-auth could not read: what we read of it.
            None => (
                tags.domain.clone().unwrap_or_default(),
                tags.selector.clone().unwrap_or_default(),
                tags.algorithm.clone().unwrap_or_default(),
                Vec::new(),
            ),
        };
        if result == "pass"
            && let Some(l) = tags.body_length
        {
            findings.push(
                Finding::new(
                    ids::MESSAGE_DKIM_BODY_LENGTH,
                    file,
                    format!(
                        "The DKIM signature of {} covers only the first {l} octets of the body (l=): anything appended after them still verifies.",
                        tags.domain.as_deref().unwrap_or("?")
                    ),
                )
                .with("domain", &tags.domain)
                .with("selector", &tags.selector)
                .with("l", l),
            );
        }
        if result != "pass" && result != "temperror" {
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
        out.push(SignatureReport {
            domain,
            selector,
            algorithm,
            result: result.into(),
            reason,
            signed_headers,
        });
    }
    (out, parsed)
}

/// What RFC 6376 and RFC 8301 require of a verifier that mail-auth 0.13
/// does not enforce, checked on our own reading of the signature and its
/// key: the stricter result with its reason, if any.
fn stricter(
    tags: &SignatureTags,
    key: Option<&DkimKey>,
    result: &'static str,
) -> Option<(&'static str, String)> {
    if !tags.problems.is_empty() {
        return Some(("permerror", tags.problems.join("; ")));
    }
    if result != "pass" {
        return None;
    }
    if tags.algorithm.as_deref() == Some("rsa-sha1") {
        return Some((
            "fail",
            "rsa-sha1 signatures are not valid (RFC 8301 §3.1)".into(),
        ));
    }
    let key = key?;
    if !key.problems.is_empty() {
        return Some(("permerror", key.problems.join("; ")));
    }
    if let Some(hash) = tags.hash()
        && !key.allows(hash)
    {
        return Some((
            "permerror",
            format!(
                "the key allows only h={} for signatures, not {hash} (RFC 6376 §3.6.1)",
                key.hashes.join(":")
            ),
        ));
    }
    if let (Some(KeyType::Rsa), Some(bits)) = (&key.key_type, key.bits)
        && bits < MIN_BITS
    {
        return Some((
            "fail",
            format!("the RSA key is {bits} bits, under {MIN_BITS} (RFC 8301 §3.2)"),
        ));
    }
    None
}

/// The organisational domain of `domain`, or the failed lookup that keeps
/// it from being known.
async fn org_of(dns: &Dns, domain: &str) -> Result<String, crate::facts::FailedLookup> {
    let d = dmarc_discovery::discover(dns, domain).await;
    match d.failure() {
        Some(f) => Err(f),
        None => Ok(d.org_or(domain)),
    }
}

/// Step 3: DMARC for the From domain, from the verified signatures and,
/// when the sending IP and envelope sender are known, SPF.
async fn evaluate_dmarc(
    p: &Scanned<'_>,
    facts: &Facts<'_>,
    from_domain: &str,
    sigs: &[SignatureReport],
    findings: &mut Vec<Finding>,
) -> MessageDmarc {
    let file = p.loaded.path.as_str();
    let dns = &facts.dns;
    let disc = dmarc_discovery::discover(dns, from_domain).await;
    let mut out = MessageDmarc {
        result: "none".into(),
        domain: disc.policy_domain().map(str::to_string),
        policy: None,
        aligned_dkim: false,
        aligned_spf: None,
        spf: None,
        per_ip: Vec::new(),
    };
    if let Some(failed) = disc.failure() {
        findings.push(failed.finding(ids::MESSAGE_DNS_ERROR, file));
        out.result = "temperror".into();
        return out;
    }
    let Some(record) = disc.record() else {
        return out;
    };
    let inherited = disc.found != Some(0);
    out.policy = Some(if !inherited {
        record.policy()
    } else if nonexistent(dns, from_domain).await {
        // RFC 9989 §4.7 np: a subdomain that does not exist (no A, AAAA
        // or MX; NXDOMAIN or NODATA for each).
        record.nonexistent_policy()
    } else {
        record.subdomain_policy()
    });
    let from_org = disc.org_or(from_domain);
    let aligned = |d: &str, mode: Alignment, org: &str| match mode {
        Alignment::Strict => d == from_domain,
        Alignment::Relaxed => org == from_org,
    };
    // An alignment that could not be worked out keeps DMARC from failing.
    let mut undecided = sigs
        .iter()
        .any(|s| s.result == "temperror" || s.result == "unknown");
    for s in sigs.iter().filter(|s| s.result == "pass") {
        let org = if s.domain == from_domain {
            Ok(from_org.clone())
        } else {
            org_of(dns, &s.domain).await
        };
        match org {
            Ok(org) if aligned(&s.domain, record.adkim, &org) => out.aligned_dkim = true,
            Ok(_) => {}
            Err(f) => {
                undecided = true;
                findings.push(f.finding(ids::MESSAGE_DNS_ERROR, file));
            }
        }
    }

    // SPF, when the sending IP and the envelope sender are known: the
    // connection that delivered it to us, else the address its Received
    // path names as the sender, else every sending IP given, each
    // evaluated as its own transaction (receivers see one at a time).
    let ips: Vec<std::net::IpAddr> = match p.sending_ip() {
        Some(ip) => vec![ip],
        None => facts.target.ips.clone(),
    };
    let mail_from = facts.mail_from_of(p);
    let helo = facts.helo().unwrap_or("");
    // The SPF identity: the MAIL FROM domain, or the HELO name for the null
    // sender (RFC 7208 §2.4).
    let identity = |mail_from: &str| {
        let d = match mail_from.rsplit_once('@') {
            Some((_, d)) => d,
            None if mail_from.is_empty() => helo,
            None => mail_from,
        };
        crate::dns::name::normalize_domain(d).ok()
    };
    let mut per_ip: Vec<DmarcForIp> = Vec::new();
    if let Some(mail_from) = mail_from
        && let Some(mf_domain) = identity(&mail_from)
    {
        let evals = join_all(
            ips.iter()
                .map(|ip| spf::check_transaction(dns, *ip, &mail_from, helo)),
        )
        .await;
        for (ip, eval) in ips.iter().copied().zip(evals) {
            let mut entry = DmarcForIp {
                spf: MessageSpf {
                    ip,
                    mail_from: mail_from.clone(),
                    result: eval.result,
                },
                aligned_spf: None,
                result: String::new(),
            };
            let mut unknown = undecided;
            match eval.result {
                SpfResult::Temperror => {
                    unknown = true;
                    findings.push(
                        Finding::new(
                            ids::MESSAGE_DNS_ERROR,
                            file,
                            format!(
                                "SPF for the envelope sender {mail_from} from {ip} is temperror: {}.",
                                eval.reason.as_deref().unwrap_or("a lookup failed")
                            ),
                        )
                        .with("mail_from", &mail_from)
                        .with("ip", ip)
                        .with("reason", &eval.reason)
                        .unknown(),
                    );
                }
                SpfResult::Pass => {
                    let org = if mf_domain == from_domain {
                        Ok(from_org.clone())
                    } else {
                        org_of(dns, &mf_domain).await
                    };
                    match org {
                        Ok(org) => entry.aligned_spf = Some(aligned(&mf_domain, record.aspf, &org)),
                        Err(f) => {
                            unknown = true;
                            let f = f.finding(ids::MESSAGE_DNS_ERROR, file);
                            if !findings.contains(&f) {
                                findings.push(f);
                            }
                        }
                    }
                }
                _ => entry.aligned_spf = Some(false),
            }
            entry.result = if out.aligned_dkim || entry.aligned_spf == Some(true) {
                "pass"
            } else if unknown {
                "unknown"
            } else {
                "fail"
            }
            .into();
            per_ip.push(entry);
        }
    }

    // The message's result: the worst over its sending IPs (it fails
    // DMARC wherever it is sent from an address that fails).
    let failing: Vec<std::net::IpAddr> = per_ip
        .iter()
        .filter(|e| e.result == "fail")
        .map(|e| e.spf.ip)
        .collect();
    out.result = if per_ip.is_empty() {
        if out.aligned_dkim {
            "pass"
        } else if undecided {
            "unknown"
        } else {
            "fail"
        }
    } else if !failing.is_empty() {
        "fail"
    } else if per_ip.iter().any(|e| e.result == "unknown") {
        "unknown"
    } else {
        "pass"
    }
    .into();
    if let Some(first) = per_ip.first() {
        out.spf = Some(first.spf.clone());
        out.aligned_spf = first.aligned_spf;
    }
    if out.result == "fail" {
        let passing: Vec<std::net::IpAddr> = per_ip
            .iter()
            .filter(|e| e.result == "pass")
            .map(|e| e.spf.ip)
            .collect();
        let from = match failing.as_slice() {
            [] => String::new(),
            ips if per_ip.len() > 1 => format!(
                "Sent from {}, ",
                ips.iter()
                    .map(|i| i.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            _ => String::new(),
        };
        let besides = if passing.is_empty() {
            String::new()
        } else {
            format!(
                " From {} it passes.",
                passing
                    .iter()
                    .map(|i| i.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        findings.push(
            Finding::new(
                ids::MESSAGE_DMARC_FAIL,
                file,
                format!(
                    "{}{} DKIM signature or SPF result aligned with the From domain {from_domain} passes, so DMARC fails (policy {}).{besides}",
                    from,
                    if from.is_empty() { "No" } else { "no" },
                    out.policy.map_or("none", |p| p.as_str())
                ),
            )
            .with("from_domain", from_domain)
            .with(
                "passing_dkim_domains",
                sigs.iter()
                    .filter(|s| s.result == "pass")
                    .map(|s| s.domain.as_str())
                    .collect::<Vec<_>>(),
            )
            .with("spf", &out.spf)
            .with("ips_failing", &failing)
            .with("ips_passing", &passing)
            .with("adkim", record.adkim)
            .with("aspf", record.aspf),
        );
    }
    if per_ip.len() > 1 {
        out.per_ip = per_ip;
    }
    out
}

/// Whether `domain` does not exist in the sense of RFC 9989's `np`: its A,
/// AAAA and MX lookups all answer NXDOMAIN or NODATA. A failed lookup
/// means it is not known not to exist.
async fn nonexistent(dns: &Dns, domain: &str) -> bool {
    let ((a, aaaa), mx) = futures::join!(dns.a_and_aaaa(domain), dns.mx(domain));
    a.is_void() && aaaa.is_void() && mx.is_void()
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

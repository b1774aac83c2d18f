//! What each fuzz target does with its input, shared by the targets in
//! `fuzz_targets/` and by the seed replay in `cargo test`
//! (tests/integration/fuzz_seeds.rs), so a crash found here stays found.
//! Each function must return without panicking, whatever `data` is.
#![allow(dead_code)]

use std::sync::OnceLock;

use mailaudit::dns::server::Zone;
use mailaudit::message::scan::scan;
use mailaudit::message::{Loaded, list_unsubscribe, unsubscribe_link};
use mailaudit::records::dkim::{DkimKey, SignatureTags};
use mailaudit::records::dmarc::DmarcRecord;
use mailaudit::records::spf::{MacroContext, MacroString, SpfRecord};
use mailaudit::rules::Rules;

/// What a target does with one input.
pub type Harness = fn(&[u8]);

/// Every target by name, as `cargo fuzz` knows them.
pub const TARGETS: &[(&str, Harness)] = &[
    ("spf_record", spf_record),
    ("dmarc_record", dmarc_record),
    ("dkim_tags", dkim_tags),
    ("list_unsubscribe", list_unsubscribe_values),
    ("message_scan", message_scan),
    ("zone_load", zone_load),
    ("transport_policies", transport_policies),
    ("recipient_lists", recipient_lists),
];

/// SPF record syntax and macro expansion (RFC 7208 §4.5, §7).
pub fn spf_record(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let _ = SpfRecord::parse(&text);
    let _ = SpfRecord::parse(&format!("v=spf1 {text}"));
    let ctx = MacroContext {
        sender: "user@example.com".into(),
        domain: "example.com".into(),
        ip: Some("192.0.2.1".parse().unwrap()),
        helo: "mail.example.com".into(),
        validated: None,
    };
    if let Ok(m) = MacroString::parse_domain_spec(&text) {
        let _ = m.expand(&ctx);
    }
    if let Ok(m) = MacroString::parse_explanation(&text) {
        let _ = m.expand_text(&ctx);
    }
}

/// DMARC record tags (RFC 9989 §4.7).
pub fn dmarc_record(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let _ = DmarcRecord::parse(&text);
    let _ = DmarcRecord::parse(&format!("v=DMARC1; {text}"));
}

/// DKIM key records and DKIM-Signature tag lists (RFC 6376 §3.2, §3.5,
/// §3.6.1).
pub fn dkim_tags(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let key = DkimKey::parse(&text);
    let _ = key.findings("s._domainkey.example.com", "example.com");
    let tags = SignatureTags::parse(&text);
    let _ = tags.hash();
}

/// List-Unsubscribe values (RFC 2369) and the unsubscribe link of a body.
pub fn list_unsubscribe_values(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let lu = list_unsubscribe(&[&text]);
    let keywords = vec!["unsubscribe".to_string(), "abbestellen".to_string()];
    let _ = unsubscribe_link(
        &[text.to_string()],
        &[text.to_string()],
        &keywords,
        &lu.uris,
    );
}

/// The message scan without DNS: parse, RFC 5322 basics, unsubscribe
/// headers and link, link domains, DKIM signatures read.
pub fn message_scan(data: &[u8]) {
    static RULES: OnceLock<Rules> = OnceLock::new();
    let rules = RULES.get_or_init(Rules::embedded);
    let loaded = Loaded {
        path: "fuzz.eml".into(),
        bytes: data.to_vec(),
        size: data.len() as u64,
        truncated: false,
    };
    let _ = scan(&loaded, rules);
}

/// Zone files (`--zone`): a zone either loads or is refused with an error.
pub fn zone_load(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Zone::parse(text, "fuzz.zone");
    }
}

/// The records and files of the transport checks: TLS-RPT records, MTA-STS
/// records and policy files (and the MX patterns they hold), BIMI records
/// and logos, certificate names.
pub fn transport_policies(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let _ = mailaudit::records::tlsrpt::parse(&text);
    let _ = mailaudit::records::tlsrpt::parse(&format!("v=TLSRPTv1; {text}"));
    let _ = mailaudit::records::mtasts::record_id(&format!("v=STSv1; {text}"));
    if let Ok(policy) = mailaudit::records::mtasts::parse_policy(&text) {
        for p in &policy.mx {
            let _ = mailaudit::records::mtasts::mx_matches(p, "mx.example.com");
            let _ = mailaudit::smtp::name_match(p, "mx.example.com");
        }
    }
    let _ = mailaudit::checks::bimi::parse(&text);
    let _ = mailaudit::checks::bimi::parse(&format!("v=BIMI1; {text}"));
    let _ = mailaudit::checks::bimi::tiny_ps_problem(&text);
    let first = text.lines().next().unwrap_or("");
    let _ = mailaudit::smtp::name_match(first, first);
}

/// Recipient lists: every line as an address (syntax, normalisation, role
/// and typo rules), and the whole input as a list file (delimiter, header
/// and column detection, rows).
pub fn recipient_lists(data: &[u8]) {
    static RULES: OnceLock<Rules> = OnceLock::new();
    let rules = &RULES.get_or_init(Rules::embedded).recipients;
    let text = String::from_utf8_lossy(data);
    for line in text.lines().take(64) {
        if let Ok(a) = mailaudit::recipients::address::parse(line) {
            let _ = a.normalised(&rules.providers);
            let _ = rules.is_role(&a.role_key());
            if let Some(d) = &a.domain {
                let _ = rules.typo_of(d);
                let _ = rules.is_disposable(d);
            }
        }
    }
    let Ok(file) = tempfile::NamedTempFile::new() else {
        return;
    };
    if std::fs::write(file.path(), data).is_err() {
        return;
    }
    if let Ok(list) = mailaudit::recipients::ListFile::open(file.path(), "fuzz", None) {
        let _ = list.header_record();
        if let Ok(rows) = list.rows() {
            for row in rows.take(1000).flatten() {
                let _ = row
                    .address
                    .map(|a| mailaudit::recipients::address::parse(&a).is_ok());
            }
        }
    }
}

//! MTA-STS (RFC 8461): the `_mta-sts` record, the policy fetched over
//! HTTPS from `mta-sts.<domain>` with its certificate validated, its
//! syntax, mode and max_age, and whether its `mx:` patterns cover every MX
//! host. A policy that does not cover an MX host makes senders that
//! enforce it refuse to deliver there.

use serde::Serialize;

use crate::checks::{Ran, check};
use crate::facts::Facts;
use crate::findings::{self as ids, Finding, Severity};
use crate::records::mtasts::{self, Mode};
use crate::report::model::{Block, Detail};
use crate::web::{self, FetchError};

/// Where the policy lives (§3.2).
const POLICY_PATH: &str = "/.well-known/mta-sts.txt";
/// A max_age under a day gives senders little protection.
const SHORT_MAX_AGE: u64 = 86_400;

check! {
    MtaSts {
        id: "mta-sts",
        title: "MTA-STS",
        description: "the MTA-STS record and the policy served over HTTPS: syntax, mode, max_age, MX hosts covered",
        domain_records: true,
        reads: &[Fact::MxHosts],
        rows: &[Row::DnsRecords { required: true }],
    }
    fn run(facts) {
        let (report, findings) = run(facts).await;
        let policy = report.record.is_some().then_some("the policy");
        Ran::unless_unfetched(facts, policy, report, findings)
    }
}

/// What the MTA-STS check found.
#[derive(Debug, Clone, Serialize)]
pub struct MtaStsReport {
    pub record: Option<String>,
    pub id: Option<String>,
    /// The policy's URL, when it was fetched.
    pub policy_url: Option<String>,
    /// The policy as served.
    pub policy: Option<String>,
    pub mode: Option<Mode>,
    pub max_age: Option<u64>,
    pub mx: Vec<String>,
    /// MX hosts no `mx:` pattern covers.
    pub uncovered: Vec<String>,
}

async fn run(facts: &Facts<'_>) -> (MtaStsReport, Vec<Finding>) {
    let domain = facts.domain();
    let name = format!("_mta-sts.{domain}");
    let mut report = MtaStsReport {
        record: None,
        id: None,
        policy_url: None,
        policy: None,
        mode: None,
        max_age: None,
        mx: Vec::new(),
        uncovered: Vec::new(),
    };
    let records = match facts.txt_records(&name, mtasts::is_sts).await {
        Ok(r) => r,
        Err(failed) => return (report, vec![failed.finding(ids::MTA_STS_DNS_ERROR, domain)]),
    };
    let record = match records.as_slice() {
        [] => {
            let f = Finding::new(
                ids::MTA_STS_MISSING,
                domain,
                format!("{domain} publishes no MTA-STS record at {name}: senders use TLS when offered but accept a downgrade to plain text."),
            )
            .with("name", &name);
            return (report, vec![f]);
        }
        [one] => one.clone(),
        many => {
            let f = Finding::new(
                ids::MTA_STS_INVALID_RECORD,
                domain,
                format!("{domain} publishes {} MTA-STS records; senders then assume it has no policy (RFC 8461 §3.1).", many.len()),
            )
            .with("records", many);
            return (report, vec![f]);
        }
    };
    report.record = Some(record.clone());
    match mtasts::record_id(&record) {
        Ok(id) => report.id = Some(id),
        Err(why) => {
            let f = Finding::new(
                ids::MTA_STS_INVALID_RECORD,
                domain,
                format!(
                    "The MTA-STS record of {domain} is invalid: {why}; senders ignore the policy."
                ),
            )
            .with("record", &record);
            return (report, vec![f]);
        }
    }
    let Some(web) = &facts.target.web else {
        // A library caller that fetches nothing: the policy is not seen.
        return (report, Vec::new());
    };

    // The policy host's addresses, from our own resolver.
    let host = format!("mta-sts.{domain}");
    let addresses = match facts.addresses_of(&host).await {
        Ok(a) => a,
        Err(failed) => return (report, vec![failed.finding(ids::MTA_STS_DNS_ERROR, domain)]),
    };
    let url = format!("https://{host}{POLICY_PATH}");
    report.policy_url = Some(url.clone());
    let unreachable = |why: String, unknown: bool| {
        let f = Finding::new(
            ids::MTA_STS_POLICY_UNREACHABLE,
            domain,
            format!("The MTA-STS policy of {domain} could not be fetched from {url}: {why}."),
        )
        .with("url", &url)
        .with("reason", &why);
        if unknown { f.unknown() } else { f }
    };
    if addresses.is_empty() {
        return (
            report,
            vec![unreachable(format!("{host} has no address"), false)],
        );
    }
    let fetched = match web::get(&host, POLICY_PATH, &addresses, web).await {
        Ok(f) => f,
        Err(FetchError::Certificate(why)) => {
            let f = Finding::new(
                ids::MTA_STS_POLICY_CERT_INVALID,
                domain,
                format!("The certificate of {host} is not valid ({why}): senders cannot fetch the MTA-STS policy, and treat the domain as having none."),
            )
            .with("url", &url)
            .with("reason", &why);
            return (report, vec![f]);
        }
        // No answer in time may be the network here, not the server.
        Err(FetchError::Timeout) => {
            return (report, vec![unreachable("no answer in time".into(), true)]);
        }
        // Not tried: what the policy host serves is unseen.
        Err(FetchError::NotAllowed(why)) => {
            let f = Finding::new(
                ids::MTA_STS_POLICY_NOT_FETCHED,
                domain,
                format!("The MTA-STS policy of {domain} was not fetched from {url}: {why}. Whether senders can fetch it is unknown."),
            )
            .with("url", &url)
            .with("reason", &why)
            .unknown();
            return (report, vec![f]);
        }
        Err(e) => return (report, vec![unreachable(e.to_string(), false)]),
    };
    if fetched.status != 200 {
        return (
            report,
            vec![unreachable(
                format!(
                    "HTTP status {} (redirects are not followed)",
                    fetched.status
                ),
                false,
            )],
        );
    }
    report.policy = Some(fetched.body.clone());
    let mut findings = Vec::new();
    let policy = match mtasts::parse_policy(&fetched.body) {
        Ok(p) => p,
        Err(why) => {
            findings.push(
                Finding::new(
                    ids::MTA_STS_POLICY_INVALID,
                    domain,
                    format!("The MTA-STS policy at {url} is invalid: {why}; senders ignore it."),
                )
                .with("policy", &fetched.body),
            );
            return (report, findings);
        }
    };
    if !fetched.content_type.as_deref().is_some_and(|t| {
        t.trim_start()
            .to_ascii_lowercase()
            .starts_with("text/plain")
    }) {
        findings.push(
            Finding::new(
                ids::MTA_STS_POLICY_INVALID,
                domain,
                format!(
                    "The MTA-STS policy at {url} is served as {}, not text/plain (RFC 8461 §3.2); strict senders ignore it.",
                    fetched.content_type.as_deref().unwrap_or("no content type")
                ),
            )
            .with("content_type", &fetched.content_type)
            .severity(Severity::Warning),
        );
    }
    report.mode = Some(policy.mode);
    report.max_age = Some(policy.max_age);
    report.mx = policy.mx.clone();
    match policy.mode {
        Mode::Testing => findings.push(Finding::new(
            ids::MTA_STS_MODE_TESTING,
            domain,
            format!("The MTA-STS policy of {domain} is in testing mode: senders report failures (with TLS-RPT) but still deliver without TLS."),
        )),
        Mode::None => findings.push(Finding::new(
            ids::MTA_STS_MODE_NONE,
            domain,
            format!("The MTA-STS policy of {domain} has mode none: it is being withdrawn and protects nothing."),
        )),
        Mode::Enforce => {}
    }
    if policy.max_age < SHORT_MAX_AGE && policy.mode != Mode::None {
        findings.push(
            Finding::new(
                ids::MTA_STS_MAX_AGE_SHORT,
                domain,
                format!("The MTA-STS policy of {domain} is cached for {} seconds only: an attacker who blocks the fetch after that can downgrade delivery again.", policy.max_age),
            )
            .with("max_age", policy.max_age),
        );
    }
    if policy.mode != Mode::None {
        let mx = facts.mx().await;
        if let Some(failed) = mx.lookup.failed() {
            // Which MX hosts the policy must cover is not known.
            findings.push(failed.finding(ids::MTA_STS_DNS_ERROR, domain));
            return (report, findings);
        }
        report.uncovered = mx
            .hosts
            .iter()
            .filter(|h| !h.name.is_empty())
            .map(|h| h.name.clone())
            .filter(|h| !policy.mx.iter().any(|p| mtasts::mx_matches(p, h)))
            .collect();
        if !report.uncovered.is_empty() {
            let mut f = Finding::new(
                ids::MTA_STS_MX_NOT_COVERED,
                domain,
                format!(
                    "The MTA-STS policy of {domain} does not cover the MX host(s) {}: senders that enforce it will not deliver there.",
                    report.uncovered.join(", ")
                ),
            )
            .with("uncovered", &report.uncovered)
            .with("mx_patterns", &policy.mx);
            if policy.mode == Mode::Testing {
                f = f.severity(Severity::Warning);
            }
            findings.push(f);
        }
    }
    (report, findings)
}

impl Detail for MtaStsReport {
    fn wire(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("serialises")
    }

    fn headline(&self) -> String {
        match (&self.record, self.mode) {
            (None, _) => "no record in force".into(),
            (Some(r), None) => r.clone(),
            (Some(_), Some(m)) => format!(
                "mode {}, max_age {}, mx {}",
                serde_json::to_value(m)
                    .ok()
                    .and_then(|v| v.as_str().map(String::from))
                    .unwrap_or_default(),
                self.max_age.unwrap_or(0),
                self.mx.join(", ")
            ),
        }
    }

    fn blocks(&self) -> Vec<Block> {
        let Some(policy) = &self.policy else {
            return Vec::new();
        };
        vec![Block::Lines {
            title: format!("Policy at {}", self.policy_url.as_deref().unwrap_or("")),
            items: policy.lines().map(str::to_string).collect(),
        }]
    }

    fn passed(&self, findings: &[&Finding]) -> Vec<String> {
        let mut out = Vec::new();
        if let (Some(r), Some(Mode::Enforce)) = (&self.record, self.mode)
            && findings.is_empty()
        {
            out.push(format!(
                "MTA-STS record {r}, and an enforced policy served with a valid certificate"
            ));
            out.push(format!(
                "Every MX host is covered by the policy's mx patterns ({})",
                self.mx.join(", ")
            ));
        }
        out
    }
}

//! Findings: what a check found, as plain data (STYLE §3).
//!
//! Every ID the code can emit is declared once: below (in [`DECLARED`]),
//! or in its check's own file (`CheckInfo::findings`). [`all`] is both;
//! the advice catalogue (`rules/advice.toml`) and `docs/findings.md` must
//! cover exactly that list, which a test enforces.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// How bad a finding is. Ordered, so `--fail-on` is a comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

macro_rules! finding_ids {
    ($($konst:ident = $id:literal,)*) => {
        $(pub const $konst: &str = $id;)*
        /// The finding IDs declared here (see [`all`] for every one).
        pub const DECLARED: &[&str] = &[$($id),*];
    };
}

finding_ids! {
    DNS_RESOLVER_BROKEN = "dns.resolver-broken",
    DNS_RESOLVER_UNREACHABLE = "dns.resolver-unreachable",
    DNS_NOT_CHECKED_OFFLINE = "dns.not-checked-offline",
    DOMAIN_NXDOMAIN = "domain.nxdomain",
    RUN_CAP_REACHED = "run.cap-reached",
    RUN_DEADLINE_REACHED = "run.deadline-reached",
    SPF_MISSING = "spf.missing",
    SPF_MULTIPLE_RECORDS = "spf.multiple-records",
    SPF_SYNTAX = "spf.syntax",
    SPF_LOOKUP_LIMIT = "spf.lookup-limit",
    SPF_VOID_LOOKUP_LIMIT = "spf.void-lookup-limit",
    SPF_INCLUDE_NO_SPF = "spf.include-no-spf",
    SPF_LOOP = "spf.loop",
    SPF_ALL_PASS = "spf.all-pass",
    SPF_ALL_NEUTRAL = "spf.all-neutral",
    SPF_NO_ALL = "spf.no-all",
    SPF_PTR_MECHANISM = "spf.ptr-mechanism",
    SPF_MX_TOO_MANY_HOSTS = "spf.mx-too-many-hosts",
    SPF_RECORD_TOO_LONG = "spf.record-too-long",
    SPF_IP_NOT_AUTHORIZED = "spf.ip-not-authorized",
    SPF_PERMERROR = "spf.permerror",
    SPF_HELO_NOT_FQDN = "spf.helo-not-fqdn",
    SPF_DNS_ERROR = "spf.dns-error",
    DMARC_MISSING = "dmarc.missing",
    DMARC_MULTIPLE_RECORDS = "dmarc.multiple-records",
    DMARC_SYNTAX = "dmarc.syntax",
    DMARC_POLICY_NONE = "dmarc.policy-none",
    DMARC_SUBDOMAIN_POLICY_NONE = "dmarc.subdomain-policy-none",
    DMARC_TESTING = "dmarc.testing",
    DMARC_NO_RUA = "dmarc.no-rua",
    DMARC_RUA_INVALID_URI = "dmarc.rua-invalid-uri",
    DMARC_RUA_UNAUTHORIZED = "dmarc.rua-unauthorized",
    DMARC_INHERITED = "dmarc.inherited",
    DMARC_DNS_ERROR = "dmarc.dns-error",
    MX_MISSING = "mx.missing",
    MX_NULL = "mx.null",
    MX_NO_ADDRESS = "mx.no-address",
    MX_CNAME = "mx.cname",
    MX_IP_LITERAL = "mx.ip-literal",
    MX_PRIVATE_ADDRESS = "mx.private-address",
    MX_DNS_ERROR = "mx.dns-error",
    PTR_MISSING = "ptr.missing",
    PTR_NOT_FORWARD_CONFIRMED = "ptr.not-forward-confirmed",
    PTR_GENERIC = "ptr.generic",
    PTR_HELO_MISMATCH = "ptr.helo-mismatch",
    PTR_DNS_ERROR = "ptr.dns-error",
    BLOCKLIST_LISTED = "dnsbl.listed",
    BLOCKLIST_UNKNOWN = "dnsbl.unknown",
    BLOCKLIST_LIST_UNHEALTHY = "dnsbl.list-unhealthy",
    BLOCKLIST_PUBLIC_RESOLVER = "dnsbl.public-resolver",
    BLOCKLIST_DEAD_LIST = "dnsbl.dead-list",
    BLOCKLIST_DNS_ERROR = "dnsbl.dns-error",
    DKIM_NO_KEY_FOUND = "dkim.no-key-found",
    DKIM_KEY_MISSING = "dkim.key-missing",
    DKIM_KEY_REVOKED = "dkim.key-revoked",
    DKIM_KEY_TOO_SHORT = "dkim.key-too-short",
    DKIM_KEY_WEAK = "dkim.key-weak",
    DKIM_TESTING = "dkim.testing",
    DKIM_SHA1 = "dkim.sha1",
    DKIM_SYNTAX = "dkim.syntax",
    DKIM_DNS_ERROR = "dkim.dns-error",
    MTA_STS_MISSING = "mta-sts.missing",
    MTA_STS_INVALID_RECORD = "mta-sts.invalid-record",
    MTA_STS_POLICY_UNREACHABLE = "mta-sts.policy-unreachable",
    MTA_STS_POLICY_NOT_FETCHED = "mta-sts.policy-not-fetched",
    MTA_STS_POLICY_CERT_INVALID = "mta-sts.policy-cert-invalid",
    MTA_STS_POLICY_INVALID = "mta-sts.policy-invalid",
    MTA_STS_MODE_TESTING = "mta-sts.mode-testing",
    MTA_STS_MODE_NONE = "mta-sts.mode-none",
    MTA_STS_MAX_AGE_SHORT = "mta-sts.max-age-short",
    MTA_STS_MX_NOT_COVERED = "mta-sts.mx-not-covered",
    MTA_STS_DNS_ERROR = "mta-sts.dns-error",
    BIMI_MISSING = "bimi.missing",
    BIMI_INVALID_RECORD = "bimi.invalid-record",
    BIMI_DMARC_NOT_ENFORCED = "bimi.dmarc-not-enforced",
    BIMI_LOGO_UNREACHABLE = "bimi.logo-unreachable",
    BIMI_LOGO_NOT_FETCHED = "bimi.logo-not-fetched",
    BIMI_LOGO_NOT_TINY_PS = "bimi.logo-not-tiny-ps",
    BIMI_DNS_ERROR = "bimi.dns-error",
    TLS_RPT_MISSING = "tls-rpt.missing",
    TLS_RPT_INVALID = "tls-rpt.invalid",
    TLS_RPT_MULTIPLE_RECORDS = "tls-rpt.multiple-records",
    TLS_RPT_DNS_ERROR = "tls-rpt.dns-error",
    SMTP_UNREACHABLE = "smtp.unreachable",
    SMTP_NOT_PROBED = "smtp.not-probed",
    SMTP_CONVERSATION_FAILED = "smtp.conversation-failed",
    SMTP_BANNER_NAME = "smtp.banner-name",
    SMTP_SLOW_BANNER = "smtp.slow-banner",
    SMTP_NO_STARTTLS = "smtp.no-starttls",
    SMTP_TLS_OLD = "smtp.tls-old",
    SMTP_TLS_FAILED = "smtp.tls-failed",
    SMTP_CERT_UNTRUSTED = "smtp.cert-untrusted",
    SMTP_CERT_NAME_MISMATCH = "smtp.cert-name-mismatch",
    SMTP_CERT_EXPIRED = "smtp.cert-expired",
    SMTP_CERT_EXPIRING = "smtp.cert-expiring",
    SMTP_OPEN_RELAY = "smtp.open-relay",
    SMTP_DNS_ERROR = "smtp.dns-error",
    DNSSEC_UNSIGNED = "dnssec.unsigned",
    DNSSEC_BOGUS = "dnssec.bogus",
    DNSSEC_DNS_ERROR = "dnssec.dns-error",
    DANE_TLSA_UNSIGNED = "dane.tlsa-unsigned",
    DANE_TLSA_BOGUS = "dane.tlsa-bogus",
    DANE_TLSA_INVALID = "dane.tlsa-invalid",
    DANE_TLSA_UNUSABLE = "dane.tlsa-unusable",
    DANE_TLSA_MISMATCH = "dane.tlsa-mismatch",
    DANE_DNS_ERROR = "dane.dns-error",
    RECIPIENTS_INVALID_SYNTAX = "recipients.invalid-syntax",
    RECIPIENTS_DOMAIN_NXDOMAIN = "recipients.domain-nxdomain",
    RECIPIENTS_NO_MAIL_EXCHANGER = "recipients.no-mail-exchanger",
    RECIPIENTS_NULL_MX = "recipients.null-mx",
    RECIPIENTS_DNS_ERROR = "recipients.dns-error",
    RECIPIENTS_TYPO_DOMAIN = "recipients.typo-domain",
    RECIPIENTS_DISPOSABLE = "recipients.disposable",
    RECIPIENTS_ROLE_ACCOUNT = "recipients.role-account",
    RECIPIENTS_LISTED_DOMAIN = "recipients.listed-domain",
    RECIPIENTS_DUPLICATE = "recipients.duplicate",
    MESSAGE_UNPARSEABLE = "message.unparseable",
    MESSAGE_DKIM_MISSING = "message.dkim-missing",
    MESSAGE_DKIM_INVALID = "message.dkim-invalid",
    MESSAGE_DKIM_BODY_LENGTH = "message.dkim-body-length",
    MESSAGE_DMARC_FAIL = "message.dmarc-fail",
    MESSAGE_LIST_UNSUBSCRIBE_MISSING = "message.list-unsubscribe-missing",
    MESSAGE_BULK_WITHOUT_UNSUBSCRIBE = "message.bulk-without-unsubscribe",
    MESSAGE_LIST_UNSUBSCRIBE_INVALID = "message.list-unsubscribe-invalid",
    MESSAGE_ONE_CLICK_MISSING = "message.one-click-missing",
    MESSAGE_ONE_CLICK_NO_HTTPS = "message.one-click-no-https",
    MESSAGE_ONE_CLICK_UNSIGNED = "message.one-click-unsigned",
    MESSAGE_UNSUBSCRIBE_LINK_MISSING = "message.unsubscribe-link-missing",
    MESSAGE_FROM_INVALID = "message.from-invalid",
    MESSAGE_DATE_MISSING = "message.date-missing",
    MESSAGE_MESSAGE_ID_MISSING = "message.message-id-missing",
    MESSAGE_DUPLICATE_HEADER = "message.duplicate-header",
    MESSAGE_DNS_ERROR = "message.dns-error",
}

/// What a check found. Severity and advice come from the rules when the
/// report is assembled, unless the check set a severity of its own (a
/// blocklist's tier, say).
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub id: &'static str,
    pub severity: Option<Severity>,
    /// What the finding is about: a domain, an address, a host, a file.
    pub subject: String,
    /// One sentence, specific to this subject.
    pub summary: String,
    pub evidence: Map<String, Value>,
    /// The finding records that something could not be determined (a DNS
    /// failure); the check it belongs to is then `unknown`, not `pass`.
    pub unknown: bool,
}

impl Finding {
    pub fn new(id: &'static str, subject: impl Into<String>, summary: impl Into<String>) -> Self {
        debug_assert!(all().contains(&id), "undeclared finding id {id}");
        Finding {
            id,
            severity: None,
            subject: subject.into(),
            summary: summary.into(),
            evidence: Map::new(),
            unknown: false,
        }
    }

    /// A `*.dns-error` finding: the `rtype` lookup of `name` got no answer
    /// to rest a verdict on, so what needed it is unknown.
    pub fn lookup_failed(
        id: &'static str,
        subject: impl Into<String>,
        name: &str,
        rtype: &str,
        outcome: &crate::dns::Outcome,
    ) -> Self {
        Finding::new(
            id,
            subject,
            format!("The {rtype} lookup for {name} failed: {outcome}."),
        )
        .with("name", name)
        .with("type", rtype)
        .with("outcome", outcome.kind())
        .unknown()
    }

    /// A finding that means "could not be determined".
    pub fn unknown(mut self) -> Self {
        self.unknown = true;
        self
    }

    pub fn severity(mut self, severity: Severity) -> Self {
        self.severity = Some(severity);
        self
    }

    pub fn with(mut self, key: &str, value: impl Serialize) -> Self {
        self.evidence.insert(
            key.to_string(),
            serde_json::to_value(value).unwrap_or(Value::Null),
        );
        self
    }

    /// Every field of `evidence` (a struct) as the finding's evidence, in
    /// its order.
    pub fn with_evidence(mut self, evidence: &impl Serialize) -> Self {
        if let Ok(Value::Object(fields)) = serde_json::to_value(evidence) {
            self.evidence.extend(fields);
        }
        self
    }

    /// The check an ID belongs to: the part before the first dot.
    pub fn check(&self) -> &'static str {
        check_of(self.id)
    }
}

/// A finding ID declared in its check's own file ([`check_finding_ids!`]).
pub struct CheckFindingId(pub &'static str);
inventory::collect!(CheckFindingId);

/// Declares finding IDs in a check's own file: a const each, `FINDINGS`
/// (for its `CheckInfo::findings`), and each registered in [`all`], so
/// that nothing below the checks needs to know them.
#[macro_export]
macro_rules! check_finding_ids {
    ($($(#[$meta:meta])* $konst:ident = $id:literal,)*) => {
        $($(#[$meta])* pub const $konst: &str = $id;)*
        /// The finding IDs this check declares.
        pub const FINDINGS: &[&str] = &[$($id),*];
        $(inventory::submit! { $crate::findings::CheckFindingId($id) })*
    };
}

/// Every finding ID the code can emit: those declared here, then those the
/// checks declare in their own files (sorted).
pub fn all() -> &'static [&'static str] {
    static ALL: std::sync::LazyLock<Vec<&'static str>> = std::sync::LazyLock::new(|| {
        let mut local: Vec<&'static str> =
            inventory::iter::<CheckFindingId>().map(|f| f.0).collect();
        local.sort_unstable();
        DECLARED.iter().copied().chain(local).collect()
    });
    &ALL
}

pub fn check_of(id: &'static str) -> &'static str {
    id.split_once('.').map_or(id, |(check, _)| check)
}

/// The run-level findings: about the run itself (its resolver, the
/// domain's existence, caps and deadlines), from no check. They are looked
/// for on every run.
pub const RUN_LEVEL: &[&str] = &[
    DNS_RESOLVER_BROKEN,
    DNS_RESOLVER_UNREACHABLE,
    DNS_NOT_CHECKED_OFFLINE,
    DOMAIN_NXDOMAIN,
    RUN_CAP_REACHED,
    RUN_DEADLINE_REACHED,
];

/// Whether `check` (the part of an ID before its dot) is run-level.
pub fn is_run_level(check: &str) -> bool {
    RUN_LEVEL.iter().any(|id| check_of(id) == check)
}

/// The verdict of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Warn,
    Unknown,
    Fail,
    Skipped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Warn => "warn",
            Status::Unknown => "unknown",
            Status::Fail => "fail",
            Status::Skipped => "skipped",
        }
    }

    /// A check's status from its findings (with severities resolved): an
    /// error fails it; otherwise anything it could not determine makes it
    /// unknown (it never passes on a failed lookup); otherwise a warning
    /// makes it warn.
    pub fn from_findings<'a>(findings: impl IntoIterator<Item = (Severity, bool)> + 'a) -> Status {
        let mut status = Status::Pass;
        for (severity, unknown) in findings {
            let s = if unknown {
                Status::Unknown
            } else {
                match severity {
                    Severity::Error => Status::Fail,
                    Severity::Warning => Status::Warn,
                    Severity::Info => Status::Pass,
                }
            };
            status = status.max(s);
        }
        status
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_precedence() {
        use Severity::*;
        assert_eq!(Status::from_findings([]), Status::Pass);
        assert_eq!(Status::from_findings([(Info, false)]), Status::Pass);
        assert_eq!(Status::from_findings([(Warning, false)]), Status::Warn);
        assert_eq!(
            Status::from_findings([(Warning, false), (Warning, true)]),
            Status::Unknown
        );
        assert_eq!(
            Status::from_findings([(Error, false), (Warning, true)]),
            Status::Fail
        );
    }

    #[test]
    fn ids_are_unique_and_well_formed() {
        let mut seen = std::collections::HashSet::new();
        for id in all() {
            assert!(seen.insert(id), "duplicate {id}");
            let (check, rest) = id.split_once('.').expect("check.name");
            assert!(!check.is_empty() && !rest.is_empty());
            assert!(
                id.chars()
                    .all(|c| c.is_ascii_lowercase() || c == '.' || c == '-' || c.is_ascii_digit())
            );
        }
    }
}

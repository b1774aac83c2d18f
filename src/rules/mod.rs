//! Data people edit: advice texts, generic-PTR patterns, DKIM selectors and
//! the blocklist catalogue, as TOML under `rules/`.
//!
//! The shipped files are embedded in the binary (STYLE §11); `--rules DIR`
//! replaces any of them with a file of the same name from DIR. Every file is
//! read with unknown fields rejected, and validated as a whole, so a typo in
//! a rules file is an input error at start-up, not a silent gap in a report.

use std::collections::BTreeMap;
use std::path::Path;

use regex::Regex;
use serde::{Deserialize, Serialize};

pub mod recipients;
pub(crate) mod source;

pub(crate) use source::Source;
pub use source::{FILES, RulesError};

use crate::findings::{self, Severity, all, check_of};
use recipients::{Provider, RecipientRules, Threshold};

const ADVICE_TOML: &str = include_str!("../../rules/advice.toml");
const PTR_GENERIC_TOML: &str = include_str!("../../rules/ptr-generic.toml");
const DKIM_SELECTORS_TOML: &str = include_str!("../../rules/dkim-selectors.toml");
const UNSUBSCRIBE_TOML: &str = include_str!("../../rules/unsubscribe.toml");
const REQUIREMENTS_TOML: &str = include_str!("../../rules/sender-requirements.toml");
const RECIPIENTS_TOML: &str = include_str!("../../rules/recipients.toml");
const DISPOSABLE_TXT: &str = include_str!("../../rules/disposable-domains.txt");

/// The prevention topic a finding belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Topic {
    DnsRecords,
    Unsubscribe,
    Consent,
    Delisting,
}

impl Topic {
    pub fn as_str(self) -> &'static str {
        match self {
            Topic::DnsRecords => "dns-records",
            Topic::Unsubscribe => "unsubscribe",
            Topic::Consent => "consent",
            Topic::Delisting => "delisting",
        }
    }
}

/// What to tell the reader about one finding ID.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Advice {
    pub title: String,
    pub severity: Severity,
    pub topic: Topic,
    pub text: String,
    pub steps: Vec<String>,
    pub references: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct PtrGenericFile {
    patterns: Vec<String>,
    ip_forms: Vec<String>,
}

/// How to recognise a generic (dynamic, end-user) reverse name.
#[derive(Debug, Clone)]
pub struct PtrGeneric {
    pub patterns: Vec<Regex>,
    /// Templates of an IPv4 address written into a host name: `{a}`..`{d}`
    /// are the octets, `{A}`..`{D}` the octets zero-padded to three digits,
    /// `{hex}` the address as eight hex digits.
    pub ip_forms: Vec<String>,
}

impl PtrGeneric {
    /// The pattern or address form that makes `name` look generic.
    pub fn matches(&self, name: &str, ip: std::net::IpAddr) -> Option<String> {
        let name = name.to_ascii_lowercase();
        if let std::net::IpAddr::V4(v4) = ip {
            let o = v4.octets();
            for form in &self.ip_forms {
                let needle = form
                    .replace("{a}", &o[0].to_string())
                    .replace("{b}", &o[1].to_string())
                    .replace("{c}", &o[2].to_string())
                    .replace("{d}", &o[3].to_string())
                    .replace("{A}", &format!("{:03}", o[0]))
                    .replace("{B}", &format!("{:03}", o[1]))
                    .replace("{C}", &format!("{:03}", o[2]))
                    .replace("{D}", &format!("{:03}", o[3]))
                    .replace(
                        "{hex}",
                        &format!("{:02x}{:02x}{:02x}{:02x}", o[0], o[1], o[2], o[3]),
                    );
                if contains_bounded(&name, &needle) {
                    return Some(format!("the address written into the name ({form})"));
                }
            }
        }
        self.patterns
            .iter()
            .find(|re| re.is_match(&name))
            .map(|re| format!("the pattern {}", re.as_str()))
    }
}

/// `needle` occurs in `hay` not glued to further digits on either side.
fn contains_bounded(hay: &str, needle: &str) -> bool {
    let bytes = hay.as_bytes();
    let mut from = 0;
    while let Some(i) = hay[from..].find(needle) {
        let start = from + i;
        let end = start + needle.len();
        let before = start == 0 || !bytes[start - 1].is_ascii_alphanumeric();
        let after = end == bytes.len() || !bytes[end].is_ascii_alphanumeric();
        if before && after {
            return true;
        }
        from = start + 1;
    }
    false
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct SelectorsFile {
    selectors: Vec<String>,
}

/// One mailbox-provider requirement (rules/sender-requirements.toml).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Requirement {
    pub rule: String,
    pub gmail: String,
    pub yahoo: String,
    pub outlook: String,
    /// Finding IDs that mean it is not met.
    #[serde(default)]
    pub findings: Vec<String>,
    /// Checks whose verdict it rests on.
    #[serde(default)]
    pub checks: Vec<String>,
    /// Checks that stand in when none of `checks` ran (a scanned
    /// message's verified DKIM signature, in a `message` run).
    #[serde(default)]
    pub instead: Vec<String>,
    /// Only a message shows it.
    #[serde(default)]
    pub message: bool,
    /// Why mailaudit cannot see it, and where the sender can.
    pub manual: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RequirementsFile {
    requirement: Vec<Requirement>,
}

/// Reads the requirements: every finding ID known, every check one that
/// emits findings, and each either checked or manual.
fn parse_requirements(src: &Source) -> Result<Vec<Requirement>, RulesError> {
    let file: RequirementsFile = src.toml()?;
    let checks: Vec<&str> = all().iter().map(|id| check_of(id)).collect();
    for r in &file.requirement {
        for id in &r.findings {
            if !all().contains(&id.as_str()) {
                return Err(src.error(format!("requirement {:?}: unknown finding {id:?}", r.rule)));
            }
        }
        for c in r.checks.iter().chain(&r.instead) {
            if !checks.contains(&c.as_str()) {
                return Err(src.error(format!("requirement {:?}: unknown check {c:?}", r.rule)));
            }
        }
        if r.checks.is_empty() == r.manual.is_none() {
            return Err(src.error(format!(
                "requirement {:?}: give either checks or manual",
                r.rule
            )));
        }
    }
    Ok(file.requirement)
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct UnsubscribeFile {
    keywords: BTreeMap<String, Vec<String>>,
}

/// Every rules file, loaded and checked.
#[derive(Debug, Clone)]
pub struct Rules {
    pub advice: BTreeMap<String, Advice>,
    pub ptr_generic: PtrGeneric,
    /// DKIM selectors to probe.
    pub dkim_selectors: Vec<String>,
    /// Unsubscribe keywords, lower case, every language together.
    pub unsubscribe_keywords: Vec<String>,
    /// Mailbox providers' sender requirements.
    pub requirements: Vec<Requirement>,
    /// What the recipient-list check looks for.
    pub recipients: RecipientRules,
}

impl Rules {
    /// The rules shipped in the binary.
    pub fn embedded() -> Rules {
        Rules::load(None).expect("the embedded rules are valid (tested)")
    }

    /// The shipped rules, with files in `dir` taking the place of theirs.
    pub fn load(dir: Option<&Path>) -> Result<Rules, RulesError> {
        if let Some(dir) = dir {
            let shown = dir.display().to_string();
            let meta = std::fs::metadata(dir).map_err(|e| RulesError::Dir {
                path: shown.clone(),
                message: e.to_string(),
            })?;
            if !meta.is_dir() {
                return Err(RulesError::Dir {
                    path: shown,
                    message: "is not a directory".into(),
                });
            }
            std::fs::read_dir(dir).map_err(|e| RulesError::Dir {
                path: shown,
                message: e.to_string(),
            })?;
        }
        let advice_src = Source::pick(dir, "advice.toml", ADVICE_TOML)?;
        let advice = parse_advice(&advice_src)?;
        let ptr_src = Source::pick(dir, "ptr-generic.toml", PTR_GENERIC_TOML)?;
        let ptr_generic = parse_ptr_generic(&ptr_src)?;
        let sel_src = Source::pick(dir, "dkim-selectors.toml", DKIM_SELECTORS_TOML)?;
        let dkim_selectors = parse_selectors(&sel_src)?;
        let unsub_src = Source::pick(dir, "unsubscribe.toml", UNSUBSCRIBE_TOML)?;
        let file: UnsubscribeFile = unsub_src.toml()?;
        let mut unsubscribe_keywords: Vec<String> = Vec::new();
        for (lang, words) in file.keywords {
            if words.is_empty() {
                return Err(unsub_src.error(format!("keywords.{lang} is empty")));
            }
            for w in words {
                let w = w.trim().to_lowercase();
                if w.is_empty() {
                    return Err(unsub_src.error(format!("keywords.{lang} has an empty keyword")));
                }
                if !unsubscribe_keywords.contains(&w) {
                    unsubscribe_keywords.push(w);
                }
            }
        }
        let req_src = Source::pick(dir, "sender-requirements.toml", REQUIREMENTS_TOML)?;
        let requirements = parse_requirements(&req_src)?;
        let recipients = parse_recipients(
            &Source::pick(dir, "recipients.toml", RECIPIENTS_TOML)?,
            &Source::pick(dir, "disposable-domains.txt", DISPOSABLE_TXT)?,
        )?;
        Ok(Rules {
            recipients,
            advice,
            ptr_generic,
            dkim_selectors,
            unsubscribe_keywords,
            requirements,
        })
    }

    pub fn advice(&self, id: &str) -> &Advice {
        self.advice
            .get(id)
            .expect("every finding id has advice (checked when the rules load)")
    }
}

// ---------------------------------------------------------------- recipients.toml

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RecipientsFile {
    common_domains: Vec<String>,
    typos: BTreeMap<String, String>,
    tld_typos: BTreeMap<String, String>,
    role_accounts: Vec<String>,
    providers: Vec<ProviderEntry>,
    thresholds: BTreeMap<String, Threshold>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProviderEntry {
    domains: Vec<String>,
    #[serde(default)]
    ignore_dots: bool,
    #[serde(default)]
    plus_tags: bool,
    #[serde(default)]
    case_insensitive: bool,
}

fn domain_ok(d: &str) -> bool {
    d.contains('.')
        && d.split('.').all(|l| {
            !l.is_empty()
                && l.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        })
}

/// Reads both files; every recipients.* finding must have a threshold.
fn parse_recipients(toml_src: &Source, list_src: &Source) -> Result<RecipientRules, RulesError> {
    let file: RecipientsFile = toml_src.toml()?;
    let bad = |what: &str, d: &str| {
        toml_src.error(format!("{what} {d:?} is not a lower-case domain name"))
    };
    for d in file
        .common_domains
        .iter()
        .chain(file.typos.keys())
        .chain(file.typos.values())
        .chain(file.providers.iter().flat_map(|p| p.domains.iter()))
    {
        if !domain_ok(d) {
            return Err(bad("domain", d));
        }
    }
    for id in crate::findings::all()
        .iter()
        .filter(|i| i.starts_with("recipients."))
    {
        if !file.thresholds.contains_key(*id) {
            return Err(toml_src.error(format!("no threshold for {id}")));
        }
    }
    for (id, t) in &file.thresholds {
        if !crate::findings::all().contains(&id.as_str()) || !id.starts_with("recipients.") {
            return Err(toml_src.error(format!(
                "threshold for {id:?}, which is not a recipients.* finding"
            )));
        }
        if !(0.0..=100.0).contains(&t.warning) || !(t.warning..=100.0).contains(&t.error) {
            return Err(toml_src.error(format!(
                "threshold for {id}: need 0 <= warning <= error <= 100"
            )));
        }
    }
    if file.providers.iter().any(|p| p.domains.is_empty()) {
        return Err(toml_src.error("a provider without domains"));
    }
    let mut disposable = std::collections::HashSet::new();
    for (n, line) in list_src.text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let d = line.to_ascii_lowercase();
        if !domain_ok(&d) {
            return Err(list_src.error(format!("line {}: {line:?} is not a domain name", n + 1)));
        }
        disposable.insert(d);
    }
    Ok(RecipientRules {
        common: file.common_domains.iter().cloned().collect(),
        common_domains: file.common_domains,
        typos: file.typos.into_iter().collect(),
        tld_typos: file.tld_typos.into_iter().collect(),
        role_accounts: file
            .role_accounts
            .iter()
            .map(|r| r.to_lowercase())
            .collect(),
        providers: file
            .providers
            .into_iter()
            .map(|p| Provider {
                domains: p.domains,
                ignore_dots: p.ignore_dots,
                plus_tags: p.plus_tags,
                case_insensitive: p.case_insensitive,
            })
            .collect(),
        thresholds: file.thresholds,
        disposable,
        disposable_source: list_src.path.clone(),
    })
}

fn parse_advice(src: &Source) -> Result<BTreeMap<String, Advice>, RulesError> {
    let advice: BTreeMap<String, Advice> = src.toml()?;
    for id in findings::all() {
        let Some(a) = advice.get(*id) else {
            return Err(src.error(format!("no advice for the finding {id}")));
        };
        if a.title.trim().is_empty() || a.text.trim().is_empty() || a.steps.is_empty() {
            return Err(src.error(format!("advice for {id} needs a title, a text and steps")));
        }
    }
    if let Some(unknown) = advice
        .keys()
        .find(|k| !findings::all().contains(&k.as_str()))
    {
        return Err(src.error(format!(
            "advice for {unknown:?}, which is not a finding mailaudit emits"
        )));
    }
    Ok(advice)
}

fn parse_selectors(src: &Source) -> Result<Vec<String>, RulesError> {
    let file: SelectorsFile = src.toml()?;
    let mut out: Vec<String> = Vec::new();
    for s in file.selectors {
        let lc = s.trim().to_ascii_lowercase();
        let valid = crate::dns::name::is_selector(&lc);
        if !valid {
            return Err(src.error(format!("selector {s:?} is not a valid DNS label sequence")));
        }
        if !out.contains(&lc) {
            out.push(lc);
        }
    }
    Ok(out)
}

fn parse_ptr_generic(src: &Source) -> Result<PtrGeneric, RulesError> {
    let file: PtrGenericFile = src.toml()?;
    let patterns = file
        .patterns
        .iter()
        .map(|p| {
            Regex::new(&format!("(?i){p}")).map_err(|e| src.error(format!("pattern {p:?}: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    for form in &file.ip_forms {
        let known = [
            "{a}", "{b}", "{c}", "{d}", "{A}", "{B}", "{C}", "{D}", "{hex}",
        ];
        let mut rest = form.clone();
        for k in known {
            rest = rest.replace(k, "");
        }
        if rest.contains('{') || rest.contains('}') || rest.len() == form.len() {
            return Err(src.error(format!(
                "ip form {form:?}: use {{a}}..{{d}}, {{A}}..{{D}} or {{hex}}"
            )));
        }
    }
    Ok(PtrGeneric {
        patterns,
        ip_forms: file.ip_forms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_rules_load() {
        let rules = Rules::embedded();
        assert_eq!(rules.advice.len(), findings::all().len());
    }

    #[test]
    fn every_finding_has_a_line_in_the_docs() {
        let docs = include_str!("../../docs/findings.md");
        let listed: Vec<&str> = docs
            .lines()
            .filter_map(|l| l.strip_prefix("| `"))
            .filter_map(|l| l.split('`').next())
            .collect();
        for id in findings::all() {
            assert!(listed.contains(id), "docs/findings.md has no line for {id}");
        }
        for id in &listed {
            assert!(
                findings::all().contains(id),
                "docs/findings.md lists {id}, which is not emitted"
            );
        }
    }

    #[test]
    fn selectors_and_keywords_load() {
        let rules = Rules::embedded();
        assert!(rules.dkim_selectors.len() >= 30);
        for s in [
            "google",
            "selector1",
            "selector2",
            "default",
            "dkim",
            "mail",
            "k1",
            "s1",
            "s2",
        ] {
            assert!(rules.dkim_selectors.contains(&s.to_string()), "{s}");
        }
        for w in [
            "unsubscribe",
            "abmelden",
            "désabonner",
            "darse de baja",
            "afmelden",
            "disiscriviti",
            "descadastrar",
            "отписаться",
        ] {
            assert!(rules.unsubscribe_keywords.contains(&w.to_string()), "{w}");
        }
    }

    #[test]
    fn generic_ptr_names() {
        let g = Rules::embedded().ptr_generic;
        let ip = "203.0.113.45".parse().unwrap();
        for name in [
            "203-0-113-45.dyn.example.net",
            "45.113.0.203.broadband.example.net",
            "host-203-0-113-45.example.net",
            "cb00712d.example.net",
            "dhcp-12.pool.example.net",
            "adsl-7.example.net",
            "ppp-203-0-113-45.example.net",
        ] {
            assert!(g.matches(name, ip).is_some(), "{name}");
        }
        for name in [
            "mail.example.com",
            "mx1.example.net",
            "smtp-out.example.org",
            "outbound.example.com",
        ] {
            assert_eq!(g.matches(name, ip), None, "{name}");
        }
    }

    #[test]
    fn override_dir_errors_name_the_input() {
        let e = Rules::load(Some(Path::new("/nonexistent/rules"))).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("rules directory /nonexistent/rules:"),
            "{e}"
        );
    }

    #[test]
    fn requirements_name_only_known_findings_and_checks() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("sender-requirements.toml");
        let write = |body: &str| std::fs::write(&file, body).unwrap();
        let row = |extra: &str| {
            format!(
                "[[requirement]]\nrule = \"r\"\ngmail = \"all\"\nyahoo = \"-\"\noutlook = \"-\"\n{extra}"
            )
        };
        write(&row("findings = [\"spf.mising\"]\nchecks = [\"spf\"]\n"));
        let e = Rules::load(Some(dir.path())).unwrap_err().to_string();
        assert!(
            e.contains("sender-requirements.toml") && e.contains("unknown finding \"spf.mising\""),
            "{e}"
        );
        write(&row("checks = [\"smpt\"]\n"));
        let e = Rules::load(Some(dir.path())).unwrap_err().to_string();
        assert!(e.contains("unknown check \"smpt\""), "{e}");
        write(&row(""));
        let e = Rules::load(Some(dir.path())).unwrap_err().to_string();
        assert!(e.contains("either checks or manual"), "{e}");
        write(&row("manual = \"ask the provider\"\n"));
        assert_eq!(Rules::load(Some(dir.path())).unwrap().requirements.len(), 1);
    }
}

//! The recipient-list rules: common mailbox domains and their typos, role
//! accounts, providers' local-part rules, the disposable-domain list and
//! the share thresholds (`rules/recipients.toml`,
//! `rules/disposable-domains.txt`).

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Deserialize;

use crate::recipients::address::Provider;
use crate::rules::{RulesError, Source};

/// The shares (percent of the list's rows) above which a finding is a
/// warning and an error.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Threshold {
    pub warning: f64,
    pub error: f64,
}

#[derive(Debug, Clone, Default)]
pub struct RecipientRules {
    pub common_domains: Vec<String>,
    common: HashSet<String>,
    pub typos: HashMap<String, String>,
    pub tld_typos: HashMap<String, String>,
    pub role_accounts: HashSet<String>,
    pub providers: Vec<Provider>,
    pub thresholds: BTreeMap<String, Threshold>,
    pub disposable: HashSet<String>,
    /// Where the disposable list came from (its file).
    pub disposable_source: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
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
pub(crate) fn parse(toml_src: &Source, list_src: &Source) -> Result<RecipientRules, RulesError> {
    let file: File = toml_src.toml()?;
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
    for id in crate::findings::ALL
        .iter()
        .filter(|i| i.starts_with("recipients."))
    {
        if !file.thresholds.contains_key(*id) {
            return Err(toml_src.error(format!("no threshold for {id}")));
        }
    }
    for (id, t) in &file.thresholds {
        if !crate::findings::ALL.contains(&id.as_str()) || !id.starts_with("recipients.") {
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
    let mut disposable = HashSet::new();
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

impl RecipientRules {
    /// The common domain `domain` is likely a typo of: from the known
    /// typos, a mistyped top-level domain, or one edit (a letter added,
    /// left out, changed, or two swapped) away from a common domain of 8
    /// characters or more. A common domain is never a typo.
    pub fn typo_of(&self, domain: &str) -> Option<&str> {
        if self.common.contains(domain) {
            return None;
        }
        if let Some(s) = self.typos.get(domain) {
            return Some(s);
        }
        if let Some((rest, tld)) = domain.rsplit_once('.')
            && let Some(fixed) = self.tld_typos.get(tld)
        {
            let candidate = format!("{rest}.{fixed}");
            if let Some(c) = self.common.get(&candidate) {
                return Some(c);
            }
        }
        if domain.len() < 8 {
            return None;
        }
        self.common_domains
            .iter()
            .filter(|c| c.len() >= 8 && c.len().abs_diff(domain.len()) <= 1)
            .find(|c| strsim::osa_distance(c, domain) == 1)
            .map(String::as_str)
    }

    /// Whether `domain` (or a parent of it) is a disposable-address domain.
    pub fn is_disposable(&self, domain: &str) -> bool {
        let mut d = domain;
        loop {
            if self.disposable.contains(d) {
                return true;
            }
            match d.split_once('.') {
                Some((_, rest)) if rest.contains('.') => d = rest,
                _ => return false,
            }
        }
    }

    pub fn is_role(&self, local: &str) -> bool {
        self.role_accounts.contains(local)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn typos_are_caught_by_map_tld_and_one_edit_and_common_domains_never() {
        let rules = crate::rules::Rules::embedded().recipients;
        for (typo, meant) in [
            ("gmial.com", "gmail.com"),
            ("hotmial.com", "hotmail.com"),
            ("yaho.com", "yahoo.com"),
            ("yahoo.con", "yahoo.com"),
            ("outlook.cmo", "outlook.com"),
            ("gmail.cmo", "gmail.com"),
            ("hotmaill.com", "hotmail.com"),
            ("comcats.net", "comcast.net"),
        ] {
            assert_eq!(rules.typo_of(typo), Some(meant), "{typo}");
        }
        for fine in [
            "gmail.com",
            "mail.com",
            "me.com",
            "example.com",
            "gmx.de",
            "web.de",
            "acme-corp.com",
        ] {
            assert_eq!(rules.typo_of(fine), None, "{fine}");
        }
        assert!(rules.is_disposable("mailinator.com"));
        assert!(rules.is_disposable("x.mailinator.com"));
        assert!(!rules.is_disposable("gmail.com"));
        assert!(rules.is_role("postmaster") && !rules.is_role("jane"));
    }
}

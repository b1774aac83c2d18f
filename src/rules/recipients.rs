//! The recipient-list rules: common mailbox domains and their typos, role
//! accounts, providers' local-part rules, the disposable-domain list and
//! the share thresholds (`rules/recipients.toml`,
//! `rules/disposable-domains.txt`, read and checked by [`crate::rules`]),
//! and the questions asked of them. Data below the recipient-list engine
//! ([`crate::recipients`]), which asks them.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Deserialize;

/// How a provider compares local parts (rules/recipients.toml).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Provider {
    /// Its domains; the first is the one the others are the same as.
    pub domains: Vec<String>,
    pub ignore_dots: bool,
    pub plus_tags: bool,
    pub case_insensitive: bool,
}

/// The shares (percent of the list's rows) above which a finding is a
/// warning and an error.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Threshold {
    pub warning: f64,
    pub error: f64,
}

/// Read by `crate::rules` (which checks them) from the two files.
#[derive(Debug, Clone, Default)]
pub struct RecipientRules {
    pub common_domains: Vec<String>,
    pub(crate) common: HashSet<String>,
    pub typos: HashMap<String, String>,
    pub tld_typos: HashMap<String, String>,
    pub role_accounts: HashSet<String>,
    pub providers: Vec<Provider>,
    pub thresholds: BTreeMap<String, Threshold>,
    pub disposable: HashSet<String>,
    /// Where the disposable list came from (its file).
    pub disposable_source: String,
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

//! DMARC record syntax (RFC 7489 §6.3-6.4, RFC 9989).
//!
//! Parsing never fails on a record that starts with `v=DMARC1`: every
//! problem is collected in [`DmarcRecord::problems`], and the effective
//! policy follows what receivers do with a damaged record (an invalid or
//! missing `p` counts as `none`).

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Policy {
    None,
    Quarantine,
    Reject,
}

impl Policy {
    fn parse(s: &str) -> Option<Policy> {
        match s.to_ascii_lowercase().as_str() {
            "none" => Some(Policy::None),
            "quarantine" => Some(Policy::Quarantine),
            "reject" => Some(Policy::Reject),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Policy::None => "none",
            Policy::Quarantine => "quarantine",
            Policy::Reject => "reject",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Alignment {
    Relaxed,
    Strict,
}

/// The `psd` tag of RFC 9989.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Psd {
    Yes,
    No,
    Unknown,
}

/// A report destination from `rua` or `ruf`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReportUri {
    pub uri: String,
    /// The mailbox's domain, for mailto: URIs that parse.
    pub domain: Option<String>,
    /// Why the URI is unusable, if it is.
    pub problem: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DmarcRecord {
    pub raw: String,
    /// The policy as written, if valid.
    pub p: Option<Policy>,
    pub sp: Option<Policy>,
    pub np: Option<Policy>,
    pub adkim: Alignment,
    pub aspf: Alignment,
    pub rua: Vec<ReportUri>,
    pub ruf: Vec<ReportUri>,
    pub pct: Option<u8>,
    pub testing: bool,
    pub psd: Psd,
    pub fo: Option<String>,
    /// Syntax problems, each one sentence.
    pub problems: Vec<String>,
    /// Tags RFC 9989 removed (pct, rf, ri), still present.
    pub removed_tags: Vec<String>,
}

/// Whether a TXT record is a DMARC record: `v=DMARC1` first (the value must
/// match precisely, RFC 7489 §6.3).
pub fn is_dmarc(txt: &[u8]) -> bool {
    let s = String::from_utf8_lossy(txt);
    let first = s.split(';').next().unwrap_or("");
    match first.split_once('=') {
        Some((k, v)) => k.trim().eq_ignore_ascii_case("v") && v.trim() == "DMARC1",
        None => false,
    }
}

impl DmarcRecord {
    /// Parses a record that [`is_dmarc`] accepted.
    pub fn parse(raw: &str) -> DmarcRecord {
        let mut rec = DmarcRecord {
            raw: raw.to_string(),
            p: None,
            sp: None,
            np: None,
            adkim: Alignment::Relaxed,
            aspf: Alignment::Relaxed,
            rua: Vec::new(),
            ruf: Vec::new(),
            pct: None,
            testing: false,
            psd: Psd::Unknown,
            fo: None,
            problems: Vec::new(),
            removed_tags: Vec::new(),
        };
        let mut seen: Vec<String> = Vec::new();
        for (i, part) in raw.split(';').enumerate() {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            let Some((tag, value)) = part.split_once('=') else {
                rec.problems
                    .push(format!("{part:?} is not a tag=value pair"));
                continue;
            };
            let tag = tag.trim().to_ascii_lowercase();
            let value = value.trim();
            if i == 0 {
                continue; // v=DMARC1, checked by is_dmarc
            }
            if seen.contains(&tag) {
                rec.problems
                    .push(format!("the tag {tag:?} appears more than once"));
                continue;
            }
            seen.push(tag.clone());
            match tag.as_str() {
                "v" => rec
                    .problems
                    .push("v= must appear only once, as the first tag".into()),
                "p" | "sp" | "np" => match Policy::parse(value) {
                    Some(p) => match tag.as_str() {
                        "p" => rec.p = Some(p),
                        "sp" => rec.sp = Some(p),
                        _ => rec.np = Some(p),
                    },
                    None => rec.problems.push(format!(
                        "{tag}={value:?} is not one of none, quarantine, reject"
                    )),
                },
                "adkim" | "aspf" => {
                    let a = match value.to_ascii_lowercase().as_str() {
                        "r" => Some(Alignment::Relaxed),
                        "s" => Some(Alignment::Strict),
                        _ => None,
                    };
                    match a {
                        Some(a) if tag == "adkim" => rec.adkim = a,
                        Some(a) => rec.aspf = a,
                        None => rec
                            .problems
                            .push(format!("{tag}={value:?} must be \"r\" or \"s\"")),
                    }
                }
                "rua" | "ruf" => {
                    let uris: Vec<ReportUri> = value
                        .split(',')
                        .map(|u| parse_report_uri(u.trim()))
                        .collect();
                    if tag == "rua" {
                        rec.rua = uris;
                    } else {
                        rec.ruf = uris;
                    }
                }
                "pct" => {
                    rec.removed_tags.push("pct".into());
                    match value.parse::<u8>() {
                        Ok(n) if n <= 100 => rec.pct = Some(n),
                        _ => rec
                            .problems
                            .push(format!("pct={value:?} is not a number from 0 to 100")),
                    }
                }
                "t" => match value.to_ascii_lowercase().as_str() {
                    "y" => rec.testing = true,
                    "n" => rec.testing = false,
                    _ => rec
                        .problems
                        .push(format!("t={value:?} must be \"y\" or \"n\"")),
                },
                "psd" => match value.to_ascii_lowercase().as_str() {
                    "y" => rec.psd = Psd::Yes,
                    "n" => rec.psd = Psd::No,
                    "u" => rec.psd = Psd::Unknown,
                    _ => rec
                        .problems
                        .push(format!("psd={value:?} must be \"y\", \"n\" or \"u\"")),
                },
                "fo" => {
                    let ok = value
                        .split(':')
                        .all(|o| matches!(o.trim(), "0" | "1" | "d" | "s"));
                    if ok {
                        rec.fo = Some(value.to_string());
                    } else {
                        rec.problems.push(format!(
                            "fo={value:?} must be a colon-separated list of 0, 1, d, s"
                        ));
                    }
                }
                "rf" | "ri" => rec.removed_tags.push(tag.clone()),
                // RFC 9989: unknown tags are ignored.
                _ => {}
            }
        }
        if !seen.iter().any(|t| t == "p") {
            rec.problems.push(
                "no p= tag: receivers treat the policy as \"none\" (RFC 7489 §6.6.3, RFC 9989)"
                    .into(),
            );
        }
        rec
    }

    /// The policy receivers apply to the domain itself.
    pub fn policy(&self) -> Policy {
        self.p.unwrap_or(Policy::None)
    }

    /// The policy for subdomains (sp, else p).
    pub fn subdomain_policy(&self) -> Policy {
        self.sp.unwrap_or(self.policy())
    }

    /// The policy for names that do not exist (np, else sp, else p).
    pub fn nonexistent_policy(&self) -> Policy {
        self.np.unwrap_or(self.subdomain_policy())
    }

    /// The policy applied to the audited domain: p when the record is its
    /// own, sp when it was found at a parent (`inherited`).
    pub fn applied_policy(&self, inherited: bool) -> Policy {
        if inherited {
            self.subdomain_policy()
        } else {
            self.policy()
        }
    }

    /// Whether receivers apply a weaker policy: t=y, or pct= below 100.
    pub fn testing(&self) -> bool {
        self.testing || self.pct.is_some_and(|p| p < 100)
    }
}

fn parse_report_uri(uri: &str) -> ReportUri {
    let invalid = |problem: String| ReportUri {
        uri: uri.to_string(),
        domain: None,
        problem: Some(problem),
    };
    if uri.is_empty() {
        return invalid("empty URI (a stray comma?)".into());
    }
    // An optional "!size" suffix (RFC 7489 §6.2; obsolete in RFC 9989).
    let base = match uri.rsplit_once('!') {
        Some((b, size))
            if !size.is_empty()
                && size
                    .trim_end_matches(['k', 'm', 'g', 't', 'K', 'M', 'G', 'T'])
                    .chars()
                    .all(|c| c.is_ascii_digit()) =>
        {
            b
        }
        _ => uri,
    };
    let Some((scheme, rest)) = base.split_once(':') else {
        return invalid(format!("{uri:?} has no scheme; write \"mailto:{uri}\""));
    };
    if !scheme.eq_ignore_ascii_case("mailto") {
        return invalid(format!(
            "the {scheme}: scheme is not used by report senders; use a mailto: address"
        ));
    }
    let address = rest.split('?').next().unwrap_or("");
    let Some((local, domain)) = address.rsplit_once('@') else {
        return invalid(format!("{address:?} is not a mailbox address"));
    };
    if local.is_empty() || local.contains(char::is_whitespace) {
        return invalid(format!("{address:?} has an invalid local part"));
    }
    match crate::dns::name::normalize_domain(domain) {
        Ok(d) if d.contains('.') => ReportUri {
            uri: uri.to_string(),
            domain: Some(d),
            problem: None,
        },
        Ok(_) => invalid(format!("{domain:?} is not a fully qualified domain")),
        Err(e) => invalid(format!("the domain {domain:?} {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_records() {
        assert!(is_dmarc(b"v=DMARC1; p=none"));
        assert!(is_dmarc(b"v=DMARC1"));
        assert!(!is_dmarc(b"v=dmarc1; p=none"));
        assert!(!is_dmarc(b"p=none; v=DMARC1"));
        assert!(!is_dmarc(b"v=spf1 -all"));
    }

    #[test]
    fn parses_a_full_record() {
        let r = DmarcRecord::parse(
            "v=DMARC1; p=reject; sp=quarantine; adkim=s; rua=mailto:a@example.com,mailto:b@example.net!10m; fo=1:d; t=n",
        );
        assert!(r.problems.is_empty(), "{:?}", r.problems);
        assert_eq!(r.policy(), Policy::Reject);
        assert_eq!(r.subdomain_policy(), Policy::Quarantine);
        assert_eq!(r.nonexistent_policy(), Policy::Quarantine);
        assert_eq!(r.adkim, Alignment::Strict);
        assert_eq!(r.rua.len(), 2);
        assert_eq!(r.rua[1].domain.as_deref(), Some("example.net"));
    }

    #[test]
    fn collects_problems() {
        let r = DmarcRecord::parse("v=DMARC1; p=block; adkim=x; pct=150; rua=dmarc@example.com");
        assert_eq!(r.policy(), Policy::None);
        assert_eq!(r.problems.len(), 3, "{:?}", r.problems);
        assert!(r.rua[0].problem.as_ref().unwrap().contains("no scheme"));
        let r = DmarcRecord::parse("v=DMARC1; rua=mailto:x@example.com");
        assert!(r.problems[0].contains("no p= tag"));
    }

    #[test]
    fn report_uris() {
        for (uri, ok) in [
            ("mailto:dmarc@example.com", true),
            ("mailto:dmarc@example.com!50m", true),
            ("https://example.com/report", false),
            ("mailto:dmarc", false),
            ("mailto:@example.com", false),
            ("mailto:x@exa mple.com", false),
            ("", false),
        ] {
            assert_eq!(parse_report_uri(uri).problem.is_none(), ok, "{uri}");
        }
    }
}

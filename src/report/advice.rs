//! The advice for finding IDs on its own, outside any report:
//! `mailaudit explain ID` (all of one entry) and `mailaudit findings` (the
//! list). Plain text; the advice comes from the rules the user chose.

use std::fmt::Write;

use thiserror::Error;

use crate::findings::all;
use crate::rules::Rules;

/// An ID that is not a finding, with the nearest one when there is a
/// plausible one.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("{}", describe(.id, *.closest))]
pub struct UnknownFinding {
    pub id: String,
    pub closest: Option<&'static str>,
}

fn describe(id: &str, closest: Option<&str>) -> String {
    let shown = super::terminal::safe(id);
    match closest {
        Some(near) => format!(
            "unknown finding ID {shown:?}: did you mean {near:?}? (`mailaudit findings` lists them all)"
        ),
        None => format!("unknown finding ID {shown:?} (`mailaudit findings` lists them all)"),
    }
}

/// The finding ID nearest to `id`: same letters in another case, a
/// missing prefix (`missing` for `spf.missing` when only one matches), or
/// a few characters' edit away.
pub fn closest(id: &str) -> Option<&'static str> {
    let wanted = id.trim().to_ascii_lowercase();
    if let Some(exact) = all().iter().find(|k| **k == wanted) {
        return Some(exact);
    }
    let suffixed: Vec<&'static str> = all()
        .iter()
        .copied()
        .filter(|k| k.rsplit('.').next() == Some(wanted.as_str()))
        .collect();
    if let [only] = suffixed[..] {
        return Some(only);
    }
    all()
        .iter()
        .copied()
        .map(|k| (strsim::levenshtein(k, &wanted), k))
        .filter(|(d, k)| *d <= 3.max(k.len() / 4))
        .min()
        .map(|(_, k)| k)
}

/// Everything the rules say about one finding ID: title, severity and
/// topic, the text, every step and the references.
pub fn explain(rules: &Rules, id: &str) -> Result<String, UnknownFinding> {
    let wanted = id.trim().to_ascii_lowercase();
    let Some(known) = all().iter().find(|k| **k == wanted) else {
        return Err(UnknownFinding {
            id: id.to_string(),
            closest: closest(id),
        });
    };
    let advice = rules.advice(known);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{known} ({}, {})\n{}\n\n{}",
        advice.severity.as_str(),
        advice.topic.as_str(),
        advice.title,
        advice.text
    );
    if !advice.steps.is_empty() {
        out.push_str("\nWhat to do:\n");
        for (n, step) in advice.steps.iter().enumerate() {
            let _ = writeln!(out, "  {}. {step}", n + 1);
        }
    }
    if !advice.references.is_empty() {
        let _ = writeln!(out, "\nReferences: {}", advice.references.join(", "));
    }
    Ok(out)
}

/// Every finding ID, one line each: ID, default severity, topic, title.
pub fn catalogue(rules: &Rules) -> String {
    let width = all().iter().map(|id| id.len()).max().unwrap_or(0);
    let mut out = String::new();
    for id in all() {
        let advice = rules.advice(id);
        let _ = writeln!(
            out,
            "{id:<width$}  {:<7}  {:<11}  {}",
            advice.severity.as_str(),
            advice.topic.as_str(),
            advice.title
        );
    }
    out
}

/// Where a reference of the advice can be read: an `https://` address as
/// it is (without the words after it), "RFC 7208 §5.5" as the RFC Editor's page at that section;
/// anything else (a file of these docs) has no link.
pub fn reference_url(reference: &str) -> Option<String> {
    if reference.starts_with("https://") {
        // "https://… (what it is)": the address is the first word.
        return reference.split_whitespace().next().map(str::to_string);
    }
    let rest = reference.strip_prefix("RFC ")?;
    let number: String = rest.chars().take_while(char::is_ascii_digit).collect();
    if number.is_empty() {
        return None;
    }
    let mut url = format!("https://www.rfc-editor.org/rfc/rfc{number}");
    let after = rest[number.len()..].trim_start();
    if let Some(section) = after.strip_prefix('§') {
        let section: String = section
            .trim_start()
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '.')
            .collect();
        let section = section.trim_end_matches('.');
        if !section.is_empty() {
            let kind = if section.starts_with(|c: char| c.is_ascii_alphabetic()) {
                "appendix"
            } else {
                "section"
            };
            url.push_str(&format!("#{kind}-{section}"));
        }
    }
    Some(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_link_to_rfc_sections() {
        let url = |r| reference_url(r);
        assert_eq!(
            url("RFC 7208 §5.5").as_deref(),
            Some("https://www.rfc-editor.org/rfc/rfc7208#section-5.5")
        );
        assert_eq!(
            url("RFC 6376 §3.6.1 (t=)").as_deref(),
            Some("https://www.rfc-editor.org/rfc/rfc6376#section-3.6.1")
        );
        assert_eq!(
            url("RFC 8020 (NXDOMAIN: there really is nothing underneath)").as_deref(),
            Some("https://www.rfc-editor.org/rfc/rfc8020")
        );
        assert_eq!(
            url("RFC 9989 §A.1").as_deref(),
            Some("https://www.rfc-editor.org/rfc/rfc9989#appendix-A.1")
        );
        assert_eq!(
            url("https://support.google.com/a/answer/81126 (PTR requirement)").as_deref(),
            Some("https://support.google.com/a/answer/81126")
        );
        assert_eq!(url("docs/limits.md"), None);
        assert_eq!(url("RFC"), None);
        // Every reference of the embedded advice either links or is a
        // file of these docs.
        let rules = crate::rules::Rules::embedded();
        for id in crate::findings::all() {
            for r in &rules.advice(id).references {
                assert!(
                    url(r).is_some() || r.starts_with("docs/") || !r.starts_with("RFC"),
                    "{id}: {r}"
                );
            }
        }
    }

    #[test]
    fn closest_finds_typos_cases_and_bare_names() {
        assert_eq!(closest("spf.mising"), Some("spf.missing"));
        assert_eq!(closest("SPF.MISSING"), Some("spf.missing"));
        assert!(explain(&Rules::embedded(), " SPF.Missing").is_ok());
        assert_eq!(closest("dnsbl.listd"), Some("dnsbl.listed"));
        assert_eq!(closest("nxdomain"), Some("domain.nxdomain"));
        assert_eq!(closest("completely-unrelated-words"), None);
    }

    #[test]
    fn explain_shows_every_step_and_the_references() {
        let rules = Rules::embedded();
        let text = explain(&rules, "dnsbl.listed").unwrap();
        let advice = rules.advice("dnsbl.listed");
        assert!(
            text.starts_with("dnsbl.listed (error, delisting)\n"),
            "{text}"
        );
        for step in &advice.steps {
            assert!(text.contains(step.as_str()), "{step}");
        }
        assert!(text.contains("References: "));
    }

    #[test]
    fn an_unknown_id_is_an_error_that_suggests() {
        let err = explain(&Rules::embedded(), "spf.mising").unwrap_err();
        assert_eq!(err.closest, Some("spf.missing"));
        assert!(err.to_string().contains("did you mean \"spf.missing\""));
    }

    #[test]
    fn the_catalogue_lists_every_id_once() {
        let list = catalogue(&Rules::embedded());
        assert_eq!(list.lines().count(), all().len());
        for id in all() {
            assert_eq!(
                list.lines()
                    .filter(|l| l.split(' ').next() == Some(id))
                    .count(),
                1
            );
        }
    }
}

//! A ready-to-send delisting request for each listing, from
//! `templates/delisting-request.txt.j2` (plain text; each format escapes
//! it as it shows it). What it says comes from the listing's evidence:
//! the list, its answer and explanation, the date the address came into
//! service (`--in-service-since`), and what was fixed.

use minijinja::Environment;

use crate::blocklist::ListingEvidence;
use crate::report::model::{Report, ResolvedFinding};

const TEMPLATE: &str = include_str!("../../templates/delisting-request.txt.j2");

/// What was fixed since the baseline, as a removal request says it: the
/// findings resolved (`--baseline`), or nothing.
pub fn fixed(report: &Report) -> Vec<String> {
    report
        .changes
        .iter()
        .flat_map(|c| &c.resolved)
        .map(|f| format!("{} (was: {})", f.id, f.summary))
        .collect()
}

/// The draft for `f` when it is a listing; `fixed` lists what was fixed
/// since an earlier report (empty: the draft asks the sender to say).
pub fn request(f: &ResolvedFinding, fixed: &[String]) -> Option<String> {
    let listing = ListingEvidence::of(&f.finding)?;
    // Parsed once: a range sweep can have many listings.
    static ENV: std::sync::LazyLock<Environment<'static>> = std::sync::LazyLock::new(|| {
        let mut env = Environment::new();
        env.add_template("delisting", TEMPLATE)
            .expect("the delisting template parses (tested)");
        env
    });
    let draft = ENV
        .get_template("delisting")
        .and_then(|t| {
            t.render(minijinja::context! {
                subject => f.finding.subject.clone(),
                list => listing.list,
                operator => listing.operator,
                zone => listing.zone,
                codes => listing.codes.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
                meaning => listing.meaning.unwrap_or_default().trim_end_matches('.').to_string(),
                reason => listing.reason.unwrap_or_default(),
                in_service_since => listing.in_service_since.unwrap_or_default(),
                fixed => fixed.to_vec(),
            })
        })
        .expect("the delisting template renders any listing (tested)");
    Some(draft + "\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::findings::{BLOCKLIST_LISTED, Finding, Severity};
    use crate::rules::Rules;

    fn listing(since: Option<&str>) -> ResolvedFinding {
        let rules = Rules::embedded();
        let finding = Finding::new(BLOCKLIST_LISTED, "192.0.2.11", "listed").with_evidence(
            &ListingEvidence {
                list: "Example Blocklist".into(),
                operator: "Example Project".into(),
                zone: "bl.example.net".into(),
                tier: crate::blocklist::catalog::Tier::Major,
                codes: vec!["127.0.0.2".parse().unwrap()],
                sublists: Vec::new(),
                meaning: Some("spam trap hit.".into()),
                reason: Some("hit traps 14 times".into()),
                delist_url: None,
                usage: None,
                in_service_since: since.map(String::from),
                delisting_steps: Vec::new(),
            },
        );
        ResolvedFinding {
            advice: rules.advice(BLOCKLIST_LISTED).clone(),
            severity: Severity::Error,
            finding,
        }
    }

    #[test]
    fn a_draft_names_the_address_the_list_the_reason_and_the_date() {
        let draft = request(&listing(Some("2026-09-01")), &[]).unwrap();
        assert!(draft.starts_with(
            "Subject: Removal request for 192.0.2.11 from Example Blocklist\n\nHello Example Project,\n"
        ));
        for needle in [
            "(bl.example.net), answer 127.0.0.2.",
            "The answer means: spam trap hit.\n",
            "The list's explanation: hit traps 14 times",
            "in our service since 2026-09-01",
            "- (the cause you found",
        ] {
            assert!(draft.contains(needle), "{needle}: {draft}");
        }
        let undated = request(&listing(None), &[]).unwrap();
        assert!(!undated.contains("in our service"), "{undated}");
    }

    #[test]
    fn what_was_fixed_replaces_the_prompt() {
        let fixed = vec!["ptr.missing: 192.0.2.11 now has a PTR record".to_string()];
        let draft = request(&listing(None), &fixed).unwrap();
        assert!(draft.contains("- ptr.missing: 192.0.2.11 now has a PTR record"));
        assert!(!draft.contains("(the cause you found"));
    }

    #[test]
    fn only_listings_have_drafts() {
        let rules = Rules::embedded();
        let f = ResolvedFinding {
            finding: Finding::new("ptr.missing", "192.0.2.1", "no PTR"),
            severity: Severity::Error,
            advice: rules.advice("ptr.missing").clone(),
        };
        assert_eq!(request(&f, &[]), None);
    }
}

//! Follow-up reports (`--baseline OLD.json`): what changed since an earlier
//! JSON report of the same target. The "wait, then check again" step of
//! delisting, and the "what we fixed" of a removal request.
//!
//! The baseline is read from its JSON form (schema v1, the frozen
//! contract) into the few wire types it needs, so a report from any earlier
//! version 1 release serves; the report now is read through its typed
//! model ([`Now`]). A finding counts as resolved only when the check it
//! belongs to reached a verdict this time; a listing counts as delisted
//! only when the list answered "clear" for that subject this time.
//! Anything else that is gone is "not checked again", never resolved.

use serde::Deserialize;

use crate::blocklist::{BlocklistReport, ListingEvidence, ResultStatus};
use crate::findings::{self, BLOCKLIST_LISTED, Status};
use crate::report::model::{Changes, FindingRef, Listing, Report};

/// A JSON report read as a baseline: the parts of schema v1 a follow-up
/// needs.
#[derive(Debug, Clone)]
pub struct Baseline {
    doc: OldReport,
}

#[derive(Debug, Clone, Deserialize)]
struct OldReport {
    #[serde(default)]
    generated_at: String,
    #[serde(default)]
    target: OldTarget,
    findings: Vec<OldFinding>,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct OldTarget {
    domain: Option<String>,
    #[serde(default)]
    subjects: Vec<String>,
    #[serde(default)]
    messages: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
struct OldFinding {
    id: String,
    #[serde(default)]
    check: String,
    #[serde(default)]
    subject: String,
    #[serde(default)]
    summary: String,
    #[serde(default)]
    evidence: OldEvidence,
}

/// What a listing's evidence says of its list.
#[derive(Debug, Clone, Default, Deserialize)]
struct OldEvidence {
    zone: Option<String>,
    list: Option<String>,
}

impl Baseline {
    /// Reads `text` as a JSON report of schema version 1; the error says
    /// why it is not one (the caller names the file).
    pub fn parse(text: &str) -> Result<Baseline, String> {
        #[derive(Deserialize)]
        struct Version {
            schema_version: Option<u64>,
        }
        let version: Version =
            serde_json::from_str(text).map_err(|e| format!("not a JSON report: {e}"))?;
        match version.schema_version {
            Some(1) => {}
            Some(v) => return Err(format!("a JSON report of schema version {v}, not 1")),
            None => return Err("not a mailaudit JSON report (no schema_version)".into()),
        }
        let doc: OldReport =
            serde_json::from_str(text).map_err(|e| format!("not a mailaudit JSON report ({e})"))?;
        Ok(Baseline { doc })
    }

    /// What it is a report of: the domain, or the subjects of a blocklist
    /// run, or the messages.
    pub fn target(&self) -> String {
        let t = &self.doc.target;
        target_words(t.domain.as_deref(), &t.subjects, &t.messages)
    }

    /// What changed between this baseline and `now`.
    pub fn compare(&self, now: &impl Now) -> Changes {
        let old: Vec<Seen> = self
            .doc
            .findings
            .iter()
            .map(|f| Seen {
                key: (
                    f.id.clone(),
                    f.subject.clone(),
                    f.evidence.zone.clone().unwrap_or_default(),
                ),
                check: f.check.clone(),
                summary: f.summary.clone(),
                list: f.evidence.list.clone().unwrap_or_default(),
            })
            .collect();
        let new = now.findings();
        let mut changes = Changes {
            since: self.doc.generated_at.clone(),
            ..Changes::default()
        };
        for f in &new {
            if !old.iter().any(|o| o.key == f.key) {
                if f.key.0 == BLOCKLIST_LISTED {
                    changes.newly_listed.push(f.listing());
                } else {
                    changes.new.push(f.reference());
                }
            }
        }
        for o in &old {
            if new.iter().any(|f| f.key == o.key) {
                continue;
            }
            if o.key.0 == BLOCKLIST_LISTED {
                if now.answered_clear(&o.key.1, &o.key.2) {
                    changes.delisted.push(o.listing());
                } else {
                    changes.not_checked_again.push(o.reference());
                }
            } else if now.seen_again(&o.check, &o.key.1) {
                changes.resolved.push(o.reference());
            } else {
                changes.not_checked_again.push(o.reference());
            }
        }
        changes
    }
}

/// What a report is about, in a few words: the domain, else the subjects
/// of a blocklist run, else the messages.
fn target_words(domain: Option<&str>, subjects: &[String], messages: &[String]) -> String {
    match domain {
        Some(d) => d.to_string(),
        None if subjects.is_empty() => messages.join(", "),
        None => subjects.join(", "),
    }
}

/// What the report `report` is about, as [`Baseline::target`] says it.
pub fn target_of(report: &Report) -> String {
    let t = &report.target;
    target_words(t.domain.as_deref(), &t.subjects, &t.messages)
}

/// A finding as a follow-up compares it.
#[derive(Debug, Clone)]
pub struct Seen {
    /// (id, subject, list zone or "").
    key: (String, String, String),
    check: String,
    summary: String,
    list: String,
}

impl Seen {
    fn reference(&self) -> FindingRef {
        FindingRef {
            id: self.key.0.clone(),
            subject: self.key.1.clone(),
            summary: self.summary.clone(),
        }
    }

    fn listing(&self) -> Listing {
        Listing {
            subject: self.key.1.clone(),
            zone: self.key.2.clone(),
            list: self.list.clone(),
        }
    }
}

/// What a follow-up asks of the report now.
pub trait Now {
    /// Its findings.
    fn findings(&self) -> Vec<Seen>;
    /// Whether `check` reached a verdict (for a check with one entry per
    /// item, the messages: on the item `subject`), and an address
    /// `subject` was among those checked. Run-level findings (`dns.*`,
    /// `domain.*`, `run.*`) are looked for on every run, so their absence
    /// is seen.
    fn seen_again(&self, check: &str, subject: &str) -> bool;
    /// Whether the list `zone` answered "clear" for `subject`.
    fn answered_clear(&self, subject: &str, zone: &str) -> bool;
}

impl Now for Report {
    fn findings(&self) -> Vec<Seen> {
        self.findings
            .iter()
            .map(|f| {
                let listing = ListingEvidence::of(&f.finding);
                Seen {
                    key: (
                        f.finding.id.to_string(),
                        f.finding.subject.clone(),
                        crate::blocklist::zone_of(&f.finding)
                            .unwrap_or_default()
                            .to_string(),
                    ),
                    check: f.finding.check().to_string(),
                    summary: f.finding.summary.clone(),
                    list: listing.map(|l| l.list).unwrap_or_default(),
                }
            })
            .collect()
    }

    fn seen_again(&self, check: &str, subject: &str) -> bool {
        if let Ok(ip) = subject.parse::<std::net::IpAddr>() {
            let t = &self.target;
            if !t.ips.iter().any(|s| s.ip == ip) && !t.subjects.iter().any(|s| s == subject) {
                return false;
            }
        }
        let verdict = |s: Status| matches!(s, Status::Pass | Status::Warn | Status::Fail);
        match self.check(check) {
            None => findings::is_run_level(check),
            Some(c) if c.per_item => c
                .detail
                .as_deref()
                .and_then(|d| d.item_status(subject))
                .is_some_and(verdict),
            Some(c) => verdict(c.status),
        }
    }

    fn answered_clear(&self, subject: &str, zone: &str) -> bool {
        self.detail_of::<BlocklistReport>().is_some_and(|b| {
            b.results
                .iter()
                .any(|r| r.subject == subject && r.zone == zone && r.status == ResultStatus::Clear)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn report(findings: Value) -> String {
        json!({
            "schema_version": 1,
            "generated_at": "2026-11-20T10:00:00Z",
            "target": { "domain": "example.com", "ips": [ { "ip": "192.0.2.12" } ] },
            "checks": {},
            "findings": findings,
        })
        .to_string()
    }

    fn finding(id: &str, check: &str, subject: &str, zone: Option<&str>) -> Value {
        json!({
            "id": id, "check": check, "subject": subject, "summary": format!("{id} {subject}"),
            "evidence": zone.map(|z| json!({ "zone": z, "list": "Demo" })).unwrap_or(json!({})),
        })
    }

    /// A report now, as a follow-up asks it.
    struct TestNow {
        findings: Vec<(&'static str, &'static str, &'static str, &'static str)>,
        ips: Vec<&'static str>,
        verdicts: Vec<&'static str>,
        clear: Vec<(&'static str, &'static str)>,
    }

    impl Now for TestNow {
        fn findings(&self) -> Vec<Seen> {
            self.findings
                .iter()
                .map(|(id, check, subject, zone)| Seen {
                    key: (id.to_string(), subject.to_string(), zone.to_string()),
                    check: check.to_string(),
                    summary: format!("{id} {subject}"),
                    list: "Demo".into(),
                })
                .collect()
        }
        fn seen_again(&self, check: &str, subject: &str) -> bool {
            (subject.parse::<std::net::IpAddr>().is_err() || self.ips.contains(&subject))
                && self.verdicts.contains(&check)
        }
        fn answered_clear(&self, subject: &str, zone: &str) -> bool {
            self.clear.contains(&(subject, zone))
        }
    }

    #[test]
    fn resolved_only_when_seen_and_delisted_only_when_clear() {
        let old = report(json!([
            finding("ptr.missing", "ptr", "192.0.2.12", None),
            finding("spf.missing", "spf", "example.com", None),
            finding(
                "dnsbl.listed",
                "dnsbl",
                "192.0.2.11",
                Some("bl.example.net")
            ),
            finding(
                "dnsbl.listed",
                "dnsbl",
                "192.0.2.12",
                Some("bl.example.net")
            ),
        ]));
        let mut now = TestNow {
            findings: vec![
                ("mx.cname", "mx", "mx2.example.com", ""),
                ("dnsbl.listed", "dnsbl", "192.0.2.13", "bl.example.net"),
            ],
            ips: vec!["192.0.2.12"],
            // SPF was unknown: no verdict.
            verdicts: vec!["ptr", "mx", "dnsbl"],
            clear: vec![("192.0.2.11", "bl.example.net")],
        };
        let baseline = Baseline::parse(&old).unwrap();
        assert_eq!(baseline.target(), "example.com");
        let c = baseline.compare(&now);
        let ids = |v: &[FindingRef]| v.iter().map(|f| f.id.clone()).collect::<Vec<_>>();
        assert_eq!(c.since, "2026-11-20T10:00:00Z");
        assert_eq!(ids(&c.new), ["mx.cname"]);
        assert_eq!(ids(&c.resolved), ["ptr.missing"]);
        assert_eq!(c.delisted.len(), 1);
        assert_eq!(c.delisted[0].subject, "192.0.2.11");
        assert_eq!(c.delisted[0].list, "Demo");
        assert_eq!(c.newly_listed[0].subject, "192.0.2.13");
        // SPF was unknown and the list did not answer: neither is resolved.
        assert_eq!(ids(&c.not_checked_again), ["spf.missing", "dnsbl.listed"]);
        // An address not checked this time resolves nothing about it.
        now.ips = vec!["192.0.2.99"];
        let c = baseline.compare(&now);
        assert!(ids(&c.not_checked_again).contains(&"ptr.missing".to_string()));
        assert!(c.resolved.is_empty());
    }

    #[test]
    fn only_json_reports_of_version_1_are_baselines() {
        assert!(
            Baseline::parse("not json")
                .unwrap_err()
                .contains("not a JSON report")
        );
        assert!(
            Baseline::parse("{}")
                .unwrap_err()
                .contains("no schema_version")
        );
        let v2 = json!({ "schema_version": 2, "findings": [] }).to_string();
        assert!(
            Baseline::parse(&v2)
                .unwrap_err()
                .contains("schema version 2")
        );
        let no_findings = json!({ "schema_version": 1 }).to_string();
        assert!(
            Baseline::parse(&no_findings)
                .unwrap_err()
                .contains("findings")
        );
    }

    #[test]
    fn run_level_checks_are_seen_on_every_run() {
        assert!(findings::is_run_level("dns"));
        assert!(findings::is_run_level("domain"));
        assert!(!findings::is_run_level("spf"));
    }
}

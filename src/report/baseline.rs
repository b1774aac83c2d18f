//! Follow-up reports (`--baseline OLD.json`): what changed since an earlier
//! JSON report of the same target. The "wait, then check again" step of
//! delisting, and the "what we fixed" of a removal request.
//!
//! Both reports are compared in their JSON form (schema v1, the frozen
//! contract), so a report from any earlier version 1 release serves as a
//! baseline. A finding counts as resolved only when the check it belongs
//! to reached a verdict this time; a listing counts as delisted only when
//! the list answered "clear" for that subject this time. Anything else
//! that is gone is "not checked again", never resolved.

use serde::Serialize;
use serde_json::Value;

use crate::findings::DNSBL_LISTED;

/// A finding of one report, as the other report knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FindingRef {
    pub id: String,
    pub subject: String,
    pub summary: String,
}

/// A listing: a subject on a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Listing {
    pub subject: String,
    pub zone: String,
    pub list: String,
}

/// What changed since the baseline.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Changes {
    /// When the baseline was made (its `generated_at`).
    pub since: String,
    /// Findings now that the baseline did not have (listings apart).
    pub new: Vec<FindingRef>,
    /// Baseline findings gone now, their check having reached a verdict.
    pub resolved: Vec<FindingRef>,
    /// Baseline listings now answered "clear" by the same list.
    pub delisted: Vec<Listing>,
    /// Listings now that the baseline did not have.
    pub newly_listed: Vec<Listing>,
    /// Baseline findings and listings gone now but not seen to be gone:
    /// their check or list could not be asked or did not answer.
    pub not_checked_again: Vec<FindingRef>,
}

impl Changes {
    /// The changes as the human formats show them: a heading and its lines
    /// (raw text: each renderer escapes it), non-empty groups only, the
    /// most urgent first.
    pub fn groups(&self) -> Vec<(&'static str, Vec<String>)> {
        let listings = |v: &[Listing]| -> Vec<String> {
            v.iter()
                .map(|l| format!("{} on {} ({})", l.subject, l.list, l.zone))
                .collect()
        };
        let refs = |v: &[FindingRef]| -> Vec<String> {
            v.iter()
                .map(|f| format!("{}: {}", f.id, f.summary))
                .collect()
        };
        [
            ("Newly listed", listings(&self.newly_listed)),
            ("New findings", refs(&self.new)),
            ("Delisted", listings(&self.delisted)),
            ("Resolved", refs(&self.resolved)),
            (
                "Gone, but not checked again (not counted as resolved)",
                refs(&self.not_checked_again),
            ),
        ]
        .into_iter()
        .filter(|(_, lines)| !lines.is_empty())
        .collect()
    }
}

/// A JSON report read as a baseline.
#[derive(Debug, Clone)]
pub struct Baseline {
    doc: Value,
}

impl Baseline {
    /// Reads `text` as a JSON report of schema version 1; the error says
    /// why it is not one (the caller names the file).
    pub fn parse(text: &str) -> Result<Baseline, String> {
        let doc: Value =
            serde_json::from_str(text).map_err(|e| format!("not a JSON report: {e}"))?;
        match doc.get("schema_version").and_then(Value::as_u64) {
            Some(1) => {}
            Some(v) => return Err(format!("a JSON report of schema version {v}, not 1")),
            None => return Err("not a mailaudit JSON report (no schema_version)".into()),
        }
        if !doc.get("findings").is_some_and(Value::is_array) {
            return Err("not a mailaudit JSON report (no findings)".into());
        }
        Ok(Baseline { doc })
    }

    /// What it is a report of: the domain, or the subjects of a blocklist
    /// run, or the messages.
    pub fn target(&self) -> String {
        target_of(&self.doc)
    }

    /// What changed between this baseline and `now` (a JSON report).
    pub fn compare(&self, now: &Value) -> Changes {
        let old = findings(&self.doc);
        let new = findings(now);
        let mut changes = Changes {
            since: text(&self.doc, "generated_at"),
            ..Changes::default()
        };
        for f in &new {
            if !old.iter().any(|o| o.key == f.key) {
                if f.key.0 == DNSBL_LISTED {
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
            if o.key.0 == DNSBL_LISTED {
                if answered_clear(now, &o.key.1, &o.key.2) {
                    changes.delisted.push(o.listing());
                } else {
                    changes.not_checked_again.push(o.reference());
                }
            } else if seen_again(now, &o.check, &o.key.1) {
                changes.resolved.push(o.reference());
            } else {
                changes.not_checked_again.push(o.reference());
            }
        }
        changes
    }
}

/// What a JSON report is about, in a few words.
pub fn target_of(doc: &Value) -> String {
    let t = &doc["target"];
    if let Some(d) = t["domain"].as_str() {
        return d.to_string();
    }
    let list = |key: &str| -> Vec<String> {
        t[key]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let subjects = list("subjects");
    if subjects.is_empty() {
        list("messages").join(", ")
    } else {
        subjects.join(", ")
    }
}

struct Seen {
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

fn text(v: &Value, key: &str) -> String {
    v.get(key).and_then(Value::as_str).unwrap_or("").to_string()
}

fn findings(doc: &Value) -> Vec<Seen> {
    doc["findings"]
        .as_array()
        .map(|a| a.as_slice())
        .unwrap_or(&[])
        .iter()
        .map(|f| Seen {
            key: (
                text(f, "id"),
                text(f, "subject"),
                text(&f["evidence"], "zone"),
            ),
            check: text(f, "check"),
            summary: text(f, "summary"),
            list: text(&f["evidence"], "list"),
        })
        .collect()
}

/// Whether `check` reached a verdict in `now` (for messages: the message
/// `subject`), and an address `subject` was among those checked. Run-level
/// findings (`dns.*`, `domain.*`, `run.*`) are looked for on every run, so
/// their absence is seen.
fn seen_again(now: &Value, check: &str, subject: &str) -> bool {
    if subject.parse::<std::net::IpAddr>().is_ok() {
        let t = &now["target"];
        let listed = |key: &str, field: Option<&str>| {
            t[key].as_array().is_some_and(|a| {
                a.iter().any(|v| match field {
                    Some(f) => v[f].as_str() == Some(subject),
                    None => v.as_str() == Some(subject),
                })
            })
        };
        if !listed("ips", Some("ip")) && !listed("subjects", None) {
            return false;
        }
    }
    let verdict = |status: &Value| matches!(status.as_str(), Some("pass" | "warn" | "fail"));
    match &now["checks"][check] {
        Value::Null => !["spf", "dmarc", "mx", "ptr", "dkim", "message", "dnsbl"].contains(&check),
        Value::Array(items) => items
            .iter()
            .any(|m| m["file"].as_str() == Some(subject) && verdict(&m["status"])),
        entry => verdict(&entry["status"]),
    }
}

/// Whether the list `zone` answered "clear" for `subject` in `now`.
fn answered_clear(now: &Value, subject: &str, zone: &str) -> bool {
    now["checks"]["dnsbl"]["results"]
        .as_array()
        .is_some_and(|rs| {
            rs.iter().any(|r| {
                r["subject"].as_str() == Some(subject)
                    && r["zone"].as_str() == Some(zone)
                    && r["status"] == "clear"
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn report(findings: Value, checks: Value) -> Value {
        json!({
            "schema_version": 1,
            "generated_at": "2026-11-20T10:00:00Z",
            "target": { "domain": "example.com", "ips": [ { "ip": "192.0.2.12" } ] },
            "checks": checks,
            "findings": findings,
        })
    }

    fn finding(id: &str, check: &str, subject: &str, zone: Option<&str>) -> Value {
        json!({
            "id": id, "check": check, "subject": subject, "summary": format!("{id} {subject}"),
            "evidence": zone.map(|z| json!({ "zone": z, "list": "Demo" })).unwrap_or(json!({})),
        })
    }

    #[test]
    fn resolved_only_when_seen_and_delisted_only_when_clear() {
        let old = report(
            json!([
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
            ]),
            json!({}),
        );
        let now = report(
            json!([
                finding("mx.cname", "mx", "mx2.example.com", None),
                finding(
                    "dnsbl.listed",
                    "dnsbl",
                    "192.0.2.13",
                    Some("bl.example.net")
                ),
            ]),
            json!({
                "ptr": { "status": "pass" },
                "spf": { "status": "unknown" },
                "mx": { "status": "warn" },
                "dnsbl": { "status": "fail", "results": [
                    { "subject": "192.0.2.11", "zone": "bl.example.net", "status": "clear" },
                    { "subject": "192.0.2.12", "zone": "bl.example.net", "status": "unknown" },
                ] },
            }),
        );
        let baseline = Baseline::parse(&old.to_string()).unwrap();
        let c = baseline.compare(&now);
        let ids = |v: &[FindingRef]| v.iter().map(|f| f.id.clone()).collect::<Vec<_>>();
        assert_eq!(c.since, "2026-11-20T10:00:00Z");
        assert_eq!(ids(&c.new), ["mx.cname"]);
        assert_eq!(ids(&c.resolved), ["ptr.missing"]);
        assert_eq!(c.delisted.len(), 1);
        assert_eq!(c.delisted[0].subject, "192.0.2.11");
        assert_eq!(c.newly_listed[0].subject, "192.0.2.13");
        // SPF was unknown and the list did not answer: neither is resolved.
        assert_eq!(ids(&c.not_checked_again), ["spf.missing", "dnsbl.listed"]);
        // An address not checked this time resolves nothing about it.
        let mut elsewhere = now.clone();
        elsewhere["target"]["ips"] = json!([{ "ip": "192.0.2.99" }]);
        let c = baseline.compare(&elsewhere);
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
    }
}

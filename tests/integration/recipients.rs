//! The recipient-list check over the embedded DNS server: a fixture list
//! with every reason, counted exactly; a failing resolver that makes
//! domains unknown, never undeliverable; the flagged rows and the clean
//! list; the binary's summary.

use std::sync::Arc;

use mailaudit::engine::Request;
use mailaudit::output::Destination;
use mailaudit::recipients::{ListFile, RecipientsInput, RowFormat};
use serde_json::Value;

use crate::common::{Env, Fault, LISTS, finding, fixture, ids, status};

fn world() -> Vec<&'static str> {
    let mut zones: Vec<&str> = LISTS.to_vec();
    zones.push("zones/com.zone");
    zones
}

/// The fixture `list`, read as the binary reads it, nothing written.
fn input(list: &str) -> RecipientsInput {
    RecipientsInput {
        list: ListFile::open(&fixture(list), list, None).unwrap(),
        flagged: None,
        clean: None,
        progress: None,
    }
}

pub struct Run {
    pub doc: Value,
    pub flagged: String,
    pub clean: String,
}

/// Checks `list` (a fixture) with the SURBL fixture as the domain
/// blocklist; `fault` on a name first.
pub async fn run(list: &str, fault: Option<(&str, Fault)>) -> Run {
    let env = Env::new(&world()).await.lists(&["multi.surbl.org"]);
    if let Some((name, f)) = fault {
        env.server.set_fault(name, f);
    }
    let dir = tempfile::tempdir().unwrap();
    let req = Request::recipients(RecipientsInput {
        flagged: Some((
            Destination::File(dir.path().join("flagged.jsonl")),
            RowFormat::JsonLines,
        )),
        clean: Some(Destination::File(dir.path().join("clean.csv"))),
        ..input(list)
    });
    let doc = env.run(&req).await;
    // Both files are always written, empty when nothing goes in them: an
    // unwritten file is a failure, not an empty list.
    let read = |f: &str| {
        std::fs::read_to_string(dir.path().join(f))
            .unwrap_or_else(|e| panic!("{f} was not written: {e}"))
    };
    Run {
        flagged: read("flagged.jsonl"),
        clean: read("clean.csv"),
        doc,
    }
}

fn rows_of(doc: &Value, id: &str) -> u64 {
    doc["checks"]["recipients"]["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == id)
        .map_or(0, |r| r["rows"].as_u64().unwrap())
}

pub async fn scenario(id: &str) -> Value {
    let fault = (id == "recipients.dns-error").then_some(("rfail.test", Fault::ServFail));
    run("recipients/list.csv", fault).await.doc
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_reason_is_counted_exactly() {
    let r = run("recipients/list.csv", None).await;
    let doc = &r.doc;
    let c = &doc["checks"]["recipients"];
    assert_eq!(c["rows"], 20, "{c:#}");
    assert_eq!(c["domains"], 11);
    assert_eq!(c["column"], "E-mail");
    for (id, n) in [
        ("recipients.invalid-syntax", 2),
        ("recipients.domain-nxdomain", 2),
        ("recipients.no-mail-exchanger", 1),
        ("recipients.null-mx", 1),
        ("recipients.dns-error", 0),
        ("recipients.typo-domain", 1),
        // mailinator.com, and gmial.com: typo domains serve throwaways too.
        ("recipients.disposable", 2),
        ("recipients.role-account", 2),
        ("recipients.listed-domain", 1),
        ("recipients.duplicate", 2),
    ] {
        assert_eq!(rows_of(doc, id), n, "{id}: {c:#}");
    }
    assert_eq!(c["flagged_rows"], 13);
    assert_eq!(c["deliverable_rows"], 12);
    // 2 of 20 rows are 10%: above the error share of 1%.
    let f = finding(doc, "recipients.domain-nxdomain");
    assert_eq!(f["severity"], "error");
    assert_eq!(f["evidence"]["share_percent"], 10.0);
    // 2 role accounts of 20 (10%) are above 5% too; the one typo (5%).
    assert_eq!(finding(doc, "recipients.typo-domain")["severity"], "error");
    let typo = &finding(doc, "recipients.typo-domain")["evidence"]["examples"][0];
    assert_eq!(typo["row"], 13);
    assert_eq!(typo["detail"], "did you mean gmail.com?");
    let dup = &finding(doc, "recipients.duplicate")["evidence"]["examples"];
    assert_eq!(dup[0]["detail"], "same mailbox as row 2");
    assert_eq!(dup[1]["detail"], "same mailbox as row 11");
    assert_eq!(status(doc, "recipients"), "fail");
    // The flagged rows, one JSON line each, in list order.
    let flagged: Vec<Value> = r
        .flagged
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(flagged.len(), 13);
    assert_eq!(flagged[0]["row"], 3);
    assert_eq!(
        flagged[0]["reasons"],
        serde_json::json!(["recipients.duplicate"])
    );
    // The clean list: the header and the 12 deliverable rows, as written;
    // the typo and the role accounts stay (suggestions, not removals).
    let clean: Vec<&str> = r.clean.lines().collect();
    assert_eq!(clean.len(), 13);
    assert_eq!(clean[0], "name,E-mail,signed up");
    assert!(clean.contains(&"Kim,kim@gmial.com,2026-01-14"));
    assert!(!r.clean.contains("rgone.test") && !r.clean.contains("ida rok"));
    assert!(
        clean.contains(&"Quinn,\"\"\"quinn smith\"\"@rok.test\",2026-01-20"),
        "{clean:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_resolver_is_unknown_never_undeliverable() {
    let r = run("recipients/list.csv", Some(("rfail.test", Fault::ServFail))).await;
    assert_eq!(rows_of(&r.doc, "recipients.dns-error"), 1);
    let f = finding(&r.doc, "recipients.dns-error");
    assert!(f["summary"].as_str().unwrap().contains("unknown"), "{f:#}");
    assert!(r.clean.contains("pam@rfail.test"));

    // A blocklist lookup that fails leaves its domain's rows not fully
    // checked: unknown, not "not listed" (the 7 valid rows at rok.test).
    let r = run(
        "recipients/list.csv",
        Some(("rok.test.multi.surbl.org", Fault::ServFail)),
    )
    .await;
    assert_eq!(rows_of(&r.doc, "recipients.dns-error"), 7);
    assert_eq!(r.doc["checks"]["recipients"]["domains_listing_unknown"], 1);
    let passed = r.doc["passed"]["recipients"].to_string();
    assert!(!passed.contains("No domain on"), "{passed}");

    // Every answer refused: nothing is called undeliverable, and every
    // row with a domain stays in the clean list.
    let r = run("recipients/list.csv", Some(("*", Fault::Refused))).await;
    for id in [
        "recipients.domain-nxdomain",
        "recipients.no-mail-exchanger",
        "recipients.null-mx",
        "recipients.listed-domain",
    ] {
        assert_eq!(rows_of(&r.doc, id), 0, "{id}");
    }
    // 20 rows less the 2 invalid ones and the 2 duplicates.
    assert_eq!(r.doc["checks"]["recipients"]["deliverable_rows"], 16);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_list_triggers_nothing_and_says_what_passed() {
    let r = run("recipients/clean.txt", None).await;
    let doc = &r.doc;
    let found: Vec<String> = ids(doc)
        .into_iter()
        .filter(|i| i.starts_with("recipients."))
        .collect();
    assert_eq!(found, Vec::<String>::new());
    assert_eq!(status(doc, "recipients"), "pass");
    assert_eq!(doc["checks"]["recipients"]["column"], "column 1");
    let passed = doc["passed"]["recipients"].to_string();
    assert!(passed.contains("All 4 addresses are valid"), "{passed}");
    assert!(passed.contains("No domain on multi.surbl.org"), "{passed}");
    assert_eq!(r.flagged, "");
    assert_eq!(r.clean.lines().count(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_domain_is_asked_once_per_type() {
    let env = Env::new(&world()).await;
    env.run(&Request::recipients(input("recipients/list.csv")))
        .await;
    for (name, rtype) in [
        ("rok.test", hickory_proto::rr::RecordType::MX),
        ("rnomx.test", hickory_proto::rr::RecordType::MX),
        ("rnomx.test", hickory_proto::rr::RecordType::A),
        ("gmail.com", hickory_proto::rr::RecordType::MX),
    ] {
        assert_eq!(env.server.queries_for(name, rtype), 1, "{name} {rtype}");
    }
    // A domain with an MX is not asked for addresses.
    assert_eq!(
        env.server
            .queries_for("rok.test", hickory_proto::rr::RecordType::A),
        0
    );
}

fn consent_row(doc: &Value) -> (String, String) {
    let row = doc["checklist"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["topic"] == "consent")
        .unwrap();
    (
        row["status"].as_str().unwrap().to_string(),
        row["detail"].as_str().unwrap().to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_audit_with_a_recipient_list_judges_the_consent_row() {
    let env = Env::new(&world()).await;
    for (list, want) in [
        ("recipients/list.csv", "not-met"),
        ("recipients/clean.txt", "your-call"),
    ] {
        let mut req = Request::audit("clean.test");
        req.target.ips = vec!["192.0.2.1".parse().unwrap()];
        req.target.recipients = Some(Arc::new(input(list)));
        let doc = env.run(&req).await;
        let (status_, detail) = consent_row(&doc);
        assert_eq!(status_, want, "{list}: {detail}");
        if want == "not-met" {
            assert!(detail.contains("recipients.domain-nxdomain"), "{detail}");
        } else {
            assert!(detail.contains(list), "{detail}");
        }
        assert_eq!(doc["target"]["recipients"], list, "{:#}", doc["target"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_recipients_entry_has_its_documented_shape() {
    let doc = run("recipients/list.csv", None).await.doc;
    let c = doc["checks"]["recipients"].as_object().unwrap();
    let keys: Vec<&str> = c.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "status",
            "file",
            "column",
            "rows",
            "domains",
            "reasons",
            "flagged_rows",
            "deliverable_rows",
            "domains_listing_unknown",
            "lists",
            "flagged_file",
            "clean_file"
        ]
    );
    let r = doc["checks"]["recipients"]["reasons"][0]
        .as_object()
        .unwrap();
    let keys: Vec<&str> = r.keys().map(String::as_str).collect();
    assert_eq!(keys, ["id", "rows", "share", "examples"]);
}

/// Issue 18.9: addresses from signup forms that a spreadsheet would run as
/// formulas are neutralised in the flagged rows (a leading `'`), as every
/// CSV mailaudit composes; the clean list keeps the user's own bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flagged_csv_cells_never_run_as_formulas() {
    let env = Env::new(&world()).await;
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("list.csv");
    std::fs::write(
        &list,
        "email\n\"=HYPERLINK(\"\"http://evil.example\"\",\"\"x\"\")\"\n@SUM(1+1)@example.com\n-2+3@clean.test\n-2+3@clean.test\nok@clean.test\n",
    )
    .unwrap();
    let req = Request::recipients(RecipientsInput {
        list: ListFile::open(&list, "list.csv", None).unwrap(),
        flagged: Some((
            Destination::File(dir.path().join("flagged.csv")),
            RowFormat::Csv,
        )),
        clean: Some(Destination::File(dir.path().join("clean.csv"))),
        progress: None,
    });
    let doc = env.run(&req).await;
    assert_eq!(
        doc["checks"]["recipients"]["flagged_rows"], 3,
        "{:#}",
        doc["checks"]
    );
    let rows: Vec<csv::StringRecord> = csv::Reader::from_path(dir.path().join("flagged.csv"))
        .unwrap()
        .records()
        .map(Result::unwrap)
        .collect();
    let addresses: Vec<&str> = rows.iter().map(|r| &r[1]).collect();
    assert_eq!(
        addresses,
        [
            "'=HYPERLINK(\"http://evil.example\",\"x\")",
            "'@SUM(1+1)@example.com",
            "'-2+3@clean.test",
        ]
    );
    for cell in rows.iter().flat_map(|r| r.iter()) {
        assert!(
            !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
            "{cell}"
        );
    }
    // The clean list: the user's rows, as they were.
    let clean = std::fs::read_to_string(dir.path().join("clean.csv")).unwrap();
    assert_eq!(clean, "email\n-2+3@clean.test\nok@clean.test\n");
}

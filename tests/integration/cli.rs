//! The binary: exit codes, one-line input errors, and no half-written
//! output. Every run is offline (--zone) or stops before any lookup.

use std::path::PathBuf;
use std::process::{Command, Output};

use crate::common::fixture;

fn mailaudit(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mailaudit"))
        .args(args)
        .output()
        .expect("run mailaudit")
}

fn examples() -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("examples/zones")
        .display()
        .to_string()
}

/// The README's example audit (offline, with the demo blocklists and the
/// campaign), plus `extra` arguments.
fn example_audit(extra: &[&str]) -> Output {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let catalog = root.join("examples/dnsbl.toml").display().to_string();
    let campaign = root.join("examples/campaign.eml").display().to_string();
    let zones = examples();
    let mut args = vec![
        "audit",
        "example.com",
        "--zone",
        &zones,
        "--dnsbl-catalog",
        &catalog,
        "--message",
        &campaign,
    ];
    args.extend_from_slice(extra);
    mailaudit(&args)
}

/// A path no other test uses: tests run in parallel in one process, so the
/// process ID alone does not tell them apart.
fn tmp(name: &str) -> PathBuf {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("mailaudit-cli-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    let _ = std::fs::remove_file(&p);
    p
}

/// Exit code 0; stderr shown otherwise.
fn assert_ok(out: &Output) {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Exit code 2, exactly one line on stderr that contains `needle`, and no
/// output file.
fn assert_input_error(args: &[&str], needle: &str) {
    let out_file = tmp(&format!("report-{}.json", needle.len()));
    let mut full: Vec<&str> = args.to_vec();
    let out_str = out_file.display().to_string();
    full.extend(["-o", &out_str]);
    let out = mailaudit(&full);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: {stderr}");
    assert!(stderr.contains(needle), "{args:?}: {stderr}");
    assert!(!out_file.exists(), "{args:?} left {out_file:?}");
}

#[test]
fn malformed_inputs_exit_2_with_one_line() {
    let zones = examples();
    assert_input_error(
        &["audit", "exa mple..com", "--zone", &zones],
        "exa mple..com",
    );
    assert_input_error(
        &[
            "audit",
            "example.com",
            "--ip",
            "300.1.1.1",
            "--zone",
            &zones,
        ],
        "300.1.1.1",
    );
    assert_input_error(
        &[
            "audit",
            "example.com",
            "--ip",
            "10.0.0.0/33",
            "--zone",
            &zones,
        ],
        "10.0.0.0/33",
    );
    assert_input_error(
        &[
            "audit",
            "example.com",
            "--zone",
            &zones,
            "--trust-anchor",
            "/nonexistent/root.key",
        ],
        "--trust-anchor /nonexistent/root.key",
    );
    // A file without DNSKEY records (a DS record instead).
    let not_keys = tmp("anchor-ds.txt");
    std::fs::write(
        &not_keys,
        ". 3600 IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D\n",
    )
    .unwrap();
    let not_keys = not_keys.display().to_string();
    assert_input_error(
        &[
            "audit",
            "example.com",
            "--zone",
            &zones,
            "--trust-anchor",
            &not_keys,
        ],
        "--trust-anchor",
    );
    let bad_zone = fixture("bad/broken.zone").display().to_string();
    assert_input_error(
        &["audit", "broken.test", "--zone", &bad_zone],
        "broken.zone: line 6",
    );
    assert_input_error(
        &[
            "audit",
            "example.com",
            "--zone",
            &zones,
            "--rules",
            "/nonexistent/rules-dir",
        ],
        "/nonexistent/rules-dir",
    );
    let bad_rules = fixture("bad/rules-bad").display().to_string();
    assert_input_error(
        &[
            "audit",
            "example.com",
            "--zone",
            &zones,
            "--rules",
            &bad_rules,
        ],
        "advice.toml",
    );
    assert_input_error(
        &[
            "audit",
            "example.com",
            "--zone",
            &zones,
            "--checks",
            "spf,dkimm",
        ],
        "dkimm",
    );
    assert_input_error(
        &[
            "audit",
            "example.com",
            "--zone",
            &zones,
            "--mail-from",
            "nobody",
        ],
        "nobody",
    );
    assert_input_error(
        &["audit", "example.com", "--nameserver", "localhost"],
        "localhost",
    );
    assert_input_error(
        &[
            "audit",
            "example.com",
            "--ip",
            "10.0.0.0/8",
            "--zone",
            &zones,
        ],
        "--max-addresses",
    );
}

#[test]
fn offline_example_audit_writes_json() {
    let out_file = tmp("example.json");
    let shown = out_file.display().to_string();
    let out =
        crate::common::mailaudit_at_root(&[crate::common::README_AUDIT, &["-o", &shown]].concat());
    assert_ok(&out);
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&out_file).unwrap()).unwrap();
    assert_eq!(doc["schema_version"], 1);
    assert_eq!(doc["target"]["domain"], "example.com");
    // Every check ran, offline, with nothing left unasked.
    for check in ["spf", "dmarc", "mx", "ptr", "dkim", "dnsbl"] {
        assert_ne!(doc["checks"][check]["status"], "skipped", "{check}");
    }
    assert_eq!(
        doc["stats"]["by_outcome"].get("not_checked"),
        None,
        "{:#}",
        doc["stats"]
    );
    // The campaign is signed and passes; one sending IP is listed on the
    // demo list; the lapsed wildcard list is found out.
    assert_eq!(
        doc["checks"]["message"][0]["status"], "pass",
        "{:#}",
        doc["checks"]["message"]
    );
    assert_eq!(doc["checks"]["message"][0]["dkim"][0]["result"], "pass");
    let ids: Vec<&str> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&"dnsbl.listed") && ids.contains(&"dnsbl.list-unhealthy"),
        "{ids:?}"
    );
    let dead = doc["checks"]["dnsbl"]["lists"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["state"] == "dead")
        .unwrap();
    assert_eq!(dead["zone"], "old-bl.example.org");
    // What passed names only what a check saw right: the one good PTR,
    // the two authorised IPs, the clear addresses, never one with a
    // finding.
    let passed = |check: &str| -> Vec<String> {
        doc["passed"][check]
            .as_array()
            .unwrap_or_else(|| panic!("{check}: {:#}", doc["passed"]))
            .iter()
            .map(|p| p.as_str().unwrap().to_string())
            .collect()
    };
    let ptr = passed("ptr");
    assert_eq!(ptr.len(), 1, "{ptr:?}");
    assert!(ptr[0].starts_with("192.0.2.10 "), "{ptr:?}");
    let spf = passed("spf");
    assert!(
        spf.iter()
            .any(|p| p.starts_with("192.0.2.11 is authorised")),
        "{spf:?}"
    );
    assert!(!spf.iter().any(|p| p.contains("192.0.2.12")), "{spf:?}");
    // The MTA-STS policy, served offline from examples/web: testing mode,
    // and the second MX host left out on purpose.
    let sts = &doc["checks"]["mta-sts"];
    assert_eq!(sts["mode"], "testing", "{sts:#}");
    assert_eq!(sts["uncovered"], serde_json::json!(["mx2.example.com"]));
    assert!(
        doc["made"]["web_root"]
            .as_str()
            .unwrap()
            .ends_with("examples/web"),
        "{:#}",
        doc["made"]
    );
    let dnsbl = passed("dnsbl");
    assert!(
        dnsbl.iter().any(|p| p.starts_with("192.0.2.10 is clear")),
        "{dnsbl:?}"
    );
    assert!(
        !dnsbl.iter().any(|p| p.starts_with("192.0.2.11")),
        "{dnsbl:?}"
    );
    let dmarc = passed("dmarc");
    assert!(
        !dmarc.iter().any(|p| p.contains("enforcement")),
        "p=none: {dmarc:?}"
    );
    // How it was made: offline, from these zone files, with this catalogue.
    let made = &doc["made"];
    assert_eq!(made["dns"], "offline");
    assert!(
        made["zone_files"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f.as_str().unwrap().ends_with("example.com.zone")),
        "{made}"
    );
    assert!(
        made["catalogue"]["source"]
            .as_str()
            .unwrap()
            .ends_with("examples/dnsbl.toml")
    );
    assert_eq!(made["command"][1], "audit");
    // The checklist: the campaign has its unsubscribe link; the listing is
    // on a trap-fed list, which says something about the recipients.
    let row = |topic: &str| {
        doc["checklist"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["topic"] == topic)
            .unwrap()
            .clone()
    };
    assert_eq!(row("unsubscribe")["status"], "met");
    assert_eq!(row("consent")["status"], "not-met");
    assert!(
        row("consent")["detail"]
            .as_str()
            .unwrap()
            .contains("Example Blocklist (demo)")
    );
    assert_eq!(row("dns-records")["status"], "not-met");
    assert_eq!(row("blocklists")["status"], "not-met");
    // The providers' requirements: SPF does not authorise 192.0.2.12.
    let spf = doc["requirements"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rule"].as_str().unwrap().starts_with("SPF"))
        .unwrap();
    assert_eq!(spf["status"], "not-met", "{spf}");
    assert_eq!(
        spf["findings"],
        serde_json::json!(["spf.ip-not-authorized"])
    );
    // The verdict leads, and one line on stderr names the file and says it.
    assert_eq!(doc["summary"]["verdict"], "listed");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with(&format!(
            "mailaudit: wrote {}: listed on blocklists, score ",
            out_file.display()
        )),
        "{stderr}"
    );
}

#[test]
fn fail_on_sets_exit_code_1() {
    let out = mailaudit(&[
        "audit",
        "example.com",
        "--zone",
        &examples(),
        "--ip",
        "192.0.2.12",
        "--fail-on",
        "error",
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["summary"]["status"], "fail");
    // DMARC alone: one warning (p=none), nothing worse and nothing unknown.
    let dmarc_only = |fail_on: &str| {
        mailaudit(&[
            "audit",
            "example.com",
            "--zone",
            &examples(),
            "--checks",
            "dmarc",
            "--fail-on",
            fail_on,
            "--format",
            "json",
        ])
    };
    let out = dmarc_only("error");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["summary"]["status"], "warn", "{doc:#}");
    assert_eq!(doc["summary"]["warnings"], 1);
    assert_eq!(
        out.status.code(),
        Some(0),
        "a warning is below --fail-on error"
    );
    assert_eq!(
        dmarc_only("warning").status.code(),
        Some(1),
        "a warning reaches --fail-on warning"
    );
    assert_eq!(dmarc_only("never").status.code(), Some(0));
}

#[test]
fn unwritable_output_exits_3_without_a_file() {
    let out = mailaudit(&[
        "audit",
        "example.com",
        "--zone",
        &examples(),
        "-o",
        "/nonexistent-dir/report.json",
    ]);
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("/nonexistent-dir/report.json"), "{stderr}");
    assert!(!PathBuf::from("/nonexistent-dir/report.json").exists());
}

#[test]
fn usage_errors_exit_2() {
    let out = mailaudit(&["audit"]);
    assert_eq!(out.status.code(), Some(2));
    let out = mailaudit(&["frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocklist_command_over_a_local_server() {
    let server = mailaudit::dns::server::ZoneServer::from_files(&[fixture("dnsbl/bl.test.zone")])
        .await
        .unwrap();
    let ns = server.addr().to_string();
    let out = tokio::task::spawn_blocking(move || {
        mailaudit(&[
            "blacklist",
            "127.0.0.2",
            "127.0.0.1",
            "--dnsbl",
            "bl.test",
            "--nameserver",
            &ns,
            "--format",
            "json",
        ])
    })
    .await
    .unwrap();
    assert_ok(&out);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        doc["target"]["subjects"],
        serde_json::json!(["127.0.0.2", "127.0.0.1"])
    );
    assert_eq!(doc["target"]["domain"], serde_json::Value::Null);
    // A blocklist run says what it did not look at.
    let statuses: Vec<&str> = doc["checklist"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses[0], "not-checked",
        "no message: {:#}",
        doc["checklist"]
    );
    assert_eq!(
        statuses[2], "not-checked",
        "no records: {:#}",
        doc["checklist"]
    );
    for r in doc["requirements"].as_array().unwrap() {
        assert_eq!(r["status"], "not-checked", "a blocklist run: {r}");
    }
    let results = doc["checks"]["dnsbl"]["results"].as_array().unwrap();
    assert_eq!(results[0]["subject"], "127.0.0.2");
    assert_eq!(results[0]["status"], "listed");
    assert_eq!(results[1]["subject"], "127.0.0.1");
    assert_eq!(results[1]["status"], "clear");

    // Text output, a range (bulk client), and --fail-on.
    let ns = server.addr().to_string();
    let out = tokio::task::spawn_blocking(move || {
        mailaudit(&[
            "blacklist",
            "198.51.100.0/28",
            "--dnsbl",
            "bl.test",
            "--nameserver",
            &ns,
            "--fail-on",
            "error",
        ])
    })
    .await
    .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("198.51.100.3") && text.contains("listed"),
        "{text}"
    );
    drop(server);
}

#[test]
fn blocklist_inputs_are_validated() {
    assert_input_error(
        &[
            "blacklist",
            "300.1.1.1",
            "--dnsbl",
            "bl.test",
            "--zone",
            &examples(),
        ],
        "300.1.1.1",
    );
    assert_input_error(
        &[
            "blacklist",
            "10.0.0.0/8",
            "--dnsbl",
            "bl.test",
            "--zone",
            &examples(),
        ],
        "--max-addresses",
    );
    assert_input_error(
        &["blacklist", "exa mple.com", "--zone", &examples()],
        "exa mple.com",
    );
    assert_input_error(
        &[
            "blacklist",
            "192.0.2.1",
            "--dnsbl",
            "bad zone",
            "--zone",
            &examples(),
        ],
        "bad zone",
    );
    assert_input_error(
        &[
            "blacklist",
            "192.0.2.1",
            "--in-service-since",
            "last year",
            "--zone",
            &examples(),
        ],
        "last year",
    );
    assert_input_error(
        &[
            "blacklist",
            "192.0.2.1",
            "--per-list-qps",
            "0",
            "--zone",
            &examples(),
        ],
        "--per-list-qps",
    );
    let bad = fixture("bad/broken.zone").display().to_string();
    assert_input_error(
        &[
            "blacklist",
            "192.0.2.1",
            "--dnsbl-catalog",
            &bad,
            "--zone",
            &examples(),
        ],
        "broken.zone",
    );
}

#[test]
fn message_command_reports_non_messages_without_crashing() {
    let zone = fixture("zones/test.zone").display().to_string();
    for (file, needle) in [
        ("/dev/null".to_string(), "empty"),
        (
            fixture("messages/image.png.eml").display().to_string(),
            "PNG",
        ),
        (
            fixture("messages/no-separator.eml").display().to_string(),
            "no blank line",
        ),
    ] {
        let out = mailaudit(&[
            "message",
            &file,
            "--zone",
            &zone,
            "--no-dnsbl",
            "--format",
            "json",
        ]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{file}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let f = &doc["findings"][0];
        assert_eq!(f["id"], "message.unparseable", "{file}");
        assert!(
            f["summary"].as_str().unwrap().contains(needle),
            "{file}: {f}"
        );
        assert_eq!(doc["checks"]["message"][0]["status"], "fail");
        assert_eq!(doc["target"]["messages"][0], file.as_str());
    }
    assert_input_error(
        &["message", "/nonexistent/campaign.eml", "--zone", &zone],
        "/nonexistent/campaign.eml",
    );
    assert_input_error(&["message", "/tmp", "--zone", &zone], "directory");
    assert_input_error(
        &[
            "audit",
            "example.com",
            "--zone",
            &examples(),
            "--selector",
            "bad selector",
        ],
        "bad selector",
    );
}

#[test]
fn large_messages_are_read_up_to_the_cap() {
    // 6 MB of attachment, read with a 1 MB cap: bounded, stated, no crash.
    let path = tmp("large.eml");
    let mut text = String::from(
        "From: a@shop.test\r\nTo: b@example.net\r\nSubject: big\r\nDate: Fri, 27 Nov 2026 10:00:00 +0000\r\n\
         Message-ID: <big@shop.test>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
         --b\r\nContent-Type: text/plain\r\n\r\nSee the attachment.\r\n--b\r\nContent-Type: application/octet-stream\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n",
    );
    let line = "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB\r\n";
    while text.len() < 6_000_000 {
        text.push_str(line);
    }
    text.push_str("--b--\r\n");
    std::fs::write(&path, &text).unwrap();
    let zone = fixture("zones/test.zone").display().to_string();
    let out = mailaudit(&[
        "message",
        &path.display().to_string(),
        "--zone",
        &zone,
        "--no-dnsbl",
        "--max-message-size",
        "1000000",
        "--format",
        "json",
    ]);
    assert_ok(&out);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let m = &doc["checks"]["message"][0];
    assert_eq!(m["read_limit"], 1_000_000);
    assert_eq!(m["size"], text.len() as u64);
    assert_eq!(m["from_domain"], "shop.test");
}

#[test]
fn html_report_of_the_example() {
    let out_file = tmp("example.html");
    let out = example_audit(&["--ip", "192.0.2.11", "-o", &out_file.display().to_string()]);
    assert_ok(&out);
    let html = std::fs::read_to_string(&out_file).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    for needle in [
        "audit of example.com",
        "What to do first",
        "How this report was made",
        "dnsbl.listed",
        "bl.example.net",
        "campaign.eml",
        "lapsed-bl.example.org",
    ] {
        assert!(html.contains(needle), "{needle}");
    }
    assert!(!html.contains("<script"), "no scripts");
    assert!(
        !html.contains(" src=") && !html.contains("<link"),
        "no external assets"
    );
}

#[test]
fn html_reports_of_message_and_blacklist_runs() {
    let rfc = fixture("messages/rfc8463.eml").display().to_string();
    let football = fixture("dkim/football.example.com.zone")
        .display()
        .to_string();
    let out_file = tmp("message.html");
    let out = mailaudit(&[
        "message",
        &rfc,
        "/dev/null",
        "--zone",
        &football,
        "--no-dnsbl",
        "-o",
        &out_file.display().to_string(),
    ]);
    assert_ok(&out);
    let html = std::fs::read_to_string(&out_file).unwrap();
    assert!(html.contains("message scan of") && html.contains("message.unparseable"));

    let bl = fixture("dnsbl/bl.test.zone").display().to_string();
    let out_file = tmp("blacklist.html");
    let out = mailaudit(&[
        "blacklist",
        "198.51.100.0/28",
        "192.0.2.10",
        "--dnsbl",
        "bl.test",
        "--zone",
        &bl,
        "-o",
        &out_file.display().to_string(),
    ]);
    assert_ok(&out);
    let html = std::fs::read_to_string(&out_file).unwrap();
    assert!(html.contains("blocklist check of") && html.contains("dnsbl.listed"));
}

#[test]
fn identities_mtas_send_are_accepted() {
    // Address-literal and single-label HELO names, the null sender and an
    // empty local part: findings, not usage errors.
    for (helo, mail_from) in [
        ("[192.168.218.40]", "<>"),
        ("OEMCOMPUTER", "@example.com"),
        ("hosed", "foo@[192.0.2.5]"),
    ] {
        let out = mailaudit(&[
            "audit",
            "example.com",
            "--zone",
            &examples(),
            "--checks",
            "spf",
            "--ip",
            "192.0.2.10",
            "--helo",
            helo,
            "--mail-from",
            mail_from,
            "--format",
            "json",
        ]);
        assert_ok(&out);
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let ids: Vec<&str> = doc["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["id"].as_str().unwrap())
            .collect();
        assert!(ids.contains(&"spf.helo-not-fqdn"), "{helo}: {ids:?}");
        assert_eq!(
            doc["checks"]["spf"]["evaluations"][0]["result"], "pass",
            "{helo} {mail_from}"
        );
    }
    // Only what no MTA can send is refused.
    assert_input_error(
        &[
            "audit",
            "example.com",
            "--zone",
            &examples(),
            "--helo",
            "mail\u{1b}[2J.example.com",
        ],
        "control character",
    );
}

#[test]
fn numeric_options_are_range_checked_in_one_line() {
    // Regressions: a timeout of u64::MAX with 2000 retries overflowed a
    // duration (exit 101); a rate of 1e-300 panicked converting to one.
    for (args, needle) in [
        (
            vec!["--timeout", "18446744073709551615", "--retries", "2000"],
            "--timeout",
        ),
        (vec!["--retries", "2000"], "--retries"),
        (vec!["--per-list-qps", "1e-300"], "--per-list-qps"),
        (vec!["--per-list-qps", "NaN"], "--per-list-qps"),
        (vec!["--concurrency", "0"], "--concurrency"),
        (
            vec!["--per-list-concurrency", "999999"],
            "--per-list-concurrency",
        ),
        (vec!["--max-addresses", "0"], "--max-addresses"),
    ] {
        let mut full = vec!["blacklist", "192.0.2.1", "--zone", "/nonexistent.zone"];
        full.extend(args);
        assert_input_error(&full, needle);
    }
    // A usage error is one line too, with the hint to --help.
    let out = mailaudit(&["audit"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("<DOMAIN>") && stderr.contains("--help"),
        "{stderr}"
    );
}

/// The example audit, JSON to `target`.
fn example_to(target: &std::path::Path) -> Output {
    let t = target.display().to_string();
    mailaudit(&[
        "audit",
        "example.com",
        "--zone",
        &examples(),
        "--checks",
        "spf",
        "--format",
        "json",
        "-o",
        &t,
    ])
}

#[test]
fn output_goes_through_a_temporary_file_it_leaves_nothing_of() {
    // The temporary file is created exclusively under a random name (the
    // unit test output::tests plants every name it can draw); here: the
    // report lands whole and nothing else is left in the directory.
    let target = tmp("report.json");
    let dir = target.parent().unwrap().to_path_buf();
    assert_ok(&example_to(&target));
    assert!(
        std::fs::read_to_string(&target)
            .unwrap()
            .contains("schema_version")
    );
    let left: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".mailaudit-"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn output_refuses_what_is_not_a_regular_file() {
    // Regression: a symlink, FIFO or directory at the target was replaced
    // by a regular file. Now: exit 2, one line, nothing touched.
    use std::os::unix::fs::symlink;
    let base = tmp("x");
    let dir = base.parent().unwrap().to_path_buf();
    let victim = dir.join("victim2.txt");
    std::fs::write(&victim, "precious").unwrap();
    let link = dir.join("link.json");
    symlink(&victim, &link).unwrap();
    let fifo = dir.join("fifo.json");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    for (target, needle) in [
        (&link, "symbolic link"),
        (&fifo, "FIFO"),
        (&dir, "directory"),
    ] {
        let out = example_to(target);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{target:?}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
        assert!(stderr.contains(needle), "{stderr}");
    }
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
}

#[test]
fn output_keeps_the_target_permissions() {
    // Regression: a 0600 report became 0644 when replaced.
    use std::os::unix::fs::PermissionsExt;
    let target = tmp("private.json");
    std::fs::write(&target, "old").unwrap();
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert_ok(&example_to(&target));
    let mode = std::fs::metadata(&target).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert!(
        std::fs::read_to_string(&target)
            .unwrap()
            .contains("schema_version")
    );
}

#[test]
fn output_to_devices_writes_through_them() {
    // Regression: as root, -o /dev/null replaced the device node, and
    // -o /dev/full exited 0. Devices are written to directly; a write that
    // fails is exit 3.
    use std::os::unix::fs::FileTypeExt;
    assert_ok(&example_to(std::path::Path::new("/dev/null")));
    assert!(
        std::fs::metadata("/dev/null")
            .unwrap()
            .file_type()
            .is_char_device()
    );
    let out = example_to(std::path::Path::new("/dev/full"));
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("/dev/full"));
    assert!(
        std::fs::metadata("/dev/full")
            .unwrap()
            .file_type()
            .is_char_device()
    );
}

#[test]
fn explain_prints_the_whole_advice_and_suggests_on_a_typo() {
    let out = mailaudit(&["explain", "dnsbl.listed"]);
    assert_ok(&out);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with("dnsbl.listed (error, delisting)\n"),
        "{text}"
    );
    assert!(text.contains("What to do:\n  1. "), "{text}");
    assert!(text.contains("  4. "), "every step, not the first: {text}");

    let out = mailaudit(&["explain", "spf.mising"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("did you mean \"spf.missing\""), "{stderr}");
    assert!(out.stdout.is_empty());
}

#[test]
fn findings_lists_every_id() {
    let out = mailaudit(&["findings"]);
    assert_ok(&out);
    let text = String::from_utf8(out.stdout).unwrap();
    for id in mailaudit::findings::all() {
        assert!(
            text.lines().any(|l| l.split(' ').next() == Some(id)),
            "{id} missing"
        );
    }
}

#[test]
fn an_output_extension_mailaudit_does_not_write_is_refused() {
    let target = tmp("report.pdf");
    let shown = target.display().to_string();
    let out = example_audit(&["-o", &shown]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("does not write .pdf reports"), "{stderr}");
    assert!(!target.exists());
    // An explicit --format overrides the name.
    let out = example_audit(&["-o", &shown, "--format", "json"]);
    assert_ok(&out);
    let text = std::fs::read_to_string(&target).unwrap();
    assert!(text.starts_with('{'));
    // .md is Markdown.
    let md = tmp("report.md");
    assert_ok(&example_audit(&["-o", &md.display().to_string()]));
    let text = std::fs::read_to_string(&md).unwrap();
    assert!(
        text.starts_with("# mailaudit: audit of example.com\n"),
        "{text}"
    );
    for section in [
        "## Prevention checklist",
        "## What to do first",
        "## How this report was made",
    ] {
        assert!(text.contains(section), "{section}");
    }
}

#[test]
fn the_listing_comes_first_with_every_step_in_text_and_html() {
    let out = example_audit(&[
        "--ip",
        "192.0.2.11",
        "--ip",
        "192.0.2.12",
        "--in-service-since",
        "2026-09-01",
    ]);
    assert_ok(&out);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.lines()
            .next()
            .unwrap()
            .contains("LISTED ON BLOCKLISTS, score "),
        "{text}"
    );
    let first = text.split("What to do first:\n").nth(1).expect("section");
    assert!(first.starts_with("  1. ERROR   dnsbl.listed: "), "{first}");
    // The listing's own steps: the list's removal page and the date.
    let listing: String = first.lines().take_while(|l| !l.contains(" 2. ")).collect();
    assert!(
        listing.contains("https://bl.example.net/removal"),
        "{listing}"
    );
    assert!(listing.contains("2026-09-01"), "{listing}");
    // Every step of the other findings, not only the first.
    assert!(
        first.contains("Make sure that name has an A/AAAA record"),
        "{first}"
    );

    let html_file = tmp("order.html");
    let shown = html_file.display().to_string();
    assert_ok(&example_audit(&[
        "--ip",
        "192.0.2.11",
        "--ip",
        "192.0.2.12",
        "-o",
        &shown,
    ]));
    let html = std::fs::read_to_string(&html_file).unwrap();
    let listed = html.find("</span> dnsbl.listed").unwrap();
    for other in ["ptr.missing", "dmarc.policy-none", "spf.ip-not-authorized"] {
        let at = html
            .find(&format!("</span> {other}"))
            .unwrap_or_else(|| panic!("{other} is not in the report"));
        assert!(listed < at, "{other} before dnsbl.listed");
    }
}

#[test]
fn a_listing_comes_with_a_removal_request_in_json_markdown_and_html() {
    let zones = examples();
    let catalog = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("examples/dnsbl.toml")
        .display()
        .to_string();
    let base = [
        "blacklist",
        "192.0.2.11",
        "--zone",
        &zones,
        "--dnsbl-catalog",
        &catalog,
        "--in-service-since",
        "2026-09-01",
    ];
    let run = |extra: &[&str]| {
        let mut args = base.to_vec();
        args.extend_from_slice(extra);
        let out = mailaudit(&args);
        assert_ok(&out);
        String::from_utf8(out.stdout).unwrap()
    };
    let doc: serde_json::Value = serde_json::from_str(&run(&["--format", "json"])).unwrap();
    let listed = crate::common::finding(&doc, "dnsbl.listed");
    let draft = listed["delisting_request"].as_str().unwrap();
    for needle in [
        "Removal request for 192.0.2.11 from Example Blocklist (demo)",
        "hit spam traps 14 times",
        "in our service since 2026-09-01",
    ] {
        assert!(draft.contains(needle), "{needle}: {draft}");
    }
    // Other findings have none.
    assert!(
        doc["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["id"] != "dnsbl.listed")
            .all(|f| f.get("delisting_request").is_none())
    );
    let md = run(&["--format", "markdown"]);
    assert!(
        md.contains("    ```text\n    Subject: Removal request for 192.0.2.11"),
        "{md}"
    );
    let html = run(&["--format", "html"]);
    assert!(
        html.contains("<pre>Subject: Removal request for 192.0.2.11"),
        "{html}"
    );
}

#[test]
fn a_baseline_says_what_changed_and_fills_the_removal_request() {
    let ips = ["--ip", "192.0.2.10", "--ip", "192.0.2.11"];
    let old_file = tmp("baseline.json");
    let mut args = ips.to_vec();
    let shown = old_file.display().to_string();
    args.extend(["-o", shown.as_str()]);
    assert_ok(&example_audit(&args));
    // The earlier report: 192.0.2.10 was listed and had no PTR; the
    // listing of 192.0.2.11 was not there yet.
    let mut old: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&old_file).unwrap()).unwrap();
    let findings = old["findings"].as_array_mut().unwrap();
    let listing = findings
        .iter()
        .position(|f| f["id"] == "dnsbl.listed")
        .unwrap();
    let mut was_listed = findings.remove(listing);
    was_listed["subject"] = "192.0.2.10".into();
    findings.push(was_listed);
    findings.push(serde_json::json!({
        "id": "ptr.missing", "check": "ptr", "subject": "192.0.2.10",
        "summary": "192.0.2.10 has no PTR record.", "evidence": {}
    }));
    std::fs::write(&old_file, old.to_string()).unwrap();

    let mut args = ips.to_vec();
    args.extend(["--baseline", shown.as_str(), "--format", "json"]);
    let out = example_audit(&args);
    assert_ok(&out);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let changes = &doc["changes"];
    assert_eq!(
        changes["delisted"][0]["subject"], "192.0.2.10",
        "{changes:#}"
    );
    assert_eq!(
        changes["newly_listed"][0]["subject"], "192.0.2.11",
        "{changes:#}"
    );
    assert_eq!(changes["resolved"][0]["id"], "ptr.missing", "{changes:#}");
    assert_eq!(changes["new"], serde_json::json!([]), "{changes:#}");
    // The removal request says what was fixed.
    let listed = crate::common::finding(&doc, "dnsbl.listed");
    let draft = listed["delisting_request"].as_str().unwrap();
    assert!(
        draft.contains("- ptr.missing (was: 192.0.2.10 has no PTR record.)"),
        "{draft}"
    );

    // A baseline of another target is refused, with no report written.
    let target = tmp("other.json");
    let out = mailaudit(&[
        "audit",
        "esp.example.net",
        "--zone",
        &examples(),
        "--no-dnsbl",
        "--baseline",
        &shown,
        "-o",
        &target.display().to_string(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("a report of example.com, not of esp.example.net"),
        "{stderr}"
    );
    assert!(!target.exists());
}

#[test]
fn brief_shows_one_step_per_finding_and_pipes_get_no_colour() {
    let full = example_audit(&["--ip", "192.0.2.12"]);
    let brief = example_audit(&["--ip", "192.0.2.12", "--brief"]);
    assert_ok(&full);
    assert_ok(&brief);
    let (full, brief) = (
        String::from_utf8(full.stdout).unwrap(),
        String::from_utf8(brief.stdout).unwrap(),
    );
    let steps = |t: &str| t.lines().filter(|l| l.starts_with("       - ")).count();
    // A numbered line per finding: "  1. ERROR   ptr.missing: ...".
    let findings = |t: &str| {
        t.lines()
            .filter(|l| {
                let l = l.trim_start();
                l.split_once(". ")
                    .is_some_and(|(n, _)| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
            })
            .count()
    };
    assert!(findings(&brief) > 0);
    assert_eq!(steps(&brief), findings(&brief), "one step each: {brief}");
    assert!(steps(&full) > steps(&brief), "{full}");
    assert!(
        !brief.contains("SPF lookup tree"),
        "no evidence blocks: {brief}"
    );
    // Standard output is a pipe here: no colour codes at all.
    assert!(!full.contains('\u{1b}') && !brief.contains('\u{1b}'));
}

/// A message written by a stranger: markup in the Subject and From, and
/// terminal escapes in both. Every format shows them as text.
#[test]
fn hostile_headers_render_as_text_in_every_format() {
    let eml = tmp("hostile.eml");
    std::fs::write(
        &eml,
        "From: \"<script>alert(1)</script>\u{1b}[2J\" <news@example.com>\r\n\
         To: someone@example.org\r\n\
         Subject: \"><img src=x onerror=alert(1)> \u{1b}]8;;https://evil.example\u{7}click\u{1b}[31m\r\n\
         Date: Sat, 28 Nov 2026 09:00:00 +0000\r\n\
         Message-ID: <hostile@example.com>\r\n\
         \r\n\
         Hello.\r\n",
    )
    .unwrap();
    let eml = eml.display().to_string();
    let zones = examples();
    for format in ["text", "markdown", "html", "json"] {
        let out = mailaudit(&[
            "message",
            &eml,
            "--zone",
            &zones,
            "--no-dnsbl",
            "--format",
            format,
        ]);
        assert!(
            matches!(out.status.code(), Some(0 | 1)),
            "{format}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let body = String::from_utf8(out.stdout).unwrap();
        // Shown (the subject is in the messages table), never raw.
        assert!(
            body.contains("onerror"),
            "{format}: the subject is shown:\n{body}"
        );
        for bad in ['\u{1b}', '\u{7}'] {
            assert!(!body.contains(bad), "{format}: {bad:?} raw:\n{body}");
        }
        match format {
            "html" => {
                assert!(!body.contains("<img"), "{body}");
                assert!(!body.contains("<script>"), "{body}");
                assert!(
                    body.contains("&lt;img src=x onerror=alert(1)&gt;"),
                    "{body}"
                );
            }
            "markdown" => {
                // Every angle bracket behind a backslash: text, not HTML.
                assert!(body.contains("\\<img"), "{body}");
                assert_eq!(
                    body.matches("<img").count(),
                    body.matches("\\<img").count(),
                    "{body}"
                );
                assert_eq!(
                    body.matches("<script").count(),
                    body.matches("\\<script").count(),
                    "{body}"
                );
            }
            "json" => {
                let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
                let subject = doc["checks"]["message"][0]["subject"].as_str().unwrap();
                assert!(
                    subject.starts_with("\"><img src=x onerror=alert(1)>"),
                    "{subject}"
                );
            }
            _ => assert!(body.contains("\\x1b]8;;https://evil.example"), "{body}"),
        }
    }
}

/// In a `message` run the scanned message's verified signature stands in
/// for the DKIM key check: the provider requirement is met, not "not
/// checked"; an unsigned message does not meet it.
#[test]
fn a_message_run_judges_the_dkim_requirement_by_the_signature() {
    let dkim_row = |file: &str| {
        let out = crate::common::mailaudit_at_root(&[
            "message",
            file,
            "--zone",
            "examples/zones",
            "--no-dnsbl",
            "--format",
            "json",
        ]);
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        doc["requirements"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["rule"].as_str().unwrap().starts_with("DKIM"))
            .unwrap()
            .clone()
    };
    let signed = dkim_row("examples/campaign.eml");
    assert_eq!(signed["status"], "met", "{signed:#}");
    let unsigned = dkim_row("examples/campaign.unsigned.eml");
    assert_eq!(unsigned["status"], "not-met", "{unsigned:#}");
}

/// The README's recipient-list example, plus `extra` arguments.
const RECIPIENTS: &[&str] = &[
    "recipients",
    "examples/recipients/list.csv",
    "--zone",
    "examples/zones",
    "--zone",
    "examples/recipients/zones",
    "--dnsbl-catalog",
    "examples/dnsbl.toml",
];

#[test]
fn the_readme_recipient_list_example_writes_its_files() {
    let flagged = tmp("flagged.csv");
    let clean = tmp("clean.csv");
    let (f, c) = (flagged.display().to_string(), clean.display().to_string());
    let mut args = RECIPIENTS.to_vec();
    args.extend(["--flagged", &f, "--clean", &c, "--brief", "--quiet"]);
    let out = crate::common::mailaudit_at_root(&args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("16 rows, 11 domains; 9 flagged, 11 deliverable"),
        "{stdout}"
    );
    // --fail-on error: the list has errors.
    let mut strict = RECIPIENTS.to_vec();
    strict.extend(["--fail-on", "error", "--quiet"]);
    assert_eq!(
        crate::common::mailaudit_at_root(&strict).status.code(),
        Some(1)
    );
    let flagged = std::fs::read_to_string(&flagged).unwrap();
    assert_eq!(flagged.lines().count(), 10, "{flagged}");
    assert!(flagged.starts_with("row,address,reasons,details\n"));
    assert!(flagged.contains("5,dave@gmial.com,recipients.typo-domain recipients.disposable,"));
    let clean = std::fs::read_to_string(&clean).unwrap();
    assert_eq!(clean.lines().count(), 12, "{clean}");
    assert!(clean.starts_with("email,first_name,source\n"));
}

#[test]
fn a_recipient_list_from_standard_input() {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_mailaudit"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "recipients",
            "-",
            "--zone",
            "examples/zones",
            "--no-dnsbl",
            "--format",
            "json",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"ben@example.com\nben@example.com\npostmaster@news.example.com\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let c = &doc["checks"]["recipients"];
    assert_eq!(c["file"], "-");
    assert_eq!(c["rows"], 3);
    assert_eq!(c["reasons"][0]["id"], "recipients.role-account");
    assert_eq!(c["reasons"][1]["id"], "recipients.duplicate");
}

#[test]
fn bad_recipient_lists_exit_2_with_one_line() {
    let list = fixture("recipients/list.csv").display().to_string();
    let zones = examples();
    assert_input_error(
        &["recipients", "/nonexistent/list.csv", "--zone", &zones],
        "/nonexistent/list.csv",
    );
    assert_input_error(
        &["recipients", &list, "--zone", &zones, "--column", "phone"],
        "no column \"phone\"",
    );
    let no_address = tmp("no-address.csv");
    std::fs::write(&no_address, "name,phone\nJane,555-0100\n").unwrap();
    let no_address = no_address.display().to_string();
    assert_input_error(&["recipients", &no_address, "--zone", &zones], "--column");
    assert_input_error(
        &[
            "recipients",
            &list,
            "--zone",
            &zones,
            "--flagged",
            "/nonexistent/dir/flagged.csv",
        ],
        "--flagged /nonexistent/dir/flagged.csv",
    );
    assert_input_error(
        &["audit", "example.com", "--zone", &zones, "--clean", "x.csv"],
        "--recipients",
    );
    // The files are checked as -o is: a symbolic link is not replaced.
    let link = tmp("clean-link.csv");
    std::os::unix::fs::symlink("/etc/passwd", &link).unwrap();
    let link = link.display().to_string();
    assert_input_error(
        &["recipients", &list, "--zone", &zones, "--clean", &link],
        "is a symbolic link",
    );
    // A quoted field that never closes: the row would grow without bound.
    let runaway = tmp("runaway.csv");
    let mut text = "email\n\"jane@example.com\n".to_string();
    text.push_str(&"an endless note\n".repeat(70_000));
    std::fs::write(&runaway, text).unwrap();
    let runaway = runaway.display().to_string();
    assert_input_error(
        &["recipients", &runaway, "--zone", &zones],
        "runs past line",
    );
}

#[test]
fn hostile_addresses_reach_no_terminal_or_browser_raw() {
    let list = tmp("hostile.csv");
    std::fs::write(
        &list,
        "email\n\u{1b}]8;;http://evil\u{7}click\u{1b}]8;;\u{7}@example.com\n<script>alert(1)</script>@example.com\n\"><img src=x onerror=alert(1)>@example.com\n",
    )
    .unwrap();
    let list = list.display().to_string();
    let html = tmp("hostile.html");
    let h = html.display().to_string();
    let zones = examples();
    let out = mailaudit(&["recipients", &list, "--zone", &zones, "--no-dnsbl"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("3 of 3 rows"), "{text}");
    assert!(!text.contains('\u{1b}') && !text.contains('\u{7}'));
    assert_ok(&mailaudit(&[
        "recipients",
        &list,
        "--zone",
        &zones,
        "--no-dnsbl",
        "-o",
        &h,
    ]));
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(!page.contains("<script>alert") && !page.contains("<img src=x"));
    assert!(!page.contains('\u{1b}'));
}

#[test]
fn a_zone_file_exported_from_a_signed_zone_loads_unsigned() {
    let zone = tmp("signed.zone");
    std::fs::write(
        &zone,
        "$ORIGIN signed.test.\n$TTL 300\n@ IN SOA ns.signed.test. h.signed.test. 2 3600 600 86400 300\n\
         @ 300 IN RRSIG SOA 15 2 300 20261228125139 20261128125139 60734 signed.test. ( VQ3T7NH50RLdIj+OoxY/gdLqfzF+Mmc8NAL1QVR9YSp\n\
         /e0pXBF9u/UwZogrR2szri0mjPCQNbvMtRRlf4wg7Bg== )\n\
         @ IN DNSKEY 257 3 15 4vSFpdc9RnS2nvnJkR7KYueHw+M/hm/0HaJb5NdS/4g=\n\
         @ IN NSEC mx.signed.test. NS SOA MX RRSIG NSEC DNSKEY\n\
         \x20 IN MX 10 mx.signed.test.\n\
         mx IN A 192.0.2.25\n",
    )
    .unwrap();
    let z = zone.display().to_string();
    let out = mailaudit(&[
        "audit",
        "signed.test",
        "--zone",
        &z,
        "--checks",
        "mx",
        "--no-dnsbl",
        "--format",
        "json",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("3 record(s) made by DNSSEC signing"),
        "{stderr}"
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        doc["checks"]["mx"]["hosts"][0]["name"], "mx.signed.test",
        "{:#}",
        doc["checks"]["mx"]
    );
}

/// Issue 18.9: a batch or single-run CSV cell that would run as a formula
/// in a spreadsheet (here a message file named like one) gets a leading
/// `'`.
#[test]
fn csv_cells_are_safe_in_a_spreadsheet() {
    let dir = tempfile::tempdir().unwrap();
    let name = "=cmd|' calc'!A0.eml";
    std::fs::copy(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/campaign.eml"),
        dir.path().join(name),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_mailaudit"))
        .current_dir(dir.path())
        .args([
            "message",
            name,
            "--zone",
            &examples(),
            "--no-dnsbl",
            "--format",
            "csv",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut reader = csv::Reader::from_reader(&out.stdout[..]);
    let row = reader.records().next().unwrap().unwrap();
    assert_eq!(&row[0], format!("'{name}"));
    for cell in row.iter() {
        assert!(
            !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
            "{cell}"
        );
    }
}

/// Issue 18.14: a DQS key that cannot be one is an input error naming
/// where it came from, never repeating it.
#[test]
fn a_bad_dqs_key_is_an_input_error_that_does_not_repeat_it() {
    let zones = examples();
    assert_input_error(
        &[
            "blacklist",
            "192.0.2.10",
            "--zone",
            &zones,
            "--dqs-key",
            "se cret!",
        ],
        "--dqs-key",
    );
    let out = Command::new(env!("CARGO_BIN_EXE_mailaudit"))
        .env("MAILAUDIT_DQS_KEY", "se cret!")
        .args(["blacklist", "192.0.2.10", "--zone", &zones])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("MAILAUDIT_DQS_KEY"), "{stderr}");
    assert!(!stderr.contains("se cret"), "{stderr}");
}

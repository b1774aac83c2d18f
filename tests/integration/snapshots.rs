//! Snapshots (insta) of every report format for the README's example
//! audit and a `blacklist` run, so that a change to what a reader sees is
//! a reviewed diff (`cargo insta review`, or `INSTA_UPDATE=always cargo
//! test` then `git diff`). Times, durations and the binary's path are
//! replaced by placeholders; everything else is deterministic offline.

use crate::common::{README_AUDIT, mailaudit_at_root};

/// Two addresses (one listed) and a domain on the demo lists.
const BLACKLIST: &[&str] = &[
    "blacklist",
    "192.0.2.11",
    "192.0.2.10",
    "example.com",
    "--zone",
    "examples/zones",
    "--dnsbl-catalog",
    "examples/dnsbl.toml",
];

const FORMATS: [&str; 4] = ["text", "markdown", "html", "json"];

/// The report on stdout, run from the repository root so that every path
/// in it is the relative one of the command.
fn report(args: &[&str], format: &str) -> String {
    let out = mailaudit_at_root(&[args, &["--format", format]].concat());
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8")
}

fn snapshot(name: &str, args: &[&str]) {
    for format in FORMATS {
        let body = report(args, format);
        insta::with_settings!({
            snapshot_suffix => format,
            prepend_module_to_snapshot => false,
            omit_expression => true,
            filters => vec![
                (r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", "[TIME]"),
                (r"\b\d+ ms\b", "[DURATION] ms"),
                (r#""duration_ms": \d+"#, r#""duration_ms": "[DURATION]""#),
                (r#"[^\s"<>]*target/[a-z]+/mailaudit\b"#, "mailaudit"),
                // The same path, HTML-escaped.
                (r#"[^\s"<>]*target&#x2f;[a-z]+&#x2f;mailaudit\b"#, "mailaudit"),
            ],
        }, {
            insta::assert_snapshot!(name, body);
        });
    }
}

#[test]
fn example_audit_in_every_format() {
    snapshot("example_audit", README_AUDIT);
}

#[test]
fn blocklist_run_in_every_format() {
    snapshot("blacklist", BLACKLIST);
}

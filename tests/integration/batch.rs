//! Batches: many domains through one engine, reports in input order as
//! they finish, a deadline that cuts a slow batch, and the batch formats
//! read back with standard readers.

use std::process::Command;
use std::time::{Duration, Instant};

use hickory_proto::rr::RecordType;
use mailaudit::batch::run_ordered;
use mailaudit::dns::{Dns, DnsConfig};
use mailaudit::engine::{Engine, Request};
use mailaudit::report::BatchFormat;
use mailaudit::report::batch::BatchWriter;
use mailaudit::report::model::RunKind;
use mailaudit::rules::Rules;
use serde_json::Value;

use crate::common::{Fault, FaultServer, XorShift};

/// A zone of `n` small domains, d0.batch.test to d{n-1}.batch.test, each
/// with an MX host, SPF (including one shared tree) and DMARC.
fn zone(n: usize) -> String {
    let mut z = String::from(
        "$ORIGIN batch.test.\n$TTL 300\n@ IN SOA ns.batch.test. h.batch.test. 1 3600 600 86400 300\n@ IN NS ns.batch.test.\nns IN A 192.0.2.53\n\
         _spf IN TXT \"v=spf1 ip4:198.51.100.0/24 -all\"\n",
    );
    for i in 0..n {
        z.push_str(&format!(
            "d{i} IN MX 10 mx.d{i}\nmx.d{i} IN A 192.0.2.{}\nd{i} IN TXT \"v=spf1 mx include:_spf.batch.test -all\"\n_dmarc.d{i} IN TXT \"v=DMARC1; p=reject; rua=mailto:dmarc@d{i}.batch.test\"\n",
            i % 250 + 1
        ));
    }
    z
}

/// A timeout for answers that must arrive (the delays planted are at most
/// 120 ms).
const PATIENT: Duration = Duration::from_secs(5);

/// An engine asking `server`, waiting `timeout` for each answer.
fn engine(server: &FaultServer, timeout: Duration) -> Engine {
    let dns = Dns::new(DnsConfig {
        nameservers: vec![server.addr()],
        timeout,
        retries: 0,
        concurrency: 64,
        scope: None,
        trust_anchor: None,
    })
    .unwrap();
    Engine::new(dns, Rules::embedded())
}

fn request(i: usize, deadline: Option<Instant>) -> Request {
    let mut req = Request::audit(&format!("d{i}.batch.test"));
    req.checks = Some(["spf", "dmarc", "mx"].map(String::from).into());
    req.deadline = deadline;
    req
}

/// Runs the batch as JSON Lines; the documents, in the order written.
async fn json_lines(engine: &Engine, requests: Vec<Request>, parallel: usize) -> Vec<Value> {
    let checks = mailaudit::checks::of_kind(RunKind::Audit)
        .map(|c| c.id())
        .collect();
    let mut writer = BatchWriter::new(BatchFormat::JsonLines, checks, Vec::new()).unwrap();
    run_ordered(engine, requests, parallel, |r| writer.report(&r).unwrap()).await;
    let bytes = writer.finish().unwrap();
    String::from_utf8(bytes)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_lines_keep_input_order_under_random_latency() {
    const N: usize = 40;
    let server = FaultServer::from_texts(&[zone(N)]).await;
    let mut rng = XorShift(0x5eed_ba7c);
    for i in 0..N {
        let delay = Fault::Delay(Duration::from_millis(rng.next() % 120));
        server.set_fault(&format!("d{i}.batch.test"), delay);
        server.set_fault(&format!("*.d{i}.batch.test"), delay);
    }
    // No retries (the question counts stay exact), so a timeout far above
    // the longest delay: a busy 2-core machine must not turn a slow answer
    // into a failed lookup.
    let engine = engine(&server, PATIENT);
    let docs = json_lines(&engine, (0..N).map(|i| request(i, None)).collect(), 8).await;
    let order: Vec<&str> = docs
        .iter()
        .map(|d| d["target"]["domain"].as_str().unwrap())
        .collect();
    let want: Vec<String> = (0..N).map(|i| format!("d{i}.batch.test")).collect();
    assert_eq!(order, want);
    for d in &docs {
        assert_eq!(d["summary"]["status"], "pass", "{:#}", d["findings"]);
        // Each report counts its own questions, not the batch's.
        assert!(
            d["stats"]["queries"].as_u64().unwrap() < 20,
            "{:#}",
            d["stats"]
        );
    }
    // The shared include was asked once for the whole batch.
    assert_eq!(server.queries_for("_spf.batch.test", RecordType::TXT), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deadline_cuts_a_slow_batch_and_the_rest_is_unknown() {
    const N: usize = 12;
    let server = FaultServer::from_texts(&[zone(N)]).await;
    // Every other domain never answers.
    for i in (1..N).step_by(2) {
        server.set_fault(&format!("d{i}.batch.test"), Fault::Drop);
        server.set_fault(&format!("*.d{i}.batch.test"), Fault::Drop);
    }
    // A resolver timeout longer than the deadline: only the deadline can
    // end the run.
    let engine = engine(&server, Duration::from_secs(30));
    let started = Instant::now();
    // Ample for the fast domains even on a busy machine.
    let deadline = started + Duration::from_secs(2);
    let docs = json_lines(
        &engine,
        (0..N).map(|i| request(i, Some(deadline))).collect(),
        4,
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(docs.len(), N, "every domain has its report");
    for (i, d) in docs.iter().enumerate() {
        let ids: Vec<&str> = d["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["id"].as_str().unwrap())
            .collect();
        // Finished in time, or unknown because of the deadline: never a
        // verdict about what was not seen.
        let cut = ids.contains(&"run.deadline-reached");
        if i % 2 == 1 || cut {
            assert!(cut, "d{i}: {ids:?}");
            assert_eq!(d["summary"]["status"], "unknown", "d{i}: {ids:?}");
            for check in ["spf", "dmarc", "mx"] {
                let c = &d["checks"][check];
                assert_eq!(c["status"], "unknown", "d{i} {check}: {c}");
            }
            // Nothing unseen is said to be missing.
            assert!(
                !ids.iter().any(|id| id.ends_with(".missing")),
                "d{i}: {ids:?}"
            );
        } else {
            assert_eq!(d["summary"]["status"], "pass", "d{i}: {ids:?}");
        }
    }
    // The fast domains that got a place before the slow ones filled every
    // one finished; the rest of the batch was cut.
    for i in [0, 2, 4] {
        assert_eq!(docs[i]["summary"]["status"], "pass", "d{i}");
    }
    assert_eq!(
        docs[N - 2]["summary"]["status"],
        "unknown",
        "behind four silent domains"
    );
}

fn mailaudit(args: &[&str], stdin: Option<&str>) -> std::process::Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_mailaudit"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.unwrap_or("").as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// Good, bad and duplicate lines, from standard input.
const DOMAINS: &str = "\
# the bundled example's domains
example.com 192.0.2.10 192.0.2.11 selector=mail2026

esp.example.net   # its SPF tree is shared
not_a_domain!
EXAMPLE.com
hosting.example.org 300.1.2.3
";

const OFFLINE: [&str; 4] = [
    "--zone",
    "examples/zones",
    "--dnsbl-catalog",
    "examples/dnsbl.toml",
];

fn batch(format: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["audit", "--domains", "-", "--format", format];
    args.extend(OFFLINE);
    args.extend(extra);
    mailaudit(&args, Some(DOMAINS))
}

#[test]
fn a_batch_file_with_good_bad_and_duplicate_lines() {
    let out = batch("jsonl", &["--fail-on", "error"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // A finding at error level in some domain: exit 1, the batch complete.
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let docs: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let domains: Vec<&str> = docs
        .iter()
        .map(|d| d["target"]["domain"].as_str().unwrap())
        .collect();
    assert_eq!(domains, ["example.com", "esp.example.net"]);
    // The line's IPs and selector were used.
    assert_eq!(docs[0]["target"]["ips"].as_array().unwrap().len(), 2);
    assert!(
        docs[0]["checks"]["dkim"]["selectors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["selector"] == "mail2026" && s["status"] == "found"),
        "{:#}",
        docs[0]["checks"]["dkim"]
    );
    // Each bad line said once, with its number; the batch went on.
    for (line, why) in [
        (5, "not_a_domain"),
        (6, "already on line 2"),
        (7, "300.1.2.3"),
    ] {
        assert!(
            stderr.lines().any(
                |l| l.starts_with(&format!("mailaudit: -:{line}: skipped:")) && l.contains(why)
            ),
            "line {line}: {stderr}"
        );
    }
}

#[test]
fn csv_of_a_batch_reads_with_a_csv_reader() {
    let out = batch("csv", &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut reader = csv::Reader::from_reader(out.stdout.as_slice());
    let head: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(head[..3], ["target", "verdict", "score"]);
    assert!(head.contains(&"dnsbl".to_string()) && head.last().unwrap() == "top_finding");
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(&rows[0][0], "example.com");
    assert_eq!(&rows[0][1], "listed");
    // The top finding's text holds commas and quotes, and reads back whole.
    assert!(
        rows[0][head.len() - 1].starts_with("dnsbl.listed: "),
        "{:?}",
        rows[0]
    );
}

#[test]
fn text_and_html_overviews_of_a_batch() {
    let out = batch("text", &[]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("2 audited: 1 listed on blocklists"), "{text}");
    assert!(
        text.contains("skipped: -:6: example.com is already on line 2"),
        "{text}"
    );

    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("overview.html");
    let out = batch("html", &["-o", page.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("wrote") && stderr.contains("2 audited"),
        "{stderr}"
    );
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(!html.contains("<script"), "no script");
    // A row a domain, in both orders, each expanding into its findings.
    assert_eq!(
        html.matches("<summary>example.com</summary>").count(),
        2,
        "{html}"
    );
    assert!(html.contains("dnsbl.listed"), "{html}");
    assert!(html.contains("id=\"by-verdict\""));
}

#[test]
fn markdown_is_not_a_batch_format() {
    let out = batch("markdown", &[]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[test]
fn blocklist_file_one_report_a_target() {
    let list = "192.0.2.11 192.0.2.10   # two on one line\n198.51.100.0/30\nexample.com\n999.1.1.1\n192.0.2.11\n";
    let mut args = vec!["blacklist", "--file", "-", "--format", "jsonl"];
    args.extend(OFFLINE);
    let out = mailaudit(&args, Some(list));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let docs: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let targets: Vec<&str> = docs
        .iter()
        .map(|d| d["target"]["subjects"][0].as_str().unwrap())
        .collect();
    assert_eq!(
        targets,
        ["192.0.2.11", "192.0.2.10", "198.51.100.0/30", "example.com"]
    );
    assert_eq!(docs[0]["summary"]["verdict"], "listed");
    assert_eq!(docs[1]["checks"]["dnsbl"]["counts"]["listed"], 0);
    assert!(
        stderr.contains("-:4: skipped:") && stderr.contains("999.1.1.1"),
        "{stderr}"
    );
    assert!(
        stderr.contains("-:5: skipped: 192.0.2.11 is already on line 1"),
        "{stderr}"
    );
}

//! The SMTP probe against real SMTP servers on loopback (tests/support/
//! smtp.rs), with certificates made at test time: one scenario per
//! finding, a clean server that triggers none, and a blocked port that is
//! `unknown` and ends within the timeout.

use std::time::{Duration, Instant};

use mailaudit::engine::{Engine, Request};
use mailaudit::facts::SmtpTarget;
use mailaudit::reach::Reach;
use mailaudit::report::json;
use mailaudit::rules::Rules;
use mailaudit::smtp::{ProbeOptions, roots};
use serde_json::Value;

use crate::common::{Fault, FaultServer, finding, ids};
use crate::smtp_support::{Ca, Config, Tls, start};

pub(crate) const MX: &str = "mx.smtp.test";

pub(crate) fn zones() -> Vec<String> {
    vec![
        "$ORIGIN smtp.test.\n$TTL 300\n@ IN SOA ns.smtp.test. h.smtp.test. 1 3600 600 86400 300\n@ IN NS ns.smtp.test.\nns IN A 127.0.0.53\n\
         @ IN MX 10 mx.smtp.test.\nmx IN A 127.0.0.1\n"
            .into(),
        "$ORIGIN 127.in-addr.arpa.\n$TTL 300\n@ IN SOA ns.smtp.test. h.smtp.test. 1 3600 600 86400 300\n@ IN NS ns.smtp.test.\n\
         1.0.0 IN PTR mx.smtp.test.\n"
            .into(),
    ]
}

/// How a scenario runs the probe.
pub struct Setup {
    pub server: Option<Config>,
    pub trust: bool,
    pub relay_test: bool,
    pub timeout: Duration,
    pub fault: Option<(&'static str, Fault)>,
    pub reach: Reach,
}

impl Setup {
    pub fn with(server: Config) -> Setup {
        Setup {
            server: Some(server),
            trust: true,
            relay_test: false,
            timeout: Duration::from_secs(3),
            fault: None,
            reach: Reach::Any,
        }
    }
}

/// The slow-banner threshold of the tests: far above what a loopback
/// server takes to greet on a busy machine, so only the planted delay
/// (beyond it) is ever slow; a delay is never shorter than planted.
const SLOW_BANNER: Duration = Duration::from_millis(1500);

thread_local! {
    static CA: Ca = Ca::new("mailaudit test CA");
}

pub fn ca_pem() -> String {
    CA.with(|ca| ca.pem())
}

/// The test CA's certificate, to trust.
pub fn ca_cert() -> rustls::pki_types::CertificateDer<'static> {
    CA.with(|ca| ca.cert.clone())
}

/// A certificate of the test CA for `names`, valid from `from` to `to`
/// days from now.
pub fn cert(names: &[&str], from: i64, to: i64) -> Tls {
    CA.with(|ca| ca.issue(names, from, to))
}

/// A trusted, valid certificate for the MX host.
pub fn good() -> Config {
    Config::with_tls(MX, cert(&[MX], -1, 90))
}

/// Runs the SMTP check of an audit of smtp.test against the setup.
pub async fn run(setup: Setup) -> Value {
    let server = match setup.server {
        Some(config) => Some(start(config).await),
        None => None,
    };
    // Nothing listens on a port just freed.
    let port = match &server {
        Some(s) => s.addr.port(),
        None => {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        }
    };
    let dns_server = FaultServer::from_texts(&zones()).await;
    if let Some((name, fault)) = setup.fault {
        dns_server.set_fault(name, fault);
    }
    let dns = crate::common::resolver_for(&dns_server);
    let ca = CA.with(|ca| ca.cert.clone());
    let extra = if setup.trust { vec![ca] } else { Vec::new() };
    let mut req = Request::audit("smtp.test");
    req.checks = Some(["smtp".to_string()].into());
    req.target.smtp = Some(SmtpTarget {
        options: ProbeOptions {
            port,
            timeout: setup.timeout,
            helo: "probe.mailaudit.test".into(),
            relay_test: setup.relay_test,
            slow_banner: SLOW_BANNER,
            roots: std::sync::Arc::new(roots(&extra).unwrap()),
            reach: setup.reach,
        },
        sending: false,
        hosts: Vec::new(),
    });
    let engine = Engine::new(dns, Rules::embedded());
    json::to_value(&engine.run(&req).await)
}

/// The scenario that triggers `id` (coverage.rs asks for each).
pub async fn scenario(id: &str) -> Value {
    let setup = match id {
        "smtp.unreachable" => Setup {
            server: None,
            ..Setup::with(good())
        },
        // A service (reaching public addresses only) and an MX host on
        // loopback: not probed, unknown.
        "smtp.not-probed" => Setup {
            reach: Reach::Public,
            ..Setup::with(good())
        },
        "smtp.conversation-failed" => Setup {
            timeout: Duration::from_millis(500),
            ..Setup::with(Config {
                silent: true,
                ..good()
            })
        },
        "smtp.banner-name" => Setup::with(Config {
            banner: "mail.elsewhere.example ESMTP".into(),
            ..good()
        }),
        "smtp.slow-banner" => Setup::with(Config {
            banner_delay: SLOW_BANNER + Duration::from_millis(300),
            ..good()
        }),
        "smtp.no-starttls" => Setup::with(Config::plain(MX)),
        "smtp.tls-old" => Setup::with(Config::with_tls(MX, Tls::OldOnly)),
        "smtp.tls-failed" => Setup::with(Config::with_tls(MX, Tls::Garbage)),
        "smtp.cert-untrusted" => Setup {
            trust: false,
            ..Setup::with(good())
        },
        "smtp.cert-name-mismatch" => {
            Setup::with(Config::with_tls(MX, cert(&["other.example.net"], -1, 90)))
        }
        "smtp.cert-expired" => Setup::with(Config::with_tls(MX, cert(&[MX], -100, -10))),
        "smtp.cert-expiring" => Setup::with(Config::with_tls(MX, cert(&[MX], -80, 5))),
        "smtp.open-relay" => Setup {
            relay_test: true,
            ..Setup::with(Config {
                open_relay: true,
                ..good()
            })
        },
        "smtp.dns-error" => Setup {
            fault: Some(("1.0.0.127.in-addr.arpa", Fault::ServFail)),
            ..Setup::with(good())
        },
        other => panic!("no SMTP scenario for {other}"),
    };
    run(setup).await
}

fn smtp_ids(doc: &Value) -> Vec<String> {
    ids(doc)
        .into_iter()
        .filter(|i| i.starts_with("smtp."))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_good_server_passes_and_says_what_it_saw() {
    let doc = run(Setup {
        relay_test: true,
        ..Setup::with(good())
    })
    .await;
    assert_eq!(
        smtp_ids(&doc),
        Vec::<String>::new(),
        "{:#}",
        doc["findings"]
    );
    let c = &doc["checks"]["smtp"];
    assert_eq!(c["status"], "pass", "{c:#}");
    let p = &c["probes"][0];
    assert_eq!(p["host"], MX);
    assert_eq!(p["starttls"], true);
    assert_eq!(p["open_relay"], false);
    assert_eq!(p["tls"]["version"], "TLSv1.3", "{p:#}");
    assert_eq!(p["tls"]["certificate"]["trusted"], true);
    assert!(
        p["extensions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e == "PIPELINING"),
        "{p:#}"
    );
    let passed = doc["passed"]["smtp"][0].as_str().unwrap();
    assert!(passed.contains("STARTTLS with TLSv1.3"), "{passed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_problem_is_its_finding_and_only_that() {
    for (id, also) in [
        ("smtp.no-starttls", &[][..]),
        ("smtp.tls-old", &[]),
        ("smtp.tls-failed", &[]),
        ("smtp.cert-untrusted", &[]),
        ("smtp.cert-name-mismatch", &[]),
        ("smtp.cert-expired", &[]),
        ("smtp.cert-expiring", &[]),
        ("smtp.open-relay", &[]),
        ("smtp.banner-name", &[]),
        ("smtp.slow-banner", &[]),
        ("smtp.conversation-failed", &[]),
        ("smtp.dns-error", &[]),
        ("smtp.not-probed", &[]),
    ] {
        let doc = scenario(id).await;
        let mut want: Vec<String> = std::iter::once(id)
            .chain(also.iter().copied())
            .map(String::from)
            .collect();
        want.sort();
        let mut got = smtp_ids(&doc);
        got.sort();
        assert_eq!(got, want, "{id}: {:#}", doc["findings"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_port_is_unknown_with_one_line_and_ends_within_the_timeout() {
    let started = Instant::now();
    let doc = scenario("smtp.unreachable").await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(smtp_ids(&doc), ["smtp.unreachable"]);
    assert_eq!(doc["checks"]["smtp"]["status"], "unknown");
    let f = finding(&doc, "smtp.unreachable");
    assert!(
        f["summary"]
            .as_str()
            .unwrap()
            .contains("may block outbound port"),
        "{f:#}"
    );
    // A blocked port says nothing about TLS: the provider's TLS
    // requirement is unknown, not "not met".
    let tls = doc["requirements"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rule"].as_str().unwrap().starts_with("TLS"))
        .unwrap();
    assert_eq!(tls["status"], "unknown", "{tls:#}");
}

#[test]
fn the_command_line_probe_with_a_ca_file() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt.block_on(start(good()));
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, ca_pem()).unwrap();
    let port = server.addr.port().to_string();
    let run = |extra: &[&str]| {
        let mut args = vec![
            "smtp",
            "127.0.0.1",
            "--smtp-port",
            &port,
            "--smtp-timeout",
            "3000",
            "--format",
            "json",
        ];
        args.extend(extra);
        std::process::Command::new(env!("CARGO_BIN_EXE_mailaudit"))
            .args(&args)
            .output()
            .unwrap()
    };
    let ca_arg = ca.display().to_string();
    let out = run(&["--ca-file", &ca_arg]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let p = &doc["checks"]["smtp"]["probes"][0];
    assert_eq!(p["tls"]["certificate"]["trusted"], true, "{p:#}");
    // Probed by address, the certificate's name is not held against it.
    assert!(
        !ids(&doc).iter().any(|i| i == "smtp.cert-name-mismatch"),
        "{:#}",
        doc["findings"]
    );
    // Without the CA file, the chain is untrusted.
    let out = run(&[]);
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        ids(&doc).iter().any(|i| i == "smtp.cert-untrusted"),
        "{:#}",
        doc["findings"]
    );
    // A CA file that is not PEM is a one-line input error.
    let bad = dir.path().join("bad.pem");
    std::fs::write(&bad, "not a certificate").unwrap();
    let out = run(&["--ca-file", &bad.display().to_string()]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(String::from_utf8_lossy(&out.stderr).lines().count(), 1);
    drop(server);
}

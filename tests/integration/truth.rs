//! The engine's one rule, tested over real DNS: nothing is `pass`,
//! `fail`, "missing" or "clear" on the strength of a lookup that did not
//! get a definitive answer. A broken or silent resolver is said once; a
//! domain that does not exist is said once; every check × fault ends
//! `unknown`; and random mixes of outcomes never make a check pass on a
//! lookup that failed.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::IpAddr;
use std::time::Duration;

use hickory_proto::rr::RecordType;
use mailaudit::engine::Request;
use serde_json::Value;

use crate::common::{Env, Fault, LISTS, WORLD, XorShift, finding, has, ids, result, status};
use crate::messages::{FOOTER, LU, loaded, request, run, shop_signed, unrelated_signed};

/// The world plus a domain under a real top-level domain.
const WITH_NET: &[&str] = &[
    "zones/test.zone",
    "zones/reverse.zone",
    "zones/reverse6.zone",
    "zones/realtld.net.zone",
];

fn checked(doc: &Value) -> Vec<(&str, &str)> {
    doc["checks"]
        .as_object()
        .expect("checks")
        .iter()
        .filter_map(|(id, c)| c["status"].as_str().map(|s| (id.as_str(), s)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mx_host_outside_the_zones_makes_ptr_unknown() {
    // Offline: only the test zones are loaded; the MX host is elsewhere.
    let env = Env::with(WORLD, |c| {
        c.scope = Some(vec!["test".into(), "2.0.192.in-addr.arpa".into()]);
    })
    .await;
    let doc = run(&env, request("mxout.test", &["ptr"])).await;
    assert_eq!(status(&doc, "ptr"), "unknown", "{:#}", doc["findings"]);
    assert_eq!(doc["summary"]["status"], "unknown");
    assert_eq!(doc["summary"]["unknown"], 1);
    let f = finding(&doc, "ptr.dns-error");
    assert_eq!(f["evidence"]["name"], "mx.elsewhere.example");
    assert_eq!(f["evidence"]["outcome"], "not_checked");
    // The address of the SPF record was still checked.
    assert_eq!(doc["checks"]["ptr"]["ips"][0]["ip"], "192.0.2.1");
    assert!(has(&doc, "dns.not-checked-offline"));
}

/// The CLI over a server whose every answer is NXDOMAIN.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_nxdomain_everything_resolver_is_said_once() {
    let env = Env::new(WITH_NET).await.lists(&["bl.test"]);
    env.server.set_fault("*", Fault::NxDomain);
    let doc = env.audit("realtld.net", &["192.0.2.1"], None).await;
    let found = ids(&doc);
    assert_eq!(found, ["dns.resolver-broken"], "{:#}", doc["findings"]);
    let f = finding(&doc, "dns.resolver-broken");
    // The first top-level domain it denied (the domain's, or the reverse
    // tree's, whichever was asked first).
    assert!(["net", "arpa"].contains(&f["evidence"]["tld"].as_str().unwrap()));
    for (id, s) in checked(&doc) {
        // Unknown, or not run for want of its input (no message, no
        // --smtp, no recipient list): never a verdict.
        let check = &doc["checks"][id];
        match s {
            "unknown" => {}
            "skipped" => {
                let why = check["reason"].as_str().unwrap_or("");
                assert!(
                    why.starts_with("no ") || why.starts_with("not asked"),
                    "{id}: {check:#}"
                );
            }
            other => panic!("{id} is {other}: {check:#}"),
        }
    }
    assert_eq!(doc["summary"]["status"], "unknown");
    assert!(!found.iter().any(|i| i.ends_with(".missing")));
    // Nothing it could not see is said to have passed.
    assert_eq!(doc["passed"], serde_json::json!({}), "{:#}", doc["passed"]);

    // The same from the command line: --fail-on error exits 1.
    let ns = env.server.addr().to_string();
    let asked = ns.clone();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_mailaudit"))
            .args([
                "audit",
                "realtld.net",
                "--nameserver",
                &ns,
                "--no-dnsbl",
                "--fail-on",
                "error",
                "--format",
                "json",
            ])
            .output()
            .expect("run")
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(ids(&doc), ["dns.resolver-broken"]);
    assert_eq!(doc["summary"]["status"], "unknown");
    // The resolver's error is not the domain's: nothing to fix in it is
    // known, and nothing was seen.
    assert_eq!(doc["summary"]["verdict"], "could-not-check");
    // The report names the resolver it could not believe.
    assert_eq!(doc["made"]["dns"], "live");
    assert_eq!(doc["made"]["resolvers"][0], asked.as_str());
    assert_eq!(doc["made"]["catalogue"], Value::Null, "--no-dnsbl");
    // Nothing on the checklist or the providers' requirements is met when
    // nothing could be seen.
    for row in doc["checklist"]
        .as_array()
        .unwrap()
        .iter()
        .chain(doc["requirements"].as_array().unwrap())
    {
        assert_ne!(row["status"], "met", "{row}");
    }
    assert!(doc["summary"]["score"].as_u64().unwrap() <= 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocklist_on_an_nxdomain_everything_resolver_is_not_clear() {
    // A list with a positive test entry, and two that publish only a
    // negative one (whose test an NXDOMAIN-everything resolver would pass).
    let env =
        Env::new(LISTS)
            .await
            .lists(&["zen.spamhaus.org", "rhsbl.zapbl.net", "uribl.swinog.ch"]);
    env.server.set_fault("*", Fault::NxDomain);
    let doc = env
        .blacklist(&["192.0.2.10", "192.0.2.1", "example.com"], false)
        .await;
    // One line for the resolver, not one "list unhealthy" per list.
    assert_eq!(ids(&doc), ["dns.resolver-broken"], "{:#}", doc["findings"]);
    assert_eq!(status(&doc, "dnsbl"), "unknown");
    assert_eq!(doc["checks"]["dnsbl"]["counts"]["clear"], 0);
    for zone in ["rhsbl.zapbl.net", "uribl.swinog.ch"] {
        assert_ne!(
            result(&doc, "example.com", zone)["status"],
            "clear",
            "{zone}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_resolver_is_said_once() {
    let env = Env::with(WORLD, |c| {
        c.timeout = Duration::from_millis(300);
        c.retries = 0;
    })
    .await;
    env.server.set_fault("*", Fault::Drop);
    let mut req = Request::audit("clean.test");
    req.target.ips = vec!["192.0.2.1".parse().unwrap()];
    req.checks = Some(["spf", "dmarc", "mx", "ptr"].map(String::from).into());
    let doc = env.run(&req).await;
    assert_eq!(
        ids(&doc),
        ["dns.resolver-unreachable"],
        "{:#}",
        doc["findings"]
    );
    for check in ["spf", "dmarc", "mx", "ptr"] {
        assert_eq!(status(&doc, check), "unknown", "{check}");
        assert!(
            doc["checks"][check]["reason"]
                .as_str()
                .unwrap()
                .contains("dns.resolver-unreachable")
        );
    }
    assert_eq!(doc["passed"], serde_json::json!({}), "{:#}", doc["passed"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_domain_that_does_not_exist_is_said_once() {
    let env = Env::new(WITH_NET).await;
    for domain in ["nx.test", "nx.realtld.net"] {
        let doc = env.audit(domain, &[], None).await;
        assert_eq!(ids(&doc), ["domain.nxdomain"], "{domain}");
        assert_eq!(doc["summary"]["status"], "fail");
        for check in ["spf", "dmarc", "mx", "dkim"] {
            assert_eq!(status(&doc, check), "skipped", "{check}");
            assert!(
                doc["checks"][check]["reason"]
                    .as_str()
                    .unwrap()
                    .contains("does not exist")
            );
        }
    }
    // Given sending IPs are still checked: their PTR has nothing to do with
    // the domain.
    let doc = env.audit("nx.test", &["192.0.2.1"], None).await;
    assert_eq!(status(&doc, "ptr"), "pass");
    assert_eq!(ids(&doc), ["domain.nxdomain"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dkim_temperror_asserts_nothing_about_what_it_signs() {
    for fault in [Fault::ServFail, Fault::Drop] {
        let env = Env::world().await;
        env.server.set_fault("s2048._domainkey.shop.test", fault);
        let mut req = request("shop.test", &["message"]);
        req.target.messages = vec![loaded("dnsfail", &shop_signed(LU, FOOTER))];
        let doc = run(&env, req).await;
        let m = &doc["checks"]["message"][0];
        assert_eq!(m["dkim"][0]["result"], "temperror", "{fault:?}");
        assert_eq!(m["status"], "unknown", "{fault:?}: {:#}", doc["findings"]);
        assert!(!has(&doc, "message.one-click-unsigned"), "{fault:?}");
        assert!(!has(&doc, "message.dmarc-fail"), "{fault:?}");
        assert!(has(&doc, "message.dns-error"), "{fault:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spf_evaluation_errors_decide_the_check() {
    let env = Env::world().await;
    // A macro-built include that leads nowhere: permerror for the IP.
    let doc = env.audit("permmacro.test", &["192.0.2.1"], None).await;
    assert_eq!(
        doc["checks"]["spf"]["evaluations"][0]["result"],
        "permerror"
    );
    assert_eq!(status(&doc, "spf"), "fail");
    assert_eq!(finding(&doc, "spf.permerror")["subject"], "192.0.2.1");
    // The same include timing out: temperror, and the check is unknown.
    env.server.set_fault("192.0.2.1.macroinc.test", Fault::Drop);
    let doc = env.fresh_audit("permmacro.test", &["192.0.2.1"]).await;
    assert_eq!(
        doc["checks"]["spf"]["evaluations"][0]["result"],
        "temperror"
    );
    assert_eq!(status(&doc, "spf"), "unknown", "{:#}", doc["findings"]);
    assert!(!has(&doc, "spf.permerror"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_answers_are_failed_lookups() {
    let env = Env::world().await;
    // A CNAME loop at the MX host: not "no address".
    let doc = env.audit("cnameloop.test", &["192.0.2.1"], None).await;
    assert_eq!(status(&doc, "mx"), "unknown", "{:#}", doc["findings"]);
    assert!(!has(&doc, "mx.no-address"));
    assert!(
        finding(&doc, "mx.dns-error")["summary"]
            .as_str()
            .unwrap()
            .contains("CNAME loop")
    );
    // A TXT answer for another name, and an A answer to a TXT question:
    // not "no SPF record".
    for fault in [Fault::WrongName, Fault::WrongType] {
        let env = Env::world().await;
        env.server
            .set_fault_for("clean.test", RecordType::TXT, fault);
        let doc = env.audit("clean.test", &["192.0.2.1"], None).await;
        assert_eq!(status(&doc, "spf"), "unknown", "{fault:?}");
        assert!(!has(&doc, "spf.missing"), "{fault:?}");
        assert!(
            finding(&doc, "spf.dns-error")["summary"]
                .as_str()
                .unwrap()
                .contains("malformed"),
            "{fault:?}"
        );
    }
}

/// One case of the check × fault matrix: the name and type the fault hits,
/// and the request that needs it.
struct Case {
    check: &'static str,
    name: &'static str,
    rtype: RecordType,
    req: fn() -> Request,
    lists: &'static [&'static str],
}

fn audit_of(domain: &str, checks: &[&str]) -> Request {
    let mut req = request(domain, checks);
    req.target.ips = vec!["192.0.2.1".parse().unwrap()];
    req.target.helo = Some("mx.clean.test".into());
    req
}

const CASES: &[Case] = &[
    Case {
        check: "spf",
        name: "clean.test",
        rtype: RecordType::TXT,
        req: || audit_of("clean.test", &["spf"]),
        lists: &[],
    },
    Case {
        check: "dmarc",
        name: "_dmarc.clean.test",
        rtype: RecordType::TXT,
        req: || audit_of("clean.test", &["dmarc"]),
        lists: &[],
    },
    Case {
        check: "mx",
        name: "mx.clean.test",
        rtype: RecordType::AAAA,
        req: || audit_of("clean.test", &["mx"]),
        lists: &[],
    },
    Case {
        check: "ptr",
        name: "1.2.0.192.in-addr.arpa",
        rtype: RecordType::PTR,
        req: || audit_of("clean.test", &["ptr"]),
        lists: &[],
    },
    Case {
        check: "dkim",
        name: "default._domainkey.clean.test",
        rtype: RecordType::TXT,
        req: || audit_of("clean.test", &["dkim"]),
        lists: &[],
    },
    Case {
        check: "dnssec",
        name: "clean.test",
        rtype: RecordType::SOA,
        req: || audit_of("clean.test", &["dnssec"]),
        lists: &[],
    },
    Case {
        check: "dane",
        name: "_25._tcp.mx.clean.test",
        rtype: RecordType::TLSA,
        req: || audit_of("clean.test", &["dane"]),
        lists: &[],
    },
    Case {
        check: "mta-sts",
        name: "_mta-sts.clean.test",
        rtype: RecordType::TXT,
        req: || audit_of("clean.test", &["mta-sts"]),
        lists: &[],
    },
    Case {
        check: "tls-rpt",
        name: "_smtp._tls.clean.test",
        rtype: RecordType::TXT,
        req: || audit_of("clean.test", &["tls-rpt"]),
        lists: &[],
    },
    Case {
        check: "bimi",
        name: "default._bimi.clean.test",
        rtype: RecordType::TXT,
        req: || audit_of("clean.test", &["bimi"]),
        lists: &[],
    },
    Case {
        check: "message",
        name: "s2048._domainkey.shop.test",
        rtype: RecordType::TXT,
        req: || {
            let mut req = audit_of("shop.test", &["message"]);
            req.target.messages = vec![loaded("matrix", &shop_signed(LU, FOOTER))];
            req
        },
        lists: &[],
    },
    // The message's SPF: DKIM does not align (an unrelated signer), so
    // DMARC rests on SPF, whose record does not answer: unknown, not fail.
    Case {
        check: "message",
        name: "shop.test",
        rtype: RecordType::TXT,
        req: || {
            let mut req = audit_of("shop.test", &["message"]);
            req.target.mail_from = Some("bounces@shop.test".into());
            req.target.messages = vec![loaded("matrix-spf", &unrelated_signed())];
            req
        },
        lists: &[],
    },
    Case {
        check: "dnsbl",
        name: "1.2.0.192.bl.test",
        rtype: RecordType::A,
        req: || audit_of("clean.test", &["dnsbl"]),
        lists: &["bl.test"],
    },
];

const MATRIX_FAULTS: &[Fault] = &[
    Fault::Drop,
    Fault::ServFail,
    Fault::Refused,
    Fault::WrongName,
    Fault::WrongType,
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_check_is_unknown_under_every_fault() {
    let runs = CASES.iter().flat_map(|case| {
        MATRIX_FAULTS.iter().map(move |fault| async move {
            let env = Env::with(LISTS, |c| c.retries = 0).await.lists(case.lists);
            env.server.set_fault_for(case.name, case.rtype, *fault);
            let doc = env.run(&(case.req)()).await;
            (case, fault, doc)
        })
    });
    for (case, fault, doc) in futures::future::join_all(runs).await {
        let what = format!(
            "{} with {fault:?} on {} {}",
            case.check, case.name, case.rtype
        );
        let st = if case.check == "message" {
            doc["checks"]["message"][0]["status"].as_str().unwrap()
        } else {
            status(&doc, case.check)
        };
        assert_eq!(st, "unknown", "{what}: {:#}", doc["findings"]);
        let errors: Vec<&Value> = doc["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["severity"] == "error")
            .collect();
        assert!(errors.is_empty(), "{what}: {errors:#?}");
        assert_eq!(doc["summary"]["status"], "unknown", "{what}");
    }
}

const OUTCOMES: &[Option<Fault>] = &[
    None,
    None,
    None,
    Some(Fault::NxDomain),
    Some(Fault::NoData),
    Some(Fault::Drop),
    Some(Fault::ServFail),
    Some(Fault::Refused),
];

fn failing(f: Option<Fault>) -> bool {
    matches!(f, Some(Fault::Drop | Fault::ServFail | Fault::Refused))
}

/// The (name, type) questions each check of a request adds, on a clean
/// server, to those every run asks (whether the domain exists).
async fn needed(req: &Request) -> HashMap<String, HashSet<(String, RecordType)>> {
    let asked = |checks: BTreeSet<String>| {
        let mut one = req.clone();
        one.checks = Some(checks);
        async move {
            let env = Env::new(WORLD).await;
            env.run(&one).await;
            env.server.asked()
        }
    };
    let baseline = asked(BTreeSet::new()).await;
    let mut out = HashMap::new();
    for check in req.selection() {
        let own = asked(BTreeSet::from([check.id().to_string()])).await;
        out.insert(
            check.id().to_string(),
            own.difference(&baseline).cloned().collect(),
        );
    }
    out
}

/// Property: over random mixes of answers, NXDOMAIN, NODATA, timeouts,
/// SERVFAIL and REFUSED on every question an audit asks, a check is `pass`
/// only when every question it needs got a definitive answer, and the
/// summary is `pass` only when no check is `unknown`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_check_passes_on_a_failed_lookup() {
    let mut req = Request::audit("clean.test");
    req.target.ips = vec![
        "192.0.2.1".parse::<IpAddr>().unwrap(),
        "2001:db8::1".parse().unwrap(),
    ];
    req.target.helo = Some("mx.clean.test".into());
    req.checks = Some(
        ["spf", "dmarc", "mx", "ptr", "dkim"]
            .map(String::from)
            .into(),
    );
    let needs = needed(&req).await;
    let mut all: Vec<(String, RecordType)> = needs
        .values()
        .flatten()
        .cloned()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    all.sort();
    let mut rng = XorShift(0x7e57_ab1e_5eed_f00d);
    let mut saw_pass = 0;
    let mut saw_unknown = 0;
    for round in 0..24 {
        let env = Env::with(WORLD, |c| {
            c.timeout = Duration::from_millis(400);
            c.retries = 0;
        })
        .await;
        let mut chosen: HashMap<(String, RecordType), Option<Fault>> = HashMap::new();
        for q in &all {
            // Most questions answer; a few of each kind fail.
            let f = if rng.next().is_multiple_of(4) {
                OUTCOMES[(rng.next() % OUTCOMES.len() as u64) as usize]
            } else {
                None
            };
            if let Some(f) = f {
                env.server.set_fault_for(&q.0, q.1, f);
            }
            chosen.insert(q.clone(), f);
        }
        let doc = env.run(&req).await;
        let asked = env.server.asked();
        for (check, need) in &needs {
            let st = status(&doc, check);
            let failed: Vec<&(String, RecordType)> = need
                .iter()
                .filter(|q| asked.contains(*q) && failing(chosen[*q]))
                .collect();
            if !failed.is_empty() {
                assert_ne!(
                    st, "pass",
                    "round {round}: {check} passed though {failed:?} failed: {:#}",
                    doc["findings"]
                );
                // Failures never turn into "missing".
                assert!(
                    !ids(&doc)
                        .iter()
                        .any(|i| i.starts_with(check.as_str()) && i.ends_with(".missing"))
                        || st != "unknown",
                    "round {round}: {check}"
                );
            }
            saw_pass += (st == "pass") as u32;
            saw_unknown += (st == "unknown") as u32;
        }
        if doc["summary"]["status"] == "pass" {
            assert_eq!(doc["summary"]["unknown"], 0, "round {round}");
        }
        if doc["summary"]["unknown"].as_u64().unwrap() > 0 {
            assert_ne!(doc["summary"]["status"], "pass", "round {round}");
            // Never "ready" without having looked, never a full score.
            assert_ne!(doc["summary"]["verdict"], "ready-to-send", "round {round}");
            assert!(
                doc["summary"]["score"].as_u64().unwrap() <= 8,
                "round {round}"
            );
        }
    }
    // The mixes were mixed: some checks passed, some were unknown.
    assert!(saw_pass > 0 && saw_unknown > 0, "{saw_pass} {saw_unknown}");
}

/// Property: a blocklist result is `clear` only for an NXDOMAIN (or
/// NODATA) answer from a list whose health test passed in the same run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clear_only_from_a_healthy_list() {
    let targets = ["192.0.2.1", "192.0.2.10", "192.0.2.11", "192.0.2.99"];
    let zones = ["bl.test", "zen.spamhaus.org"];
    let mut names: Vec<String> = Vec::new();
    for z in zones {
        names.push(format!("2.0.0.127.{z}"));
        names.push(format!("1.0.0.127.{z}"));
        for t in targets {
            let ip: IpAddr = t.parse().unwrap();
            names.push(format!("{}.{z}", mailaudit::dns::name::reversed_labels(ip)));
        }
    }
    let mut rng = XorShift(0xb10c_b10c_0dd5_0dd5);
    for round in 0..12 {
        let env = Env::with(LISTS, |c| {
            c.timeout = Duration::from_millis(400);
            c.retries = 0;
        })
        .await
        .lists(&zones);
        let mut chosen: HashMap<String, Option<Fault>> = HashMap::new();
        for n in &names {
            let f = if rng.next().is_multiple_of(3) {
                OUTCOMES[(rng.next() % OUTCOMES.len() as u64) as usize]
            } else {
                None
            };
            if let Some(f) = f {
                env.server.set_fault_for(n, RecordType::A, f);
            }
            chosen.insert(n.clone(), f);
        }
        let doc = env.blacklist(&targets, false).await;
        for z in zones {
            let healthy = !failing(chosen[&format!("2.0.0.127.{z}")])
                && !matches!(
                    chosen[&format!("2.0.0.127.{z}")],
                    Some(Fault::NxDomain | Fault::NoData)
                )
                && !failing(chosen[&format!("1.0.0.127.{z}")]);
            for t in targets {
                let ip: IpAddr = t.parse().unwrap();
                let q = format!("{}.{z}", mailaudit::dns::name::reversed_labels(ip));
                let r = result(&doc, t, z);
                if r["status"] == "clear" {
                    assert!(healthy, "round {round}: {t} clear on unhealthy {z}");
                    assert!(
                        !failing(chosen[&q]),
                        "round {round}: {t} clear on {z} though its question failed"
                    );
                }
                if failing(chosen[&q]) {
                    assert_ne!(r["status"], "clear", "round {round}: {t} on {z}");
                    assert_ne!(r["status"], "listed", "round {round}: {t} on {z}");
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_characters_never_reach_the_terminal() {
    // Regression: SPF records and blocklist TXT reasons reached the text
    // report raw: ESC [2J cleared the reader's screen, OSC 8 planted
    // links, NUL and BEL passed through.
    let zone = "$ORIGIN ansi.test.\n$TTL 300\n@ IN SOA ns.ansi.test. h.ansi.test. 1 3600 600 86400 300\n\
        @ IN MX 10 mx.ansi.test.\nmx IN A 192.0.2.15\n\
        @ IN TXT \"v=spf1 \u{1b}[2J\u{7} \u{1b}]8;;https://evil.example\u{7}x \u{202e} ip4:192.0.2.1 -all\"\n\
        15.2.0.192.bl IN A 127.0.0.2\n\
        15.2.0.192.bl IN TXT \"\u{1b}[2J\u{1b}[1;1HListed <script>alert(1)</script> \u{9b}31m\"\n\
        2.0.0.127.bl IN A 127.0.0.2\n";
    let server = crate::common::FaultServer::from_texts(&[zone.to_string()]).await;
    let dns = mailaudit::dns::Dns::new(mailaudit::dns::DnsConfig {
        nameservers: vec![server.addr()],
        timeout: crate::common::TIMEOUT,
        retries: 1,
        concurrency: 32,
        scope: None,
        trust_anchor: None,
    })
    .unwrap();
    let mut config = mailaudit::blocklist::BlocklistConfig::new(
        mailaudit::blocklist::catalog::Catalog::embedded(),
    );
    config.explicit = vec!["bl.ansi.test".into()];
    let engine = mailaudit::engine::Engine::new(dns, mailaudit::rules::Rules::embedded())
        .with_blocklist(mailaudit::blocklist::BlocklistEngine::new(config));
    let mut req = Request::audit("ansi.test");
    req.target.ips = vec!["192.0.2.15".parse().unwrap()];
    let report = engine.run(&req).await;
    let text = mailaudit::report::text::render(&report);
    assert!(text.contains("Listed"), "the listing is shown: {text}");
    for bad in ['\u{1b}', '\u{7}', '\u{202e}', '\u{9b}'] {
        assert!(!text.contains(bad), "{bad:?} in:\n{text}");
    }
    assert!(text.contains("\\x1b[2J"), "{text}");
    assert!(text.contains("\\u{202e}"), "{text}");
    // With colours on (a terminal), the only escape sequences are our own
    // SGR colours; what came from outside is still escaped.
    let opts = mailaudit::report::TextOptions {
        colour: true,
        brief: false,
    };
    let coloured = mailaudit::report::text::render_with(&report, &opts);
    assert!(
        coloured.contains("\u{1b}[31mERROR  \u{1b}[0m"),
        "{coloured}"
    );
    for (i, _) in coloured.match_indices('\u{1b}') {
        let rest = &coloured[i + 1..];
        let sgr = rest.strip_prefix('[').and_then(|r| r.split_once('m'));
        assert!(
            sgr.is_some_and(|(codes, _)| codes.chars().all(|c| c.is_ascii_digit() || c == ';')),
            "not a colour: {:?}",
            &rest[..rest.len().min(12)]
        );
    }
    assert!(coloured.contains("\\x1b[2J"), "{coloured}");
    // Markdown (pasted into tickets, often rendered with HTML): neither
    // control characters nor markup get through.
    let md = mailaudit::report::markdown::render(&report);
    assert!(md.contains("Listed"), "{md}");
    for bad in ['\u{1b}', '\u{7}', '\u{202e}', '\u{9b}'] {
        assert!(!md.contains(bad), "{bad:?} in:\n{md}");
    }
    assert!(md.contains("\\<script\\>"), "{md}");
    // Outside code blocks (literal by definition: the removal request),
    // markup is escaped.
    let mut in_code = false;
    for line in md.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
        } else if !in_code {
            assert_eq!(
                line.matches("<script").count(),
                line.matches("\\<script").count(),
                "{line}"
            );
        }
    }
    let html = mailaudit::report::html::render(&report);
    assert!(!html.contains("<script") && html.contains("&lt;script&gt;"));
    // The JSON keeps the data as it is (serde escapes it).
    let json = mailaudit::report::json::render(&report);
    assert!(json.contains("\\u001b[2J"), "{json}");
}

/// Issue 18.2: offline with a zone for the root loaded (the README's
/// signed-root workflow), the embedded server answers from the user's own
/// zones: an NXDOMAIN from inside them is the truth, not a lying
/// resolver. A name that does not exist is `domain.nxdomain`, an SPF
/// include of one is a permanent error, and DMARC is judged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offline_root_zone_is_the_authority_for_its_nxdomains() {
    let root = "$ORIGIN .\n$TTL 300\n@ IN SOA ns.root. h.root. 1 3600 600 86400 300\n@ IN NS ns.root.\nns.root. IN A 192.0.2.53\n".to_string();
    let net = "$ORIGIN realtld.net.\n$TTL 300\n@ IN SOA ns h 1 3600 600 86400 300\n@ IN NS ns\nns IN A 192.0.2.53\n@ IN MX 10 mx\nmx IN A 192.0.2.1\n@ IN TXT \"v=spf1 ip4:192.0.2.1 include:gone.example.org -all\"\n_dmarc IN TXT \"v=DMARC1; p=reject; rua=mailto:d@realtld.net\"\n".to_string();
    let server = crate::common::FaultServer::from_texts(&[root, net]).await;
    let dns = mailaudit::dns::Dns::new(mailaudit::dns::DnsConfig {
        nameservers: vec![server.addr()],
        timeout: crate::common::TIMEOUT,
        retries: 1,
        concurrency: 16,
        scope: Some(server.server.origins().to_vec()),
        trust_anchor: None,
    })
    .unwrap();
    let engine = mailaudit::engine::Engine::new(dns, mailaudit::rules::Rules::embedded());
    let audit = |domain: &str| {
        let mut req = Request::audit(domain);
        req.checks = Some(
            ["spf", "dmarc", "mx"]
                .iter()
                .map(|c| c.to_string())
                .collect(),
        );
        req.target.ips = vec!["192.0.2.1".parse().unwrap()];
        req
    };
    let doc = mailaudit::report::json::to_value(&engine.run(&audit("realtld.net")).await);
    assert!(!has(&doc, "dns.resolver-broken"), "{:#}", doc["findings"]);
    assert_eq!(status(&doc, "dmarc"), "pass", "{:#}", doc["findings"]);
    assert_eq!(status(&doc, "spf"), "fail", "{:#}", doc["findings"]);
    assert!(
        !ids(&doc).iter().any(|i| i.ends_with("dns-error")),
        "{:?}",
        ids(&doc)
    );
    let doc = mailaudit::report::json::to_value(&engine.run(&audit("nx.realtld.net")).await);
    assert_eq!(ids(&doc), ["domain.nxdomain"], "{:#}", doc["findings"]);
}

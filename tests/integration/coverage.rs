//! Every finding ID has a scenario that triggers it, run here and asserted;
//! the clean fixtures show every ID absent. A new ID without a scenario
//! fails `every_finding_is_triggered` (the match below has no arm for it).

use hickory_proto::rr::RecordType;
use mailaudit::blocklist::catalog::Catalog;
use mailaudit::blocklist::{BlocklistConfig, BlocklistEngine};
use mailaudit::dns::{Dns, DnsConfig};
use mailaudit::engine::Request;
use mailaudit::findings::all;
use serde_json::Value;

use crate::common::{Env, Fault, LISTS, WORLD, finding, ids};
use crate::domain::TRIGGERS;
use crate::messages::{
    FOOTER, LU, SIGNED_HEADERS, bulk, ed25519, keys, loaded, request, rsa, run, scan, scan_one,
    shop_signed, shop_signed_with_length, sign, unrelated_signed, unsigned_post,
};

/// An audit of `domain` with one sending IP and a fault on one question.
async fn audit_with_fault(domain: &str, name: &str, rtype: RecordType, fault: Fault) -> Value {
    let env = Env::world().await;
    env.server.set_fault_for(name, rtype, fault);
    env.audit(domain, &["192.0.2.1"], Some("mx.clean.test"))
        .await
}

/// Runs the scenario that triggers `id` and returns the IDs it produced.
async fn trigger(id: &str) -> Vec<String> {
    if let Some((domain, ips, helo, _)) = TRIGGERS.iter().find(|t| t.3 == id) {
        return ids(&Env::world().await.audit(domain, ips, *helo).await);
    }
    let doc = match id {
        "dns.resolver-broken" => {
            let env = Env::new(&["zones/test.zone", "zones/realtld.net.zone"]).await;
            env.server.set_fault("*", Fault::NxDomain);
            env.audit("realtld.net", &[], None).await
        }
        "dns.resolver-unreachable" => {
            let env = Env::with(WORLD, |c| {
                c.timeout = std::time::Duration::from_millis(300);
                c.retries = 0;
            })
            .await;
            env.server.set_fault("*", Fault::Drop);
            env.run(&request("clean.test", &["spf"])).await
        }
        "dns.not-checked-offline" => {
            let env = Env::with(WORLD, |c| c.scope = Some(vec!["test".into()])).await;
            env.audit("offline.test", &["192.0.2.1"], None).await
        }
        "domain.nxdomain" => Env::world().await.audit("nx.test", &[], None).await,
        "run.cap-reached" => {
            // A message with 12 DKIM signatures: 10 are verified.
            let mut msg = bulk(LU, FOOTER);
            for _ in 0..12 {
                msg = sign(rsa("rsa2048"), "shop.test", "s2048", SIGNED_HEADERS, &msg);
            }
            let doc = scan_one(&Env::world().await, "many-signatures", &msg).await;
            let m = &doc["checks"]["message"][0];
            assert_eq!(m["dkim"].as_array().unwrap().len(), 10, "{m:#}");
            assert_eq!(m["status"], "unknown");
            doc
        }
        "run.deadline-reached" => {
            // A name server that never answers, and a deadline well inside
            // the resolver's own timeout.
            let env = Env::with(WORLD, |c| c.timeout = std::time::Duration::from_secs(30)).await;
            env.server.set_fault("*.clean.test", Fault::Drop);
            let mut req = request("clean.test", &["dmarc"]);
            req.deadline = Some(std::time::Instant::now() + std::time::Duration::from_millis(300));
            let doc = env.run(&req).await;
            assert_eq!(doc["checks"]["dmarc"]["status"], "unknown");
            doc
        }
        "spf.helo-not-fqdn" => {
            let env = Env::world().await;
            let mut req = request("clean.test", &["spf"]);
            req.target.helo = Some("OEMCOMPUTER".into());
            let a = env.run(&req).await;
            req.target.helo = Some("nowhere.clean.test".into());
            let b = env.run(&req).await;
            // Both forms: not a FQDN, and a FQDN that does not resolve.
            assert_eq!(ids(&a), ids(&b), "{:#} {:#}", a["findings"], b["findings"]);
            a
        }
        "spf.permerror" => {
            Env::world()
                .await
                .audit("permmacro.test", &["192.0.2.1"], None)
                .await
        }
        "dmarc.dns-error" => {
            audit_with_fault(
                "clean.test",
                "_dmarc.clean.test",
                RecordType::TXT,
                Fault::ServFail,
            )
            .await
        }
        id if id.starts_with("smtp.") => crate::smtp::scenario(id).await,
        id if id.starts_with("arc.") => crate::arc::scenario(id).await,
        id if id.starts_with("smtp-in.")
            || id.starts_with("received.")
            || id.starts_with("spam-filter.") =>
        {
            crate::test_addresses::scenario(id).await
        }
        id if id.starts_with("mta-sts.") => crate::mta_sts::scenario(id).await,
        id if id.starts_with("bimi.") => crate::bimi::scenario(id).await,
        id if id.starts_with("recipients.") => crate::recipients::scenario(id).await,
        id if id.starts_with("dnssec.") || id.starts_with("dane.") => {
            crate::dnssec::scenario(id).await
        }
        "tls-rpt.missing" => {
            let env = Env::world().await;
            let plain = env.run(&request("pnone.test", &["tls-rpt"])).await;
            assert_eq!(finding(&plain, "tls-rpt.missing")["severity"], "info");
            let sts = env.run(&request("tlssts.test", &["tls-rpt"])).await;
            assert_eq!(finding(&sts, "tls-rpt.missing")["severity"], "warning");
            let dane = env.run(&request("tlsdane.test", &["tls-rpt"])).await;
            assert_eq!(finding(&dane, "tls-rpt.missing")["severity"], "warning");
            assert_eq!(finding(&dane, "tls-rpt.missing")["evidence"]["dane"], true);
            sts
        }
        "tls-rpt.invalid" => {
            Env::world()
                .await
                .run(&request("tlsbad.test", &["tls-rpt"]))
                .await
        }
        "tls-rpt.multiple-records" => {
            Env::world()
                .await
                .run(&request("tlsmulti.test", &["tls-rpt"]))
                .await
        }
        "tls-rpt.dns-error" => {
            audit_with_fault(
                "clean.test",
                "_smtp._tls.clean.test",
                RecordType::TXT,
                Fault::ServFail,
            )
            .await
        }
        "mx.dns-error" => {
            audit_with_fault("clean.test", "clean.test", RecordType::MX, Fault::Refused).await
        }
        "ptr.dns-error" => {
            audit_with_fault(
                "clean.test",
                "1.2.0.192.in-addr.arpa",
                RecordType::PTR,
                Fault::Refused,
            )
            .await
        }
        "dnsbl.listed" | "dnsbl.unknown" => {
            let env = Env::new(LISTS).await.lists(&["zen.spamhaus.org"]);
            env.blacklist(&["192.0.2.10", "192.0.2.99"], false).await
        }
        "dnsbl.list-unhealthy" => {
            let env = Env::new(LISTS).await.lists(&["wild.test"]);
            env.blacklist(&["192.0.2.1"], false).await
        }
        "dnsbl.dead-list" => {
            let env = Env::new(LISTS).await.lists(&["dnsbl.sorbs.net", "bl.test"]);
            env.blacklist(&["192.0.2.1"], false).await
        }
        "dnsbl.dns-error" => {
            let env = Env::new(LISTS).await.lists(&["bl.test"]);
            env.server
                .set_fault_for("mx.clean.test", RecordType::AAAA, Fault::ServFail);
            env.audit("clean.test", &["192.0.2.1"], None).await
        }
        "dnsbl.public-resolver" => {
            // Flagged from the configuration alone: no question is sent.
            let dns = Dns::new(DnsConfig {
                nameservers: vec!["8.8.8.8:53".parse().unwrap()],
                ..Default::default()
            })
            .unwrap();
            let lists = BlocklistEngine::new(BlocklistConfig::new(Catalog::embedded()));
            return lists
                .resolver_findings(&dns)
                .iter()
                .map(|f| f.id.to_string())
                .collect();
        }
        "dkim.key-weak" | "dkim.key-too-short" | "dkim.key-revoked" | "dkim.testing"
        | "dkim.sha1" | "dkim.syntax" | "dkim.key-missing" => {
            let env = Env::world().await;
            keys(
                &env,
                "keys.test",
                &[
                    "s1024", "s512", "revoked", "testing", "sha1", "broken", "nope", "good",
                ],
            )
            .await
        }
        "dkim.no-key-found" => keys(&Env::world().await, "nokey.test", &[]).await,
        "dkim.dns-error" => {
            let env = Env::world().await;
            env.server
                .set_fault("good._domainkey.keys.test", Fault::Drop);
            keys(&env, "keys.test", &["good"]).await
        }
        "message.bulk-without-unsubscribe" => {
            let extra = "Precedence: bulk\r\nList-Id: <news.shop.test>\r\n";
            scan_one(&Env::world().await, "massmail", &bulk(extra, FOOTER)).await
        }
        "message.unparseable" => {
            scan_one(&Env::world().await, "png", "\u{89}PNG\r\n\u{1a}\n").await
        }
        "message.dkim-missing"
        | "message.list-unsubscribe-missing"
        | "message.unsubscribe-link-missing" => {
            scan_one(
                &Env::world().await,
                "plain",
                &bulk("", "<p>Nothing here.</p>"),
            )
            .await
        }
        "message.from-invalid"
        | "message.date-missing"
        | "message.message-id-missing"
        | "message.duplicate-header"
        | "message.list-unsubscribe-invalid" => {
            let broken = "From: a@shop.test, b@shop.test\r\nSubject: one\r\nSubject: two\r\nList-Unsubscribe: https://shop.test/u\r\n\r\nHello\r\n";
            scan_one(&Env::world().await, "broken", broken).await
        }
        "message.dkim-body-length" => {
            scan_one(&Env::world().await, "length", &shop_signed_with_length()).await
        }
        "message.dkim-invalid" => {
            let tampered = shop_signed(LU, FOOTER)
                .replace("Our autumn offers are here", "Our winter offers are here");
            scan_one(&Env::world().await, "tampered", &tampered).await
        }
        "message.dmarc-fail" => {
            let mut req = request("shop.test", &["message"]);
            req.target.messages = vec![loaded("unrelated", &unrelated_signed())];
            run(&Env::world().await, req).await
        }
        "message.one-click-missing" => {
            let lu = "List-Unsubscribe: <https://shop.test/u/abc123>\r\n";
            scan_one(&Env::world().await, "nopost", &shop_signed(lu, FOOTER)).await
        }
        "message.one-click-no-https" => {
            let lu = "List-Unsubscribe: <mailto:unsubscribe@shop.test?subject=abc123>\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n";
            scan_one(&Env::world().await, "mailto", &shop_signed(lu, FOOTER)).await
        }
        "message.one-click-unsigned" => {
            scan_one(&Env::world().await, "unsigned-post", &unsigned_post()).await
        }
        "message.dns-error" => {
            let env = Env::world().await;
            env.server
                .set_fault("s2048._domainkey.shop.test", Fault::ServFail);
            scan_one(&env, "dnsfail", &shop_signed(LU, FOOTER)).await
        }
        other => panic!("no scenario triggers {other}: add one to coverage.rs"),
    };
    ids(&doc)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_finding_is_triggered() {
    for id in all() {
        let found = trigger(id).await;
        if *id == "spam-filter.flagged" && found.is_empty() {
            // rspamd is not installed here (the scenario said so); CI
            // installs it and requires it (MAILAUDIT_RSPAMD_TESTS).
            continue;
        }
        assert!(
            found.iter().any(|f| f == id),
            "the scenario for {id} produced {found:?}"
        );
    }
}

/// The clean fixtures, together: a clean domain with its sending IPs, a
/// good signed bulk message and a healthy list that does not list them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_clean_fixtures_trigger_nothing() {
    let env = Env::new(LISTS).await.lists(&["bl.test"]);
    let msg = bulk(LU, FOOTER);
    let msg = sign(rsa("rsa2048"), "shop.test", "s2048", SIGNED_HEADERS, &msg);
    let msg = sign(ed25519(), "shop.test", "ed", SIGNED_HEADERS, &msg);
    let mut req = Request::audit("clean.test");
    req.target.ips = vec!["192.0.2.1".parse().unwrap(), "2001:db8::1".parse().unwrap()];
    req.target.helo = Some("mx.clean.test".into());
    req.target.mail_from = Some("bounces@shop.test".into());
    req.target.messages = vec![loaded("good", &msg)];
    // Its MTA-STS policy and BIMI logo, served over HTTPS on loopback.
    let policy = crate::https_support::start_routes(
        crate::smtp::cert(&["mta-sts.clean.test", "logo.clean.test"], -1, 90),
        vec![
            (
                "/.well-known/mta-sts.txt",
                crate::https_support::Answer {
                    status: 200,
                    content_type: "text/plain",
                    body: "version: STSv1\nmode: enforce\nmx: mx.clean.test\nmax_age: 604800\n"
                        .into(),
                },
            ),
            (
                "/logo.svg",
                crate::https_support::Answer {
                    status: 200,
                    content_type: "image/svg+xml",
                    body: r#"<svg xmlns="http://www.w3.org/2000/svg" version="1.2" baseProfile="tiny-ps"><title>Clean</title></svg>"#.into(),
                },
            ),
        ],
    )
    .await;
    req.target.web = Some(mailaudit::web::WebOptions {
        connect_to: None,
        port: policy.addr.port(),
        timeout: std::time::Duration::from_secs(3),
        roots: std::sync::Arc::new(mailaudit::smtp::roots(&[crate::smtp::ca_cert()]).unwrap()),
        reach: mailaudit::reach::Reach::Any,
    });
    let doc = env.run(&req).await;
    assert_eq!(ids(&doc), Vec::<String>::new(), "{:#}", doc["findings"]);
    assert_eq!(doc["checks"]["mta-sts"]["mode"], "enforce");
    assert_eq!(doc["summary"]["status"], "pass");
    assert_eq!(doc["summary"]["verdict"], "ready-to-send");
    assert_eq!(doc["summary"]["score"], 10);
    // Every provider requirement mailaudit can see is met; the others say
    // they were not checked, and why.
    for r in doc["requirements"].as_array().unwrap() {
        let expected = if r["detail"].as_str().unwrap().is_empty() {
            "met"
        } else {
            "not-checked"
        };
        assert_eq!(r["status"], expected, "{r}");
    }
    let rows: Vec<(&str, &str)> = doc["checklist"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["topic"].as_str().unwrap(), r["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        rows,
        [
            ("unsubscribe", "met"),
            ("consent", "your-call"),
            ("dns-records", "met"),
            ("blocklists", "met")
        ]
    );
    for (id, check) in doc["checks"].as_object().unwrap() {
        // Each entry passes, or was not run for want of its input (not
        // asked: --smtp, a recipient list; nothing to validate: no ARC
        // chain); their scenarios are in their own test files.
        let entries = match check.as_array() {
            Some(items) => items.clone(),
            None => vec![check.clone()],
        };
        for c in entries {
            match c["status"].as_str().unwrap() {
                "pass" => {}
                "skipped" => {
                    let why = c["reason"].as_str().unwrap_or("");
                    assert!(
                        why.starts_with("no ") || why.starts_with("not asked"),
                        "{id}: {c:#}"
                    );
                }
                other => panic!("{id} is {other}: {c:#}"),
            }
        }
    }
    // The message check alone, for a domain with one-click and the body link.
    let doc = scan(&env, "shop.test", vec![loaded("good", &msg)], &["message"]).await;
    assert_eq!(ids(&doc), Vec::<String>::new());
}

fn keys_of(v: &Value) -> Vec<&str> {
    v.as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .map(String::as_str)
        .collect()
}

/// One test pins every check's JSON shape (schema v1, docs/json.md): the
/// keys and their order, for a run where every check ran.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_check_has_its_documented_shape() {
    let env = Env::new(LISTS).await.lists(&["bl.test"]);
    let msg = shop_signed(LU, FOOTER);
    let mut req = Request::audit("clean.test");
    req.target.ips = vec!["192.0.2.1".parse().unwrap()];
    req.target.helo = Some("mx.clean.test".into());
    req.target.mail_from = Some("bounces@shop.test".into());
    req.target.messages = vec![loaded("shape", &msg)];
    let doc = env.run(&req).await;
    let checks = &doc["checks"];
    let registry: Vec<&str> = mailaudit::checks::REGISTRY.iter().map(|c| c.id()).collect();
    assert_eq!(keys_of(checks), registry, "registry order");
    assert_eq!(
        keys_of(&checks["tls-rpt"]),
        ["status", "record", "rua", "mta_sts"]
    );
    assert_eq!(keys_of(&checks["dnssec"]), ["status", "root", "answers"]);
    assert_eq!(
        keys_of(&checks["dnssec"]["answers"][0]),
        ["name", "type", "proof"]
    );
    assert_eq!(keys_of(&checks["dane"]), ["status", "hosts"]);
    assert_eq!(
        keys_of(&checks["dane"]["hosts"][0]),
        ["host", "name", "dnssec", "tlsa"]
    );
    let spf = &checks["spf"];
    assert_eq!(
        keys_of(spf),
        [
            "status",
            "record",
            "lookups",
            "void_lookups",
            "tree",
            "evaluations"
        ]
    );
    assert_eq!(
        keys_of(&spf["tree"]),
        [
            "domain",
            "via",
            "record",
            "lookups",
            "void_lookups",
            "terms"
        ]
    );
    assert_eq!(keys_of(&spf["tree"]["terms"][0]), ["term", "cost"]);
    assert_eq!(keys_of(&spf["evaluations"][0]), ["ip", "result", "matched"]);
    let dmarc = &checks["dmarc"];
    assert_eq!(
        keys_of(dmarc),
        [
            "status",
            "record",
            "domain",
            "policy",
            "subdomain_policy",
            "nonexistent_policy",
            "effective_policy",
            "adkim",
            "aspf",
            "testing",
            "pct",
            "rua",
            "ruf",
            "organizational_domain",
            "inherited",
            "walk"
        ]
    );
    assert_eq!(keys_of(&dmarc["walk"][0]), ["domain", "outcome", "records"]);
    assert_eq!(keys_of(&checks["mx"]), ["status", "null_mx", "hosts"]);
    assert_eq!(
        keys_of(&checks["mx"]["hosts"][0]),
        ["preference", "name", "addresses"]
    );
    assert_eq!(keys_of(&checks["ptr"]), ["status", "ips"]);
    assert_eq!(
        keys_of(&checks["ptr"]["ips"][0]),
        ["ip", "names", "forward_confirmed"]
    );
    assert_eq!(
        keys_of(&checks["dkim"]),
        ["status", "selectors", "selectors_tried"]
    );
    assert_eq!(
        keys_of(&checks["dkim"]["selectors"][0]),
        [
            "selector", "status", "source", "key_type", "key_bits", "testing", "flags", "record"
        ]
    );
    let m = &checks["message"][0];
    assert_eq!(
        keys_of(m),
        [
            "file",
            "status",
            "size",
            "from_domain",
            "subject",
            "dkim",
            "dmarc",
            "list_unsubscribe",
            "unsubscribe_link",
            "link_domains"
        ]
    );
    assert_eq!(
        keys_of(&m["dkim"][0]),
        [
            "domain",
            "selector",
            "algorithm",
            "result",
            "reason",
            "signed_headers"
        ]
    );
    assert_eq!(
        keys_of(&m["dmarc"]),
        [
            "result",
            "domain",
            "policy",
            "aligned_dkim",
            "aligned_spf",
            "spf"
        ]
    );
    assert_eq!(
        keys_of(&m["list_unsubscribe"]),
        ["uris", "one_click", "signed"]
    );
    assert_eq!(keys_of(&m["unsubscribe_link"]), ["found", "url", "matched"]);
    let d = &checks["dnsbl"];
    assert_eq!(
        keys_of(d),
        [
            "status",
            "lists_checked",
            "subjects_checked",
            "results",
            "counts",
            "lists"
        ]
    );
    assert_eq!(
        keys_of(&d["results"][0]),
        [
            "subject",
            "zone",
            "status",
            "codes",
            "meaning",
            "reason",
            "delist_url"
        ]
    );
    assert_eq!(
        keys_of(&d["counts"]),
        ["listed", "clear", "unknown", "skipped", "allowlisted"]
    );
    assert_eq!(
        keys_of(&d["lists"][0]),
        ["zone", "name", "tier", "state", "counts"]
    );
    // A check that did not run says why, and has no other keys.
    let doc = env.run(&request("clean.test", &["spf"])).await;
    assert_eq!(keys_of(&doc["checks"]["dmarc"]), ["status", "reason"]);
    assert_eq!(doc["checks"]["dmarc"]["status"], "skipped");
    assert_eq!(
        doc["checks"]["dmarc"]["reason"],
        "not selected with --checks"
    );
    let doc = env.audit("nx.test", &[], None).await;
    assert_eq!(keys_of(&doc["checks"]["spf"]), ["status", "reason"]);
    assert_eq!(doc["checks"]["message"], serde_json::json!([]));
}

/// Flags that belong to other tools, each with the tool whose name must be
/// on the same line.
const FOREIGN_FLAGS: &[(&str, &str)] = &[
    ("--bench", "cargo"),
    ("--lib", "cargo"),
    ("--no-default-features", "cargo"),
    ("--locked", "cargo"),
    ("--path", "cargo"),
    ("--no-deps", "pip"),
    ("--reuse-key", "certbot"),
    ("--release", "cargo"),
    ("--test", "cargo"),
    ("--nocapture", "cargo"),
    ("--system", "useradd"),
    ("--home", "useradd"),
    ("--now", "systemctl"),
    ("--from", "COPY"),
];

/// Issue 18.10: every `--flag` named in the advice, the rules files, the
/// docs, the README, the templates and the help of every subcommand exists
/// (the advice once told users to run with `--resolver`, which does not).
#[test]
fn every_flag_named_anywhere_exists() {
    let bin = env!("CARGO_BIN_EXE_mailaudit");
    let run = |args: &[&str]| {
        let out = std::process::Command::new(bin).args(args).output().unwrap();
        String::from_utf8(out.stdout).unwrap()
    };
    // What the parser defines, subcommand by subcommand (the completion
    // script lists every option of each).
    let completions = run(&["completions", "bash"]);
    let flag = regex::Regex::new(r"(?:^|[^A-Za-z0-9_-])(--[a-z][a-z0-9-]*)").unwrap();
    let ours: std::collections::BTreeSet<&str> = completions
        .split("opts=\"")
        .skip(1)
        .flat_map(|o| flag.captures_iter(o.split('"').next().unwrap_or("")))
        .filter_map(|c| c.get(1))
        .map(|m| m.as_str())
        .collect();
    assert!(ours.contains("--nameserver") && ours.contains("--trust-anchor"));
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut texts: Vec<(String, String)> = Vec::new();
    for dir in ["rules", "docs", "templates"] {
        for e in std::fs::read_dir(root.join(dir)).unwrap() {
            let p = e.unwrap().path();
            if let Ok(text) = std::fs::read_to_string(&p) {
                texts.push((p.display().to_string(), text));
            }
        }
    }
    texts.push((
        "README.md".into(),
        std::fs::read_to_string(root.join("README.md")).unwrap(),
    ));
    let subcommands = [
        "audit",
        "blacklist",
        "message",
        "smtp",
        "recipients",
        "serve",
        "explain",
        "findings",
        "completions",
        "man",
    ];
    texts.push(("mailaudit --help".into(), run(&["--help"])));
    for s in subcommands {
        texts.push((format!("mailaudit {s} --help"), run(&[s, "--help"])));
    }
    let mut wrong = Vec::new();
    for (source, text) in &texts {
        for line in text.lines() {
            for c in flag.captures_iter(line) {
                let f = &c[1];
                if ours.contains(f) {
                    continue;
                }
                match FOREIGN_FLAGS.iter().find(|(g, _)| *g == f) {
                    Some((_, tool)) if line.contains(tool) => {}
                    _ => wrong.push(format!("{source}: {f} in {line:?}")),
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "flags that do not exist:\n{}",
        wrong.join("\n")
    );
}

/// Issue 18.11: `--checks` help names every check of the registry, and
/// `--rules` help every rules file, which are every file in rules/.
#[test]
fn help_names_every_check_and_every_rules_file() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mailaudit"))
        .args(["audit", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    let line = |flag: &str| {
        help.lines()
            .find(|l| l.trim_start().starts_with(flag))
            .unwrap_or_else(|| panic!("{flag} in audit --help"))
            .to_string()
    };
    let checks = line("--checks");
    for c in mailaudit::checks::REGISTRY {
        assert!(
            checks.contains(c.id()),
            "--checks help lacks {}: {checks}",
            c.id()
        );
    }
    let rules = line("--rules");
    let mut shipped: Vec<String> =
        std::fs::read_dir(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
    shipped.sort();
    let mut files: Vec<String> = mailaudit::rules::FILES
        .iter()
        .map(|f| f.to_string())
        .collect();
    files.sort();
    assert_eq!(files, shipped, "rules::FILES is every file in rules/");
    for f in &files {
        assert!(
            rules.contains(f.as_str()),
            "--rules help lacks {f}: {rules}"
        );
    }
}

//! Every domain-check finding, triggered by a fixture and absent on the
//! clean domain; the SPF limits and evaluation over real DNS.

use crate::common::{Env, finding, ids, status};

/// (domain, sending IPs, HELO, the finding it must produce)
pub const TRIGGERS: &[(&str, &[&str], Option<&str>, &str)] = &[
    ("nospf.test", &["192.0.2.1"], None, "spf.missing"),
    ("multi.test", &["192.0.2.1"], None, "spf.multiple-records"),
    ("syntax.test", &["192.0.2.1"], None, "spf.syntax"),
    ("limit.test", &["192.0.2.1"], None, "spf.lookup-limit"),
    ("void.test", &["192.0.2.1"], None, "spf.void-lookup-limit"),
    ("noinc.test", &["192.0.2.1"], None, "spf.include-no-spf"),
    ("loop.test", &["192.0.2.1"], None, "spf.loop"),
    ("allpass.test", &["192.0.2.1"], None, "spf.all-pass"),
    ("neutral.test", &["192.0.2.1"], None, "spf.all-neutral"),
    ("noall.test", &["192.0.2.1"], None, "spf.no-all"),
    ("ptrmech.test", &["192.0.2.1"], None, "spf.ptr-mechanism"),
    ("manymx.test", &["192.0.2.1"], None, "spf.mx-too-many-hosts"),
    ("long.test", &["192.0.2.1"], None, "spf.record-too-long"),
    ("clean.test", &["192.0.2.2"], None, "spf.ip-not-authorized"),
    ("offline.test", &["192.0.2.1"], None, "spf.dns-error"),
    ("nodmarc.test", &["192.0.2.1"], None, "dmarc.missing"),
    (
        "multidmarc.test",
        &["192.0.2.1"],
        None,
        "dmarc.multiple-records",
    ),
    ("badmarc.test", &["192.0.2.1"], None, "dmarc.syntax"),
    ("pnone.test", &["192.0.2.1"], None, "dmarc.policy-none"),
    (
        "spnone.test",
        &["192.0.2.1"],
        None,
        "dmarc.subdomain-policy-none",
    ),
    ("testing.test", &["192.0.2.1"], None, "dmarc.testing"),
    ("pct.test", &["192.0.2.1"], None, "dmarc.testing"),
    ("norua.test", &["192.0.2.1"], None, "dmarc.no-rua"),
    ("badrua.test", &["192.0.2.1"], None, "dmarc.rua-invalid-uri"),
    (
        "extrua.test",
        &["192.0.2.1"],
        None,
        "dmarc.rua-unauthorized",
    ),
    ("sub.clean.test", &["192.0.2.1"], None, "dmarc.inherited"),
    ("nomx.test", &["192.0.2.1"], None, "mx.missing"),
    ("nullmx.test", &["192.0.2.1"], None, "mx.null"),
    ("mxnoaddr.test", &["192.0.2.1"], None, "mx.no-address"),
    ("mxcname.test", &["192.0.2.1"], None, "mx.cname"),
    ("mxip.test", &["192.0.2.1"], None, "mx.ip-literal"),
    ("mxpriv.test", &["192.0.2.1"], None, "mx.private-address"),
    ("clean.test", &["192.0.2.99"], None, "ptr.missing"),
    (
        "clean.test",
        &["192.0.2.2"],
        None,
        "ptr.not-forward-confirmed",
    ),
    ("clean.test", &["192.0.2.3"], None, "ptr.generic"),
    (
        "clean.test",
        &["192.0.2.1"],
        Some("other.test"),
        "ptr.helo-mismatch",
    ),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_finding_is_triggered_by_its_fixture() {
    let env = Env::world().await;
    for (domain, ips, helo, want) in TRIGGERS {
        let doc = env.audit(domain, ips, *helo).await;
        let got = ids(&doc);
        assert!(
            got.iter().any(|id| id == want),
            "{domain}: want {want}, got {got:?}"
        );
        let f = finding(&doc, want);
        assert!(!f["advice"]["title"].as_str().unwrap().is_empty());
        assert!(!f["summary"].as_str().unwrap().is_empty());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clean_domain_has_no_findings() {
    let env = Env::world().await;
    let doc = env
        .audit(
            "clean.test",
            &["192.0.2.1", "2001:db8::1"],
            Some("mx.clean.test"),
        )
        .await;
    assert_eq!(ids(&doc), Vec::<String>::new(), "{:#}", doc["findings"]);
    for check in ["spf", "dmarc", "mx", "ptr"] {
        assert_eq!(status(&doc, check), "pass", "{check}");
    }
    assert_eq!(doc["summary"]["status"], "pass");
    assert_eq!(doc["checks"]["spf"]["evaluations"][0]["result"], "pass");
    assert_eq!(doc["checks"]["ptr"]["ips"][1]["forward_confirmed"], true);
    assert_eq!(status(&doc, "dnssec"), "pass");

    // Every (name, type) went to the server once: the single-flight cache.
    // (DNSSEC validation asks through hickory's validating resolver, not
    // counted in `stats`: docs/json.md; so it is left out here.)
    let env = Env::world().await;
    let mut req = mailaudit::engine::Request::audit("clean.test");
    req.target.ips = vec!["192.0.2.1".parse().unwrap(), "2001:db8::1".parse().unwrap()];
    req.target.helo = Some("mx.clean.test".into());
    let all = mailaudit::checks::of_kind(mailaudit::report::model::RunKind::Audit);
    req.checks = Some(
        all.map(|c| c.id().to_string())
            .filter(|id| id != "dnssec" && id != "dane")
            .collect(),
    );
    let doc = env.run(&req).await;
    let queries = doc["stats"]["queries"].as_u64().unwrap();
    assert_eq!(queries, env.server.total_queries() as u64);
    assert!(doc["stats"]["cache_hits"].as_u64().unwrap() > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn near_misses_do_not_trigger() {
    let env = Env::world().await;
    // Exactly 10 lookups and exactly 2 void lookups are within the limits.
    let doc = env.audit("ten.test", &["192.0.2.1"], None).await;
    assert_eq!(doc["checks"]["spf"]["lookups"], 10);
    assert!(!ids(&doc).contains(&"spf.lookup-limit".to_string()));
    assert_eq!(doc["checks"]["spf"]["evaluations"][0]["result"], "pass");
    let doc = env.audit("twovoid.test", &["192.0.2.1"], None).await;
    assert_eq!(doc["checks"]["spf"]["void_lookups"], 2);
    assert!(!ids(&doc).contains(&"spf.void-lookup-limit".to_string()));
    // An external report destination that authorised the reports.
    let doc = env.audit("authrua.test", &["192.0.2.1"], None).await;
    assert!(
        !ids(&doc).contains(&"dmarc.rua-unauthorized".to_string()),
        "{:?}",
        ids(&doc)
    );
    // The HELO name is the forward-confirmed PTR name.
    let doc = env
        .audit("clean.test", &["192.0.2.1"], Some("mx.clean.test"))
        .await;
    assert!(!ids(&doc).contains(&"ptr.helo-mismatch".to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookup_limit_is_permerror_for_every_ip() {
    let env = Env::world().await;
    let doc = env
        .audit(
            "limit.test",
            &["192.0.2.1", "192.0.2.3", "2001:db8::1"],
            None,
        )
        .await;
    let spf = &doc["checks"]["spf"];
    assert_eq!(spf["lookups"], 11);
    assert_eq!(status(&doc, "spf"), "fail");
    for e in spf["evaluations"].as_array().unwrap() {
        assert_eq!(e["result"], "permerror", "{e}");
    }
    let f = finding(&doc, "spf.lookup-limit");
    assert_eq!(f["evidence"]["lookups"], 11);
    assert_eq!(f["severity"], "error");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn void_lookups_are_counted() {
    let env = Env::world().await;
    let doc = env.audit("void.test", &["192.0.2.1"], None).await;
    assert_eq!(doc["checks"]["spf"]["void_lookups"], 3);
    assert_eq!(
        doc["checks"]["spf"]["evaluations"][0]["result"],
        "permerror"
    );
    let terms = &finding(&doc, "spf.void-lookup-limit")["evidence"]["terms"];
    assert_eq!(terms.as_array().unwrap().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn include_loop_terminates() {
    let env = Env::world().await;
    let doc = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        env.audit("loop.test", &["192.0.2.1"], None),
    )
    .await
    .expect("the walk terminates");
    let chain = &finding(&doc, "spf.loop")["evidence"]["chain"];
    assert_eq!(chain[0], "loop.test");
    assert_eq!(chain[2], "loop.test");
    assert_eq!(
        doc["checks"]["spf"]["evaluations"][0]["result"],
        "permerror"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evaluation_follows_rfc7208() {
    let env = Env::world().await;
    let results = |doc: &serde_json::Value| -> Vec<String> {
        doc["checks"]["spf"]["evaluations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["result"].as_str().unwrap().to_string())
            .collect()
    };
    // mx mechanism and -all.
    let doc = env
        .audit("clean.test", &["192.0.2.1", "192.0.2.2"], None)
        .await;
    assert_eq!(results(&doc), ["pass", "fail"]);
    // redirect= reaches the other record.
    let doc = env
        .audit("redirected.test", &["192.0.2.1", "192.0.2.2"], None)
        .await;
    assert_eq!(results(&doc), ["pass", "fail"]);
    // exists: with the %{i} macro, resolved per IP.
    let doc = env
        .audit("macro.test", &["192.0.2.1", "192.0.2.2"], None)
        .await;
    assert_eq!(results(&doc), ["pass", "fail"]);
    // ?all gives neutral, +all pass, no all neutral, no record none.
    let doc = env.audit("neutral.test", &["192.0.2.2"], None).await;
    assert_eq!(results(&doc), ["neutral"]);
    let doc = env.audit("allpass.test", &["192.0.2.99"], None).await;
    assert_eq!(results(&doc), ["pass"]);
    let doc = env.audit("nospf.test", &["192.0.2.1"], None).await;
    assert_eq!(results(&doc), ["none"]);
    // include of a domain without SPF, and a syntax error: permerror.
    let doc = env.audit("noinc.test", &["192.0.2.1"], None).await;
    assert_eq!(results(&doc), ["permerror"]);
    let doc = env.audit("syntax.test", &["192.0.2.1"], None).await;
    assert_eq!(results(&doc), ["permerror"]);
    let term = &finding(&doc, "spf.syntax")["evidence"]["term"];
    assert_eq!(term, "ip4:192.0.2.1/33");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dmarc_tree_walk() {
    let env = Env::world().await;
    let doc = env.audit("sub.clean.test", &["192.0.2.1"], None).await;
    let dmarc = &doc["checks"]["dmarc"];
    assert_eq!(dmarc["domain"], "clean.test");
    assert_eq!(dmarc["inherited"], true);
    assert_eq!(dmarc["effective_policy"], "reject");
    assert_eq!(dmarc["organizational_domain"], "clean.test");
    assert_eq!(finding(&doc, "dmarc.inherited")["severity"], "info");
    assert_eq!(status(&doc, "dmarc"), "pass");
    // Missing everywhere: every name of the walk was asked.
    let doc = env.audit("nodmarc.test", &["192.0.2.1"], None).await;
    assert_eq!(
        finding(&doc, "dmarc.missing")["evidence"]["asked"],
        serde_json::json!(["_dmarc.nodmarc.test", "_dmarc.test"])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sending_ips_are_inferred_from_mx_and_spf() {
    let env = Env::world().await;
    let doc = env.audit("clean.test", &[], None).await;
    let ips = doc["target"]["ips"].as_array().unwrap();
    assert_eq!(ips.len(), 2);
    assert_eq!(ips[0]["ip"], "192.0.2.1");
    assert_eq!(ips[0]["source"], "mx");
    assert_eq!(ips[0]["via"], "mx.clean.test");
    assert_eq!(ips[1]["ip"], "2001:db8::1");
    let doc = env.audit("long.test", &[], None).await;
    let sources: Vec<&str> = doc["target"]["ips"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["source"].as_str().unwrap())
        .collect();
    // The MX host's two addresses, then 39 ip4: terms (192.0.2.1 is
    // already there).
    assert_eq!(sources[..2], ["mx", "mx"]);
    assert!(sources[2..].iter().all(|s| *s == "spf"));
    assert_eq!(sources.len(), 41);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_report_has_the_documented_shape() {
    let env = Env::world().await;
    let doc = env.audit("pnone.test", &["192.0.2.1"], None).await;
    let keys: Vec<&str> = doc
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "schema_version",
            "tool",
            "generated_at",
            "duration_ms",
            "target",
            "summary",
            "checklist",
            "requirements",
            "checks",
            "passed",
            "findings",
            "stats",
            "made"
        ]
    );
    assert_eq!(doc["schema_version"], 1);
    assert_eq!(doc["tool"]["name"], "mailaudit");
    let summary: Vec<&str> = doc["summary"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        summary,
        [
            "status", "errors", "warnings", "infos", "unknown", "verdict", "score"
        ]
    );
    // Each check's shape: coverage::every_check_has_its_documented_shape.
    let f = finding(&doc, "dmarc.policy-none");
    let fkeys: Vec<&str> = f.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        fkeys,
        [
            "id", "check", "severity", "subject", "summary", "evidence", "advice"
        ]
    );
    let akeys: Vec<&str> = f["advice"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(akeys, ["title", "text", "steps", "references", "topic"]);
    assert_eq!(f["advice"]["topic"], "dns-records");
    assert_eq!(f["check"], "dmarc");
    assert!(
        time::OffsetDateTime::parse(
            doc["generated_at"].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339
        )
        .is_ok()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_apply_as_the_evaluation_reaches_them() {
    // v=spf1 a include:(8 a terms) ip4:192.0.2.1 mx -all: 11 lookups in
    // all, so the record deserves spf.lookup-limit; but a receiver
    // evaluating 192.0.2.1 reaches its ip4: term after 10 lookups and
    // passes it. 192.0.2.2 matches nothing before the mx term, the 11th.
    let env = Env::world().await;
    let doc = env
        .audit("lazy.test", &["192.0.2.1", "192.0.2.2"], None)
        .await;
    let spf = &doc["checks"]["spf"];
    assert_eq!(spf["lookups"], 11);
    assert_eq!(spf["evaluations"][0]["result"], "pass");
    assert_eq!(spf["evaluations"][1]["result"], "permerror");
    assert!(
        spf["evaluations"][1]["reason"]
            .as_str()
            .unwrap()
            .contains("lookup 11")
    );
    let f = finding(&doc, "spf.lookup-limit");
    assert_eq!(f["evidence"]["ips_hit"], serde_json::json!(["192.0.2.2"]));
    assert_eq!(
        f["evidence"]["ips_evaluated_before_the_limit"],
        serde_json::json!(["192.0.2.1 (pass)"])
    );
    assert_eq!(status(&doc, "spf"), "fail");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dmarc_discovery_as_rfc_9989_says() {
    let env = Env::world().await;
    // RFC 9989 §4.10 (DNS Tree Walk): the walk goes up from the Author
    // Domain and stops at the first DMARC record it finds; that record
    // applies. For a.b.mid.psd.test the record at the intermediate parent
    // mid.psd.test applies, not the one of the public suffix above it.
    let doc = env.audit("a.b.mid.psd.test", &["192.0.2.1"], None).await;
    let dmarc = &doc["checks"]["dmarc"];
    assert_eq!(dmarc["domain"], "mid.psd.test", "{dmarc:#}");
    assert_eq!(dmarc["effective_policy"], "quarantine");
    assert_eq!(dmarc["inherited"], true);
    // A public suffix operator's record (psd=y) sends reports to an
    // address of its own: not an unauthorised external destination.
    let doc = env.audit("agency.psd.test", &["192.0.2.1"], None).await;
    assert_eq!(doc["checks"]["dmarc"]["domain"], "psd.test");
    assert_eq!(
        doc["checks"]["dmarc"]["organizational_domain"],
        "agency.psd.test"
    );
    assert!(
        !ids(&doc).contains(&"dmarc.rua-unauthorized".to_string()),
        "{:#}",
        doc["findings"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_seen_make_the_verdict_fix_before_sending() {
    let env = Env::world().await;
    let doc = env
        .audit("limit.test", &["192.0.2.1"], Some("mx.clean.test"))
        .await;
    let summary = &doc["summary"];
    assert!(summary["errors"].as_u64().unwrap() > 0, "{summary}");
    assert_eq!(summary["verdict"], "fix-before-sending", "{summary}");
    assert!(summary["score"].as_u64().unwrap() <= 6, "{summary}");
}

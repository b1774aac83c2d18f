//! Blocklists over real DNS: verdicts, list health, delisting details,
//! ranges through the bulk client.

use crate::common::Fault;
use hickory_proto::rr::RecordType;

use crate::common::{Env, LISTS, finding, has, ids, result, status};

/// The dnsbl findings these tests trigger.
async fn env(lists: &[&str]) -> Env {
    Env::new(LISTS).await.lists(lists)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_carries_meaning_reason_and_delisting_url() {
    let env = env(&["zen.spamhaus.org"]).await;
    let doc = env.blacklist(&["192.0.2.10", "192.0.2.1"], false).await;
    let r = result(&doc, "192.0.2.10", "zen.spamhaus.org");
    assert_eq!(r["status"], "listed");
    assert_eq!(r["codes"], serde_json::json!(["127.0.0.2", "127.0.0.10"]));
    assert!(
        r["meaning"]
            .as_str()
            .unwrap()
            .contains("Spamhaus Block List")
    );
    assert_eq!(
        r["reason"],
        "https://check.spamhaus.org/sbl/query/SBL123456"
    );
    assert_eq!(r["delist_url"], "https://check.spamhaus.org/");
    assert_eq!(
        result(&doc, "192.0.2.1", "zen.spamhaus.org")["status"],
        "clear"
    );

    let f = finding(&doc, "dnsbl.listed");
    assert_eq!(f["severity"], "error", "a major list");
    assert_eq!(f["subject"], "192.0.2.10");
    assert_eq!(f["evidence"]["sublists"], serde_json::json!(["SBL", "PBL"]));
    assert_eq!(f["advice"]["topic"], "delisting");
    let steps: Vec<&str> = f["evidence"]["delisting_steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert!(steps[0].starts_with("Find and fix the cause first"));
    // Steps for people: the page, the date to give, no command-line flags.
    assert!(
        steps[1].contains("https://check.spamhaus.org/")
            && steps[1].contains("the date the address came into your service")
    );
    assert!(
        steps[2].contains("whether 192.0.2.10 is still listed on Spamhaus"),
        "{}",
        steps[2]
    );
    assert!(steps.iter().all(|s| !s.contains(" --")), "{steps:?}");
    assert_eq!(doc["checks"]["dnsbl"]["counts"]["listed"], 1);
    assert_eq!(status(&doc, "dnsbl"), "fail");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spamhaus_refusal_is_unknown_not_listed() {
    let env = env(&["zen.spamhaus.org"]).await;
    let doc = env.blacklist(&["192.0.2.99"], false).await;
    let r = result(&doc, "192.0.2.99", "zen.spamhaus.org");
    assert_eq!(r["status"], "unknown");
    assert_eq!(r["codes"], serde_json::json!(["127.255.255.254"]));
    assert!(r["reason"].as_str().unwrap().contains("public"), "{r}");
    assert!(!ids(&doc).contains(&"dnsbl.listed".to_string()));
    assert!(
        finding(&doc, "dnsbl.unknown")["evidence"]["reasons"][0]
            .as_str()
            .unwrap()
            .contains("refused")
    );
    assert_eq!(status(&doc, "dnsbl"), "unknown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_outside_loopback_and_timeouts_are_unknown() {
    let env = env(&["bl.test"]).await;
    env.server.set_fault("12.2.0.192.bl.test", Fault::Drop);
    let doc = env.blacklist(&["192.0.2.11", "192.0.2.12"], false).await;
    let r = result(&doc, "192.0.2.11", "bl.test");
    assert_eq!(r["status"], "unknown");
    assert!(
        r["reason"]
            .as_str()
            .unwrap()
            .contains("outside 127.0.0.0/8"),
        "{r}"
    );
    let r = result(&doc, "192.0.2.12", "bl.test");
    assert_eq!(r["status"], "unknown");
    assert!(r["reason"].as_str().unwrap().contains("timed out"), "{r}");
    assert_eq!(finding(&doc, "dnsbl.unknown")["evidence"]["count"], 2);
    assert!(!ids(&doc).contains(&"dnsbl.listed".to_string()));
    assert_eq!(status(&doc, "dnsbl"), "unknown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wildcard_list_is_unhealthy_and_lists_nobody() {
    let env = env(&["wild.test", "bl.test"]).await;
    let doc = env.blacklist(&["192.0.2.1", "192.0.2.10"], false).await;
    let f = finding(&doc, "dnsbl.list-unhealthy");
    assert_eq!(f["subject"], "wild.test");
    assert!(
        f["evidence"]["reason"]
            .as_str()
            .unwrap()
            .contains("negative test entry")
    );
    for ip in ["192.0.2.1", "192.0.2.10"] {
        assert_eq!(result(&doc, ip, "wild.test")["status"], "unknown");
    }
    // The healthy list still gives its verdicts.
    assert_eq!(result(&doc, "192.0.2.10", "bl.test")["status"], "listed");
    let listed: Vec<&serde_json::Value> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["id"] == "dnsbl.listed")
        .collect();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["evidence"]["zone"], "bl.test");
    // Only the test entries of the wildcard list were asked.
    assert_eq!(
        env.server.queries_for("1.0.0.127.wild.test", RecordType::A),
        1
    );
    assert_eq!(
        env.server.queries_for("1.2.0.192.wild.test", RecordType::A),
        0
    );
    let lists = doc["checks"]["dnsbl"]["lists"].as_array().unwrap();
    assert_eq!(lists[0]["state"], "unhealthy");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_that_lists_nothing_is_unhealthy() {
    let env = env(&["empty.test"]).await;
    let doc = env.blacklist(&["192.0.2.1"], false).await;
    assert!(
        finding(&doc, "dnsbl.list-unhealthy")["evidence"]["reason"]
            .as_str()
            .unwrap()
            .contains("not listed")
    );
    assert_eq!(result(&doc, "192.0.2.1", "empty.test")["status"], "unknown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipv6_names_follow_rfc5782() {
    let env = env(&["bl.test"]).await;
    let doc = env
        .blacklist(&["2001:db8:1:2:3:4:567:89ab", "2001:db8::1"], false)
        .await;
    assert_eq!(
        result(&doc, "2001:db8:1:2:3:4:567:89ab", "bl.test")["status"],
        "listed"
    );
    assert_eq!(result(&doc, "2001:db8::1", "bl.test")["status"], "clear");
    assert_eq!(
        env.server.queries_for(
            "b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.bl.test",
            RecordType::A
        ),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bitmask_lists_decode_into_sublists() {
    let env = env(&["multi.surbl.org"]).await;
    let doc = env
        .blacklist(&["bad.example", "blocked.example", "good.example"], false)
        .await;
    let f = finding(&doc, "dnsbl.listed");
    assert_eq!(f["subject"], "bad.example");
    assert_eq!(f["evidence"]["sublists"], serde_json::json!(["PH", "MW"]));
    assert_eq!(
        f["evidence"]["reason"],
        "Blocked, see https://www.surbl.org/surbl-analysis"
    );
    let r = result(&doc, "blocked.example", "multi.surbl.org");
    assert_eq!(r["status"], "unknown");
    assert!(r["reason"].as_str().unwrap().contains("SURBL_BLOCKED"));
    assert_eq!(
        result(&doc, "good.example", "multi.surbl.org")["status"],
        "clear"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowlist_hits_are_good_reputation() {
    let env = env(&["list.dnswl.org"]).await;
    let doc = env.blacklist(&["192.0.2.10", "192.0.2.1"], false).await;
    let r = result(&doc, "192.0.2.10", "list.dnswl.org");
    assert_eq!(r["status"], "allowlisted");
    assert!(!ids(&doc).contains(&"dnsbl.listed".to_string()));
    assert_eq!(doc["checks"]["dnsbl"]["counts"]["allowlisted"], 1);
    assert_eq!(status(&doc, "dnsbl"), "pass");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_lists_are_never_queried() {
    let env = env(&["dnsbl.sorbs.net", "bl.test"]).await;
    let doc = env.blacklist(&["192.0.2.1"], false).await;
    let f = finding(&doc, "dnsbl.dead-list");
    assert_eq!(f["subject"], "dnsbl.sorbs.net");
    assert_eq!(f["evidence"]["dead_since"], "2024-06-05");
    assert_eq!(
        env.server
            .queries_for("2.0.0.127.dnsbl.sorbs.net", RecordType::A),
        0
    );
    assert_eq!(
        env.server
            .queries_for("1.2.0.192.dnsbl.sorbs.net", RecordType::A),
        0
    );
    assert_eq!(doc["checks"]["dnsbl"]["lists"][0]["state"], "dead");
    assert_eq!(result(&doc, "192.0.2.1", "bl.test")["status"], "clear");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_catalogue_offline_is_skipped_not_clear() {
    // Offline, with the real catalogue: no list zone is loaded, so nothing
    // is asked and nothing is called clear.
    let env = Env::with(LISTS, |c| {
        c.scope = Some(vec!["test".into(), "2.0.192.in-addr.arpa".into()])
    })
    .await;
    let mut config = mailaudit::blocklist::BlocklistConfig::new(
        mailaudit::blocklist::catalog::Catalog::embedded(),
    );
    config.explicit.clear();
    let mut env = env;
    env.engine = env
        .engine
        .clone()
        .with_blocklist(mailaudit::blocklist::BlocklistEngine::new(config));
    let doc = env.blacklist(&["192.0.2.10"], false).await;
    assert_eq!(status(&doc, "dnsbl"), "skipped");
    let counts = &doc["checks"]["dnsbl"]["counts"];
    assert_eq!(counts["clear"], 0);
    assert_eq!(counts["listed"], 0);
    let lists = doc["checks"]["dnsbl"]["lists"].as_array().unwrap();
    assert!(lists.len() >= 80);
    assert!(lists.iter().any(|l| l["state"] == "not-checked-offline"));
    assert!(
        lists
            .iter()
            .any(|l| l["state"] == "dead" && l["reason"].as_str().unwrap().contains("2024-06-05"))
    );
    assert!(
        lists.iter().any(|l| l["state"] == "not-queried"
            && l["reason"].as_str().unwrap().contains("registration"))
    );
    assert_eq!(env.server.total_queries(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ranges_keep_only_what_matters() {
    let env = env(&["bl.test"]).await;
    let targets: Vec<String> = (0..16).map(|i| format!("198.51.100.{i}")).collect();
    let refs: Vec<&str> = targets.iter().map(String::as_str).collect();
    let doc = env.blacklist(&refs, true).await;
    let dnsbl = &doc["checks"]["dnsbl"];
    assert_eq!(dnsbl["counts"]["listed"], 2);
    assert_eq!(dnsbl["counts"]["clear"], 14);
    let results = dnsbl["results"].as_array().unwrap();
    assert_eq!(
        results.len(),
        2,
        "only listed and unknown results are kept for ranges"
    );
    assert_eq!(results[0]["subject"], "198.51.100.3");
    assert_eq!(results[1]["subject"], "198.51.100.9");
    assert_eq!(results[1]["meaning"], "listed (code 127.0.0.3)");
    // The list's own counts cover the whole range, clear results included.
    let list = &dnsbl["lists"][0];
    assert_eq!(list["zone"], "bl.test");
    assert_eq!(list["counts"]["listed"], 2);
    assert_eq!(list["counts"]["clear"], 14);
    // The bulk client's questions are counted in the shared statistics.
    assert!(doc["stats"]["queries"].as_u64().unwrap() >= 18);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_client_reports_timeouts_as_unknown() {
    let env = env(&["bl.test"]).await;
    env.server.set_fault("5.100.51.198.bl.test", Fault::Drop);
    let targets: Vec<String> = (0..8).map(|i| format!("198.51.100.{i}")).collect();
    let refs: Vec<&str> = targets.iter().map(String::as_str).collect();
    let doc = env.blacklist(&refs, true).await;
    let r = result(&doc, "198.51.100.5", "bl.test");
    assert_eq!(r["status"], "unknown");
    assert!(r["reason"].as_str().unwrap().contains("timed out"));
    assert_eq!(doc["checks"]["dnsbl"]["counts"]["clear"], 6);
    assert_eq!(doc["checks"]["dnsbl"]["counts"]["unknown"], 1);
    // 198.51.100.3 is listed: an error outweighs what is unknown.
    assert_eq!(status(&doc, "dnsbl"), "fail");
    assert_eq!(finding(&doc, "dnsbl.unknown")["evidence"]["count"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_resolvers_are_flagged_without_asking_them() {
    let dns = mailaudit::dns::Dns::new(mailaudit::dns::DnsConfig {
        nameservers: vec!["8.8.8.8:53".parse().unwrap()],
        ..Default::default()
    })
    .unwrap();
    let engine =
        mailaudit::blocklist::BlocklistEngine::new(mailaudit::blocklist::BlocklistConfig::new(
            mailaudit::blocklist::catalog::Catalog::embedded(),
        ));
    let f = engine.resolver_findings(&dns);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].id, "dnsbl.public-resolver");
    assert!(f[0].summary.contains("Google"));
    assert_eq!(dns.stats().queries, 0);
    let own = mailaudit::dns::Dns::new(mailaudit::dns::DnsConfig {
        nameservers: vec!["192.0.2.53:53".parse().unwrap()],
        ..Default::default()
    })
    .unwrap();
    assert!(engine.resolver_findings(&own).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audits_check_sending_ips_mx_addresses_and_the_domain() {
    let env = Env::new(LISTS).await.lists(&["bl.test", "multi.surbl.org"]);
    let doc = env.audit("clean.test", &["192.0.2.10"], None).await;
    let dnsbl = &doc["checks"]["dnsbl"];
    assert_eq!(dnsbl["subjects_checked"], 4, "{dnsbl:#}");
    assert_eq!(result(&doc, "192.0.2.10", "bl.test")["status"], "listed");
    assert_eq!(result(&doc, "192.0.2.1", "bl.test")["status"], "clear");
    assert_eq!(
        result(&doc, "clean.test", "multi.surbl.org")["status"],
        "clear"
    );
    // bl.test does not answer domain queries (its TEST entry is not
    // listed): skipped, not clear.
    assert_eq!(result(&doc, "clean.test", "bl.test")["status"], "skipped");
    assert_eq!(finding(&doc, "dnsbl.listed")["subject"], "192.0.2.10");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_health_is_asked_once_per_engine() {
    let env = env(&["bl.test"]).await;
    env.blacklist(&["192.0.2.1"], false).await;
    env.blacklist(&["192.0.2.10"], false).await;
    assert_eq!(
        env.server.queries_for("2.0.0.127.bl.test", RecordType::A),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ranges_do_not_keep_results_of_unhealthy_lists() {
    let env = env(&["wild.test", "bl.test"]).await;
    let targets: Vec<String> = (0..16).map(|i| format!("198.51.100.{i}")).collect();
    let refs: Vec<&str> = targets.iter().map(String::as_str).collect();
    let doc = env.blacklist(&refs, true).await;
    let dnsbl = &doc["checks"]["dnsbl"];
    assert_eq!(dnsbl["counts"]["unknown"], 16);
    assert_eq!(dnsbl["omitted"], 16);
    assert_eq!(
        dnsbl["results"].as_array().unwrap().len(),
        2,
        "the two listings on bl.test"
    );
    assert!(
        !ids(&doc).contains(&"dnsbl.unknown".to_string()),
        "the list-unhealthy finding covers them"
    );
    assert_eq!(
        finding(&doc, "dnsbl.list-unhealthy")["subject"],
        "wild.test"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_list_limits_bound_what_is_in_flight() {
    let env = Env::new(LISTS).await;
    let mut config = mailaudit::blocklist::BlocklistConfig::new(
        mailaudit::blocklist::catalog::Catalog::embedded(),
    );
    config.explicit = vec!["bl.test".into()];
    config.per_list_concurrency = 2;
    config.per_list_qps = Some(500.0);
    let mut env = env;
    env.engine = env
        .engine
        .clone()
        .with_blocklist(mailaudit::blocklist::BlocklistEngine::new(config));
    env.server.set_latency(std::time::Duration::from_millis(20));
    let targets: Vec<String> = (0..16).map(|i| format!("198.51.100.{i}")).collect();
    let refs: Vec<&str> = targets.iter().map(String::as_str).collect();
    let doc = env.blacklist(&refs, false).await;
    assert_eq!(doc["checks"]["dnsbl"]["counts"]["listed"], 2);
    assert_eq!(doc["checks"]["dnsbl"]["counts"]["clear"], 14);
    // Two A questions at most, plus the TXT lookups of the two listings.
    assert!(
        env.server.max_in_flight() <= 4,
        "{}",
        env.server.max_in_flight()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generic_lists_do_not_list_with_error_codes() {
    // A list not in the catalogue, healthy, answers 127.255.255.254 (a
    // refusal code) and 127.0.0.1 (the negative test address): unknown,
    // never listed (RFC 5782 generic semantics).
    let env = env(&["bl.test"]).await;
    let doc = env.blacklist(&["192.0.2.13", "192.0.2.14"], false).await;
    for ip in ["192.0.2.13", "192.0.2.14"] {
        let r = result(&doc, ip, "bl.test");
        assert_eq!(r["status"], "unknown", "{ip}: {r}");
    }
    assert!(!ids(&doc).contains(&"dnsbl.listed".to_string()));
    assert_eq!(status(&doc, "dnsbl"), "unknown");
}

/// Issue 18.6: when every list fails its health test through a public
/// resolver (they refuse it), the user is told the resolver is why: that
/// is when the finding matters most.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_public_resolver_is_named_when_every_list_is_unhealthy() {
    let env = Env::new(LISTS).await;
    let mut catalog = mailaudit::blocklist::catalog::Catalog::embedded();
    catalog
        .public_resolvers
        .push(mailaudit::blocklist::catalog::PublicResolver {
            address: env.server.addr().ip(),
            operator: "Loopback Public DNS".into(),
        });
    let mut config = mailaudit::blocklist::BlocklistConfig::new(catalog);
    config.explicit = vec!["empty.test".into()];
    let env = env.blocklist(config);
    let doc = env.blacklist(&["192.0.2.1"], false).await;
    assert!(has(&doc, "dnsbl.list-unhealthy"), "{:#}", doc["findings"]);
    assert_eq!(status(&doc, "dnsbl"), "unknown");
    let f = finding(&doc, "dnsbl.public-resolver");
    assert!(
        f["summary"]
            .as_str()
            .unwrap()
            .contains("Loopback Public DNS")
    );
}

/// Issue 18.12: an over-quota answer from dnswl.org (a last octet of 255
/// in any category) is a refusal, never "allowlisted".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_dnswl_answer_is_unknown_not_allowlisted() {
    let env = env(&["list.dnswl.org"]).await;
    let doc = env.blacklist(&["192.0.2.10", "192.0.2.11"], false).await;
    assert_eq!(
        result(&doc, "192.0.2.10", "list.dnswl.org")["status"],
        "allowlisted"
    );
    let r = result(&doc, "192.0.2.11", "list.dnswl.org");
    assert_eq!(r["status"], "unknown", "{r:#}");
    assert!(r["reason"].as_str().unwrap().contains("blocked"), "{r:#}");
}

/// Issue 18.14: with a DQS key, ZEN is asked in its DQS form instead of
/// the public zone, and the key appears nowhere in the report; without
/// one, the DQS zone says what it needs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dqs_form_is_asked_with_a_key_that_is_never_shown() {
    const KEY: &str = "testdqskey0123";
    let base = Env::new(LISTS).await;
    let with_key = |explicit: &[&str]| {
        let mut config = mailaudit::blocklist::BlocklistConfig::new(
            mailaudit::blocklist::catalog::Catalog::embedded(),
        );
        config.explicit = explicit.iter().map(|z| z.to_string()).collect();
        config.keys.insert(
            mailaudit::blocklist::DQS_KEY.into(),
            mailaudit::blocklist::Secret::new(KEY).unwrap(),
        );
        config
    };
    let env = base.blocklist(with_key(&["zen.dq.spamhaus.net"]));
    let doc = env.blacklist(&["192.0.2.10", "192.0.2.1"], false).await;
    let r = result(&doc, "192.0.2.10", "zen.dq.spamhaus.net");
    assert_eq!(r["status"], "listed", "{r:#}");
    assert_eq!(
        result(&doc, "192.0.2.1", "zen.dq.spamhaus.net")["status"],
        "clear"
    );
    // The TXT reason the list gave carried the key: it is hidden.
    assert!(r["reason"].as_str().unwrap().contains("<key>"), "{r:#}");
    // A question that fails says so without the key in the name.
    env.server.set_fault(
        &format!("2.2.0.192.{KEY}.zen.dq.spamhaus.net"),
        Fault::ServFail,
    );
    let doc = env.blacklist(&["192.0.2.2"], false).await;
    assert_eq!(
        result(&doc, "192.0.2.2", "zen.dq.spamhaus.net")["status"],
        "unknown"
    );
    let text = doc.to_string();
    assert!(!text.contains(KEY), "the key leaked: {text}");
    assert!(text.contains("<key>"));
    // The default selection with a key: the DQS form instead of the public
    // zone (which says why it was not asked).
    let env = env.blocklist(with_key(&[]));
    let doc = env.blacklist(&["192.0.2.10"], false).await;
    let lists = doc["checks"]["dnsbl"]["lists"].as_array().unwrap();
    let state = |zone: &str| {
        lists
            .iter()
            .find(|l| l["zone"] == zone)
            .unwrap_or_else(|| panic!("{zone}"))
            .clone()
    };
    assert_eq!(state("zen.spamhaus.org")["state"], "not-queried");
    assert!(
        state("zen.spamhaus.org")["reason"]
            .as_str()
            .unwrap()
            .contains("zen.dq.spamhaus.net")
    );
    assert_eq!(
        env.server.queries_for(
            &format!("2.0.0.127.{KEY}.zen.dq.spamhaus.net"),
            hickory_proto::rr::RecordType::A
        ),
        1,
        "its health asked once per engine"
    );
    // Without a key, the DQS zone is not asked and says what it needs.
    let env = env.lists(&["zen.dq.spamhaus.net"]);
    let doc = env.blacklist(&["192.0.2.10"], false).await;
    let lists = doc["checks"]["dnsbl"]["lists"].as_array().unwrap();
    assert_eq!(lists[0]["state"], "not-queried");
    assert!(lists[0]["reason"].as_str().unwrap().contains("--dqs-key"));
}

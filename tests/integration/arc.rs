//! ARC chains (RFC 8617) of messages sealed by dkimpy, an implementation
//! independent of the one mailaudit validates with (the fixtures and how
//! they were made: tests/fixtures/arc/make.py), with the key served by the
//! embedded DNS server.

use mailaudit::message::Loaded;
use serde_json::Value;

use crate::common::{Env, Fault, finding, ids};

fn fixture(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/arc")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn loaded(name: &str) -> Loaded {
    let bytes = fixture(name);
    Loaded {
        path: name.into(),
        size: bytes.len() as u64,
        bytes,
        truncated: false,
    }
}

/// The fixture world (its test. zone is the trust anchor) and the zone
/// holding the sealers' key.
async fn env() -> Env {
    Env::new(&["zones/test.zone", "arc/arc.test.zone"]).await
}

/// The ARC check alone on these messages.
async fn validate(env: &Env, messages: Vec<Loaded>) -> Value {
    let mut req = mailaudit::engine::Request::audit("arc.test");
    req.checks = Some(["arc".to_string()].into());
    req.target.messages = messages;
    env.run(&req).await
}

/// The key names the server was asked for.
fn keys_asked(env: &Env) -> Vec<String> {
    env.server
        .asked()
        .into_iter()
        .map(|(name, _)| name)
        .filter(|n| n.contains("._domainkey."))
        .collect()
}

fn arc_ids(doc: &Value) -> Vec<String> {
    ids(doc)
        .into_iter()
        .filter(|i| i.starts_with("arc."))
        .collect()
}

/// The scenario that triggers `id` (coverage.rs asks for each).
pub async fn scenario(id: &str) -> Value {
    let env = env().await;
    match id {
        "arc.fail" => validate(&env, vec![loaded("body-changed.eml")]).await,
        "arc.dns-error" => {
            env.server
                .set_fault("hop._domainkey.arc.test", Fault::ServFail);
            validate(&env, vec![loaded("pass-i2.eml")]).await
        }
        "arc.not-verified" => {
            let mut m = loaded("pass-i1.eml");
            m.truncated = true;
            m.size += 1_000_000;
            validate(&env, vec![m]).await
        }
        other => panic!("no ARC scenario for {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chains_dkimpy_validates_pass() {
    let env = env().await;
    let doc = validate(&env, vec![loaded("pass-i1.eml"), loaded("pass-i2.eml")]).await;
    assert_eq!(arc_ids(&doc), Vec::<String>::new());
    let arc = &doc["checks"]["arc"];
    assert_eq!(arc["status"], "pass", "{arc:#}");
    let chains = arc["messages"].as_array().unwrap();
    assert_eq!(chains[0]["result"], "pass");
    assert_eq!(chains[0]["sets"], 1);
    assert_eq!(chains[1]["result"], "pass");
    assert_eq!(chains[1]["sets"], 2);
    assert_eq!(
        chains[1]["sealers"],
        serde_json::json!([
            {"instance": 1, "domain": "arc.test", "selector": "hop"},
            {"instance": 2, "domain": "arc.test", "selector": "hop"},
        ])
    );
    // The documented shape (docs/json.md).
    assert_eq!(
        chains[0].as_object().unwrap().keys().collect::<Vec<_>>(),
        ["file", "result", "reason", "sets", "sealers"]
    );
    let passed = doc["passed"]["arc"].as_array().unwrap();
    assert_eq!(passed.len(), 2, "{passed:?}");
    // The key came from our resolver (mail-auth asked nothing itself).
    let keys = keys_asked(&env);
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert!(keys[0].starts_with("hop._domainkey.arc.test"), "{keys:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_without_arc_headers_has_no_chain_and_no_finding() {
    let env = env().await;
    let doc = validate(&env, vec![loaded("no-arc.eml")]).await;
    assert_eq!(arc_ids(&doc), Vec::<String>::new());
    assert_eq!(doc["checks"]["arc"]["messages"][0]["result"], "none");
    // Nothing to validate: no verdict either way.
    assert_eq!(doc["checks"]["arc"]["status"], "skipped");
    assert!(doc["passed"].get("arc").is_none(), "{:#}", doc["passed"]);
    // No key to look up.
    let keys = keys_asked(&env);
    assert!(keys.is_empty(), "{keys:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chains_dkimpy_rejects_fail() {
    let env = env().await;
    for (file, reason) in [
        ("body-changed.eml", "body changed"),
        ("seal-forged.eml", ""),
        // dkimpy gives no verdict for a chain a hop ended with cv=fail;
        // RFC 8617 §5.2 step 2 says fail, as mail-auth does.
        ("cv-fail.eml", "cv="),
    ] {
        let doc = validate(&env, vec![loaded(file)]).await;
        assert_eq!(arc_ids(&doc), ["arc.fail"], "{file}");
        assert_eq!(doc["checks"]["arc"]["status"], "warn", "{file}");
        let chain = &doc["checks"]["arc"]["messages"][0];
        assert_eq!(chain["result"], "fail", "{file}");
        let why = finding(&doc, "arc.fail")["evidence"]["reason"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(why.contains(reason), "{file}: {why}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_that_cannot_be_fetched_leaves_the_chain_unknown() {
    for fault in [Fault::ServFail, Fault::Drop, Fault::Refused] {
        let env = env().await;
        env.server.set_fault("hop._domainkey.arc.test", fault);
        // Even a chain that would fail is not called broken.
        for file in ["pass-i2.eml", "seal-forged.eml"] {
            let doc = validate(&env, vec![loaded(file)]).await;
            assert_eq!(arc_ids(&doc), ["arc.dns-error"], "{file}");
            assert_eq!(doc["checks"]["arc"]["status"], "unknown", "{file}");
            assert_eq!(doc["checks"]["arc"]["messages"][0]["result"], "unknown");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_read_in_part_is_not_validated() {
    let env = env().await;
    let mut m = loaded("pass-i1.eml");
    m.truncated = true;
    m.size += 1_000_000;
    let doc = validate(&env, vec![m]).await;
    let keys = keys_asked(&env);
    assert!(keys.is_empty(), "{keys:?}");
    assert_eq!(arc_ids(&doc), ["arc.not-verified"]);
    assert_eq!(doc["checks"]["arc"]["status"], "unknown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_run_validates_arc_and_an_unreadable_file_is_said_once() {
    let env = env().await;
    let mut junk = loaded("pass-i1.eml");
    junk.path = "junk.eml".into();
    junk.bytes = vec![0u8; 64];
    junk.size = 64;
    let mut req = mailaudit::engine::Request::audit("arc.test");
    req.kind = mailaudit::report::model::RunKind::Message;
    req.target.messages = vec![loaded("pass-i2.eml"), junk];
    let doc = env.run(&req).await;
    let chains = doc["checks"]["arc"]["messages"].as_array().unwrap();
    assert_eq!(chains[0]["result"], "pass");
    assert_eq!(chains[1]["result"], "unreadable");
    assert_eq!(arc_ids(&doc), Vec::<String>::new());
    assert!(ids(&doc).contains(&"message.unparseable".to_string()));
}

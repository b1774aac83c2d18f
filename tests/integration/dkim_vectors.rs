//! DKIM verdicts as RFC 6376 and RFC 8301 require of a verifier, on
//! messages signed here with the test keys (tests/fixtures/dkim) and
//! altered the way each rule needs. Each vector names the section that
//! decides it; `docs/conformance.md` lists them.

use serde_json::Value;

use crate::common::{Env, ids};
use crate::messages::{
    FOOTER, LU, SIGNED_HEADERS, bulk, loaded, request, rsa, run, shop_signed, sign,
};

/// The message check of one message of shop.test; the first signature.
async fn verdict(text: &str) -> (Value, Value) {
    let env = Env::world().await;
    let mut req = request("shop.test", &["message"]);
    req.target.messages = vec![loaded("vector", text)];
    let doc = run(&env, req).await;
    let sig = doc["checks"]["message"][0]["dkim"][0].clone();
    (sig, doc)
}

fn signed_with(selector: &str) -> String {
    sign(
        rsa("rsa2048"),
        "shop.test",
        selector,
        SIGNED_HEADERS,
        &bulk(LU, FOOTER),
    )
}

/// (name, message, result, a word of the reason, the section)
fn vectors() -> Vec<(
    &'static str,
    String,
    &'static str,
    &'static str,
    &'static str,
)> {
    let good = shop_signed(LU, FOOTER);
    vec![
        ("pass", good.clone(), "pass", "", "RFC 6376 §6.1"),
        (
            "body changed after signing",
            good.replace("Our autumn offers are here", "Our winter offers are here"),
            "fail",
            "body hash",
            "RFC 6376 §6.1.3: a body hash mismatch is a failed verification (RFC 8601 fail)",
        ),
        (
            "no v= tag",
            good.replacen("v=1; ", "", 1),
            "permerror",
            "no v=",
            "RFC 6376 §3.5: v= is required",
        ),
        (
            "a tag twice",
            good.replacen("s=s2048;", "s=s2048; s=s2048;", 1),
            "permerror",
            "twice",
            "RFC 6376 §3.2: a tag-list must not repeat a tag",
        ),
        (
            "q= with no method a verifier supports",
            good.replacen("s=s2048;", "s=s2048; q=dns/foo;", 1),
            "permerror",
            "q=",
            "RFC 6376 §3.5: q= must offer dns/txt",
        ),
        (
            "d= that is not a domain",
            good.replacen("d=shop.test", "d=shop..test", 1),
            "permerror",
            "not a domain",
            "RFC 6376 §3.5: d= is a domain name; a broken one is permanent, not temporary",
        ),
        (
            "a key for another service",
            signed_with("svc"),
            "permerror",
            "not for email",
            "RFC 6376 §3.6.1: s= must include email or *",
        ),
        (
            "a key whose h= excludes the signature's hash",
            signed_with("sha1only"),
            "permerror",
            "h=sha1",
            "RFC 6376 §3.6.1: h= lists the hashes a key may be used with",
        ),
        (
            // Issue 18.3: mail-auth passes it; dkimpy and Mail::DKIM do not.
            "h= without From",
            sign(
                rsa("rsa2048"),
                "shop.test",
                "s2048",
                &SIGNED_HEADERS[1..],
                &bulk(LU, FOOTER),
            ),
            "permerror",
            "does not include From",
            "RFC 6376 §6.1.1: a verifier must ignore a signature whose h= leaves out From",
        ),
        (
            "a key record with a tag twice",
            signed_with("dup"),
            "permerror",
            "twice",
            "RFC 6376 §3.2, §3.6.1",
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dkim_verdicts_as_verifiers_must_compute_them() {
    for (name, text, want, reason, section) in vectors() {
        let (sig, doc) = verdict(&text).await;
        assert_eq!(sig["result"], want, "{name} ({section}): {sig:#}");
        if !reason.is_empty() {
            assert!(
                sig["reason"]
                    .as_str()
                    .unwrap_or("")
                    .to_lowercase()
                    .contains(&reason.to_lowercase()),
                "{name} ({section}): {sig:#}"
            );
        }
        if want != "pass" {
            assert!(
                ids(&doc).contains(&"message.dkim-invalid".to_string()),
                "{name}"
            );
            // Nothing it signed is taken as signed.
            assert_eq!(
                doc["checks"]["message"][0]["list_unsubscribe"]["signed"], false,
                "{name}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_rsa_keys_fail_and_are_reported_by_the_message_scan() {
    // RFC 8301 §3.2: verifiers must not consider signatures with RSA keys
    // under 1024 bits valid. keys.test publishes a 512-bit test key.
    let msg = sign(
        rsa("rsa512"),
        "keys.test",
        "s512",
        SIGNED_HEADERS,
        &bulk(LU, FOOTER),
    );
    let (sig, doc) = verdict(&msg).await;
    assert_eq!(sig["result"], "fail", "{sig:#}");
    assert!(
        sig["reason"].as_str().unwrap().contains("RFC 8301"),
        "{sig:#}"
    );
    // The same key finding as `audit --checks dkim` gives, from the
    // message scan alone (keys.test is not the audited domain).
    assert!(
        ids(&doc).contains(&"dkim.key-too-short".to_string()),
        "{:#}",
        doc["findings"]
    );
    // A 1024-bit key verifies, with the key check's warning.
    let msg = sign(
        rsa("rsa1024"),
        "keys.test",
        "s1024",
        SIGNED_HEADERS,
        &bulk(LU, FOOTER),
    );
    let (sig, doc) = verdict(&msg).await;
    assert_eq!(sig["result"], "pass", "{sig:#}");
    assert!(ids(&doc).contains(&"dkim.key-weak".to_string()));
}

/// A message of shop.test signed rsa-sha1 with the rsa2048 test key, by
/// hand (mail-auth signs only with SHA-256): simple/simple
/// canonicalisation (RFC 6376 §3.4.1, §3.4.3), the body hash and the
/// header hash with SHA-1, RSASSA-PKCS1-v1_5 over a SHA-1 DigestInfo.
fn rsa_sha1_signed() -> String {
    use rsa::pkcs8::DecodePrivateKey;
    use rustls_pki_types::PrivateKeyDer;
    use rustls_pki_types::pem::PemObject;
    use sha1::{Digest, Sha1};

    let b64 = |bytes: &[u8]| data_encoding::BASE64.encode(bytes);
    let msg = bulk(LU, FOOTER);
    let (head, body) = msg.split_once("\r\n\r\n").expect("header and body");
    // simple body: as is, without trailing empty lines, ending in CRLF.
    let body = format!("{}\r\n", body.trim_end_matches("\r\n"));
    let bh = b64(&Sha1::digest(body.as_bytes()));
    let header = |name: &str| -> String {
        head.split("\r\n")
            .find(|l| {
                l.split_once(':')
                    .is_some_and(|(n, _)| n.eq_ignore_ascii_case(name))
            })
            .expect("header")
            .to_string()
    };
    let signed = ["From", "To", "Subject"];
    let sig_value = format!(
        "v=1; a=rsa-sha1; c=simple/simple; d=shop.test; s=s2048; h={}; bh={bh}; b=",
        signed.join(":")
    );
    let mut data = String::new();
    for h in signed {
        data.push_str(&header(h));
        data.push_str("\r\n");
    }
    data.push_str(&format!("DKIM-Signature: {sig_value}"));
    let der = PrivateKeyDer::from_pem_file(crate::common::fixture("dkim/rsa2048.pem")).unwrap();
    let key = rsa::RsaPrivateKey::from_pkcs8_der(der.secret_der()).expect("rsa key");
    // DigestInfo for SHA-1 (RFC 8017 §9.2, note 1).
    const SHA1_PREFIX: &[u8] = &[
        0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04, 0x14,
    ];
    let padding = rsa::Pkcs1v15Sign {
        hash_len: Some(20),
        prefix: SHA1_PREFIX.into(),
    };
    let signature = key
        .sign(padding, &Sha1::digest(data.as_bytes()))
        .expect("signs");
    format!(
        "DKIM-Signature: {sig_value}{}\r\n{head}\r\n\r\n{body}",
        b64(&signature)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rsa_sha1_signatures_are_not_valid() {
    // RFC 8301 §3.1: verifiers must not consider rsa-sha1 signatures
    // valid, however good the signature itself (mail-auth verifies it).
    let (sig, _) = verdict(&rsa_sha1_signed()).await;
    assert_eq!(sig["algorithm"], "rsa-sha1", "{sig:#}");
    assert_eq!(sig["result"], "fail", "{sig:#}");
    assert!(
        sig["reason"].as_str().unwrap().contains("RFC 8301 §3.1"),
        "{sig:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn body_length_signatures_verify_with_a_warning() {
    // RFC 6376 §3.5: l= limits the body the signature covers. The
    // signature verifies (as other verifiers find), reported with the
    // unsigned tail's risk; text appended after it still verifies.
    let msg = crate::messages::shop_signed_with_length();
    let (sig, doc) = verdict(&msg).await;
    assert_eq!(sig["result"], "pass", "{sig:#}");
    assert_eq!(sig["domain"], "shop.test");
    assert!(ids(&doc).contains(&"message.dkim-body-length".to_string()));
    let appended = format!("{msg}Appended after signing: https://evil.example/\r\n");
    let (sig, _) = verdict(&appended).await;
    assert_eq!(sig["result"], "pass", "the tail is not covered: {sig:#}");
}

/// The vectors of the mail-auth crate's own test resources
/// (tests/fixtures/dkim/mail-auth, with its README): (file, signing
/// domain, result, the section that decides it).
const MAIL_AUTH_VECTORS: &[(&str, &str, &str, &str)] = &[(
    "002.txt",
    "example.com",
    "pass",
    "RFC 6376 §3.4.1 (simple/simple) and §3.6.1 (a key as a bare RSAPublicKey)",
)];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mail_auth_crates_vectors() {
    use mailaudit::dns::{Dns, DnsConfig};
    use mailaudit::engine::{Engine, Request};
    use mailaudit::facts::Target;
    use mailaudit::report::model::RunKind;

    for (file, domain, want, section) in MAIL_AUTH_VECTORS {
        let text =
            std::fs::read_to_string(crate::common::fixture(&format!("dkim/mail-auth/{file}")))
                .unwrap();
        let (keys, message) = text.split_once("\n\n").expect("keys, then the message");
        let mut zone = format!(
            "$ORIGIN {domain}.\n$TTL 300\n@ IN SOA ns.{domain}. h.{domain}. 1 3600 600 86400 300\n"
        );
        for line in keys.lines() {
            let (selector, record) = line.split_once(' ').expect("selector record");
            let strings: Vec<String> = record
                .as_bytes()
                .chunks(200)
                .map(|c| format!("\"{}\"", String::from_utf8_lossy(c)))
                .collect();
            zone.push_str(&format!(
                "{selector}._domainkey IN TXT {}\n",
                strings.join(" ")
            ));
        }
        let server = crate::common::FaultServer::from_texts(&[zone]).await;
        let dns = Dns::new(DnsConfig {
            nameservers: vec![server.addr()],
            timeout: crate::common::TIMEOUT,
            retries: 1,
            concurrency: 32,
            scope: None,
            trust_anchor: None,
        })
        .unwrap();
        let engine = Engine::new(dns, mailaudit::rules::Rules::embedded());
        let req = Request {
            kind: RunKind::Message,
            target: Target {
                messages: vec![loaded(file, &message.replace('\n', "\r\n"))],
                ..Target::default()
            },
            checks: None,
            deadline: None,
        };
        let doc = mailaudit::report::json::to_value(&engine.run(&req).await);
        let sig = &doc["checks"]["message"][0]["dkim"][0];
        assert_eq!(sig["result"], *want, "{file} ({section}): {sig:#}");
        assert_eq!(sig["domain"], *domain, "{file}");
    }
}

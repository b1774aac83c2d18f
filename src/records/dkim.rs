//! DKIM key records (RFC 6376 §3.6.1, RFC 8301, RFC 8463).
//!
//! The public key is decoded and measured with the RustCrypto DER crates
//! (SubjectPublicKeyInfo via `spki`, RSAPublicKey via `pkcs1`), not by
//! hand: what we report as the key size is the modulus a verifier sees.

use der::Decode;
use serde::Serialize;

use crate::findings::{self as ids, Finding};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyType {
    Rsa,
    Ed25519,
}

impl KeyType {
    pub fn as_str(&self) -> &'static str {
        match self {
            KeyType::Rsa => "rsa",
            KeyType::Ed25519 => "ed25519",
        }
    }
}

/// A parsed `<selector>._domainkey.<domain>` TXT record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DkimKey {
    pub raw: String,
    /// `None` when `k=` names a type we do not know.
    pub key_type: Option<KeyType>,
    /// `h=`: the hash algorithms the key may be used with (empty: any).
    pub hashes: Vec<String>,
    /// `t=y`.
    pub testing: bool,
    /// `t=s`: the i= domain must equal d=.
    pub strict: bool,
    /// `p=` is empty: the key was revoked.
    pub revoked: bool,
    /// RSA modulus size, or 256 for Ed25519.
    pub bits: Option<usize>,
    /// `s=`: the service types the key is for (empty: `*`, all).
    pub services: Vec<String>,
    /// What is wrong with the record, one sentence each.
    pub problems: Vec<String>,
}

/// RFC 8301 §3.2: verifiers must not accept shorter RSA keys.
pub const MIN_BITS: usize = 1024;
/// RFC 8301 §3.2: signers should use at least this.
pub const RECOMMENDED_BITS: usize = 2048;

/// Whether a TXT record at a `_domainkey` name looks like a DKIM key at all
/// (a `p=` tag, or `v=DKIM1` first): probes must not mistake a wildcard
/// TXT record for a key.
pub fn looks_like_dkim(txt: &str) -> bool {
    let mut tags = txt.split(';').map(str::trim);
    let first = tags.next().unwrap_or("");
    first.replace(' ', "").eq_ignore_ascii_case("v=DKIM1")
        || std::iter::once(first)
            .chain(tags)
            .any(|t| t.split_once('=').is_some_and(|(k, _)| k.trim() == "p"))
}

impl DkimKey {
    pub fn parse(raw: &str) -> DkimKey {
        let mut key = DkimKey {
            raw: raw.to_string(),
            key_type: Some(KeyType::Rsa),
            hashes: Vec::new(),
            testing: false,
            strict: false,
            revoked: false,
            bits: None,
            services: Vec::new(),
            problems: Vec::new(),
        };
        let mut p: Option<String> = None;
        let mut seen: Vec<String> = Vec::new();
        for (i, part) in raw.split(';').enumerate() {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            let Some((tag, value)) = part.split_once('=') else {
                key.problems
                    .push(format!("{part:?} is not a tag=value pair"));
                continue;
            };
            let tag = tag.trim();
            let value: String = value.split_whitespace().collect::<Vec<_>>().join("");
            if seen.iter().any(|t| t == tag) {
                key.problems.push(format!(
                    "the tag {tag}= appears twice: the record is invalid (RFC 6376 §3.2)"
                ));
            }
            seen.push(tag.to_string());
            match tag {
                "v" => {
                    if i != 0 {
                        key.problems.push("v= must be the first tag".into());
                    } else if value != "DKIM1" {
                        key.problems
                            .push(format!("v={value:?}: the version must be DKIM1"));
                    }
                }
                "k" => {
                    key.key_type = match value.to_ascii_lowercase().as_str() {
                        "rsa" => Some(KeyType::Rsa),
                        "ed25519" => Some(KeyType::Ed25519),
                        _ => {
                            key.problems
                                .push(format!("k={value:?}: unknown key type (rsa or ed25519)"));
                            None
                        }
                    }
                }
                "h" => {
                    for h in value.split(':').filter(|h| !h.is_empty()) {
                        let h = h.to_ascii_lowercase();
                        if h != "sha1" && h != "sha256" {
                            key.problems
                                .push(format!("h= lists {h:?}, which is not sha1 or sha256"));
                        }
                        key.hashes.push(h);
                    }
                }
                "t" => {
                    for f in value.split(':') {
                        match f {
                            "y" => key.testing = true,
                            "s" => key.strict = true,
                            _ => {}
                        }
                    }
                }
                "p" => p = Some(value),
                "s" => {
                    key.services = value
                        .split(':')
                        .filter(|x| !x.is_empty())
                        .map(str::to_ascii_lowercase)
                        .collect();
                    if !key.services.iter().any(|x| x == "*" || x == "email") {
                        key.problems.push(format!(
                            "s={value}: the key is not for email (RFC 6376 §3.6.1)"
                        ));
                    }
                }
                // n (notes), g (obsolete): informational.
                _ => {}
            }
        }
        match p {
            None => key
                .problems
                .push("no p= tag: the record holds no key".into()),
            Some(p) if p.is_empty() => key.revoked = true,
            Some(p) => match data_encoding::BASE64.decode(p.as_bytes()) {
                Err(_) => key.problems.push("p= is not valid base64".into()),
                Ok(bytes) => match &key.key_type {
                    Some(KeyType::Rsa) => match rsa_modulus_bits(&bytes) {
                        Ok(bits) => key.bits = Some(bits),
                        Err(e) => key
                            .problems
                            .push(format!("p= is not an RSA public key: {e}")),
                    },
                    Some(KeyType::Ed25519) => {
                        if bytes.len() == 32 {
                            key.bits = Some(256);
                        } else {
                            key.problems.push(format!(
                                "p= holds {} bytes; an Ed25519 key is 32 (RFC 8463 §4)",
                                bytes.len()
                            ));
                        }
                    }
                    None => {}
                },
            },
        }
        key
    }

    /// Whether signatures made with `hash` (sha1, sha256) may use this key
    /// (`h=`, RFC 6376 §3.6.1).
    pub fn allows(&self, hash: &str) -> bool {
        self.hashes.is_empty() || self.hashes.iter().any(|h| h == hash)
    }

    /// What a receiver makes of this key, as findings about `name` (the
    /// key's DNS name): invalid, revoked, too short or weak for RFC 8301,
    /// in testing, SHA-1 only. The same for the key check and the message
    /// scan.
    pub fn findings(&self, name: &str, subject: &str) -> Vec<Finding> {
        let mut out = Vec::new();
        if !self.problems.is_empty() {
            out.push(
                Finding::new(
                    ids::DKIM_SYNTAX,
                    subject,
                    format!(
                        "The DKIM key record at {name} is invalid: {}",
                        self.problems.join("; ")
                    ),
                )
                .with("record", &self.raw)
                .with("problems", &self.problems),
            );
        } else if self.revoked {
            out.push(
                Finding::new(
                    ids::DKIM_KEY_REVOKED,
                    subject,
                    format!("The DKIM key at {name} is revoked (empty p=)."),
                )
                .with("record", &self.raw),
            );
        } else if let (Some(KeyType::Rsa), Some(bits)) = (&self.key_type, self.bits) {
            if bits < MIN_BITS {
                out.push(
                    Finding::new(
                        ids::DKIM_KEY_TOO_SHORT,
                        subject,
                        format!("The DKIM key at {name} is {bits}-bit RSA; receivers reject keys under {MIN_BITS} bits."),
                    )
                    .with("bits", bits),
                );
            } else if bits < RECOMMENDED_BITS {
                out.push(
                    Finding::new(
                        ids::DKIM_KEY_WEAK,
                        subject,
                        format!("The DKIM key at {name} is {bits}-bit RSA; {RECOMMENDED_BITS} bits are recommended."),
                    )
                    .with("bits", bits),
                );
            }
        }
        if self.testing {
            out.push(
                Finding::new(
                    ids::DKIM_TESTING,
                    subject,
                    format!("The DKIM key at {name} is in testing mode (t=y)."),
                )
                .with("record", &self.raw),
            );
        }
        if self.sha1_only() {
            out.push(
                Finding::new(
                    ids::DKIM_SHA1,
                    subject,
                    format!("The DKIM key at {name} allows only SHA-1 (h=sha1)."),
                )
                .with("record", &self.raw),
            );
        }
        out
    }

    /// Signatures with this key can only use SHA-1 (`h=sha1`).
    pub fn sha1_only(&self) -> bool {
        !self.hashes.is_empty() && self.hashes.iter().all(|h| h == "sha1")
    }
}

/// The modulus size of a DER public key: SubjectPublicKeyInfo (what RFC
/// 6376 specifies) or a bare RSAPublicKey (what some publishers use).
pub fn rsa_modulus_bits(der: &[u8]) -> Result<usize, String> {
    let rsa_der: Vec<u8> = match spki::SubjectPublicKeyInfoRef::from_der(der) {
        Ok(info) => {
            const RSA_ENCRYPTION: spki::ObjectIdentifier =
                spki::ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
            if info.algorithm.oid != RSA_ENCRYPTION {
                return Err(format!(
                    "the key's algorithm is {}, not RSA",
                    info.algorithm.oid
                ));
            }
            info.subject_public_key
                .as_bytes()
                .ok_or("the key bit string is not byte-aligned")?
                .to_vec()
        }
        Err(_) => der.to_vec(),
    };
    let key = pkcs1::RsaPublicKey::from_der(&rsa_der).map_err(|e| e.to_string())?;
    let modulus = key.modulus.as_bytes();
    let first = modulus
        .iter()
        .position(|b| *b != 0)
        .ok_or("the modulus is zero")?;
    let significant = &modulus[first..];
    Ok(significant.len() * 8 - significant[0].leading_zeros() as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 8463 Appendix A.2 keys.
    const RFC8463_ED: &str = "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
    const RFC8463_RSA: &str = "v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWRiGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQiY/J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3Ip3G+2kryOTIKT+l/K4w3QIDAQAB";

    #[test]
    fn measures_keys() {
        let k = DkimKey::parse(RFC8463_RSA);
        assert_eq!(k.key_type, Some(KeyType::Rsa));
        assert_eq!(k.bits, Some(1024));
        assert!(k.problems.is_empty(), "{:?}", k.problems);
        let k = DkimKey::parse(RFC8463_ED);
        assert_eq!(k.key_type, Some(KeyType::Ed25519));
        assert_eq!(k.bits, Some(256));
    }

    #[test]
    fn bare_pkcs1_keys_are_measured_too() {
        // RFC 6376 Appendix C style key without the SPKI wrapper (1024 bits).
        let k = DkimKey::parse(
            "v=DKIM1; p=MIGJAoGBALVI635dLK4cJJAH3Lx6upo3X/Lm1tQz3mezcWTA3BUBnyIsdnRf57aD5BtNmhPrYYDlWlzw3UgnKisIxktkk5+iMQMlFtAS10JB8L3YadXNJY+JBcbeSi5TgJe4WFzNgW95FWDAuSTRXSWZfA/8xjflbTLDx0euFZOM7C4T0GwLAgMBAAE=",
        );
        assert_eq!(k.bits, Some(1024));
    }

    #[test]
    fn flags_and_problems() {
        let k = DkimKey::parse("v=DKIM1; k=rsa; p=");
        assert!(k.revoked);
        let k = DkimKey::parse("v=DKIM1; t=y:s; h=sha1; p=");
        assert!(k.testing && k.strict && k.sha1_only());
        let k = DkimKey::parse("v=DKIM1; k=dsa; p=AAAA");
        assert!(k.problems[0].contains("unknown key type"));
        let k = DkimKey::parse("v=DKIM1; p=!!!");
        assert!(k.problems[0].contains("base64"));
        let k = DkimKey::parse("v=DKIM1; p=AAAA");
        assert!(k.problems[0].contains("not an RSA public key"));
        let k = DkimKey::parse("k=rsa; v=DKIM1; p=");
        assert!(k.problems[0].contains("first"));
        let k = DkimKey::parse("v=DKIM1; k=ed25519; p=AAAA");
        assert!(k.problems[0].contains("32"));
    }

    #[test]
    fn probes_ignore_other_txt_records() {
        assert!(looks_like_dkim("v=DKIM1; p="));
        assert!(looks_like_dkim("k=rsa; p=MIIB"));
        assert!(!looks_like_dkim("v=spf1 -all"));
        assert!(!looks_like_dkim("google-site-verification=abc"));
    }
}

/// One DKIM-Signature field's tags, read ourselves (RFC 6376 §3.2, §3.5):
/// mail-auth reads them leniently, and a verifier must refuse what it
/// refuses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SignatureTags {
    pub domain: Option<String>,
    pub selector: Option<String>,
    pub algorithm: Option<String>,
    /// `l=`: the signature covers only this many octets of the body.
    pub body_length: Option<u64>,
    /// Why the signature is invalid as written, one sentence each.
    pub problems: Vec<String>,
}

impl SignatureTags {
    pub fn parse(raw: &str) -> SignatureTags {
        let mut out = SignatureTags::default();
        let mut seen: Vec<String> = Vec::new();
        for part in raw.split(';') {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            let Some((tag, value)) = part.split_once('=') else {
                out.problems
                    .push(format!("{part:?} is not a tag=value pair"));
                continue;
            };
            let tag = tag.trim().to_string();
            let value: String = value.split_whitespace().collect();
            if seen.contains(&tag) {
                out.problems.push(format!(
                    "the tag {tag}= appears twice: the signature is invalid (RFC 6376 §3.2)"
                ));
            }
            match tag.as_str() {
                "v" if value != "1" => out
                    .problems
                    .push(format!("v={value}: the version must be 1 (RFC 6376 §3.5)")),
                "d" => match crate::dns::name::normalize_domain(&value) {
                    Ok(d) => out.domain = Some(d),
                    Err(e) => {
                        out.domain = Some(value.to_ascii_lowercase());
                        out.problems
                            .push(format!("d={value:?} is not a domain name: it {e}"));
                    }
                },
                "s" => out.selector = Some(value.to_ascii_lowercase()),
                "a" => out.algorithm = Some(value.to_ascii_lowercase()),
                "l" => match value.parse::<u64>() {
                    Ok(n) => out.body_length = Some(n),
                    Err(_) => out.problems.push(format!(
                        "l={value:?} is not a number of octets (RFC 6376 §3.5)"
                    )),
                },
                // RFC 6376 §5.4 and §6.1.1: the From field MUST be
                // signed; a verifier MUST ignore a signature that leaves
                // it out (PERMFAIL, as dkimpy and Mail::DKIM find).
                "h" if !value.split(':').any(|h| h.trim().eq_ignore_ascii_case("from")) => {
                    out.problems.push(format!(
                        "h={value} does not include From: the From field must be signed, and verifiers ignore a signature that leaves it out (RFC 6376 §6.1.1)"
                    ))
                }
                "q" if !value.split(':').any(|m| m.eq_ignore_ascii_case("dns/txt")) => {
                    out.problems.push(format!(
                        "q={value}: no query method a verifier supports (dns/txt, RFC 6376 §3.5)"
                    ))
                }
                _ => {}
            }
            seen.push(tag);
        }
        if !seen.iter().any(|t| t == "v") {
            out.problems
                .push("no v= tag: a signature must say its version (RFC 6376 §3.5)".into());
        }
        for required in ["a", "b", "bh", "d", "h", "s"] {
            if !seen.iter().any(|t| t == required) {
                out.problems.push(format!(
                    "no {required}= tag, which is required (RFC 6376 §3.5)"
                ));
            }
        }
        out
    }

    /// The hash the algorithm uses (`sha256` for rsa-sha256 and
    /// ed25519-sha256).
    pub fn hash(&self) -> Option<&str> {
        self.algorithm
            .as_deref()
            .and_then(|a| a.rsplit_once('-'))
            .map(|(_, h)| h)
    }
}

#[cfg(test)]
mod signature_tests {
    use super::*;

    #[test]
    fn signatures_as_rfc_6376_reads_them() {
        let good = "v=1; a=rsa-sha256; d=example.com; s=s1; h=from; bh=AAAA; b=AAAA";
        assert!(SignatureTags::parse(good).problems.is_empty());
        let t = SignatureTags::parse(good);
        assert_eq!(t.hash(), Some("sha256"));
        for (raw, needle) in [
            (
                "a=rsa-sha256; d=example.com; s=s1; h=from; bh=AAAA; b=AAAA",
                "no v=",
            ),
            (
                "v=1; v=1; a=rsa-sha256; d=example.com; s=s1; h=from; bh=AAAA; b=AAAA",
                "twice",
            ),
            (
                "v=1; a=rsa-sha256; d=exa mple..com; s=s1; h=from; bh=AAAA; b=AAAA",
                "not a domain",
            ),
            (
                "v=1; a=rsa-sha256; q=dns/foo; d=example.com; s=s1; h=from; bh=AAAA; b=AAAA",
                "q=",
            ),
            (
                "v=1; a=rsa-sha256; d=example.com; s=s1; h=subject:to; bh=AAAA; b=AAAA",
                "does not include From",
            ),
        ] {
            let p = SignatureTags::parse(raw).problems;
            assert!(p.iter().any(|x| x.contains(needle)), "{raw}: {p:?}");
        }
    }

    #[test]
    fn keys_for_other_services_and_duplicates_are_invalid() {
        let k = DkimKey::parse("v=DKIM1; k=rsa; s=tlsrpt; p=");
        assert!(k.problems.iter().any(|p| p.contains("not for email")));
        let k = DkimKey::parse("v=DKIM1; k=rsa; k=rsa; p=");
        assert!(k.problems.iter().any(|p| p.contains("twice")));
        let k = DkimKey::parse("v=DKIM1; h=sha1; p=");
        assert!(!k.allows("sha256") && k.allows("sha1"));
    }
}

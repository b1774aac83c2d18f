//! DKIM key records (RFC 6376 §3.6.1, RFC 8301, RFC 8463).
//!
//! The public key is decoded and measured with the RustCrypto DER crates
//! (SubjectPublicKeyInfo via `spki`, RSAPublicKey via `pkcs1`), not by
//! hand: what we report as the key size is the modulus a verifier sees.

use der::Decode;
use serde::Serialize;

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
    /// What is wrong with the record, one sentence each.
    pub problems: Vec<String>,
}

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
            problems: Vec::new(),
        };
        let mut p: Option<String> = None;
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
                // n (notes), s (service types), g (obsolete): informational.
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

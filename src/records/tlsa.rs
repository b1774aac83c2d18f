//! TLSA records (RFC 6698) as DANE for SMTP reads them (RFC 7672), and
//! matching them against a presented certificate chain.

use sha2::Digest;

/// One TLSA record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tlsa {
    /// 0 PKIX-TA, 1 PKIX-EE, 2 DANE-TA, 3 DANE-EE.
    pub usage: u8,
    /// 0 the whole certificate, 1 its SubjectPublicKeyInfo.
    pub selector: u8,
    /// 0 exact, 1 SHA-256, 2 SHA-512.
    pub matching: u8,
    pub data: Vec<u8>,
}

/// Reads "usage selector matching hex" (the presentation form).
pub fn parse(text: &str) -> Result<Tlsa, String> {
    let mut parts = text.split_whitespace();
    let mut field = |what: &str| -> Result<u8, String> {
        parts
            .next()
            .ok_or_else(|| format!("no {what} field"))?
            .parse::<u8>()
            .map_err(|_| format!("the {what} field is not a number from 0 to 255"))
    };
    let (usage, selector, matching) =
        (field("usage")?, field("selector")?, field("matching type")?);
    let hex: String = parts.collect();
    let data = data_encoding::HEXLOWER_PERMISSIVE
        .decode(hex.as_bytes())
        .map_err(|_| "the certificate data is not hexadecimal".to_string())?;
    if usage > 3 {
        return Err(format!("unknown certificate usage {usage}"));
    }
    if selector > 1 {
        return Err(format!("unknown selector {selector}"));
    }
    let want = match matching {
        0 => None,
        1 => Some(32),
        2 => Some(64),
        m => return Err(format!("unknown matching type {m}")),
    };
    if data.is_empty() || want.is_some_and(|n| data.len() != n) {
        return Err(format!(
            "{} octets of certificate data for matching type {matching}",
            data.len()
        ));
    }
    Ok(Tlsa {
        usage,
        selector,
        matching,
        data,
    })
}

impl Tlsa {
    /// DANE for SMTP uses DANE-TA(2) and DANE-EE(3) only; senders treat
    /// PKIX-TA(0) and PKIX-EE(1) as unusable (RFC 7672 §3.1.3).
    pub fn usable(&self) -> bool {
        self.usage >= 2
    }

    /// Whether this record matches the chain (leaf first, DER): DANE-EE
    /// the leaf, DANE-TA any certificate the server sent.
    pub fn matches(&self, chain: &[impl AsRef<[u8]>]) -> bool {
        let candidates: &[_] = match self.usage {
            3 => chain.get(..1).unwrap_or(&[]),
            2 => chain,
            _ => &[],
        };
        candidates.iter().any(|der| {
            let selected = match self.selector {
                0 => Some(der.as_ref().to_vec()),
                _ => spki(der.as_ref()),
            };
            selected.is_some_and(|bytes| self.digest(&bytes) == self.data)
        })
    }

    fn digest(&self, bytes: &[u8]) -> Vec<u8> {
        match self.matching {
            1 => sha2::Sha256::digest(bytes).to_vec(),
            2 => sha2::Sha512::digest(bytes).to_vec(),
            _ => bytes.to_vec(),
        }
    }
}

/// The SubjectPublicKeyInfo of a DER certificate.
fn spki(der: &[u8]) -> Option<Vec<u8>> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    Some(cert.tbs_certificate.subject_pki.raw.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_presentation_form_and_refuses_what_senders_cannot_use() {
        let t = parse(&format!("3 1 1 {}", "ab".repeat(32))).unwrap();
        assert_eq!(
            (t.usage, t.selector, t.matching, t.data.len()),
            (3, 1, 1, 32)
        );
        assert!(t.usable());
        assert!(
            !parse(&format!("1 1 1 {}", "ab".repeat(32)))
                .unwrap()
                .usable()
        );
        for bad in [
            "",
            "3 1",
            "4 1 1 ab",
            "3 2 1 ab",
            "3 1 3 ab",
            "3 1 1 zz",
            "3 1 1 abcd",
            "x 1 1 ab",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn matches_the_leaf_for_dane_ee_and_any_certificate_for_dane_ta() {
        let leaf = rcgen::generate_simple_self_signed(vec!["mx.example".into()]).unwrap();
        let other = rcgen::generate_simple_self_signed(vec!["ca.example".into()]).unwrap();
        let (l, o) = (leaf.cert.der().to_vec(), other.cert.der().to_vec());
        let full = Tlsa {
            usage: 3,
            selector: 0,
            matching: 1,
            data: sha2::Sha256::digest(&l).to_vec(),
        };
        assert!(full.matches(&[&l, &o]));
        assert!(!full.matches(&[&o, &l]));
        let ta = Tlsa {
            usage: 2,
            selector: 1,
            matching: 2,
            data: sha2::Sha512::digest(spki(&o).unwrap()).to_vec(),
        };
        assert!(ta.matches(&[&l, &o]));
        assert!(!ta.matches(&[&l]));
        let pkix = Tlsa { usage: 1, ..full };
        assert!(!pkix.matches(&[&l]));
    }
}

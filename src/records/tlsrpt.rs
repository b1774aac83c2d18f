//! SMTP TLS Reporting policy records (RFC 8460 §3): the TXT record at
//! `_smtp._tls.<domain>`, `v=TLSRPTv1; rua=mailto:...,https://...`.

/// A record that reads as TLS-RPT: it starts with `v=TLSRPTv1` (records
/// that do not are not TLS-RPT records and are ignored, §3).
pub fn is_tlsrpt(text: &str) -> bool {
    let t = text.trim_start();
    t.strip_prefix("v=TLSRPTv1")
        .is_some_and(|rest| rest.is_empty() || rest.trim_start().starts_with(';'))
}

/// A parsed record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsRpt {
    /// Where reports go: `mailto:` and `https:` URIs.
    pub rua: Vec<String>,
}

/// Parses a record that [`is_tlsrpt`]; the error says what is wrong.
pub fn parse(text: &str) -> Result<TlsRpt, String> {
    let mut fields = text.split(';').map(str::trim).filter(|f| !f.is_empty());
    match fields.next() {
        Some("v=TLSRPTv1") => {}
        _ => return Err("it does not start with v=TLSRPTv1".into()),
    }
    let mut rua: Option<Vec<String>> = None;
    for field in fields {
        let Some((name, value)) = field.split_once('=') else {
            return Err(format!("{field:?} is not name=value"));
        };
        let name = name.trim();
        if !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
            || name.is_empty()
        {
            return Err(format!("{name:?} is not a field name"));
        }
        if name == "rua" {
            if rua.is_some() {
                return Err("rua= is given twice".into());
            }
            let mut uris = Vec::new();
            for uri in value.split(',').map(str::trim) {
                check_uri(uri)?;
                uris.push(uri.to_string());
            }
            rua = Some(uris);
        }
        // Other fields are extensions (§3): allowed, ignored.
    }
    match rua {
        Some(rua) => Ok(TlsRpt { rua }),
        None => Err("it has no rua= (where to send reports)".into()),
    }
}

fn check_uri(uri: &str) -> Result<(), String> {
    if let Some(addr) = uri.strip_prefix("mailto:") {
        let addr = addr.split('?').next().unwrap_or("");
        let Some((local, domain)) = addr.rsplit_once('@') else {
            return Err(format!("{uri:?} is not a mailto: address"));
        };
        if local.is_empty() || !domain.contains('.') || domain.contains(char::is_whitespace) {
            return Err(format!("{uri:?} is not a mailto: address"));
        }
        return Ok(());
    }
    if let Some(rest) = uri.strip_prefix("https://") {
        let host = rest.split(['/', '?', '#']).next().unwrap_or("");
        if host.is_empty() || host.contains(char::is_whitespace) {
            return Err(format!("{uri:?} has no host"));
        }
        return Ok(());
    }
    Err(format!(
        "{uri:?} is neither a mailto: nor an https: URI (RFC 8460 §3)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_of_rfc_8460_and_mistakes() {
        assert_eq!(
            parse("v=TLSRPTv1; rua=mailto:reports@example.com")
                .unwrap()
                .rua,
            ["mailto:reports@example.com"]
        );
        assert_eq!(
            parse("v=TLSRPTv1;rua=mailto:a@example.com,https://r.example.net/v1/tlsrpt; ext=1")
                .unwrap()
                .rua
                .len(),
            2
        );
        assert!(is_tlsrpt("v=TLSRPTv1; rua=mailto:a@example.com"));
        assert!(!is_tlsrpt("v=TLSRPTv10; rua=x"));
        assert!(!is_tlsrpt("v=spf1 -all"));
        for bad in [
            "v=TLSRPTv1",
            "v=TLSRPTv1; rua=http://insecure.example/",
            "v=TLSRPTv1; rua=mailto:nobody",
            "v=TLSRPTv1; rua=mailto:a@example.com; rua=mailto:b@example.com",
            "v=TLSRPTv1; garbage",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}

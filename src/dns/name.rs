//! Domain names as the checks handle them: lower-case ASCII, no trailing dot.

use std::net::IpAddr;

use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum NameError {
    #[error("is empty")]
    Empty,
    #[error("is longer than 253 characters")]
    TooLong,
    #[error("has an empty label (two dots in a row, or a leading dot)")]
    EmptyLabel,
    #[error("has a label longer than 63 characters: {0:?}")]
    LabelTooLong(String),
    #[error("contains {0:?}, which is not allowed in a host name")]
    BadChar(char),
    #[error("has a label that starts or ends with a hyphen: {0:?}")]
    Hyphen(String),
    #[error("is not a valid internationalised name: {0}")]
    Idna(String),
    #[error("is an IP address, not a domain name")]
    IpAddress,
    #[error("has a numeric top-level label")]
    NumericTld,
}

/// Normalises a domain name given by a user or found in a record: lower case,
/// IDNA to A-labels, trailing dot removed, and checks the host-name syntax
/// (letters, digits, hyphens; underscores allowed for service labels such as
/// `_dmarc`).
pub fn normalize_domain(input: &str) -> Result<String, NameError> {
    let trimmed = input.strip_suffix('.').unwrap_or(input);
    if trimmed.is_empty() {
        return Err(NameError::Empty);
    }
    if trimmed.parse::<IpAddr>().is_ok() {
        return Err(NameError::IpAddress);
    }
    let ascii = if trimmed.is_ascii() {
        trimmed.to_ascii_lowercase()
    } else {
        idna::domain_to_ascii(trimmed).map_err(|e| NameError::Idna(e.to_string()))?
    };
    if ascii.len() > 253 {
        return Err(NameError::TooLong);
    }
    for label in ascii.split('.') {
        if label.is_empty() {
            return Err(NameError::EmptyLabel);
        }
        if label.len() > 63 {
            return Err(NameError::LabelTooLong(label.to_string()));
        }
        if let Some(c) = label
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
        {
            return Err(NameError::BadChar(c));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(NameError::Hyphen(label.to_string()));
        }
    }
    if ascii.contains('.')
        && ascii
            .rsplit('.')
            .next()
            .is_some_and(|tld| tld.chars().all(|c| c.is_ascii_digit()))
    {
        return Err(NameError::NumericTld);
    }
    Ok(ascii)
}

/// A DKIM selector: one or more DNS labels of letters, digits, `-` and `_`
/// (RFC 6376 §3.1), 63 octets each at most.
pub fn is_selector(s: &str) -> bool {
    !s.is_empty()
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
}

/// `name` equals `zone` or lies below it (both normalised).
/// Whether `pattern` (a host name, or `*.domain` covering exactly one
/// leftmost label, as in certificates (RFC 6125 §6.4.3) and MTA-STS `mx:`
/// lines (RFC 8461 §4.1)) covers `host`; case and a trailing dot aside.
pub fn wildcard_match(pattern: &str, host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let pattern = pattern.trim_end_matches('.').to_ascii_lowercase();
    match pattern.strip_prefix("*.") {
        Some(rest) => host
            .split_once('.')
            .is_some_and(|(first, tail)| !first.is_empty() && tail == rest),
        None => pattern == host,
    }
}

pub fn is_within(name: &str, zone: &str) -> bool {
    zone.is_empty()
        || name == zone
        || (name.len() > zone.len()
            && name.ends_with(zone)
            && name.as_bytes()[name.len() - zone.len() - 1] == b'.')
}

/// The parent of a name, or `None` for a single label.
pub fn parent(name: &str) -> Option<&str> {
    name.split_once('.').map(|(_, rest)| rest)
}

pub fn label_count(name: &str) -> usize {
    if name.is_empty() {
        0
    } else {
        name.split('.').count()
    }
}

/// The reverse-lookup name of an address: RFC 1035 `in-addr.arpa` for IPv4,
/// RFC 3596 nibbles under `ip6.arpa` for IPv6.
pub fn reverse_name(ip: IpAddr) -> String {
    format!(
        "{}.{}",
        reversed_labels(ip),
        match ip {
            IpAddr::V4(_) => "in-addr.arpa",
            IpAddr::V6(_) => "ip6.arpa",
        }
    )
}

/// The address part of a reverse or DNSBL query name: the four octets in
/// reverse order for IPv4, all 32 nibbles in reverse order for IPv6
/// (RFC 5782 §2.1 and §2.4; `::` is expanded, IPv4-mapped addresses keep
/// their IPv6 form).
pub fn reversed_labels(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.{}.{}", o[3], o[2], o[1], o[0])
        }
        IpAddr::V6(v6) => {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            let mut out = String::with_capacity(63);
            for byte in v6.octets().iter().rev() {
                for nibble in [byte & 0x0f, byte >> 4] {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push(HEX[nibble as usize] as char);
                }
            }
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_and_rejects() {
        assert_eq!(normalize_domain("Example.COM.").unwrap(), "example.com");
        assert_eq!(
            normalize_domain("_dmarc.example.com").unwrap(),
            "_dmarc.example.com"
        );
        assert_eq!(normalize_domain("bücher.de").unwrap(), "xn--bcher-kva.de");
        assert_eq!(
            normalize_domain("exa mple..com"),
            Err(NameError::BadChar(' '))
        );
        assert_eq!(normalize_domain("a..b"), Err(NameError::EmptyLabel));
        assert_eq!(
            normalize_domain("-a.com"),
            Err(NameError::Hyphen("-a".into()))
        );
        assert_eq!(normalize_domain("192.0.2.1"), Err(NameError::IpAddress));
        assert_eq!(normalize_domain("1.2.3.999"), Err(NameError::NumericTld));
        assert_eq!(normalize_domain(""), Err(NameError::Empty));
    }

    #[test]
    fn within() {
        assert!(is_within("a.example.com", "example.com"));
        assert!(is_within("example.com", "example.com"));
        assert!(!is_within("badexample.com", "example.com"));
        assert!(is_within("anything", ""));
    }

    #[test]
    fn reverse_names_follow_rfc5782() {
        assert_eq!(
            reverse_name("192.0.2.99".parse().unwrap()),
            "99.2.0.192.in-addr.arpa"
        );
        // RFC 5782 §2.4 example.
        assert_eq!(
            reversed_labels("2001:db8:1:2:3:4:567:89ab".parse().unwrap()),
            "b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2"
        );
        // IPv4-mapped addresses are not collapsed to IPv4.
        assert_eq!(
            reversed_labels("::ffff:127.0.0.2".parse().unwrap()),
            "2.0.0.0.0.0.f.7.f.f.f.f.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0"
        );
    }
}

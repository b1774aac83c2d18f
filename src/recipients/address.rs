//! One recipient address: its syntax as RFC 5321 (§4.1.2, §4.5.3.1) and
//! RFC 6531 (SMTPUTF8) accept it, with the reason when they do not, and
//! its normalised form for finding duplicates.

use crate::rules::recipients::Provider;
use std::borrow::Cow;

/// A syntactically valid address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address<'a> {
    /// The local part as written (quotes kept).
    pub local: Cow<'a, str>,
    /// The domain in A-labels, lower case, without a trailing dot; `None`
    /// for an address literal (`user@[192.0.2.1]`).
    pub domain: Option<String>,
}

/// Local parts are at most 64 octets, addresses (a forward path without
/// its angle brackets) at most 254 (RFC 5321 §4.5.3.1.1, .3 and erratum
/// 1690).
const MAX_LOCAL: usize = 64;
const MAX_ADDRESS: usize = 254;

/// Parses `raw` (surrounding space and one pair of angle brackets, as in
/// `Jane <jane@example.com>`, are taken off).
pub fn parse(raw: &str) -> Result<Address<'_>, String> {
    let mut s = raw.trim();
    if let (Some(open), true) = (s.rfind('<'), s.ends_with('>')) {
        s = s[open + 1..s.len() - 1].trim();
    }
    if s.is_empty() {
        return Err("empty".into());
    }
    if s.len() > MAX_ADDRESS {
        return Err(format!(
            "{} octets long; an address holds at most {MAX_ADDRESS}",
            s.len()
        ));
    }
    let at = split_at(s)?;
    let (local, domain) = (&s[..at], &s[at + 1..]);
    check_local(local)?;
    if domain.is_empty() {
        return Err("nothing after the @".into());
    }
    if domain.starts_with('[') {
        return literal(domain).map(|()| Address {
            local: Cow::Borrowed(local),
            domain: None,
        });
    }
    Ok(Address {
        local: Cow::Borrowed(local),
        domain: Some(check_domain(domain)?),
    })
}

/// The position of the @ that separates the local part (the last one
/// outside a quoted string).
fn split_at(s: &str) -> Result<usize, String> {
    let mut quoted = false;
    let mut escaped = false;
    let mut found = None;
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '@' if !quoted => {
                if found.is_some() {
                    return Err("more than one @".into());
                }
                found = Some(i);
            }
            _ => {}
        }
    }
    if quoted {
        return Err("a quoted local part is not closed".into());
    }
    found.ok_or_else(|| "no @".to_string())
}

/// atext (RFC 5322 §3.2.3), and any non-ASCII character (RFC 6531 §3.3).
fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c) || !c.is_ascii()
}

fn check_local(local: &str) -> Result<(), String> {
    if local.is_empty() {
        return Err("nothing before the @".into());
    }
    if local.len() > MAX_LOCAL {
        return Err(format!(
            "the local part is {} octets long; it holds at most {MAX_LOCAL}",
            local.len()
        ));
    }
    if let Some(rest) = local.strip_prefix('"') {
        // Quoted-string: qtextSMTP or quoted-pairSMTP, printable ASCII
        // (and UTF-8, RFC 6531).
        let Some(inner) = rest.strip_suffix('"') else {
            return Err("text after a quoted local part".into());
        };
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some(' '..='~') => {}
                    _ => {
                        return Err(
                            "a backslash in quotes must escape a printable character".into()
                        );
                    }
                },
                '"' => return Err("a quote inside a quoted local part must be escaped".into()),
                ' '..='~' => {}
                c if !c.is_ascii() => {}
                c => return Err(format!("character U+{:04X} in the local part", c as u32)),
            }
        }
        return Ok(());
    }
    if local.starts_with('.') || local.ends_with('.') {
        return Err("the local part starts or ends with a dot".into());
    }
    if local.contains("..") {
        return Err("two dots in a row in the local part".into());
    }
    if let Some(c) = local.chars().find(|c| *c != '.' && !is_atext(*c)) {
        return Err(if c.is_ascii_graphic() || c == ' ' {
            format!("{c:?} in the local part (allowed only in quotes)")
        } else {
            format!("character U+{:04X} in the local part", c as u32)
        });
    }
    Ok(())
}

/// A domain as senders resolve it: LDH labels after IDNA (UTS 46), at
/// least two of them.
fn check_domain(domain: &str) -> Result<String, String> {
    let d = domain.strip_suffix('.').unwrap_or(domain);
    if d.is_empty() || d.starts_with('.') || d.contains("..") {
        return Err("an empty label in the domain".into());
    }
    let ascii = if d.is_ascii() {
        d.to_ascii_lowercase()
    } else {
        idna::domain_to_ascii(d)
            .map_err(|_| "the domain is not a valid internationalised name".to_string())?
    };
    if ascii.len() > 253 {
        return Err("the domain is longer than 253 octets".into());
    }
    let labels: Vec<&str> = ascii.split('.').collect();
    if labels.len() < 2 {
        return Err(format!("the domain {ascii:?} has no dot"));
    }
    for label in &labels {
        if label.len() > 63 {
            return Err("a label of the domain is longer than 63 octets".into());
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(format!(
                "the domain label {label:?} starts or ends with a hyphen"
            ));
        }
        if let Some(c) = label
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
        {
            return Err(format!("{c:?} in the domain"));
        }
    }
    if labels
        .last()
        .is_some_and(|tld| tld.chars().all(|c| c.is_ascii_digit()))
    {
        return Err("the domain ends in a number (an IP address needs brackets)".into());
    }
    Ok(ascii)
}

fn literal(domain: &str) -> Result<(), String> {
    let inner = domain
        .strip_prefix('[')
        .and_then(|d| d.strip_suffix(']'))
        .ok_or("an address literal is not closed")?;
    let ok = match inner.strip_prefix("IPv6:") {
        Some(v6) => v6.parse::<std::net::Ipv6Addr>().is_ok(),
        None => inner.parse::<std::net::Ipv4Addr>().is_ok(),
    };
    if ok {
        Ok(())
    } else {
        Err(format!("{domain:?} is not an address literal"))
    }
}

impl Address<'_> {
    /// The form two addresses of one mailbox share: the domain in lower
    /// case (and a provider's other domains as its first one); the local
    /// part as written, unless the provider ignores case, dots or
    /// `+tags`.
    pub fn normalised(&self, providers: &[Provider]) -> String {
        let domain = self.domain.as_deref().unwrap_or("");
        let provider = providers
            .iter()
            .find(|p| p.domains.iter().any(|d| d == domain));
        let Some(p) = provider else {
            return format!("{}@{domain}", self.local);
        };
        let mut local = self.local.to_string();
        if p.plus_tags
            && let Some(i) = local.find('+')
        {
            local.truncate(i);
        }
        if p.ignore_dots {
            local.retain(|c| c != '.');
        }
        if p.case_insensitive {
            local = local.to_lowercase();
        }
        format!("{local}@{}", p.domains[0])
    }

    /// The local part as role lists name them: lower case, without a
    /// `+tag`.
    pub fn role_key(&self) -> String {
        let l = self.local.trim_matches('"').to_lowercase();
        match l.split_once('+') {
            Some((base, _)) => base.to_string(),
            None => l,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_what_rfc_5321_and_6531_accept() {
        for ok in [
            "jane@example.com",
            "  <Jane.Doe+news@Example.COM>  ",
            "Jane Doe <jane@example.com>",
            "\"john smith\"@example.com",
            "\"a\\\"b\"@example.com",
            "o'brien@example.ie",
            "user@[192.0.2.1]",
            "user@[IPv6:2001:db8::1]",
            "jürgen@bücher.example",
            "用户@例子.广告",
            "x@example.com.",
        ] {
            assert!(parse(ok).is_ok(), "{ok}: {:?}", parse(ok));
        }
        assert_eq!(
            parse("jürgen@Bücher.example").unwrap().domain.as_deref(),
            Some("xn--bcher-kva.example")
        );
    }

    #[test]
    fn refuses_what_they_do_not_with_the_reason() {
        for (bad, why) in [
            ("", "empty"),
            ("jane.example.com", "no @"),
            ("a@b@example.com", "more than one @"),
            ("@example.com", "nothing before"),
            ("jane@", "nothing after"),
            (".jane@example.com", "starts or ends with a dot"),
            ("ja..ne@example.com", "two dots"),
            ("ja ne@example.com", "allowed only in quotes"),
            ("jane@localhost", "no dot"),
            ("jane@exa_mple.com", "'_' in the domain"),
            ("jane@-example.com", "hyphen"),
            ("jane@example..com", "empty label"),
            ("jane@192.0.2.1", "ends in a number"),
            ("\"open@example.com", "not closed"),
            ("user@[300.1.1.1]", "not an address literal"),
            ("\"a\"é@example.com", "text after a quoted"),
            ("\"@example.com", "not closed"),
        ] {
            let err = parse(bad).unwrap_err();
            assert!(err.contains(why), "{bad:?}: {err}");
        }
        let long = format!("{}@example.com", "a".repeat(65));
        assert!(parse(&long).unwrap_err().contains("64"));
    }

    #[test]
    fn normalises_as_the_provider_compares() {
        let gmail = Provider {
            domains: vec!["gmail.com".into(), "googlemail.com".into()],
            ignore_dots: true,
            plus_tags: true,
            case_insensitive: true,
        };
        let n = |a: &str| parse(a).unwrap().normalised(std::slice::from_ref(&gmail));
        assert_eq!(n("J.Doe+shop@GoogleMail.com"), n("jdoe@gmail.com"));
        assert_ne!(n("Jane@example.com"), n("jane@example.com"));
        assert_eq!(n("jane@EXAMPLE.com"), n("jane@example.com"));
        assert_eq!(parse("Info+x@example.com").unwrap().role_key(), "info");
    }
}

//! SPF record syntax (RFC 7208 §4.5, §5, §6, §7, §12 ABNF).
//!
//! Our own parser rather than mail-auth's: an auditor must name the term
//! that is wrong and why, keep each term's text for the report's tree, and
//! reject what receivers reject (an unknown mechanism, `include=` for
//! `include:`, a second `redirect`). mail-auth's parser returns one opaque
//! error and lets an unknown mechanism swallow the term after it.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{Ipv4Net, Ipv6Net};

/// The result a matching directive yields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Qualifier {
    Pass,
    Fail,
    SoftFail,
    Neutral,
}

impl Qualifier {
    pub fn symbol(self) -> char {
        match self {
            Qualifier::Pass => '+',
            Qualifier::Fail => '-',
            Qualifier::SoftFail => '~',
            Qualifier::Neutral => '?',
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mechanism {
    All,
    Include(MacroString),
    A {
        domain: Option<MacroString>,
        cidr4: u8,
        cidr6: u8,
    },
    Mx {
        domain: Option<MacroString>,
        cidr4: u8,
        cidr6: u8,
    },
    Ptr(Option<MacroString>),
    Ip4(Ipv4Net),
    Ip6(Ipv6Net),
    Exists(MacroString),
}

impl Mechanism {
    /// Counts against the limit of 10 DNS-querying terms (RFC 7208 §4.6.4).
    pub fn queries_dns(&self) -> bool {
        !matches!(self, Mechanism::All | Mechanism::Ip4(_) | Mechanism::Ip6(_))
    }

    pub fn name(&self) -> &'static str {
        match self {
            Mechanism::All => "all",
            Mechanism::Include(_) => "include",
            Mechanism::A { .. } => "a",
            Mechanism::Mx { .. } => "mx",
            Mechanism::Ptr(_) => "ptr",
            Mechanism::Ip4(_) => "ip4",
            Mechanism::Ip6(_) => "ip6",
            Mechanism::Exists(_) => "exists",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TermKind {
    Directive {
        qualifier: Qualifier,
        mechanism: Mechanism,
    },
    Redirect(MacroString),
    Exp(MacroString),
    /// An unknown modifier: ignored by receivers (RFC 7208 §6).
    Unknown {
        name: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    /// The term as written in the record.
    pub raw: String,
    pub kind: TermKind,
}

/// A parsed `v=spf1` record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpfRecord {
    pub terms: Vec<Term>,
}

/// Which term is wrong, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpfSyntaxError {
    pub term: String,
    pub reason: String,
}

impl fmt::Display for SpfSyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.term.is_empty() {
            f.write_str(&self.reason)
        } else {
            write!(f, "{:?}: {}", self.term, self.reason)
        }
    }
}

/// Whether a TXT record is an SPF record: `v=spf1` then a space or the end
/// (RFC 7208 §4.5).
pub fn is_spf(txt: &[u8]) -> bool {
    txt.len() >= 6 && txt[..6].eq_ignore_ascii_case(b"v=spf1") && (txt.len() == 6 || txt[6] == b' ')
}

fn err(term: &str, reason: impl Into<String>) -> SpfSyntaxError {
    SpfSyntaxError {
        term: term.to_string(),
        reason: reason.into(),
    }
}

const MECHANISMS: [&str; 8] = ["all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists"];

impl SpfRecord {
    pub fn parse(text: &str) -> Result<SpfRecord, SpfSyntaxError> {
        if !is_spf(text.as_bytes()) {
            return Err(err("", "does not start with \"v=spf1\""));
        }
        if let Some(c) = text.chars().find(|c| !(' '..='~').contains(c)) {
            return Err(err(
                "",
                format!(
                    "contains the character {c:?}; only printable ASCII and spaces are allowed"
                ),
            ));
        }
        let mut terms = Vec::new();
        let mut seen_redirect = false;
        let mut seen_exp = false;
        for raw in text[6..].split(' ').filter(|t| !t.is_empty()) {
            let kind = parse_term(raw)?;
            match &kind {
                TermKind::Redirect(_) if seen_redirect => {
                    return Err(err(raw, "redirect= appears more than once (RFC 7208 §6)"));
                }
                TermKind::Exp(_) if seen_exp => {
                    return Err(err(raw, "exp= appears more than once (RFC 7208 §6)"));
                }
                TermKind::Redirect(_) => seen_redirect = true,
                TermKind::Exp(_) => seen_exp = true,
                _ => {}
            }
            terms.push(Term {
                raw: raw.to_string(),
                kind,
            });
        }
        Ok(SpfRecord { terms })
    }

    pub fn directives(&self) -> impl Iterator<Item = (&Term, Qualifier, &Mechanism)> {
        self.terms.iter().filter_map(|t| match &t.kind {
            TermKind::Directive {
                qualifier,
                mechanism,
            } => Some((t, *qualifier, mechanism)),
            _ => None,
        })
    }

    pub fn redirect(&self) -> Option<&MacroString> {
        self.terms.iter().find_map(|t| match &t.kind {
            TermKind::Redirect(m) => Some(m),
            _ => None,
        })
    }

    /// The `all` directive, if any: its qualifier.
    pub fn all(&self) -> Option<Qualifier> {
        self.directives()
            .find(|(_, _, m)| matches!(m, Mechanism::All))
            .map(|(_, q, _)| q)
    }

    /// `redirect=` counts only when there is no `all` (RFC 7208 §6.1).
    pub fn effective_redirect(&self) -> Option<&MacroString> {
        if self.all().is_some() {
            None
        } else {
            self.redirect()
        }
    }
}

fn parse_term(raw: &str) -> Result<TermKind, SpfSyntaxError> {
    let (qualifier, body) = match raw.as_bytes()[0] {
        b'+' => (Some(Qualifier::Pass), &raw[1..]),
        b'-' => (Some(Qualifier::Fail), &raw[1..]),
        b'~' => (Some(Qualifier::SoftFail), &raw[1..]),
        b'?' => (Some(Qualifier::Neutral), &raw[1..]),
        _ => (None, raw),
    };
    let stop = body.find([':', '/', '=']);
    if qualifier.is_none()
        && let Some(eq) = stop.filter(|i| body.as_bytes()[*i] == b'=')
    {
        return parse_modifier(raw, &body[..eq], &body[eq + 1..]);
    }
    let (name, rest) = match stop {
        Some(i) => (&body[..i], &body[i..]),
        None => (body, ""),
    };
    let lname = name.to_ascii_lowercase();
    let arg = rest.strip_prefix(':');
    let domain_arg = |what: &str| -> Result<MacroString, SpfSyntaxError> {
        match arg {
            Some(spec) if !spec.is_empty() => {
                MacroString::parse_domain_spec(spec).map_err(|reason| err(raw, reason))
            }
            _ => Err(err(
                raw,
                format!("{what} needs a domain: \"{what}:example.com\""),
            )),
        }
    };
    let mechanism = match lname.as_str() {
        "all" => {
            if !rest.is_empty() {
                return Err(err(raw, "\"all\" takes no argument"));
            }
            Mechanism::All
        }
        "include" => Mechanism::Include(domain_arg("include")?),
        "exists" => Mechanism::Exists(domain_arg("exists")?),
        "a" | "mx" => {
            let (domain, cidr) = split_domain_and_cidr(rest).map_err(|r| err(raw, r))?;
            let domain = match domain {
                Some(d) => Some(MacroString::parse_domain_spec(d).map_err(|r| err(raw, r))?),
                None => None,
            };
            let (cidr4, cidr6) = parse_dual_cidr(cidr).map_err(|r| err(raw, r))?;
            if lname == "a" {
                Mechanism::A {
                    domain,
                    cidr4,
                    cidr6,
                }
            } else {
                Mechanism::Mx {
                    domain,
                    cidr4,
                    cidr6,
                }
            }
        }
        "ptr" => match arg {
            None if rest.is_empty() => Mechanism::Ptr(None),
            Some(spec) if !spec.is_empty() => Mechanism::Ptr(Some(
                MacroString::parse_domain_spec(spec).map_err(|r| err(raw, r))?,
            )),
            _ => return Err(err(raw, "malformed ptr mechanism")),
        },
        "ip4" => {
            let spec = arg.ok_or_else(|| err(raw, "ip4 needs an address: \"ip4:192.0.2.0/24\""))?;
            let (addr, len) = split_cidr(spec, 32).map_err(|r| err(raw, r))?;
            let addr: Ipv4Addr = addr
                .parse()
                .map_err(|_| err(raw, format!("{addr:?} is not an IPv4 address")))?;
            Mechanism::Ip4(Ipv4Net::new(addr, len).expect("length checked"))
        }
        "ip6" => {
            let spec =
                arg.ok_or_else(|| err(raw, "ip6 needs an address: \"ip6:2001:db8::/32\""))?;
            let (addr, len) = split_cidr(spec, 128).map_err(|r| err(raw, r))?;
            let addr: Ipv6Addr = addr
                .parse()
                .map_err(|_| err(raw, format!("{addr:?} is not an IPv6 address")))?;
            Mechanism::Ip6(Ipv6Net::new(addr, len).expect("length checked"))
        }
        "" => return Err(err(raw, "a qualifier without a mechanism")),
        _ => {
            return Err(err(
                raw,
                format!(
                    "unknown mechanism {name:?} (known: all, include, a, mx, ptr, ip4, ip6, exists)"
                ),
            ));
        }
    };
    Ok(TermKind::Directive {
        qualifier: qualifier.unwrap_or(Qualifier::Pass),
        mechanism,
    })
}

fn parse_modifier(raw: &str, name: &str, value: &str) -> Result<TermKind, SpfSyntaxError> {
    let valid_name = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !valid_name {
        return Err(err(raw, format!("{name:?} is not a valid modifier name")));
    }
    let lname = name.to_ascii_lowercase();
    match lname.as_str() {
        "redirect" | "exp" => {
            if value.is_empty() {
                return Err(err(raw, format!("{lname}= needs a domain")));
            }
            let spec = MacroString::parse_domain_spec(value).map_err(|r| err(raw, r))?;
            Ok(if lname == "redirect" {
                TermKind::Redirect(spec)
            } else {
                TermKind::Exp(spec)
            })
        }
        "v" => Err(err(
            raw,
            "a second version tag: two SPF records were probably merged into one",
        )),
        m if MECHANISMS.contains(&m) => Err(err(
            raw,
            format!("the mechanism {m:?} takes \":\", not \"=\" (write \"{m}:...\")"),
        )),
        _ => {
            MacroString::parse(value, false).map_err(|r| err(raw, r))?;
            Ok(TermKind::Unknown { name: lname })
        }
    }
}

/// For `a` and `mx`: `rest` is "", ":domain", ":domain/cidr" or "/cidr".
fn split_domain_and_cidr(rest: &str) -> Result<(Option<&str>, &str), String> {
    if rest.is_empty() {
        return Ok((None, ""));
    }
    if let Some(spec) = rest.strip_prefix(':') {
        // A domain-spec may hold any visible character, '/' and ':'
        // included (RFC 7208 §7.1); only a dual-cidr-length at its very end
        // is not part of it.
        let cut = cidr_suffix_start(spec);
        return match cut {
            0 if spec.is_empty() => Err("empty domain after ':'".into()),
            0 => Err("empty domain before the prefix length".into()),
            i => Ok((Some(&spec[..i]), &spec[i..])),
        };
    }
    if rest.starts_with('/') {
        return Ok((None, rest));
    }
    Err(format!("unexpected {rest:?}"))
}

/// `/n`, `//m` or `/n//m` (RFC 7208 §5.6 dual-cidr-length).
fn parse_dual_cidr(s: &str) -> Result<(u8, u8), String> {
    if s.is_empty() {
        return Ok((32, 128));
    }
    let (v4, v6) = if let Some(v6) = s.strip_prefix("//") {
        (None, Some(v6))
    } else if let Some(rest) = s.strip_prefix('/') {
        match rest.split_once("//") {
            Some((a, b)) => (Some(a), Some(b)),
            None => (Some(rest), None),
        }
    } else {
        return Err(format!("bad prefix length {s:?}"));
    };
    let v4 = match v4 {
        Some(n) => cidr_len(n, 32)?,
        None => 32,
    };
    let v6 = match v6 {
        Some(n) => cidr_len(n, 128)?,
        None => 128,
    };
    Ok((v4, v6))
}

/// Where a trailing dual-cidr-length ("/24", "//64", "/24//64") starts in
/// `spec`, or `spec.len()` when it has none.
fn cidr_suffix_start(spec: &str) -> usize {
    let b = spec.as_bytes();
    let digits_from = |end: usize| {
        let mut i = end;
        while i > 0 && b[i - 1].is_ascii_digit() {
            i -= 1;
        }
        i
    };
    let mut cut = spec.len();
    let d = digits_from(cut);
    if d < cut && d >= 2 && &b[d - 2..d] == b"//" {
        cut = d - 2;
    }
    let d = digits_from(cut);
    if d < cut && d >= 1 && b[d - 1] == b'/' && !(d >= 2 && b[d - 2] == b'/') {
        cut = d - 1;
    }
    cut
}

fn split_cidr(spec: &str, max: u8) -> Result<(&str, u8), String> {
    match spec.split_once('/') {
        Some((addr, len)) => Ok((addr, cidr_len(len, max)?)),
        None => Ok((spec, max)),
    }
}

fn cidr_len(s: &str, max: u8) -> Result<u8, String> {
    let ok_digits = !s.is_empty()
        && s.len() <= 3
        && s.bytes().all(|b| b.is_ascii_digit())
        && (s == "0" || !s.starts_with('0'));
    match s.parse::<u8>() {
        Ok(n) if ok_digits && n <= max => Ok(n),
        _ => Err(format!(
            "prefix length {s:?} is not a number from 0 to {max}"
        )),
    }
}

/// One piece of a macro-string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MacroPart {
    Literal(String),
    Macro {
        /// Lower-case macro letter.
        letter: char,
        /// Upper-case letter in the record: URL-escape the value.
        escape: bool,
        /// Keep this many right-hand parts.
        keep: Option<usize>,
        reverse: bool,
        /// Characters to split on ("." when none given).
        delimiters: String,
    },
}

/// A macro-string (RFC 7208 §7.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MacroString {
    pub raw: String,
    pub parts: Vec<MacroPart>,
}

/// The values macros expand to (RFC 7208 §7.2).
#[derive(Debug, Clone, Default)]
pub struct MacroContext {
    /// `<sender>`: local-part@domain.
    pub sender: String,
    /// `<domain>`: the domain being evaluated now.
    pub domain: String,
    pub ip: Option<IpAddr>,
    pub helo: String,
    /// `%{p}`: the validated domain name of the IP.
    pub validated: Option<String>,
}

impl MacroString {
    fn parse(s: &str, exp_letters: bool) -> Result<MacroString, String> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut chars = s.char_indices().peekable();
        while let Some((_, c)) = chars.next() {
            if c != '%' {
                // An explanation is macro-strings separated by spaces
                // (explain-string, RFC 7208 §6.2).
                if !(('!'..='~').contains(&c) || (exp_letters && c == ' ')) {
                    return Err(format!("character {c:?} is not allowed here"));
                }
                literal.push(c);
                continue;
            }
            match chars.next() {
                Some((_, '%')) => literal.push('%'),
                Some((_, '_')) => literal.push(' '),
                Some((_, '-')) => literal.push_str("%20"),
                Some((start, '{')) => {
                    let end = s[start..]
                        .find('}')
                        .map(|i| start + i)
                        .ok_or_else(|| "unterminated macro \"%{\"".to_string())?;
                    let body = &s[start + 1..end];
                    while chars.peek().is_some_and(|(i, _)| *i <= end) {
                        chars.next();
                    }
                    if !literal.is_empty() {
                        parts.push(MacroPart::Literal(std::mem::take(&mut literal)));
                    }
                    parts.push(parse_macro(body, exp_letters)?);
                }
                Some((_, other)) => {
                    return Err(format!(
                        "\"%{other}\" is not a macro; write \"%%\" for a percent sign"
                    ));
                }
                None => return Err("a lone \"%\" at the end".into()),
            }
        }
        if !literal.is_empty() {
            parts.push(MacroPart::Literal(literal));
        }
        Ok(MacroString {
            raw: s.to_string(),
            parts,
        })
    }

    /// A domain-spec: a macro-string whose end is a macro or a valid
    /// top-level label (RFC 7208 §7.1 domain-end).
    pub fn parse_domain_spec(s: &str) -> Result<MacroString, String> {
        let m = MacroString::parse(s, false)?;
        if let Some(MacroPart::Literal(last)) = m.parts.last() {
            let trimmed = last.strip_suffix('.').unwrap_or(last);
            if m.parts.len() == 1 {
                if trimmed.split('.').any(|l| l.is_empty()) {
                    return Err(format!("{s:?} has an empty label"));
                }
                if let Some(label) = trimmed.split('.').find(|l| l.len() > 63) {
                    return Err(format!(
                        "{s:?} has a label longer than 63 characters: {label}"
                    ));
                }
                if !trimmed.contains('.') {
                    return Err(format!("{s:?} is not a fully qualified domain name"));
                }
            }
            let top = trimmed.rsplit('.').next().unwrap_or("");
            let valid_top = !top.is_empty()
                && top.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !top.starts_with('-')
                && !top.ends_with('-')
                && (top.chars().any(|c| c.is_ascii_alphabetic()) || top.contains('-'));
            if !valid_top {
                return Err(format!(
                    "{s:?} does not end in a valid top-level label{}",
                    if s.parse::<IpAddr>().is_ok() {
                        " (an IP address belongs in ip4:/ip6:, not here)"
                    } else {
                        ""
                    }
                ));
            }
        }
        Ok(m)
    }

    /// No macros: the text is the domain.
    pub fn is_literal(&self) -> bool {
        self.parts
            .iter()
            .all(|p| matches!(p, MacroPart::Literal(_)))
    }

    /// Expands to something that depends on the connecting IP.
    pub fn uses_ip(&self) -> bool {
        self.parts.iter().any(|p| {
            matches!(p, MacroPart::Macro { letter, .. } if matches!(letter, 'i' | 'p' | 'v' | 'c'))
        })
    }

    /// Uses the `%{p}` macro (the validated domain name of the IP, which
    /// costs lookups of its own).
    pub fn uses_p(&self) -> bool {
        self.parts
            .iter()
            .any(|p| matches!(p, MacroPart::Macro { letter: 'p', .. }))
    }

    /// An explanation string (the TXT record an `exp=` points to), where
    /// the `c`, `r` and `t` macros are allowed too (RFC 7208 §6.2, §7.2).
    pub fn parse_explanation(s: &str) -> Result<MacroString, String> {
        MacroString::parse(s, true)
    }

    /// Expands for a DNS query: domain names over 253 characters lose labels
    /// on the left (RFC 7208 §7.3).
    pub fn expand(&self, ctx: &MacroContext) -> String {
        let out = self.expand_text(ctx);
        let mut name = out.trim_end_matches('.').to_string();
        while name.len() > 253 {
            match name.split_once('.') {
                Some((_, rest)) => name = rest.to_string(),
                None => break,
            }
        }
        name
    }

    /// Expands as text (an explanation), with nothing trimmed.
    pub fn expand_text(&self, ctx: &MacroContext) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                MacroPart::Literal(s) => out.push_str(s),
                MacroPart::Macro {
                    letter,
                    escape,
                    keep,
                    reverse,
                    delimiters,
                } => {
                    let value = macro_value(*letter, ctx);
                    let mut pieces: Vec<&str> =
                        value.split(|c: char| delimiters.contains(c)).collect();
                    if *reverse {
                        pieces.reverse();
                    }
                    if let Some(n) = keep
                        && pieces.len() > *n
                    {
                        pieces.drain(..pieces.len() - n);
                    }
                    let joined = pieces.join(".");
                    if *escape {
                        out.push_str(&url_escape(&joined));
                    } else {
                        out.push_str(&joined);
                    }
                }
            }
        }
        out
    }
}

fn parse_macro(body: &str, exp_letters: bool) -> Result<MacroPart, String> {
    let mut chars = body.chars();
    let letter_raw = chars
        .next()
        .ok_or_else(|| "empty macro \"%{}\"".to_string())?;
    let letter = letter_raw.to_ascii_lowercase();
    let allowed = if exp_letters {
        "slodiphvcrt"
    } else {
        "slodiphv"
    };
    if !allowed.contains(letter) {
        return Err(format!(
            "unknown macro letter {letter_raw:?}{}",
            if "crt".contains(letter) {
                " (c, r and t are allowed only in explanation text)"
            } else {
                ""
            }
        ));
    }
    let rest: String = chars.collect();
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    let mut tail = &rest[digits.len()..];
    let keep = if digits.is_empty() {
        None
    } else {
        match digits.parse::<usize>() {
            Ok(0) | Err(_) => return Err(format!("macro \"%{{{body}}}\" keeps zero parts")),
            Ok(n) => Some(n.min(128)),
        }
    };
    let reverse = if let Some(t) = tail.strip_prefix(['r', 'R']) {
        tail = t;
        true
    } else {
        false
    };
    if let Some(bad) = tail.chars().find(|c| !".-+,/_=".contains(*c)) {
        return Err(format!(
            "macro \"%{{{body}}}\" has an invalid delimiter {bad:?}"
        ));
    }
    Ok(MacroPart::Macro {
        letter,
        escape: letter_raw.is_ascii_uppercase(),
        keep,
        reverse,
        delimiters: if tail.is_empty() {
            ".".into()
        } else {
            tail.into()
        },
    })
}

fn macro_value(letter: char, ctx: &MacroContext) -> String {
    let (local, sender_domain) = ctx
        .sender
        .rsplit_once('@')
        .map(|(l, d)| (l.to_string(), d.to_string()))
        .unwrap_or_else(|| ("postmaster".to_string(), ctx.sender.clone()));
    match letter {
        's' => ctx.sender.clone(),
        'l' => {
            if local.is_empty() {
                "postmaster".into()
            } else {
                local
            }
        }
        'o' => sender_domain,
        'd' => ctx.domain.clone(),
        'i' => match ctx.ip {
            Some(IpAddr::V4(v4)) => v4.to_string(),
            Some(IpAddr::V6(v6)) => {
                // Dotted nibbles, most significant first.
                let reversed = crate::dns::name::reversed_labels(IpAddr::V6(v6));
                let mut nibbles = reversed.split('.').collect::<Vec<_>>();
                nibbles.reverse();
                nibbles.join(".")
            }
            None => String::new(),
        },
        'c' => ctx.ip.map(|ip| ip.to_string()).unwrap_or_default(),
        'p' => ctx.validated.clone().unwrap_or_else(|| "unknown".into()),
        'v' => match ctx.ip {
            Some(IpAddr::V6(_)) => "ip6".into(),
            _ => "in-addr".into(),
        },
        'h' => ctx.helo.clone(),
        'r' => "unknown".into(),
        't' => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs().to_string())
            .unwrap_or_default(),
        _ => String::new(),
    }
}

fn url_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(rec: &str) -> Vec<TermKind> {
        SpfRecord::parse(rec)
            .unwrap()
            .terms
            .into_iter()
            .map(|t| t.kind)
            .collect()
    }

    #[test]
    fn detects_spf_records() {
        assert!(is_spf(b"v=spf1"));
        assert!(is_spf(b"V=SPF1 -all"));
        assert!(!is_spf(b"v=spf10 -all"));
        assert!(!is_spf(b"v=DMARC1; p=none"));
    }

    #[test]
    fn parses_common_record() {
        let r = SpfRecord::parse(
            "v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 a mx:mail.example.com/28//64 include:_spf.example.net ~all",
        )
        .unwrap();
        assert_eq!(r.terms.len(), 6);
        assert_eq!(r.all(), Some(Qualifier::SoftFail));
        match &r.terms[3].kind {
            TermKind::Directive {
                mechanism:
                    Mechanism::Mx {
                        domain,
                        cidr4,
                        cidr6,
                    },
                ..
            } => {
                assert_eq!(domain.as_ref().unwrap().raw, "mail.example.com");
                assert_eq!((*cidr4, *cidr6), (28, 64));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            r.directives().filter(|(_, _, m)| m.queries_dns()).count(),
            3
        );
    }

    #[test]
    fn dual_cidr_forms() {
        for (rec, want) in [
            ("v=spf1 a/24", (24, 128)),
            ("v=spf1 a//64", (32, 64)),
            ("v=spf1 a/24//64", (24, 64)),
            ("v=spf1 a:example.com//0", (32, 0)),
        ] {
            match &kinds(rec)[0] {
                TermKind::Directive {
                    mechanism: Mechanism::A { cidr4, cidr6, .. },
                    ..
                } => assert_eq!((*cidr4, *cidr6), want, "{rec}"),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn rejects_what_receivers_reject() {
        for (rec, needle) in [
            ("v=spf1 foo -all", "unknown mechanism"),
            ("v=spf1 include=example.com", "takes \":\""),
            ("v=spf1 ip4:192.0.2.1/33", "prefix length"),
            ("v=spf1 ip4:300.0.2.1", "not an IPv4"),
            ("v=spf1 ip6:2001:db8::zz", "not an IPv6"),
            ("v=spf1 include:", "needs a domain"),
            ("v=spf1 all:example.com", "no argument"),
            (
                "v=spf1 redirect=a.example redirect=b.example",
                "more than once",
            ),
            ("v=spf1 include:192.0.2.1", "top-level label"),
            ("v=spf1 exists:%{x}.example.com", "unknown macro letter"),
            ("v=spf1 exists:%{c}.example.com", "explanation text"),
            ("v=spf1 exists:%{i0}.example.com", "zero parts"),
            ("v=spf1 exists:50%.example.com", "not a macro"),
            ("v=spf1 -all v=spf1 ~all", "second version"),
            ("v=spf1 a/024", "prefix length"),
            ("v=spf1 ip4:192.0.2.1\t-all", "character"),
            ("v=spf1 - all", "qualifier without"),
            ("v=spf1 include:example", "fully qualified"),
        ] {
            let e = SpfRecord::parse(rec).unwrap_err();
            assert!(e.reason.contains(needle), "{rec}: {e}");
        }
    }

    #[test]
    fn unknown_modifiers_are_kept_and_ignored() {
        let r = SpfRecord::parse("v=spf1 moo=%{d}.example -all").unwrap();
        assert!(matches!(r.terms[0].kind, TermKind::Unknown { .. }));
    }

    #[test]
    fn redirect_is_ignored_with_all() {
        let r = SpfRecord::parse("v=spf1 redirect=other.example -all").unwrap();
        assert!(r.redirect().is_some());
        assert!(r.effective_redirect().is_none());
    }

    #[test]
    fn expands_macros_as_rfc7208_section_7_4() {
        // The examples of RFC 7208 §7.4.
        let ctx = MacroContext {
            sender: "strong-bad@email.example.com".into(),
            domain: "email.example.com".into(),
            ip: Some("192.0.2.3".parse().unwrap()),
            helo: "mx.example.org".into(),
            validated: None,
        };
        let cases = [
            ("%{s}", "strong-bad@email.example.com"),
            ("%{o}", "email.example.com"),
            ("%{d}", "email.example.com"),
            ("%{d4}", "email.example.com"),
            ("%{d3}", "email.example.com"),
            ("%{d2}", "example.com"),
            ("%{d1}", "com"),
            ("%{dr}", "com.example.email"),
            ("%{d2r}", "example.email"),
            ("%{l}", "strong-bad"),
            ("%{l-}", "strong.bad"),
            ("%{lr}", "strong-bad"),
            ("%{lr-}", "bad.strong"),
            ("%{l1r-}", "strong"),
            (
                "%{ir}.%{v}._spf.%{d2}",
                "3.2.0.192.in-addr._spf.example.com",
            ),
            ("%{lr-}.lp._spf.%{d2}", "bad.strong.lp._spf.example.com"),
            (
                "%{lr-}.lp.%{ir}.%{v}._spf.%{d2}",
                "bad.strong.lp.3.2.0.192.in-addr._spf.example.com",
            ),
            (
                "%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}",
                "3.2.0.192.in-addr.strong.lp._spf.example.com",
            ),
            (
                "%{d2}.trusted-domains.example.net",
                "example.com.trusted-domains.example.net",
            ),
        ];
        for (spec, want) in cases {
            let m = MacroString::parse(spec, false).unwrap();
            assert_eq!(m.expand(&ctx), want, "{spec}");
        }
        let v6 = MacroContext {
            ip: Some("2001:db8::cb01".parse().unwrap()),
            ..ctx
        };
        let m = MacroString::parse("%{ir}.%{v}._spf.%{d2}", false).unwrap();
        assert_eq!(
            m.expand(&v6),
            "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6._spf.example.com"
        );
    }

    #[test]
    fn long_expansions_lose_labels_on_the_left() {
        let ctx = MacroContext {
            sender: format!("{}@example.com", "a".repeat(60)),
            domain: "example.com".into(),
            ..Default::default()
        };
        let m = MacroString::parse("%{l}.%{l}.%{l}.%{l}.%{l}.example.com", false).unwrap();
        let out = m.expand(&ctx);
        assert!(out.len() <= 253);
        assert!(out.ends_with(".example.com"));
    }
}

//! Zone files exported from a signed zone (an AXFR dump, the output of
//! dnssec-signzone) hold the records signing makes: RRSIG, NSEC, NSEC3,
//! NSEC3PARAM, DNSKEY, CDS, CDNSKEY. hickory's zone parser refuses them
//! ("should be dynamically generated"), so they are left out before the
//! zone is parsed, and the zone is served unsigned: the audit reads the
//! records themselves. Line numbers are kept (a left-out record becomes
//! blank lines), and an owner a left-out record named passes to the next
//! record that relies on it (a line starting with a blank).

/// The record types signing makes.
const MADE_BY_SIGNING: &[&str] = &[
    "RRSIG",
    "NSEC",
    "NSEC3",
    "NSEC3PARAM",
    "DNSKEY",
    "CDS",
    "CDNSKEY",
];

const CLASSES: &[&str] = &["IN", "CH", "CS", "HS"];

/// `text` without the records signing makes, and how many were left out.
pub fn strip(text: &str) -> (String, usize) {
    let mut out = String::with_capacity(text.len());
    let mut removed = 0;
    let mut pending_owner: Option<String> = None;
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let mut i = 0;
    while i < lines.len() {
        // One logical record: lines joined while a parenthesis is open.
        let start = i;
        let mut depth = 0i32;
        loop {
            depth += paren_balance(lines[i]);
            i += 1;
            if depth <= 0 || i == lines.len() {
                break;
            }
        }
        let record = &lines[start..i];
        let first = record[0];
        let (owner, kind) = owner_and_type(first);
        let drop = kind.is_some_and(|t| MADE_BY_SIGNING.contains(&t.to_ascii_uppercase().as_str()));
        if drop {
            removed += 1;
            if let Some(o) = owner {
                pending_owner = Some(o.to_string());
            }
            for l in record {
                if l.ends_with('\n') {
                    out.push('\n');
                }
            }
            continue;
        }
        let starts_blank = first.starts_with([' ', '\t']);
        match (&pending_owner, starts_blank, kind.is_some()) {
            (Some(o), true, true) => {
                out.push_str(o);
                out.push_str(first);
            }
            _ => out.push_str(first),
        }
        if kind.is_some() {
            // The next record without an owner inherits this one's.
            pending_owner = None;
        }
        for l in &record[1..] {
            out.push_str(l);
        }
    }
    (out, removed)
}

/// How many parentheses a line opens minus closes, outside quotes and
/// comments.
fn paren_balance(line: &str) -> i32 {
    let mut depth = 0;
    let mut quoted = false;
    let mut escaped = false;
    for c in line.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => quoted = !quoted,
            ';' if !quoted => break,
            '(' if !quoted => depth += 1,
            ')' if !quoted => depth -= 1,
            _ => {}
        }
    }
    depth
}

/// The owner (when the line names one) and the type of the record a line
/// starts; `None` as type for blank lines, comments and `$` directives.
fn owner_and_type(line: &str) -> (Option<&str>, Option<&str>) {
    let code = line.split(';').next().unwrap_or("");
    if code.trim_start().starts_with('$') {
        return (None, None);
    }
    let mut tokens = code.split_whitespace().filter(|t| *t != "(" && *t != ")");
    let owner = if line.starts_with([' ', '\t']) {
        None
    } else {
        tokens.next()
    };
    for t in tokens {
        let upper = t.to_ascii_uppercase();
        let ttl = t.chars().next().is_some_and(|c| c.is_ascii_digit());
        if ttl || CLASSES.contains(&upper.as_str()) {
            continue;
        }
        return (owner, Some(t.trim_start_matches('(')));
    }
    (owner, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaves_out_what_signing_makes_and_keeps_lines_and_owners() {
        let text = concat!(
            "$ORIGIN example.com.\n",
            "@ 300 IN SOA ns h 1 2 3 4 5\n",
            "  300 IN RRSIG SOA 8 2 300 (\n",
            "    20261228 20261128 1 example.com.\n",
            "    AAAA== )\n",
            "@ IN DNSKEY 257 3 8 AwEAAa==\n",
            "  IN A 192.0.2.1 ; the apex address\n",
            "www IN A 192.0.2.2\n",
            "www IN NSEC example.com. A RRSIG NSEC\n",
            "txt IN TXT \"RRSIG (in text)\"\n",
        );
        let (out, n) = strip(text);
        assert_eq!(n, 3);
        assert_eq!(out.lines().count(), text.lines().count());
        assert!(out.contains("@  IN A 192.0.2.1"), "{out}");
        assert!(out.contains("www IN A 192.0.2.2"));
        assert!(out.contains("txt IN TXT \"RRSIG (in text)\""));
        assert!(!out.contains("DNSKEY") && !out.contains("NSEC"));
        let z = crate::dns::server::Zone::parse(text, "t").unwrap();
        assert_eq!(z.origin, "example.com");
    }
}

//! Text that came from outside (DNS records, blocklist reasons, message
//! headers, error messages), made safe for a terminal: every control
//! character (C0, DEL, C1, so ESC sequences too) and every bidirectional
//! formatting character is replaced by a visible escape (`\x1b`,
//! `\u{202e}`), so a TXT record cannot clear the reader's screen, plant an
//! OSC 8 link, ring the bell or reorder what is shown.

use std::borrow::Cow;
use std::fmt::Write;

/// Whether `c` must not reach a terminal as it is.
fn unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{061c}')
        || ('\u{202a}'..='\u{202e}').contains(&c)
        || ('\u{2066}'..='\u{2069}').contains(&c)
}

/// `s` with every unsafe character replaced by a visible escape.
pub fn safe(s: &str) -> Cow<'_, str> {
    if !s.chars().any(unsafe_char) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if !unsafe_char(c) {
            out.push(c);
        } else if (c as u32) < 0x80 {
            let _ = write!(out, "\\x{:02x}", c as u32);
        } else {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
    }
    Cow::Owned(out)
}

/// [`clean`] line by line: line breaks (`\n`, `\r\n`) are kept, for
/// blocks shown as they are (a drafted request, evidence).
pub fn safe_lines(s: &str) -> Cow<'_, str> {
    if !s.chars().any(|c| c != '\n' && unsafe_char(c)) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(s.split('\n').map(safe).collect::<Vec<_>>().join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_lines_keeps_line_breaks_only() {
        assert_eq!(safe_lines("a\nb"), "a\nb");
        assert_eq!(safe_lines("a\u{1b}[2J\nb\t"), "a\\x1b[2J\nb\\x09");
    }

    #[test]
    fn escapes_what_a_terminal_would_obey() {
        assert_eq!(safe("v=spf1 -all"), "v=spf1 -all");
        assert_eq!(safe("a\u{1b}[2Jb"), "a\\x1b[2Jb");
        assert_eq!(
            safe("\u{1b}]8;;https://evil.example\u{7}x"),
            "\\x1b]8;;https://evil.example\\x07x"
        );
        assert_eq!(safe("nul\0bel\u{7}"), "nul\\x00bel\\x07");
        assert_eq!(safe("c1\u{9b}31m"), "c1\\u{9b}31m");
        assert_eq!(safe("rtl\u{202e}txt"), "rtl\\u{202e}txt");
        assert_eq!(safe("two\nlines"), "two\\x0alines");
        assert_eq!(safe("héllo wörld"), "héllo wörld");
    }
}

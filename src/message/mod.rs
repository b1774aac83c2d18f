//! Reading a message file and the checks that need no DNS: is it a
//! message at all, RFC 5322 basics, List-Unsubscribe (RFC 2369, RFC 8058),
//! the unsubscribe link in the body, and the domains its links point to.

pub mod received;
pub mod scan;

use std::io::Read;
use std::path::Path;

use regex::Regex;

use crate::input::InputError;

/// Messages larger than this are read only this far (and say so).
pub const DEFAULT_MAX_SIZE: u64 = 32 * 1024 * 1024;

/// A message file as read.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub path: String,
    pub bytes: Vec<u8>,
    /// The file's size on disk.
    pub size: u64,
    /// Only the first `max` bytes were read.
    pub truncated: bool,
}

/// Reads at most `max` bytes of a message file. A file that cannot be read
/// at all is an input error (exit code 2).
pub fn load(path: &Path, max: u64) -> Result<Loaded, InputError> {
    let shown = path.display().to_string();
    let bad = |e: std::io::Error| InputError(format!("message {shown:?}: cannot read: {e}"));
    let file = std::fs::File::open(path).map_err(bad)?;
    let meta = file.metadata().map_err(bad)?;
    if meta.is_dir() {
        return Err(InputError(format!(
            "message {shown:?}: is a directory, not a message file"
        )));
    }
    let mut bytes = Vec::with_capacity(meta.len().min(max) as usize);
    file.take(max).read_to_end(&mut bytes).map_err(bad)?;
    let size = meta.len().max(bytes.len() as u64);
    Ok(Loaded {
        path: shown,
        truncated: size > bytes.len() as u64,
        bytes,
        size,
    })
}

/// Why a file is not a message, or `None` when it is one.
pub fn unparseable(bytes: &[u8]) -> Option<String> {
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Some("the file is empty".into());
    }
    for (magic, what) in [
        (&b"\x89PNG"[..], "a PNG image"),
        (b"%PDF", "a PDF document"),
        (b"PK\x03\x04", "a ZIP archive (or an Office document)"),
        (b"GIF8", "a GIF image"),
        (b"\xff\xd8\xff", "a JPEG image"),
        (b"\x7fELF", "an executable"),
        (b"\x1f\x8b", "a gzip file"),
    ] {
        if bytes.starts_with(magic) {
            return Some(format!("binary content ({what}), not a message"));
        }
    }
    let mut line_no = 0;
    let mut seen_header = false;
    for line in bytes.split(|b| *b == b'\n') {
        line_no += 1;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            return if seen_header {
                None
            } else {
                Some("the file starts with a blank line: no header".into())
            };
        }
        if line.contains(&0) {
            return Some(format!(
                "line {line_no} of the header holds a NUL byte: binary content, not a message"
            ));
        }
        if line_no == 1 && line.starts_with(b"From ") {
            continue; // mbox separator
        }
        if line[0] == b' ' || line[0] == b'\t' {
            if !seen_header {
                return Some("the file starts with a continuation line, not a header field".into());
            }
            continue;
        }
        let is_field = match line.iter().position(|b| *b == b':') {
            Some(0) | None => false,
            Some(i) => line[..i].iter().all(|b| (33..=126).contains(b)),
        };
        if !is_field {
            return Some(if seen_header {
                format!(
                    "no blank line between the header and the body: line {line_no} is neither a header field nor its continuation"
                )
            } else {
                "the file does not start with a header field (Name: value)".into()
            });
        }
        seen_header = true;
    }
    None
}

/// The raw header fields, in order: (name, unfolded value).
pub fn raw_headers(msg: &mail_parser::Message<'_>) -> Vec<(String, String)> {
    msg.headers_raw()
        .map(|(n, v)| {
            let unfolded = v.replace("\r\n", "").replace('\n', "");
            (n.to_string(), unfolded.trim().to_string())
        })
        .collect()
}

pub fn values<'a>(headers: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
        .collect()
}

/// Header fields that may appear at most once (RFC 5322 §3.6).
pub const SINGLE_INSTANCE: &[&str] = &[
    "Date",
    "From",
    "Sender",
    "Reply-To",
    "To",
    "Cc",
    "Bcc",
    "Message-ID",
    "In-Reply-To",
    "References",
    "Subject",
];

/// The parsed List-Unsubscribe header (RFC 2369).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ListUnsubscribe {
    pub uris: Vec<String>,
    pub https: Option<String>,
    pub mailto: Option<String>,
    /// What is wrong with the header, one sentence each.
    pub problems: Vec<String>,
}

/// Reads List-Unsubscribe values: angle-bracketed URIs, comma-separated;
/// an item without brackets ends the list (RFC 2369 §2).
pub fn list_unsubscribe(values: &[&str]) -> ListUnsubscribe {
    let mut lu = ListUnsubscribe::default();
    if values.len() > 1 {
        lu.problems.push(format!(
            "{} List-Unsubscribe headers; there must be exactly one (RFC 8058 §3.1)",
            values.len()
        ));
    }
    let Some(value) = values.first() else {
        return lu;
    };
    let mut rest = value.trim();
    while !rest.is_empty() {
        let Some(inner) = rest.strip_prefix('<') else {
            lu.problems.push(format!(
                "{rest:?} is not enclosed in angle brackets; it and everything after it are ignored"
            ));
            break;
        };
        let Some(end) = inner.find('>') else {
            lu.problems.push("an angle bracket is not closed".into());
            break;
        };
        let uri = inner[..end].trim().to_string();
        rest = inner[end + 1..].trim_start();
        rest = rest.strip_prefix(',').unwrap_or(rest).trim_start();
        let lower = uri.to_ascii_lowercase();
        if lower.starts_with("https://") && uri.len() > 8 {
            lu.https.get_or_insert(uri.clone());
        } else if lower.starts_with("mailto:") && uri.contains('@') {
            lu.mailto.get_or_insert(uri.clone());
        } else if lower.starts_with("http://") {
            lu.problems
                .push(format!("{uri} uses http:, which is not secure; use https:"));
        } else {
            lu.problems
                .push(format!("{uri:?} is not a mailto: or https: URI"));
        }
        lu.uris.push(uri);
    }
    if lu.uris.is_empty() && lu.problems.is_empty() {
        lu.problems.push("the header is empty".into());
    }
    lu
}

/// Where an unsubscribe link was found.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LinkFound {
    pub url: String,
    /// "html" or "text".
    pub part: &'static str,
    /// What made it an unsubscribe link.
    pub matched: String,
}

/// A URL in plain text, compiled once: compiling it costs more than
/// scanning a typical message.
fn url_re() -> &'static Regex {
    static URL: std::sync::LazyLock<Regex> = std::sync::LazyLock::new(|| {
        Regex::new(r#"(?i)\bhttps?://[^\s<>"')\]]+"#).expect("valid regex")
    });
    &URL
}

fn keyword_in(text: &str, keywords: &[String]) -> Option<String> {
    let lower = text.to_lowercase();
    keywords
        .iter()
        .find(|k| lower.contains(k.as_str()))
        .cloned()
}

/// How much visible text just before a link is read for a keyword
/// ("To unsubscribe, click here").
const CONTEXT: usize = 160;

/// The last `width` bytes or so of `s` before `end`, on a char boundary.
fn before(s: &str, end: usize, width: usize) -> &str {
    let mut start = end.saturating_sub(width);
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..end]
}

/// One link of an HTML part: where it points, its visible text, and the
/// visible text just before it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Anchor {
    href: String,
    text: String,
    context: String,
}

/// Collects the anchors of an HTML part in one pass of html5ever's
/// tokenizer (entities decoded, scripts and styles skipped): linear in the
/// size of the part, whatever it holds.
#[derive(Default)]
struct AnchorSink {
    state: std::cell::RefCell<AnchorState>,
}

#[derive(Default)]
struct AnchorState {
    /// The visible text of the last `CONTEXT`-odd characters.
    recent: String,
    /// The anchor being read: (href, text so far, context before it).
    open: Option<(String, String, String)>,
    anchors: Vec<Anchor>,
    /// Inside <script> or <style>: no visible text.
    hidden: bool,
}

impl AnchorState {
    fn text(&mut self, t: &str) {
        if self.hidden {
            return;
        }
        if let Some((_, text, _)) = &mut self.open
            && text.len() < 4 * CONTEXT
        {
            text.push_str(t);
        }
        self.recent.push_str(t);
        if self.recent.len() > 2 * CONTEXT {
            let keep = before(&self.recent, self.recent.len(), CONTEXT).to_string();
            self.recent = keep;
        }
    }

    fn close(&mut self) {
        if let Some((href, text, context)) = self.open.take() {
            self.anchors.push(Anchor {
                href,
                text,
                context,
            });
        }
    }
}

impl html5ever::tokenizer::TokenSink for AnchorSink {
    type Handle = ();

    fn process_token(
        &self,
        token: html5ever::tokenizer::Token,
        _line: u64,
    ) -> html5ever::tokenizer::TokenSinkResult<()> {
        use html5ever::tokenizer::{TagKind, Token};
        let mut st = self.state.borrow_mut();
        match token {
            Token::CharacterTokens(t) => st.text(&t),
            Token::TagToken(tag) => {
                let name: &str = &tag.name;
                match (tag.kind, name) {
                    (TagKind::StartTag, "a") => {
                        st.close();
                        let href = tag
                            .attrs
                            .iter()
                            .find(|a| &*a.name.local == "href")
                            .map(|a| a.value.trim().to_string());
                        if let Some(href) = href {
                            let context = st.recent.clone();
                            st.open = Some((href, String::new(), context));
                        }
                    }
                    (TagKind::EndTag, "a") => st.close(),
                    (TagKind::StartTag, "script" | "style") => st.hidden = true,
                    (TagKind::EndTag, "script" | "style") => st.hidden = false,
                    // Block boundaries separate words.
                    (_, "br" | "p" | "div" | "td" | "tr" | "li") => st.text(" "),
                    _ => {}
                }
            }
            Token::EOFToken => st.close(),
            _ => {}
        }
        html5ever::tokenizer::TokenSinkResult::Continue
    }
}

fn anchors(html: &str) -> Vec<Anchor> {
    use html5ever::tendril::StrTendril;
    use html5ever::tokenizer::{BufferQueue, Tokenizer, TokenizerOpts};
    let input = BufferQueue::default();
    input.push_back(StrTendril::from_slice(html));
    let tok = Tokenizer::new(AnchorSink::default(), TokenizerOpts::default());
    let _ = tok.feed(&input);
    tok.end();
    let mut st = tok.sink.state.borrow_mut();
    st.close();
    std::mem::take(&mut st.anchors)
}

/// A link a reader can follow to unsubscribe: http(s) or mailto (a
/// `javascript:` or `data:` link is not one).
fn followable(href: &str) -> bool {
    let lower = href.get(..8).unwrap_or(href).to_ascii_lowercase();
    lower.starts_with("https://") || lower.starts_with("http://") || lower.starts_with("mailto:")
}

/// Finds a visible unsubscribe link: a link whose text, address or
/// preceding words contain a keyword, or whose address is one of the
/// List-Unsubscribe URIs. One pass over each part: linear in its size.
pub fn unsubscribe_link(
    html: &[String],
    text: &[String],
    keywords: &[String],
    header_uris: &[String],
) -> Option<LinkFound> {
    for body in html {
        for a in anchors(body) {
            if a.href.is_empty() || !followable(&a.href) {
                continue;
            }
            let matched = if header_uris.contains(&a.href) {
                Some("the List-Unsubscribe address".to_string())
            } else {
                keyword_in(&a.text, keywords)
                    .map(|k| format!("\"{k}\" in the link text"))
                    .or_else(|| {
                        keyword_in(&a.href, keywords).map(|k| format!("\"{k}\" in the address"))
                    })
                    .or_else(|| {
                        keyword_in(&a.context, keywords)
                            .map(|k| format!("\"{k}\" just before the link"))
                    })
            };
            if let Some(matched) = matched {
                return Some(LinkFound {
                    url: a.href,
                    part: "html",
                    matched,
                });
            }
        }
    }
    let urls = url_re();
    for body in text {
        for m in urls.find_iter(body) {
            let url = m.as_str().trim_end_matches(['.', ',', ';']).to_string();
            // The words just before the link on its line (a bounded
            // window: a long line of links stays linear).
            let window = before(body, m.start(), CONTEXT);
            let context = window.rsplit('\n').next().unwrap_or(window);
            let matched = if header_uris.iter().any(|u| u == &url) {
                Some("the List-Unsubscribe address".to_string())
            } else {
                keyword_in(&url, keywords)
                    .map(|k| format!("\"{k}\" in the address"))
                    .or_else(|| {
                        keyword_in(context, keywords)
                            .map(|k| format!("\"{k}\" just before the link"))
                    })
            };
            if let Some(matched) = matched {
                return Some(LinkFound {
                    url,
                    part: "text",
                    matched,
                });
            }
        }
    }
    None
}

/// The host names that the body's http(s) links point to, in order,
/// without repeats; IP-address hosts are left out. At most `max`, with how
/// many distinct ones there are in all (so a cap is never silent).
pub fn link_domains(html: &[String], text: &[String], max: usize) -> (Vec<String>, usize) {
    let urls = url_re();
    let mut out: Vec<String> = Vec::new();
    let mut past: std::collections::HashSet<String> = std::collections::HashSet::new();
    for body in html.iter().chain(text) {
        for m in urls.find_iter(body) {
            let rest = &m.as_str()[m.as_str().find("://").map_or(0, |i| i + 3)..];
            let host = rest
                .split(['/', '?', '#', ':'])
                .next()
                .unwrap_or("")
                .rsplit('@')
                .next()
                .unwrap_or("");
            if let Ok(d) = crate::dns::name::normalize_domain(host)
                && d.contains('.')
                && !out.contains(&d)
            {
                if out.len() < max {
                    out.push(d);
                } else {
                    past.insert(d);
                }
            }
        }
    }
    let found = out.len() + past.len();
    (out, found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_non_messages() {
        assert!(unparseable(b"").unwrap().contains("empty"));
        assert!(
            unparseable(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR")
                .unwrap()
                .contains("PNG")
        );
        assert!(
            unparseable(b"Hello there,\nthis is just text.\n")
                .unwrap()
                .contains("does not start")
        );
        assert!(
            unparseable(b"From: a@example.com\nSubject: hi\nthis line is body text\n")
                .unwrap()
                .contains("no blank line")
        );
        assert!(
            unparseable(b"From: a@example.com\0\nSubject: x\n\nbody")
                .unwrap()
                .contains("NUL")
        );
        assert_eq!(
            unparseable(b"From: a@example.com\r\nSubject: hi\r\n\r\nbody\r\n"),
            None
        );
        assert_eq!(
            unparseable(b"From: a@example.com\nSubject: headers only\n"),
            None
        );
        assert_eq!(
            unparseable(
                b"From sender@example.com Mon Jan  1 00:00:00 2026\nFrom: a@example.com\n\nx"
            ),
            None
        );
    }

    #[test]
    fn list_unsubscribe_per_rfc2369() {
        let lu =
            list_unsubscribe(&["<mailto:u@example.com?subject=unsub>, <https://example.com/u/1>"]);
        assert_eq!(lu.uris.len(), 2);
        assert_eq!(lu.https.as_deref(), Some("https://example.com/u/1"));
        assert!(lu.problems.is_empty());
        let lu = list_unsubscribe(&["https://example.com/u/1"]);
        assert!(lu.uris.is_empty());
        assert!(lu.problems[0].contains("angle brackets"));
        let lu = list_unsubscribe(&["<mailto:u@example.com>, https://example.com/u"]);
        assert_eq!(lu.uris, ["mailto:u@example.com"]);
        assert_eq!(lu.problems.len(), 1);
        let lu = list_unsubscribe(&["<http://example.com/u>"]);
        assert!(lu.problems[0].contains("http:"));
        let lu = list_unsubscribe(&["<https://a.example/u>", "<https://b.example/u>"]);
        assert!(lu.problems[0].contains("exactly one"));
    }

    #[test]
    fn finds_unsubscribe_links_in_many_languages() {
        let kw = crate::rules::Rules::embedded().unsubscribe_keywords;
        for (html, want) in [
            (
                r#"<p>Bye</p><a href="https://x.example/u?id=1">Unsubscribe</a>"#,
                "https://x.example/u?id=1",
            ),
            (
                r#"<a href='https://x.example/l/9'>Newsletter abbestellen</a>"#,
                "https://x.example/l/9",
            ),
            (
                r#"Pour vous désabonner, <a href="https://x.example/d">cliquez ici</a>"#,
                "https://x.example/d",
            ),
            (
                r#"<A HREF="https://x.example/b">Darse de baja</A>"#,
                "https://x.example/b",
            ),
            (
                r#"<a href="https://x.example/a">Afmelden</a>"#,
                "https://x.example/a",
            ),
            (
                r#"<a href="https://x.example/i"><span>Disiscriviti</span></a>"#,
                "https://x.example/i",
            ),
            (
                r#"<a href="https://x.example/p">descadastrar</a>"#,
                "https://x.example/p",
            ),
            (
                r#"<a href="https://x.example/r">Отписаться от рассылки</a>"#,
                "https://x.example/r",
            ),
            (
                r#"<a href="https://x.example/unsubscribe/abc">here</a>"#,
                "https://x.example/unsubscribe/abc",
            ),
        ] {
            let found = unsubscribe_link(&[html.to_string()], &[], &kw, &[])
                .unwrap_or_else(|| panic!("{html}"));
            assert_eq!(found.url, want);
        }
        let found = unsubscribe_link(
            &[],
            &["To unsubscribe, visit https://x.example/t/1.\n".into()],
            &kw,
            &[],
        )
        .unwrap();
        assert_eq!(found.url, "https://x.example/t/1");
        assert_eq!(found.part, "text");
        assert!(
            unsubscribe_link(
                &[r#"<a href="https://x.example/shop">Shop now</a>"#.into()],
                &["Visit https://x.example/shop".into()],
                &kw,
                &[]
            )
            .is_none()
        );
        let found = unsubscribe_link(
            &[r#"<a href="https://x.example/o/7">here</a>"#.into()],
            &[],
            &kw,
            &["https://x.example/o/7".into()],
        )
        .unwrap();
        assert_eq!(found.matched, "the List-Unsubscribe address");
    }

    #[test]
    fn javascript_links_are_not_unsubscribe_links() {
        // Regression: <a href="javascript:..">Unsubscribe</a> counted as a
        // visible unsubscribe link.
        let kw = crate::rules::Rules::embedded().unsubscribe_keywords;
        for href in [
            "javascript:void(0)",
            "JavaScript:unsub()",
            "data:text/html,x",
            "#",
        ] {
            let html = format!(r#"<a href="{href}">Unsubscribe</a>"#);
            assert!(unsubscribe_link(&[html], &[], &kw, &[]).is_none(), "{href}");
        }
        // Entities in the address are decoded by the tokenizer.
        let html = r#"<a href="https://x.example/u?a=1&amp;b=2">Unsubscribe</a>"#;
        let found = unsubscribe_link(&[html.into()], &[], &kw, &[]).unwrap();
        assert_eq!(found.url, "https://x.example/u?a=1&b=2");
        // Text in a script is not visible context.
        let html =
            r#"<script>var unsubscribe = 1;</script><a href="https://x.example/shop">Shop</a>"#;
        assert!(unsubscribe_link(&[html.into()], &[], &kw, &[]).is_none());
    }

    #[test]
    fn a_long_line_of_links_is_scanned_in_one_pass() {
        // Regression: every URL of a line rescanned and lowercased the
        // line before it: 16,000 URLs on one line took 9 s, 100,000 never
        // finished. The unsubscribe link is the last of 100,000.
        let kw = crate::rules::Rules::embedded().unsubscribe_keywords;
        let mut line = String::new();
        for i in 0..100_000 {
            line.push_str(&format!("https://x.example/p/{i} "));
        }
        line.push_str("to unsubscribe: https://x.example/bye\n");
        let found = unsubscribe_link(&[], &[line.clone()], &kw, &[]).unwrap();
        assert_eq!(found.url, "https://x.example/bye");
        let html = line
            .replace("https://", "<a href=\"https://")
            .replace(' ', "\">x</a> ");
        let html = format!("{html}<a href=\"https://x.example/out\">Unsubscribe</a>");
        let found = unsubscribe_link(&[html], &[], &kw, &[]).unwrap();
        assert_eq!(found.url, "https://x.example/out");
    }

    #[test]
    fn collects_link_domains() {
        let d = link_domains(
            &[r#"<a href="https://Shop.Example.com/x">a</a> <a href="http://192.0.2.1/">b</a> <a href="https://user@cdn.example.net:8443/p">c</a>"#.into()],
            &["see https://shop.example.com/y".into()],
            10,
        );
        assert_eq!(
            d,
            (vec!["shop.example.com".into(), "cdn.example.net".into()], 2)
        );
        // Past the cap: kept to the first ones, counted in all.
        let many: Vec<String> = (0..60).map(|i| format!("https://d{i}.example/ ")).collect();
        let (kept, found) = link_domains(&[], &[many.concat()], 50);
        assert_eq!((kept.len(), found), (50, 60));
    }
}

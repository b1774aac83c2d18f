//! Batch audits: many domains (or blocklist targets) through one engine,
//! so that every audit shares one resolver, cache, list-health verdicts
//! and limits, and an include tree used by many domains is fetched once.
//!
//! Input is one item a line ([`parse_domains`], [`parse_targets`]): bad and
//! duplicate lines are skipped with their line number, never ending the
//! batch. [`run_ordered`] audits up to `parallel` items at once and hands
//! each report over in input order as soon as it and all before it are
//! done, so a batch of any length holds at most `parallel` reports.

use std::collections::HashMap;

use futures::StreamExt;

use crate::engine::{Engine, Request};
use crate::input::{self, InputError};
use crate::report::model::Report;

/// One audit of a `--domains` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainLine {
    /// 1-based line number in the input.
    pub line: usize,
    pub domain: String,
    /// Sending IPs and ranges as given, validated.
    pub ips: Vec<(String, ipnet::IpNet)>,
    /// DKIM selectors (`selector=s1`).
    pub selectors: Vec<String>,
}

/// One blocklist target of a `blocklist --file` file: an address, a range
/// or a domain, as given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetLine {
    pub line: usize,
    pub target: String,
}

/// A line that was not used, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub line: usize,
    pub reason: String,
}

/// The lines of a batch file that carry something: (number, words),
/// without blank lines and `#` comments (whole-line or trailing).
fn content_lines(text: &str) -> impl Iterator<Item = (usize, Vec<&str>)> {
    text.lines().enumerate().filter_map(|(i, line)| {
        let line = line.split('#').next().unwrap_or("");
        let words: Vec<&str> = line.split_whitespace().collect();
        (!words.is_empty()).then_some((i + 1, words))
    })
}

/// Reads a `--domains` file: `example.com 192.0.2.10 198.51.100.0/28
/// selector=s1` a line. A domain given twice is audited once (the first
/// line); the later lines are skipped and said.
pub fn parse_domains(text: &str) -> (Vec<DomainLine>, Vec<Skipped>) {
    let mut items: Vec<DomainLine> = Vec::new();
    let mut skipped = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (line, words) in content_lines(text) {
        match domain_line(line, &words) {
            Err(e) => skipped.push(Skipped { line, reason: e.0 }),
            Ok(item) => {
                if let Some(first) = seen.get(&item.domain) {
                    skipped.push(Skipped {
                        line,
                        reason: format!("{} is already on line {first}", item.domain),
                    });
                    continue;
                }
                seen.insert(item.domain.clone(), line);
                items.push(item);
            }
        }
    }
    (items, skipped)
}

fn domain_line(line: usize, words: &[&str]) -> Result<DomainLine, InputError> {
    let (first, rest) = words.split_first().expect("content lines have words");
    let domain = input::domain("domain", first)?;
    let mut ips = Vec::new();
    let mut selectors = Vec::new();
    for w in rest {
        if let Some(s) = w.strip_prefix("selector=") {
            selectors.push(input::selector(s)?);
        } else {
            ips.push((w.to_string(), input::ip_or_cidr("address", w)?));
        }
    }
    Ok(DomainLine {
        line,
        domain,
        ips,
        selectors,
    })
}

/// Reads a `blocklist --file` file: addresses, ranges and domains, any
/// number a line. A target given twice is checked once.
pub fn parse_targets(
    text: &str,
    valid: impl Fn(&str) -> Result<String, InputError>,
) -> (Vec<TargetLine>, Vec<Skipped>) {
    let mut items = Vec::new();
    let mut skipped = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (line, words) in content_lines(text) {
        for w in words {
            match valid(w) {
                Err(e) => skipped.push(Skipped { line, reason: e.0 }),
                Ok(key) => {
                    if let Some(first) = seen.get(&key) {
                        skipped.push(Skipped {
                            line,
                            reason: format!("{w} is already on line {first}"),
                        });
                    } else {
                        seen.insert(key, line);
                        items.push(TargetLine {
                            line,
                            target: w.to_string(),
                        });
                    }
                }
            }
        }
    }
    (items, skipped)
}

/// Reports finished out of turn that wait for an earlier one, at most, per
/// audit in flight: a slow domain at the head of the batch holds back
/// output, not work, until this many are waiting.
pub const REORDER_WINDOW: usize = 8;

/// Runs every request on `engine`, at most `parallel` at once, and calls
/// `each` with every report in the order of `requests`, each as soon as it
/// and all before it are done. Requests are made lazily and finished
/// reports wait only for the ones before them (at most `parallel` x
/// [`REORDER_WINDOW`]), so memory does not grow with the batch.
pub async fn run_ordered<I, F>(engine: &Engine, requests: I, parallel: usize, mut each: F)
where
    I: IntoIterator<Item = Request>,
    F: FnMut(Report),
{
    let parallel = parallel.max(1);
    let mut pending = requests.into_iter().enumerate();
    let mut running = futures::stream::FuturesUnordered::new();
    let mut done: std::collections::BTreeMap<usize, Report> = std::collections::BTreeMap::new();
    let mut next = 0usize;
    loop {
        while running.len() < parallel && done.len() < parallel * REORDER_WINDOW {
            let Some((i, req)) = pending.next() else {
                break;
            };
            running.push(async move { (i, engine.run(&req).await) });
        }
        let Some((i, report)) = running.next().await else {
            break;
        };
        done.insert(i, report);
        while let Some(report) = done.remove(&next) {
            each(report);
            next += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_lines_with_ips_selectors_comments_and_mistakes() {
        let text = "\
# customers
example.com 192.0.2.10 198.51.100.0/28 selector=s1

shop.example  # no IPs: inferred
not a domain!
Example.COM
bad.example 300.1.2.3
";
        let (items, skipped) = parse_domains(text);
        assert_eq!(items.len(), 2, "{items:?}");
        assert_eq!(items[0].line, 2);
        assert_eq!(items[0].domain, "example.com");
        assert_eq!(items[0].ips.len(), 2);
        assert_eq!(items[0].selectors, ["s1"]);
        assert_eq!(items[1].domain, "shop.example");
        assert!(items[1].ips.is_empty());
        let lines: Vec<usize> = skipped.iter().map(|s| s.line).collect();
        assert_eq!(lines, [5, 6, 7], "{skipped:?}");
        assert!(
            skipped[1].reason.contains("already on line 2"),
            "{skipped:?}"
        );
        assert!(skipped[2].reason.contains("300.1.2.3"), "{skipped:?}");
    }
}

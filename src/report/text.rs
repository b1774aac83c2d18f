//! The terminal report: a summary line, one line per check, the findings
//! with their first steps, and the SPF lookup tree.

use std::fmt::Write;

use serde_json::Value;

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

fn n(v: &Value, key: &str) -> u64 {
    v.get(key).and_then(Value::as_u64).unwrap_or(0)
}

/// Renders the JSON document (schema v1) as text.
pub fn render(doc: &Value) -> String {
    let mut out = String::new();
    let summary = &doc["summary"];
    let target = &doc["target"];
    let list = |key: &str| -> String {
        target[key]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default()
    };
    let what = match target.get("domain").and_then(Value::as_str) {
        Some(d) => format!("audit of {d}"),
        None if target.get("subjects").is_some() => {
            format!("blocklist check of {}", list("subjects"))
        }
        None => format!("message scan of {}", list("messages")),
    };
    let _ = writeln!(
        out,
        "mailaudit {} {what}: {} ({} error(s), {} warning(s), {} info; {} check(s) unknown)",
        s(&doc["tool"], "version"),
        s(summary, "status").to_uppercase(),
        n(summary, "errors"),
        n(summary, "warnings"),
        n(summary, "infos"),
        n(summary, "unknown"),
    );
    let ips: Vec<String> = target["ips"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|ip| match ip.get("via").and_then(Value::as_str) {
                    Some(via) => format!("{} ({} {via})", s(ip, "ip"), s(ip, "source")),
                    None => format!("{} ({})", s(ip, "ip"), s(ip, "source")),
                })
                .collect()
        })
        .unwrap_or_default();
    if target.get("domain").and_then(Value::as_str).is_some() {
        let _ = writeln!(
            out,
            "Sending IPs: {}",
            if ips.is_empty() {
                "none found".to_string()
            } else {
                ips.join(", ")
            }
        );
    }
    out.push('\n');

    if let Some(checks) = doc["checks"].as_object() {
        for (id, check) in checks {
            if let Some(messages) = check.as_array() {
                for m in messages {
                    let _ = writeln!(
                        out,
                        "{:<8} {:<8} {}",
                        id.to_uppercase(),
                        s(m, "status"),
                        message_line(m)
                    );
                }
                continue;
            }
            let _ = writeln!(
                out,
                "{:<8} {:<8} {}",
                id.to_uppercase(),
                s(check, "status"),
                check_line(id, check)
            );
        }
    }

    if let Some(tree) = doc["checks"]
        .get("spf")
        .and_then(|c| c.get("tree"))
        .filter(|t| !t.is_null())
    {
        out.push_str("\nSPF lookup tree (cost in brackets):\n");
        spf_tree(&mut out, tree, 1);
        if let Some(evals) = doc["checks"]["spf"]["evaluations"].as_array() {
            for e in evals {
                let how = e
                    .get("matched")
                    .and_then(Value::as_str)
                    .or_else(|| e.get("reason").and_then(Value::as_str))
                    .unwrap_or("");
                let _ = writeln!(
                    out,
                    "  check_host({}) = {}  {how}",
                    s(e, "ip"),
                    s(e, "result")
                );
            }
        }
    }

    if let Some(dnsbl) = doc["checks"]
        .get("dnsbl")
        .filter(|d| d.get("results").is_some())
    {
        dnsbl_section(&mut out, dnsbl);
    }

    if let Some(findings) = doc["findings"].as_array()
        && !findings.is_empty()
    {
        out.push_str("\nFindings:\n");
        for f in findings {
            let _ = writeln!(
                out,
                "  {:<7} {:<28} {}",
                s(f, "severity").to_uppercase(),
                s(f, "id"),
                s(f, "summary")
            );
            if let Some(step) = f["advice"]["steps"].get(0).and_then(Value::as_str) {
                let _ = writeln!(out, "          fix: {step}");
            }
        }
    }

    let stats = &doc["stats"];
    let by: Vec<String> = stats["by_outcome"]
        .as_object()
        .map(|m| m.iter().map(|(k, v)| format!("{k} {v}")).collect())
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "\nDNS: {} queries, {} answered from cache ({}); {} ms",
        n(stats, "queries"),
        n(stats, "cache_hits"),
        by.join(", "),
        n(doc, "duration_ms")
    );
    out
}

/// One line per scanned message.
fn message_line(m: &Value) -> String {
    let dkim: Vec<String> = m["dkim"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|sig| format!("{}={}", s(sig, "domain"), s(sig, "result")))
                .collect()
        })
        .unwrap_or_default();
    let yes = |v: &Value| {
        if v.as_bool() == Some(true) {
            "yes"
        } else {
            "no"
        }
    };
    if m.get("from_domain").is_none_or(Value::is_null) && dkim.is_empty() {
        return s(m, "file").to_string();
    }
    format!(
        "{}: DKIM {}; DMARC {}; one-click {} (signed {}); unsubscribe link {}",
        s(m, "file"),
        if dkim.is_empty() {
            "none".to_string()
        } else {
            dkim.join(", ")
        },
        m["dmarc"]
            .get("result")
            .and_then(Value::as_str)
            .unwrap_or("none"),
        yes(&m["list_unsubscribe"]["one_click"]),
        yes(&m["list_unsubscribe"]["signed"]),
        yes(&m["unsubscribe_link"]["found"]),
    )
}

fn check_line(id: &str, c: &Value) -> String {
    match id {
        "spf" => match c.get("record").and_then(Value::as_str) {
            Some(r) => format!(
                "{r}  [{} lookups, {} void]",
                n(c, "lookups"),
                n(c, "void_lookups")
            ),
            None => "no record".into(),
        },
        "dmarc" => match c.get("record").and_then(Value::as_str) {
            Some(r) => format!("{r}  (at _dmarc.{})", s(c, "domain")),
            None => "no record".into(),
        },
        "mx" => {
            let hosts: Vec<String> = c["hosts"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|h| format!("{} {}", n(h, "preference"), s(h, "name")))
                        .collect()
                })
                .unwrap_or_default();
            if c.get("null_mx").and_then(Value::as_bool) == Some(true) {
                "null MX".into()
            } else {
                hosts.join(", ")
            }
        }
        "dkim" => {
            let sels: Vec<String> = c["selectors"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|k| match k.get("key_bits").and_then(Value::as_u64) {
                            Some(bits) => format!(
                                "{} ({} {bits}, {})",
                                s(k, "selector"),
                                s(k, "key_type"),
                                s(k, "status")
                            ),
                            None => format!("{} ({})", s(k, "selector"), s(k, "status")),
                        })
                        .collect()
                })
                .unwrap_or_default();
            format!(
                "{} [{} selectors tried]",
                if sels.is_empty() {
                    "no key found".to_string()
                } else {
                    sels.join(", ")
                },
                n(c, "selectors_tried")
            )
        }
        "dnsbl" => {
            let counts = &c["counts"];
            format!(
                "{} list(s), {} subject(s): {} listed, {} unknown, {} clear, {} allowlisted, {} skipped",
                n(c, "lists_checked"),
                n(c, "subjects_checked"),
                n(counts, "listed"),
                n(counts, "unknown"),
                n(counts, "clear"),
                n(counts, "allowlisted"),
                n(counts, "skipped")
            )
        }
        "ptr" => c["ips"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|e| {
                        let names: Vec<&str> = e["names"]
                            .as_array()
                            .map(|n| n.iter().filter_map(Value::as_str).collect())
                            .unwrap_or_default();
                        format!(
                            "{} -> {}{}",
                            s(e, "ip"),
                            if names.is_empty() {
                                "-".to_string()
                            } else {
                                names.join(",")
                            },
                            if e["forward_confirmed"].as_bool() == Some(true) {
                                " (confirmed)"
                            } else {
                                ""
                            }
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .unwrap_or_default(),
        _ => String::new(),
    }
}

fn spf_tree(out: &mut String, node: &Value, depth: usize) {
    let pad = "  ".repeat(depth);
    let _ = writeln!(
        out,
        "{pad}{}: {}{}",
        s(node, "domain"),
        node.get("record").and_then(Value::as_str).unwrap_or("-"),
        node.get("error")
            .and_then(Value::as_str)
            .map(|e| format!("  !! {e}"))
            .unwrap_or_default()
    );
    if let Some(terms) = node["terms"].as_array() {
        for t in terms {
            if n(t, "cost") == 0 && t.get("child").is_none() {
                continue;
            }
            let _ = writeln!(
                out,
                "{pad}  [{}] {}{}{}",
                n(t, "cost"),
                s(t, "term"),
                if t.get("void").and_then(Value::as_bool) == Some(true) {
                    " (void)"
                } else {
                    ""
                },
                t.get("note")
                    .and_then(Value::as_str)
                    .map(|x| format!(" - {x}"))
                    .unwrap_or_default()
            );
            if let Some(child) = t.get("child") {
                spf_tree(out, child, depth + 2);
            }
        }
    }
}

/// Listed, unknown and allowlisted results, and lists not believed.
fn dnsbl_section(out: &mut String, c: &Value) {
    const SHOWN: usize = 50;
    let results: Vec<&Value> = c["results"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|r| matches!(s(r, "status"), "listed" | "unknown" | "allowlisted"))
                // Results of lists not believed are summed up per list below.
                .filter(|r| !s(r, "reason").starts_with("list unhealthy"))
                .collect()
        })
        .unwrap_or_default();
    if !results.is_empty() {
        out.push_str("\nBlocklist results:\n");
        for r in results.iter().take(SHOWN) {
            let detail = match s(r, "status") {
                "listed" => format!(
                    "{}{}",
                    r.get("meaning").and_then(Value::as_str).unwrap_or(""),
                    r.get("reason")
                        .and_then(Value::as_str)
                        .map(|t| format!(" - \"{t}\""))
                        .unwrap_or_default()
                ),
                "allowlisted" => r
                    .get("meaning")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                _ => r
                    .get("reason")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
            };
            let _ = writeln!(
                out,
                "  {:<11} {:<40} {:<32} {detail}",
                s(r, "status"),
                s(r, "subject"),
                s(r, "zone")
            );
        }
        if results.len() > SHOWN {
            let _ = writeln!(
                out,
                "  ... and {} more (see the JSON report)",
                results.len() - SHOWN
            );
        }
    }
    let odd: Vec<String> = c["lists"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|l| matches!(s(l, "state"), "unhealthy" | "dead"))
                .map(|l| {
                    format!(
                        "  {:<11} {:<32} {}",
                        s(l, "state"),
                        s(l, "zone"),
                        s(l, "reason")
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    if !odd.is_empty() {
        out.push_str("\nLists not believed or not asked:\n");
        for line in odd {
            out.push_str(&line);
            out.push('\n');
        }
    }
}

//! docs/architecture.md stays true: its file list is `src/`, its
//! dependency table allows every `crate::` path the code uses, and no
//! comment or document names a file the repository does not have.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn architecture() -> String {
    std::fs::read_to_string(root().join("docs/architecture.md")).unwrap()
}

/// The text of the section headed `## {title}`.
fn section(doc: &str, title: &str) -> String {
    let start = doc
        .find(&format!("\n## {title}\n"))
        .unwrap_or_else(|| panic!("no section {title}"));
    let rest = &doc[start + title.len() + 5..];
    rest[..rest.find("\n## ").unwrap_or(rest.len())].to_string()
}

/// The backticked words of `text`.
fn ticked(text: &str) -> Vec<&str> {
    text.split('`').skip(1).step_by(2).collect()
}

/// Every file under `dir` with one of `exts`, relative to `base`.
fn files(base: &Path, dir: &Path, exts: &[&str], out: &mut Vec<String>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files(base, &p, exts, out);
        } else if exts.iter().any(|x| p.extension().is_some_and(|e| e == *x)) {
            out.push(p.strip_prefix(base).unwrap().display().to_string());
        }
    }
}

fn sources() -> Vec<String> {
    let mut out = Vec::new();
    files(&root().join("src"), &root().join("src"), &["rs"], &mut out);
    out.sort();
    out
}

#[test]
fn the_file_list_is_src() {
    let listed: BTreeSet<String> = ticked(&section(&architecture(), "Files"))
        .into_iter()
        .filter(|t| t.ends_with(".rs"))
        .map(String::from)
        .collect();
    let real: BTreeSet<String> = sources().into_iter().collect();
    let missing: Vec<&String> = real.difference(&listed).collect();
    let stale: Vec<&String> = listed.difference(&real).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "docs/architecture.md lacks {missing:?} and names {stale:?}, which do not exist"
    );
}

/// The modules each module may use, from the table.
fn allowed() -> Vec<(Vec<String>, Vec<String>)> {
    section(&architecture(), "What may depend on what")
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            let cells: Vec<&str> = l.split('|').collect();
            let names = ticked(cells[1]).into_iter().map(String::from).collect();
            let uses = ticked(cells[2]).into_iter().map(String::from).collect();
            (names, uses)
        })
        .collect()
}

#[test]
fn every_dependency_is_in_the_table() {
    let table = allowed();
    let path = regex::Regex::new(r"crate::([a-z_]+)(?:::([a-z_]+))?").unwrap();
    let mut wrong = Vec::new();
    for file in sources() {
        if file.starts_with("bin/") || file == "lib.rs" {
            continue;
        }
        let module = file.split(['/', '.']).next().unwrap().to_string();
        let (_, uses) = table
            .iter()
            .find(|(names, _)| names.contains(&module))
            .unwrap_or_else(|| panic!("{module} ({file}) is not in the table"));
        let text = std::fs::read_to_string(root().join("src").join(&file)).unwrap();
        // The code, not its comments or its unit tests.
        let code = text.split("#[cfg(test)]").next().unwrap();
        for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
            for c in path.captures_iter(line) {
                let top = &c[1];
                let sub = c.get(2).map(|m| format!("{top}::{}", m.as_str()));
                let ok = top == module
                    || uses.iter().any(|u| u == top)
                    || sub.as_ref().is_some_and(|s| uses.contains(s))
                    // Macros exported at the crate root are the module's
                    // that defines them.
                    || top.ends_with("_ids");
                if !ok {
                    wrong.push(format!("{file}: {}", &c[0]));
                }
            }
        }
    }
    wrong.sort();
    wrong.dedup();
    assert!(
        wrong.is_empty(),
        "uses the table does not allow:\n{}",
        wrong.join("\n")
    );
}

/// Folders made by running tools, named in docs but never committed.
const GENERATED: &[&str] = &[
    "fuzz/corpus",
    "fuzz/artifacts",
    "fuzz/coverage",
    "fuzz/target",
];

#[test]
fn no_comment_or_document_names_a_file_that_is_not_there() {
    let mut texts = Vec::new();
    for (dir, exts) in [
        ("src", &["rs"][..]),
        ("tests", &["rs"][..]),
        ("benches", &["rs", "sh", "md"][..]),
        ("fuzz", &["rs", "md"][..]),
        ("docs", &["md"][..]),
        ("examples", &["md", "rs"][..]),
    ] {
        let d = root().join(dir);
        if d.exists() {
            files(&root(), &d, exts, &mut texts);
        }
    }
    // Not CHANGELOG.md: it is history, and names files as they were.
    texts.push("README.md".into());
    let cited = regex::Regex::new(
        r"(?:^|[\s(`\[])((?:src|docs|rules|templates|tests|benches|fuzz|examples)/[A-Za-z0-9_./-]*[A-Za-z0-9_])",
    )
    .unwrap();
    let mut missing = Vec::new();
    for t in &texts {
        let text = std::fs::read_to_string(root().join(t)).unwrap_or_default();
        for c in cited.captures_iter(&text) {
            let p = &c[1];
            // Directories and files both count; a glob or a placeholder
            // (`<id>`, `TARGET`) is a pattern, not a file; what cargo fuzz
            // makes when it runs is not in the repository.
            let placeholder = p
                .split('/')
                .any(|s| s.len() > 1 && s.chars().all(|c| c.is_ascii_uppercase() || c == '_'));
            if p.contains('*')
                || p.contains('<')
                || placeholder
                || GENERATED.iter().any(|g| p.starts_with(g))
            {
                continue;
            }
            // Relative to the root, to the file's folder, or to src/ (the
            // architecture's file list).
            let exists = [
                root(),
                root().join(t).parent().unwrap().to_path_buf(),
                root().join("src"),
            ]
            .iter()
            .any(|base| base.join(p).exists());
            if !exists {
                missing.push(format!("{t}: {p}"));
            }
        }
    }
    missing.sort();
    missing.dedup();
    assert!(
        missing.is_empty(),
        "files named but not in the repository:\n{}",
        missing.join("\n")
    );
}

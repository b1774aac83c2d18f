//! Reading one rules file: the user's copy under `--rules DIR` when it
//! has one, else the embedded text, and errors that name the file. The
//! leaf every reader of `rules/` data uses (the rules of
//! [`super::Rules`], the blocklist catalogue), so that none of them needs
//! the others.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use thiserror::Error;

/// Every rules file, by the name `--rules DIR` overrides it under (the
/// blocklist catalogue, read by `blocklist::catalog`, among them).
pub const FILES: &[&str] = &[
    "advice.toml",
    "dkim-selectors.toml",
    "dnsbl.toml",
    "ptr-generic.toml",
    "recipients.toml",
    "disposable-domains.txt",
    "sender-requirements.toml",
    "unsubscribe.toml",
];

#[derive(Debug, Error)]
pub enum RulesError {
    #[error("rules directory {path}: {message}")]
    Dir { path: String, message: String },
    #[error("rules file {path}: {message}")]
    File { path: String, message: String },
}

/// One rules file's text and where it came from.
pub(crate) struct Source {
    pub path: String,
    pub text: String,
}

impl Source {
    /// The file from `dir` if it has one, else the embedded text.
    pub(crate) fn pick(
        dir: Option<&Path>,
        file: &str,
        embedded: &str,
    ) -> Result<Source, RulesError> {
        debug_assert!(FILES.contains(&file), "{file} is missing from rules::FILES");
        if let Some(dir) = dir {
            let path: PathBuf = dir.join(file);
            if path.exists() {
                let shown = path.display().to_string();
                let text = std::fs::read_to_string(&path).map_err(|e| RulesError::File {
                    path: shown.clone(),
                    message: e.to_string(),
                })?;
                return Ok(Source { path: shown, text });
            }
        }
        Ok(Source {
            path: format!("(built-in) rules/{file}"),
            text: embedded.to_string(),
        })
    }

    pub(crate) fn error(&self, message: impl Into<String>) -> RulesError {
        RulesError::File {
            path: self.path.clone(),
            message: message.into(),
        }
    }

    /// Deserialises, with TOML's multi-line message folded to one line.
    pub(crate) fn toml<T: for<'de> Deserialize<'de>>(&self) -> Result<T, RulesError> {
        toml::from_str(&self.text).map_err(|e| {
            let line = e.span().map(|s| {
                self.text[..s.start.min(self.text.len())]
                    .lines()
                    .count()
                    .max(1)
            });
            let msg = e.message().replace('\n', " ");
            self.error(match line {
                Some(l) => format!("line {l}: {msg}"),
                None => msg,
            })
        })
    }
}

//! mailaudit: an email deliverability auditor.
//!
//! The library holds everything; the `mailaudit` binary only parses
//! arguments and maps errors to exit codes. Layout: [`dns`] (the one
//! resolver, its cache and limits, the embedded server), [`records`]
//! (record syntaxes), [`checks`] (one module per check), [`rules`] (the
//! editable data under `rules/`), [`audit`] (orchestration and the report
//! model), [`report`] (renderers).

pub mod app;
pub mod audit;
pub mod checks;
pub mod cli;
pub mod dns;
pub mod dnsbl;
pub mod findings;
pub mod input;
pub mod message;
pub mod records;
pub mod report;
pub mod rules;

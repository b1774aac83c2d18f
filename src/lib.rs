//! mailaudit: an email deliverability auditor.
//!
//! The library holds everything; the `mailaudit` binary only turns
//! arguments into a request, draws progress and maps the outcome to an exit
//! code. The way a question travels (docs/architecture.md): [`engine`] runs
//! a selection of [`checks`] over the [`facts`] of a target, which ask
//! [`dns`]; checks return typed details and [`findings`]; the
//! [`report`] model holds them and its renderers write JSON, text and
//! HTML. [`records`] and [`message`] are pure parsers, [`blocklist`] the
//! DNSBL catalogue and sweep, [`rules`] the editable data under `rules/`.

pub mod batch;
pub mod blocklist;
pub mod checks;
pub mod dns;
pub mod engine;
pub mod facts;
pub mod findings;
pub mod input;
pub mod message;
pub mod output;
pub mod reach;
pub mod recipients;
pub mod records;
pub mod report;
pub mod rspamd;
pub mod rules;
#[cfg(feature = "serve")]
pub mod service;
pub mod smtp;
pub mod watch;
pub mod web;

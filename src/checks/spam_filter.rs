//! A real spam filter's opinion of each message: rspamd, when the run was
//! given one (`--rspamd URL`), asked over its HTTP protocol with the
//! envelope the message came with ([`crate::rspamd`]). Its score, action
//! and symbols are shown as rspamd's, in a section of their own; an
//! action other than "no action" is a warning, since receivers that run
//! rspamd (or filters like it) would act on it.

use futures::future::join_all;
use serde::Serialize;

use crate::checks::{Ran, check};
use crate::facts::Facts;
use crate::findings::Finding;
use crate::message::scan::Scanned;
use crate::report::model::{Block, Detail};
use crate::rspamd::{Envelope, Opinion};

crate::check_finding_ids! {
    /// rspamd would act on the message (its action is not "no action").
    SPAM_FILTER_FLAGGED = "spam-filter.flagged",
    /// rspamd could not be asked, or its answer could not be read.
    SPAM_FILTER_UNAVAILABLE = "spam-filter.unavailable",
}

check! {
    /// rspamd's opinion of each message.
    SpamFilter {
        id: "spam-filter",
        title: "Spam filter (rspamd)",
        description: "each message as a real rspamd scores it (--rspamd URL): score, action and the symbols that matched, rspamd's opinion rather than ours",
        kinds: &[RunKind::Audit, RunKind::Message],
        findings: FINDINGS,
    }
    fn run(facts) {
        let Some(rspamd) = facts.target.rspamd.as_ref() else {
            return Ran::skipped("no spam filter was asked (--rspamd URL asks a running rspamd)");
        };
        let readable: Vec<&Scanned<'_>> =
            facts.messages.iter().filter(|m| m.problem.is_none()).collect();
        if readable.is_empty() {
            return Ran::skipped("no message was given");
        }
        let envelopes: Vec<Envelope> = readable.iter().map(|m| envelope(facts, m)).collect();
        let asked = join_all(readable.iter().zip(&envelopes).map(|(m, e)| rspamd.check(&m.loaded.bytes, e))).await;
        let mut findings = Vec::new();
        let mut opinions = Vec::new();
        for (m, answer) in readable.iter().zip(asked) {
            let file = m.loaded.path.as_str();
            match answer {
                Ok(o) => {
                    if o.action != "no action" {
                        findings.push(
                            Finding::new(
                                SPAM_FILTER_FLAGGED,
                                file,
                                format!(
                                    "rspamd's action for {file} is \"{}\" (score {:.2}, reject at {:.2}); the highest-scoring symbols: {}.",
                                    o.action,
                                    o.score,
                                    o.required_score,
                                    top(&o, 5)
                                ),
                            )
                            .with("action", &o.action)
                            .with("score", o.score)
                            .with("required_score", o.required_score)
                            .with("symbols", o.symbols.iter().take(10).map(|s| &s.name).collect::<Vec<_>>()),
                        );
                    }
                    opinions.push(Asked { file: file.into(), opinion: Some(o), error: None });
                }
                Err(e) => {
                    findings.push(
                        Finding::new(
                            SPAM_FILTER_UNAVAILABLE,
                            file,
                            format!("rspamd at {} was not able to score {file}: {e}.", rspamd.url),
                        )
                        .with("url", &rspamd.url)
                        .with("error", &e)
                        .unknown(),
                    );
                    opinions.push(Asked { file: file.into(), opinion: None, error: Some(e) });
                }
            }
        }
        Ran::done(Opinions(opinions), findings)
    }
}

/// The envelope rspamd is told: the connection we saw, else what the
/// Received path and the run say.
fn envelope(facts: &Facts<'_>, m: &Scanned<'_>) -> Envelope {
    let connection = facts.target.connection.as_ref();
    Envelope {
        ip: connection.map(|c| c.client_ip).or_else(|| m.sending_ip()),
        helo: facts.helo().map(str::to_string),
        mail_from: facts.mail_from_of(m),
        recipients: connection.map(|c| c.recipients.clone()).unwrap_or_default(),
    }
}

/// "MISSING_MID (2.50), R_SPF_FAIL (1.00)".
fn top(o: &Opinion, n: usize) -> String {
    let shown: Vec<String> = o
        .symbols
        .iter()
        .filter(|s| s.score != 0.0)
        .take(n)
        .map(|s| format!("{} ({:.2})", s.name, s.score))
        .collect();
    if shown.is_empty() {
        "none with a score".into()
    } else {
        shown.join(", ")
    }
}

/// What rspamd said of one message: the JSON `checks.spam-filter[]` entry.
#[derive(Debug, Serialize)]
pub struct Asked {
    pub file: String,
    pub opinion: Option<Opinion>,
    pub error: Option<String>,
}

#[derive(Debug)]
pub struct Opinions(pub Vec<Asked>);

impl Detail for Opinions {
    fn wire(&self) -> serde_json::Value {
        serde_json::json!({ "messages": &self.0 })
    }

    fn headline(&self) -> String {
        self.0
            .iter()
            .map(|a| match &a.opinion {
                Some(o) => format!(
                    "{}: {:.2} / {:.2}, {}",
                    a.file, o.score, o.required_score, o.action
                ),
                None => format!("{}: not scored", a.file),
            })
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn blocks(&self) -> Vec<Block> {
        self.0
            .iter()
            .filter_map(|a| {
                let o = a.opinion.as_ref()?;
                Some(Block::Table {
                    title: format!(
                        "rspamd on {}: score {:.2} (reject at {:.2}), action \"{}\"",
                        a.file, o.score, o.required_score, o.action
                    ),
                    head: ["Symbol", "Score", "Description", "Options"]
                        .map(String::from)
                        .to_vec(),
                    rows: o
                        .symbols
                        .iter()
                        .map(|s| {
                            vec![
                                s.name.clone(),
                                format!("{:.2}", s.score),
                                s.description.clone().unwrap_or_default(),
                                s.options.join(", "),
                            ]
                        })
                        .collect(),
                })
            })
            .collect()
    }

    fn passed(&self, _findings: &[&Finding]) -> Vec<String> {
        self.0
            .iter()
            .filter_map(|a| {
                let o = a.opinion.as_ref().filter(|o| o.action == "no action")?;
                Some(format!(
                    "{}: rspamd takes no action (score {:.2} of {:.2})",
                    a.file, o.score, o.required_score
                ))
            })
            .collect()
    }
}

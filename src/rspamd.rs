//! Asking a real spam filter: rspamd's HTTP protocol (`POST /checkv2`,
//! the message as the body, the envelope in request headers), for the
//! spam-filter check. Its score, action and symbols are rspamd's opinion,
//! shown as such; they are not a verdict of ours.

use std::net::IpAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Where rspamd listens (`--rspamd URL`, its normal worker: port 11333).
#[derive(Debug, Clone)]
pub struct Rspamd {
    /// `http://host:port` (a path, if any, is replaced by `/checkv2`).
    pub url: String,
    pub timeout: Duration,
}

/// What the message came with, for rspamd's own checks (SPF, RBLs).
#[derive(Debug, Clone, Default)]
pub struct Envelope {
    pub ip: Option<IpAddr>,
    pub helo: Option<String>,
    pub mail_from: Option<String>,
    pub recipients: Vec<String>,
}

/// rspamd's answer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Opinion {
    pub score: f64,
    /// The score from which rspamd rejects.
    pub required_score: f64,
    /// `no action`, `greylist`, `add header`, `rewrite subject`,
    /// `soft reject` or `reject`.
    pub action: String,
    /// Symbols that matched, highest score first.
    pub symbols: Vec<Symbol>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Symbol {
    pub name: String,
    pub score: f64,
    pub description: Option<String>,
    pub options: Vec<String>,
}

/// Symbols kept from one answer (a stranger's message can match many).
const MAX_SYMBOLS: usize = 100;
/// Largest answer read.
const MAX_ANSWER: usize = 1 << 20;

/// Where the URL is refused before anything is sent.
pub fn parse_url(url: &str) -> Result<String, String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("{url:?} is not a URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(format!("{url:?} is not an http:// or https:// URL"));
    }
    let mut base = parsed;
    base.set_path("/checkv2");
    base.set_query(None);
    Ok(base.to_string())
}

impl Rspamd {
    /// Asks rspamd about `message`.
    pub async fn check(&self, message: &[u8], envelope: &Envelope) -> Result<Opinion, String> {
        let url = parse_url(&self.url)?;
        let client = crate::web::operator_client(self.timeout)?;
        let mut request = client.post(&url).body(message.to_vec());
        // Header values are what the sender chose: only printable ASCII
        // goes into a request header.
        let clean = |s: &str| -> Option<String> {
            let s = s.trim();
            (!s.is_empty() && s.len() <= 512 && s.bytes().all(|b| (0x21..0x7f).contains(&b)))
                .then(|| s.to_string())
        };
        if let Some(ip) = envelope.ip {
            request = request.header("IP", ip.to_string());
        }
        if let Some(h) = envelope.helo.as_deref().and_then(clean) {
            request = request.header("Helo", h);
        }
        if let Some(m) = envelope.mail_from.as_deref().and_then(clean) {
            request = request.header("From", m);
        }
        for r in envelope.recipients.iter().filter_map(|r| clean(r)).take(10) {
            request = request.header("Rcpt", r);
        }
        let mut response = request
            .send()
            .await
            .map_err(|e| crate::web::describe_error(&e))?;
        let status = response.status();
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| crate::web::describe_error(&e))?
        {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_ANSWER {
                return Err(format!("its answer is larger than {MAX_ANSWER} octets"));
            }
        }
        if !status.is_success() {
            return Err(format!("it answered HTTP {}", status.as_u16()));
        }
        read_answer(&body)
    }
}

/// Reads a `/checkv2` answer.
pub fn read_answer(body: &[u8]) -> Result<Opinion, String> {
    #[derive(Deserialize)]
    struct Wire {
        score: Option<f64>,
        required_score: Option<f64>,
        action: Option<String>,
        #[serde(default)]
        symbols: serde_json::Map<String, serde_json::Value>,
        error: Option<String>,
    }
    let wire: Wire =
        serde_json::from_slice(body).map_err(|e| format!("its answer is not JSON: {e}"))?;
    if let Some(e) = wire.error {
        return Err(format!("it answered with an error: {e}"));
    }
    let (Some(score), Some(action)) = (wire.score, wire.action) else {
        return Err("its answer has no score or action".into());
    };
    let mut symbols: Vec<Symbol> = wire
        .symbols
        .iter()
        .map(|(name, v)| Symbol {
            name: name.clone(),
            score: v.get("score").and_then(|s| s.as_f64()).unwrap_or(0.0),
            description: v
                .get("description")
                .and_then(|d| d.as_str())
                .map(str::to_string),
            options: v
                .get("options")
                .and_then(|o| o.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|o| o.as_str().map(str::to_string))
                        .take(10)
                        .collect()
                })
                .unwrap_or_default(),
        })
        .collect();
    symbols.sort_by(|a, b| {
        b.score
            .abs()
            .partial_cmp(&a.score.abs())
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| a.name.cmp(&b.name))
    });
    symbols.truncate(MAX_SYMBOLS);
    Ok(Opinion {
        score,
        required_score: wire.required_score.unwrap_or(0.0),
        action,
        symbols,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_is_read_highest_score_first() {
        let body = br#"{"is_skipped":false,"score":6.5,"required_score":15.0,"action":"add header",
            "symbols":{"R_SPF_FAIL":{"name":"R_SPF_FAIL","score":1.0,"options":["-all"]},
                       "MISSING_MID":{"name":"MISSING_MID","score":2.5,"description":"Message-ID header is missing"}}}"#;
        let o = read_answer(body).unwrap();
        assert_eq!(o.action, "add header");
        assert_eq!(o.symbols[0].name, "MISSING_MID");
        assert_eq!(o.symbols[1].options, ["-all"]);
        assert!(
            read_answer(b"{\"error\":\"bad\"}")
                .unwrap_err()
                .contains("bad")
        );
        assert!(read_answer(b"<html>").is_err());
    }

    #[test]
    fn urls_are_checked_and_pointed_at_checkv2() {
        assert_eq!(
            parse_url("http://127.0.0.1:11333").unwrap(),
            "http://127.0.0.1:11333/checkv2"
        );
        assert!(parse_url("ftp://x").is_err());
        assert!(parse_url("nonsense").is_err());
    }
}

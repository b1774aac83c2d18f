//! Issue 9 benchmark: the message scan is linear in the message's size.
//! Three messages with 100,000 links each: plain text on one line, a
//! quoted-printable part whose soft line breaks decode to one line, and
//! HTML; and the bundled example campaign (2 KB), whose time is the fixed
//! cost of one message. Each is read without DNS (`message::scan::scan`: parse,
//! headers, the unsubscribe link, the link domains) and timed, median of
//! several runs, as time per MB. Run: `cargo bench --bench message_scan`.

use std::time::{Duration, Instant};

use mailaudit::message::Loaded;
use mailaudit::message::scan::scan;
use mailaudit::rules::Rules;

const LINKS: usize = 100_000;
const RUNS: usize = 7;

fn message(content_type: &str, encoding: &str, body: &str) -> Vec<u8> {
    format!(
        "From: News <news@shop.example>\r\nTo: a@example.net\r\nSubject: offers\r\n\
         Date: Fri, 27 Nov 2026 10:00:00 +0000\r\nMessage-ID: <b@shop.example>\r\n\
         MIME-Version: 1.0\r\nContent-Type: {content_type}; charset=utf-8\r\n\
         Content-Transfer-Encoding: {encoding}\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

fn main() {
    let rules = Rules::embedded();
    let mut plain = String::new();
    let mut html = String::new();
    for i in 0..LINKS {
        plain.push_str(&format!("https://l{}.shop.example/p/{i} ", i % 97));
        html.push_str(&format!(
            "<a href=\"https://l{}.shop.example/p/{i}\">offer {i}</a> ",
            i % 97
        ));
    }
    plain.push_str("to unsubscribe: https://shop.example/bye");
    html.push_str("<a href=\"https://shop.example/bye\">Unsubscribe</a>");
    // Quoted-printable: 76-character lines joined by soft breaks.
    let mut qp = String::new();
    for chunk in plain.as_bytes().chunks(75) {
        qp.push_str(&String::from_utf8_lossy(chunk));
        qp.push_str("=\r\n");
    }
    let cases = [
        (
            "plain text, one line",
            message("text/plain", "7bit", &plain),
        ),
        (
            "quoted-printable, soft breaks",
            message("text/plain", "quoted-printable", &qp),
        ),
        ("HTML", message("text/html", "7bit", &html)),
        (
            "examples/campaign.eml",
            include_bytes!("../examples/campaign.eml").to_vec(),
        ),
    ];
    println!("message_scan: {LINKS} links per message, median of {RUNS} runs");
    for (name, bytes) in cases {
        let loaded = Loaded {
            path: "bench.eml".into(),
            size: bytes.len() as u64,
            bytes,
            truncated: false,
        };
        let mut times: Vec<Duration> = (0..RUNS)
            .map(|_| {
                let start = Instant::now();
                let p = scan(&loaded, &rules);
                let took = start.elapsed();
                assert!(p.link.is_some(), "{name}: the unsubscribe link is found");
                took
            })
            .collect();
        times.sort();
        let median = times[RUNS / 2];
        let mb = loaded.size as f64 / 1e6;
        println!(
            "  {name:<32} {mb:>5.3} MB  median {:>8.3} ms  ({:.1} ms per MB)",
            median.as_secs_f64() * 1e3,
            median.as_secs_f64() * 1e3 / mb
        );
    }
}

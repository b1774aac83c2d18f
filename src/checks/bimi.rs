//! BIMI: the `default._bimi` record (`v=BIMI1; l=; a=`), its precondition
//! that DMARC is at enforcement (p=quarantine or reject, applied to all
//! mail), and the logo it points to: fetched over HTTPS and read as an SVG
//! of the Tiny PS profile (`baseProfile="tiny-ps"`, no scripts, no
//! external references), which is what mailbox providers display.

use serde::Serialize;

use crate::checks::{Ran, check};
use crate::facts::Facts;
use crate::findings::{self as ids, Finding};
use crate::records::dmarc::Policy;
use crate::report::model::{Block, Detail};
use crate::web::{self, FetchError};

check! {
    Bimi {
        id: "bimi",
        title: "BIMI",
        description: "the BIMI record (default._bimi), DMARC at enforcement, and the logo as SVG Tiny PS",
        domain_records: true,
    }
    fn run(facts) {
        let (report, findings) = run(facts).await;
        let logo =
            report.logo.as_ref().is_some_and(|l| !l.is_empty()) && report.logo_ok.is_none();
        Ran::unless_unfetched(facts, logo.then_some("the logo"), report, findings)
    }
}

/// What the BIMI check found.
#[derive(Debug, Clone, Serialize)]
pub struct BimiReport {
    pub record: Option<String>,
    /// The logo's URL (`l=`); empty when the domain declines BIMI.
    pub logo: Option<String>,
    /// The mark certificate's URL (`a=`), if any.
    pub certificate: Option<String>,
    /// Whether the logo was fetched and read as SVG Tiny PS.
    pub logo_ok: Option<bool>,
}

/// `v=BIMI1; l=...; a=...`: (l, a), or what is wrong.
pub fn parse(record: &str) -> Result<(String, Option<String>), String> {
    let mut fields = record.split(';').map(str::trim).filter(|f| !f.is_empty());
    if fields.next() != Some("v=BIMI1") {
        return Err("it does not start with v=BIMI1".into());
    }
    let (mut l, mut a) = (None, None);
    for f in fields {
        let Some((k, v)) = f.split_once('=') else {
            return Err(format!("{f:?} is not name=value"));
        };
        let v = v.trim().to_string();
        match k.trim() {
            "l" => l = Some(v),
            "a" => a = Some(v).filter(|v| !v.is_empty()),
            _ => {}
        }
    }
    let l = l.ok_or("it has no l= (the logo's address)")?;
    for url in std::iter::once(&l).chain(a.iter()) {
        if !url.is_empty() && !url.starts_with("https://") {
            return Err(format!("{url:?} is not an https: address"));
        }
    }
    Ok((l, a))
}

/// What keeps an SVG from being Tiny PS, if anything (a bounded text scan
/// of at most [`web::MAX_BODY`] octets).
pub fn tiny_ps_problem(svg: &str) -> Option<String> {
    let lower = svg.to_ascii_lowercase();
    if !lower.contains("<svg") {
        return Some("it is not an SVG image".into());
    }
    if !lower.contains("baseprofile=\"tiny-ps\"") && !lower.contains("baseprofile='tiny-ps'") {
        return Some("it is not of the Tiny PS profile (baseProfile=\"tiny-ps\")".into());
    }
    if lower.contains("<script") {
        return Some("it contains a script".into());
    }
    for attr in ["href=\"http", "href='http", "href=\"//", "href='//"] {
        if lower.contains(attr) {
            return Some("it refers to something outside itself (an external href)".into());
        }
    }
    None
}

async fn run(facts: &Facts<'_>) -> (BimiReport, Vec<Finding>) {
    let domain = facts.domain();
    let name = format!("default._bimi.{domain}");
    let mut report = BimiReport {
        record: None,
        logo: None,
        certificate: None,
        logo_ok: None,
    };
    let is_bimi = |r: &str| r.trim_start().starts_with("v=BIMI1");
    let records = match facts.txt_records(&name, is_bimi).await {
        Ok(r) => r,
        Err(failed) => return (report, vec![failed.finding(ids::BIMI_DNS_ERROR, domain)]),
    };
    let record = match records.as_slice() {
        [] => {
            return (
                report,
                vec![Finding::new(
                    ids::BIMI_MISSING,
                    domain,
                    format!(
                        "{domain} publishes no BIMI record at {name}: mailbox providers show no logo beside its mail."
                    ),
                )],
            );
        }
        [one] => one.clone(),
        many => {
            return (
                report,
                vec![
                    Finding::new(
                        ids::BIMI_INVALID_RECORD,
                        domain,
                        format!(
                            "{domain} publishes {} BIMI records at {name}; providers use none.",
                            many.len()
                        ),
                    )
                    .with("records", many),
                ],
            );
        }
    };
    report.record = Some(record.clone());
    let (logo, certificate) = match parse(&record) {
        Ok(p) => p,
        Err(why) => {
            return (
                report,
                vec![
                    Finding::new(
                        ids::BIMI_INVALID_RECORD,
                        domain,
                        format!("The BIMI record of {domain} is invalid: {why}."),
                    )
                    .with("record", &record),
                ],
            );
        }
    };
    report.logo = Some(logo.clone());
    report.certificate = certificate;
    let mut findings = Vec::new();

    // BIMI is shown only for mail under an enforced DMARC policy.
    let disc = facts.dmarc().await;
    match (disc.failure(), disc.record()) {
        (Some(f), _) => findings.push(f.finding(ids::BIMI_DNS_ERROR, domain)),
        (None, rec) => {
            let enforced = rec.as_ref().is_some_and(|r| {
                matches!(r.p, Some(Policy::Quarantine | Policy::Reject))
                    && r.pct.is_none_or(|p| p == 100)
                    && !r.testing
            });
            if !enforced {
                findings.push(
                    Finding::new(
                        ids::BIMI_DMARC_NOT_ENFORCED,
                        domain,
                        format!("{domain} publishes BIMI, but its DMARC policy is not at enforcement (p=quarantine or p=reject, for all mail): providers show no logo."),
                    )
                    .with("dmarc", rec.map(|r| r.raw)),
                );
            }
        }
    }

    if logo.is_empty() {
        // l= empty: the domain declines to show a logo.
        return (report, findings);
    }
    let Some(web) = &facts.target.web else {
        return (report, findings);
    };
    let Some((host, path)) = logo
        .strip_prefix("https://")
        .map(|rest| match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        })
    else {
        return (report, findings);
    };
    let addresses = match facts.addresses_of(host).await {
        Ok(a) => a,
        Err(failed) => {
            findings.push(failed.finding(ids::BIMI_DNS_ERROR, domain));
            return (report, findings);
        }
    };
    let unreachable = |why: String| {
        Finding::new(
            ids::BIMI_LOGO_UNREACHABLE,
            domain,
            format!("The BIMI logo of {domain} could not be fetched from {logo}: {why}."),
        )
        .with("url", &logo)
    };
    if addresses.is_empty() {
        findings.push(unreachable(format!("{host} has no address")));
        return (report, findings);
    }
    match web::get(host, path, &addresses, web).await {
        Err(FetchError::Timeout) => {
            findings.push(unreachable("no answer in time".into()).unknown())
        }
        Err(FetchError::NotAllowed(why)) => findings.push(
            Finding::new(
                ids::BIMI_LOGO_NOT_FETCHED,
                domain,
                format!("The BIMI logo of {domain} was not fetched from {logo}: {why}. Whether it can be shown is unknown."),
            )
            .with("url", &logo)
            .with("reason", &why)
            .unknown(),
        ),
        Err(e) => findings.push(unreachable(e.to_string())),
        Ok(f) if f.status != 200 => findings.push(unreachable(format!("HTTP status {}", f.status))),
        Ok(f) => match tiny_ps_problem(&f.body) {
            Some(why) => {
                report.logo_ok = Some(false);
                findings.push(
                    Finding::new(
                        ids::BIMI_LOGO_NOT_TINY_PS,
                        domain,
                        format!("The BIMI logo at {logo} cannot be shown: {why}."),
                    )
                    .with("url", &logo),
                );
            }
            None => report.logo_ok = Some(true),
        },
    }
    (report, findings)
}

impl Detail for BimiReport {
    fn wire(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("serialises")
    }

    fn headline(&self) -> String {
        self.record.clone().unwrap_or_else(|| "no record".into())
    }

    fn blocks(&self) -> Vec<Block> {
        let mut items = Vec::new();
        if let Some(l) = self.logo.as_ref().filter(|l| !l.is_empty()) {
            items.push(format!("logo: {l}"));
        }
        if let Some(a) = &self.certificate {
            items.push(format!("mark certificate: {a}"));
        }
        if items.is_empty() {
            return Vec::new();
        }
        vec![Block::Lines {
            title: "BIMI".into(),
            items,
        }]
    }

    fn passed(&self, findings: &[&Finding]) -> Vec<String> {
        match (&self.logo, self.logo_ok) {
            (Some(l), Some(true)) if findings.is_empty() => vec![format!(
                "A BIMI logo in SVG Tiny PS at {l}, with DMARC at enforcement"
            )],
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_and_logos() {
        assert_eq!(
            parse("v=BIMI1; l=https://example.com/logo.svg; a=https://example.com/vmc.pem")
                .unwrap(),
            (
                "https://example.com/logo.svg".into(),
                Some("https://example.com/vmc.pem".into())
            )
        );
        assert_eq!(parse("v=BIMI1; l=; a=;").unwrap(), (String::new(), None));
        assert!(parse("v=BIMI1; l=http://example.com/logo.svg").is_err());
        assert!(parse("v=BIMI1;").is_err());
        let good = r#"<svg xmlns="http://www.w3.org/2000/svg" version="1.2" baseProfile="tiny-ps"><title>x</title></svg>"#;
        assert_eq!(tiny_ps_problem(good), None);
        assert!(tiny_ps_problem("<html>").is_some());
        assert!(tiny_ps_problem(&good.replace("tiny-ps", "tiny")).is_some());
        assert!(
            tiny_ps_problem(&good.replace("<title>", "<script>alert(1)</script><title>")).is_some()
        );
        assert!(
            tiny_ps_problem(&good.replace(
                "<title>x</title>",
                r#"<image href="https://evil.example/x.png"/>"#
            ))
            .is_some()
        );
    }
}

//! TLS-RPT (RFC 8460): whether the domain asks sending servers for reports
//! about failed TLS connections to it, at `_smtp._tls.<domain>`. Without
//! it, a broken certificate or a downgrade on the way to its MX hosts goes
//! unnoticed; with MTA-STS or DANE deployed, the reports are how a policy
//! that bounces mail is found out.

use serde::Serialize;

use crate::checks::{Ran, check};
use crate::facts::Facts;
use crate::findings::{self as ids, Finding};
use crate::records::tlsrpt;
use crate::report::model::{Block, Detail};

check! {
    TlsRpt {
        id: "tls-rpt",
        title: "TLS reporting",
        description: "the TLS-RPT record (_smtp._tls): where sending servers report failed TLS connections",
        domain_records: true,
        reads: &[Fact::MxHosts],
        rows: &[Row::DnsRecords { required: true }],
    }
    fn run(facts) {
        let (report, findings) = run(facts).await;
        Ran::done(report, findings)
    }
}

/// What the TLS-RPT check found.
#[derive(Debug, Clone, Serialize)]
pub struct TlsRptReport {
    /// The record in force, if exactly one.
    pub record: Option<String>,
    pub rua: Vec<String>,
    /// Whether the domain publishes an MTA-STS record (`None`: the lookup
    /// failed), which makes a missing TLS-RPT record matter more.
    pub mta_sts: Option<bool>,
}

async fn run(facts: &Facts<'_>) -> (TlsRptReport, Vec<Finding>) {
    let domain = facts.domain();
    let name = format!("_smtp._tls.{domain}");
    let sts_name = format!("_mta-sts.{domain}");
    let (answer, sts) = futures::join!(
        facts.txt_records(&name, tlsrpt::is_tlsrpt),
        facts.txt_records(&sts_name, crate::records::mtasts::is_sts)
    );
    let mta_sts = sts.as_ref().ok().map(|records| !records.is_empty());
    let mut report = TlsRptReport {
        record: None,
        rua: Vec::new(),
        mta_sts,
    };
    let records = match answer {
        Ok(r) => r,
        Err(failed) => return (report, vec![failed.finding(ids::TLS_RPT_DNS_ERROR, domain)]),
    };
    let finding = match records.as_slice() {
        [] => {
            // How much it matters: more with MTA-STS or DANE deployed. A
            // lookup that failed leaves that unknown, never "neither".
            let dane = if mta_sts == Some(true) {
                Ok(false)
            } else {
                facts.mx_publish_tlsa().await
            };
            let deployed = match (&sts, &dane) {
                (Ok(r), _) if !r.is_empty() => Some("MTA-STS"),
                (_, Ok(true)) => Some("DANE"),
                _ => None,
            };
            let (severity, why) = match deployed {
                Some("MTA-STS") => (
                    crate::findings::Severity::Warning,
                    " It publishes MTA-STS, so a policy that makes senders refuse its MX hosts would go unreported.",
                ),
                Some(_) => (
                    crate::findings::Severity::Warning,
                    " Its MX hosts publish TLSA records (DANE), so a certificate that stops matching them would make senders refuse them unreported.",
                ),
                None => (crate::findings::Severity::Info, ""),
            };
            let f = Finding::new(
                ids::TLS_RPT_MISSING,
                domain,
                format!("{domain} publishes no TLS-RPT record at {name}: sending servers cannot report failed TLS connections to it.{why}"),
            )
            .with("name", &name)
            .with("mta_sts", mta_sts)
            .with("dane", dane.as_ref().ok())
            .severity(severity);
            let mut out = vec![f];
            if deployed.is_none() {
                for failed in [sts.as_ref().err(), dane.as_ref().err()].into_iter().flatten() {
                    out.push(failed.finding(ids::TLS_RPT_DNS_ERROR, domain));
                }
            }
            return (report, out);
        }
        [one] => match tlsrpt::parse(one) {
            Ok(parsed) => {
                report.record = Some(one.clone());
                report.rua = parsed.rua;
                None
            }
            Err(why) => Some(
                Finding::new(
                    ids::TLS_RPT_INVALID,
                    domain,
                    format!("The TLS-RPT record of {domain} is invalid: {why}; senders ignore it."),
                )
                .with("record", one),
            ),
        },
        many => Some(
            Finding::new(
                ids::TLS_RPT_MULTIPLE_RECORDS,
                domain,
                format!(
                    "{domain} publishes {} TLS-RPT records at {name}; senders then assume it has none (RFC 8460 §3).",
                    many.len()
                ),
            )
            .with("records", many),
        ),
    };
    (report, finding.into_iter().collect())
}

impl Detail for TlsRptReport {
    fn wire(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("serialises")
    }

    fn headline(&self) -> String {
        match &self.record {
            Some(r) => r.clone(),
            None => "no record in force".into(),
        }
    }

    fn blocks(&self) -> Vec<Block> {
        if self.rua.is_empty() {
            return Vec::new();
        }
        vec![Block::Lines {
            title: "TLS reports go to".into(),
            items: self.rua.clone(),
        }]
    }

    fn passed(&self, findings: &[&Finding]) -> Vec<String> {
        match &self.record {
            Some(r) if findings.is_empty() => {
                vec![format!("One valid TLS-RPT record: {r}")]
            }
            _ => Vec::new(),
        }
    }
}

//! DNSSEC: whether the domain's records validate from the root, as a
//! validating receiver's resolver finds them. Unsigned is worth knowing
//! (DANE needs DNSSEC; forged answers go unnoticed); bogus is an outage:
//! validating resolvers (Google Public DNS, Cloudflare, most ISPs) answer
//! SERVFAIL, so receivers see no MX, SPF, DKIM or DMARC at all, and every
//! check that read the zone is unknown (the engine marks them).

use serde::Serialize;

use crate::checks::{Ran, check};
use crate::dns::dnssec::Validation;
use crate::facts::dnssec::DnssecFact;
use crate::findings::{self as ids, Finding};
use crate::report::json::ProofV1;
use crate::report::model::{Block, Detail};

check! {
    Dnssec {
        id: "dnssec",
        title: "DNSSEC",
        description: "whether the domain's records are signed and validate from the root, as validating receivers check them",
        domain_records: true,
        judges_dnssec: true,
        rows: &[Row::DnsRecords { required: false }],
    }
    fn run(facts) {
        if !facts.dns.validates() {
            return Ran::skipped(crate::dns::OFFLINE_NO_ROOT);
        }
        let fact = facts.dnssec().await;
        let findings = findings(facts.domain(), &fact);
        Ran::done(DnssecReport((*fact).clone()), findings)
    }
}

/// What the DNSSEC check found: the validated questions.
#[derive(Debug, Clone)]
pub struct DnssecReport(pub DnssecFact);

fn findings(domain: &str, fact: &DnssecFact) -> Vec<Finding> {
    let f = match fact.verdict() {
        Validation::Secure => return Vec::new(),
        Validation::Insecure => Finding::new(
            ids::DNSSEC_UNSIGNED,
            domain,
            format!(
                "{domain} is not DNSSEC-signed ({}): receivers cannot tell its answers from forged ones, and DANE cannot be used for its MX hosts.",
                fact.insecure().join(", ")
            ),
        )
        .with("unsigned", fact.insecure()),
        Validation::Bogus(why) => Finding::new(
            ids::DNSSEC_BOGUS,
            domain,
            format!(
                "The DNSSEC signatures of {domain} do not validate ({why}): validating resolvers answer SERVFAIL, so receivers using them see none of its records (MX, SPF, DKIM, DMARC) and mail to and from it fails."
            ),
        )
        .with("reason", why),
        Validation::Unknown(why) => Finding::new(
            ids::DNSSEC_DNS_ERROR,
            domain,
            format!("Whether {domain} validates with DNSSEC is unknown: {why}."),
        )
        .with("reason", why)
        .unknown(),
    };
    vec![f]
}

impl Detail for DnssecReport {
    fn wire(&self) -> serde_json::Value {
        serde_json::to_value(DnssecV1 {
            root: ProofV1::from(&self.0.root),
            answers: self
                .0
                .answers
                .iter()
                .map(|a| AnswerV1 {
                    name: &a.name,
                    rtype: &a.rtype,
                    proof: ProofV1::from(&a.validation),
                })
                .collect(),
        })
        .expect("serialises")
    }

    fn headline(&self) -> String {
        match self.0.verdict() {
            Validation::Secure => "signed, validates from the root".into(),
            Validation::Insecure => "not signed".into(),
            Validation::Bogus(_) => "signed, does not validate (bogus)".into(),
            Validation::Unknown(_) => "not known".into(),
        }
    }

    fn blocks(&self) -> Vec<Block> {
        if self.0.answers.is_empty() {
            return Vec::new();
        }
        vec![Block::Table {
            title: "Validated from the trust anchor".into(),
            head: vec!["Name".into(), "Type".into(), "Result".into()],
            rows: self
                .0
                .answers
                .iter()
                .map(|a| vec![a.name.clone(), a.rtype.clone(), a.validation.to_string()])
                .collect(),
        }]
    }

    fn passed(&self, findings: &[&Finding]) -> Vec<String> {
        if !findings.is_empty() || self.0.verdict() != Validation::Secure {
            return Vec::new();
        }
        vec![format!(
            "Signed, and {} answers validate from the root's keys",
            self.0.answers.len()
        )]
    }
}

// ---- The JSON form, schema v1 (docs/json.md), apart from the fact's types.

#[derive(Serialize)]
struct DnssecV1<'a> {
    root: ProofV1<'a>,
    answers: Vec<AnswerV1<'a>>,
}

#[derive(Serialize)]
struct AnswerV1<'a> {
    name: &'a str,
    #[serde(rename = "type")]
    rtype: &'a str,
    #[serde(flatten)]
    proof: ProofV1<'a>,
}

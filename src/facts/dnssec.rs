//! The DNSSEC fact: whether the audited domain's records validate from the
//! trust anchor, as a validating receiver's resolver would find.
//!
//! The root's own keys are validated first ([`Dns::validate`] does so for
//! every question): a resolver on the way that strips signatures (or
//! cannot pass DNSSEC records at all) makes every answer look bogus, so
//! then nothing below is judged and the verdict is unknown, never "bogus"
//! or "unsigned".

use futures::future::join_all;
use hickory_proto::rr::RecordType;

use crate::dns::Dns;
use crate::dns::dnssec::Validation;

/// One validated question.
#[derive(Debug, Clone)]
pub struct Answer {
    pub name: String,
    pub rtype: String,
    pub validation: Validation,
}

/// How the domain's records validated.
#[derive(Debug, Clone)]
pub struct DnssecFact {
    /// The trust anchor's zone ("" the root).
    pub anchor: String,
    /// The DNSKEY set of the trust anchor's zone (the root), validated
    /// from the anchor.
    pub root: Validation,
    /// The records the checks read (empty when the root did not validate).
    pub answers: Vec<Answer>,
}

impl DnssecFact {
    /// One verdict: unknown unless the root validated; then bogus if any
    /// answer is, unknown if any could not be validated, insecure if any
    /// is outside a signed zone, secure otherwise.
    pub fn verdict(&self) -> Validation {
        if let Some(why) = crate::dns::dnssec::anchor_unusable(&self.anchor, &self.root) {
            return Validation::Unknown(match &self.root {
                // Already said by the resolver, in the same words.
                Validation::Unknown(why) => why.clone(),
                _ => why,
            });
        }
        let bogus = self.questions(|v| matches!(v, Validation::Bogus(_)));
        if !bogus.is_empty() {
            let why = self
                .answers
                .iter()
                .find_map(|a| match &a.validation {
                    Validation::Bogus(w) => Some(w.clone()),
                    _ => None,
                })
                .unwrap_or_default();
            return Validation::Bogus(format!("{}: {why}", bogus.join(", ")));
        }
        if let Some(Validation::Unknown(why)) = self
            .answers
            .iter()
            .map(|a| &a.validation)
            .find(|v| matches!(v, Validation::Unknown(_)))
        {
            return Validation::Unknown(why.clone());
        }
        if self
            .answers
            .iter()
            .any(|a| a.validation == Validation::Insecure)
        {
            return Validation::Insecure;
        }
        Validation::Secure
    }

    /// The questions that are outside any signed zone.
    pub fn insecure(&self) -> Vec<String> {
        self.questions(|v| *v == Validation::Insecure)
    }

    /// The questions (`name TYPE`) whose validation `pred` accepts.
    fn questions(&self, pred: impl Fn(&Validation) -> bool) -> Vec<String> {
        self.answers
            .iter()
            .filter(|a| pred(&a.validation))
            .map(|a| format!("{} {}", a.name, a.rtype))
            .collect()
    }
}

/// Validates the trust anchor's keys (the root's), then the domain's SOA,
/// MX and TXT (SPF) and its DMARC record, all at once.
pub async fn validate_domain(dns: &Dns, domain: &str) -> DnssecFact {
    let Some(anchor) = dns.anchor_of(domain).map(str::to_string) else {
        return DnssecFact {
            anchor: String::new(),
            root: Validation::Unknown(format!("{domain} is under none of the trust anchors")),
            answers: Vec::new(),
        };
    };
    // Unknown, with the reason, unless the anchor's keys validate.
    let root = dns.validate(&anchor, RecordType::DNSKEY).await.validation;
    if root != Validation::Secure {
        return DnssecFact {
            anchor,
            root,
            answers: Vec::new(),
        };
    }
    let dmarc = format!("_dmarc.{domain}");
    let questions = [
        (domain, RecordType::SOA),
        (domain, RecordType::MX),
        (domain, RecordType::TXT),
        (dmarc.as_str(), RecordType::TXT),
    ];
    let answers = join_all(questions.iter().map(|(name, rtype)| async move {
        Answer {
            name: name.to_string(),
            rtype: rtype.to_string(),
            validation: dns.validate(name, *rtype).await.validation,
        }
    }))
    .await;
    DnssecFact {
        anchor,
        root,
        answers,
    }
}

//! The integration tests: one binary (STYLE §13), real DNS over loopback
//! from the embedded server, zone fixtures under tests/fixtures/.

mod cli;
mod common;
mod dnsbl;
mod domain;
mod faults;
mod messages;

/// Every finding ID has a test that triggers it (and the clean fixtures
/// show it absent).
#[test]
fn every_finding_has_a_trigger_test() {
    for id in mailaudit::findings::ALL {
        let covered = domain::TRIGGERS.iter().any(|t| t.3 == *id)
            || domain::FAULT_TRIGGERED.contains(id)
            || dnsbl::TRIGGERED.contains(id)
            || messages::TRIGGERED.contains(id);
        assert!(covered, "no test triggers {id}");
    }
}

//! The integration tests: one binary (STYLE §13), real DNS over loopback
//! from the embedded server, zone fixtures under tests/fixtures/, faults
//! injected by tests/support/faults.rs.

mod arc;
mod arc_suite;
mod batch;
mod bimi;
mod blocklist;
mod browser;
mod cli;
mod common;
mod conformance;
mod coverage;
mod dkim_vectors;
mod dnssec;
mod domain;
mod faults;
#[path = "../support/faults.rs"]
mod faults_support;
#[path = "../../fuzz/harness.rs"]
mod fuzz_harness;
mod fuzz_seeds;
mod hostile;
#[path = "../support/https.rs"]
mod https_support;
mod map;
mod messages;
mod mta_sts;
mod recipients;
#[path = "../support/rspamd.rs"]
mod rspamd_support;
mod serve;
mod smtp;
#[path = "../support/smtp_client.rs"]
mod smtp_client;
#[path = "../support/smtp.rs"]
mod smtp_support;
mod snapshots;
mod test_addresses;
mod truth;
mod watch;

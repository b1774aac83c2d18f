//! TLS-RPT, MTA-STS and BIMI records and files. The body is
//! `harness::transport_policies`.
#![no_main]

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::transport_policies(data));

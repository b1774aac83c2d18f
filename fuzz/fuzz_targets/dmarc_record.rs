//! DMARC record tags (RFC 9989 §4.7). The body is `harness::dmarc_record`.
#![no_main]

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::dmarc_record(data));

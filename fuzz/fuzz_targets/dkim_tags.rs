//! DKIM key records and DKIM-Signature tag lists. The body is `harness::dkim_tags`.
#![no_main]

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::dkim_tags(data));

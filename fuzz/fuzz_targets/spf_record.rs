//! SPF record syntax and macro expansion (RFC 7208 §4.5, §7). The body is `harness::spf_record`.
#![no_main]

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::spf_record(data));

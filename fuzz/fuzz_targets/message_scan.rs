//! The message scan without DNS. The body is `harness::message_scan`.
#![no_main]

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::message_scan(data));

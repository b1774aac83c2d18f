//! Recipient addresses and list files. The body is
//! `harness::recipient_lists`.
#![no_main]

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::recipient_lists(data));

//! List-Unsubscribe values and the body's unsubscribe link. The body is `harness::list_unsubscribe_values`.
#![no_main]

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::list_unsubscribe_values(data));

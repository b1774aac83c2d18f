//! Zone files given to `--zone`. The body is `harness::zone_load`.
#![no_main]

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::zone_load(data));

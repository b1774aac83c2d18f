//! The integration tests: one binary (STYLE §13), real DNS over loopback
//! from the embedded server, zone fixtures under tests/fixtures/.

mod cli;
mod common;
mod domain;
mod faults;

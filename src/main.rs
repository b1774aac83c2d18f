//! The `mailaudit` binary: parse arguments, run, map the outcome to an exit
//! code. Everything else is in the library.

use std::process::ExitCode;

use clap::Parser;
use mailaudit::app;
use mailaudit::cli::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match app::run(cli) {
        Ok(exit) => ExitCode::from(exit as u8),
        Err(e) => {
            eprintln!("mailaudit: {e}");
            ExitCode::from(e.exit() as u8)
        }
    }
}

//! The `mailaudit` binary: parse arguments, run, map the outcome to an exit
//! code. The command line (clap) and the progress bar (indicatif) live
//! here; everything else is in the library.

mod app;
mod cli;

use std::process::ExitCode;

use clap::Parser;
use cli::Cli;

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

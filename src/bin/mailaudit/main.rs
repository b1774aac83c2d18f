//! The `mailaudit` binary: parse arguments, run, map the outcome to an exit
//! code. The command line (clap) and the progress bar (indicatif) live
//! here; everything else is in the library.

mod app;
mod cli;
#[cfg(feature = "serve")]
mod serve;
#[cfg(feature = "serve")]
mod watch;

use std::process::ExitCode;

use clap::Parser;

use cli::Cli;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if e.use_stderr() => {
            // One line, like every other input error: what is wrong, and
            // where to read more.
            // clap's first paragraph (the usage and tips that follow are
            // what --help is for), joined onto one line.
            let text = e.render().to_string();
            let first: Vec<&str> = text
                .lines()
                .map(str::trim)
                .skip_while(|l| l.is_empty())
                .take_while(|l| !l.is_empty())
                .collect();
            let first = first.join(" ");
            let first = first.trim_start_matches("error: ");
            eprintln!("mailaudit: {first} (see mailaudit --help)");
            return ExitCode::from(app::Exit::Input as u8);
        }
        // --help and --version.
        Err(e) => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
    };
    let outcome = match cli.command {
        #[cfg(feature = "serve")]
        cli::Command::Serve(args) => serve::run(*args),
        #[cfg(feature = "serve")]
        cli::Command::Watch(args) => watch::run(*args),
        _ => app::run(cli),
    };
    match outcome {
        Ok(exit) => ExitCode::from(exit as u8),
        Err(e) => {
            eprintln!("mailaudit: {e}");
            ExitCode::from(e.exit() as u8)
        }
    }
}

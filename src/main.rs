//! berth: a daemonless, Docker-compatible container engine. This binary only parses arguments
//! and prints; the engine, netctl and compose crates do the work.

mod cli;
mod commands;
mod format;
mod printer;

use clap::Parser;

fn main() {
    // `berth --version` / `-v` alone, as `docker --version`: clap would first ask for a command.
    if std::env::args().skip(1).any(|a| a == "--version" || a == "-v") && std::env::args().len() == 2 {
        printer::line(&format!("berth version {}", env!("CARGO_PKG_VERSION")));
        return;
    }
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            // Help and version go to stdout with status 0; usage errors exit 125, as Docker's do.
            let code = if err.use_stderr() { commands::EXIT_BERTH } else { 0 };
            let _ = err.print();
            std::process::exit(code);
        }
    };
    let code = match commands::dispatch(cli) {
        Ok(code) => code,
        Err(err) => {
            let code = commands::exit_code_of(&err);
            printer::err_line(&format!("Error: {}", commands::error_text(&err)));
            code
        }
    };
    std::process::exit(code);
}

//! `berth compose ...`: Compose's global flags and its subcommands. Loading is the compose
//! crate's; this only turns flags into `LoadOptions` and prints.

mod config;

use std::path::PathBuf;

use clap::{Args, Subcommand};

#[derive(Args, Debug)]
pub struct ComposeArgs {
    /// Compose configuration files (`-` for stdin)
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Project name
    #[arg(short = 'p', long = "project-name", value_name = "NAME")]
    pub project_name: Option<String>,
    /// Alternate working directory (default: the directory of the first compose file)
    #[arg(long, value_name = "DIR")]
    pub project_directory: Option<PathBuf>,
    /// Profiles to enable
    #[arg(long = "profile", value_name = "PROFILE")]
    pub profiles: Vec<String>,
    /// Alternate environment files
    #[arg(long = "env-file", value_name = "FILE")]
    pub env_files: Vec<PathBuf>,
    #[command(subcommand)]
    pub command: ComposeCommand,
}

#[derive(Subcommand, Debug)]
pub enum ComposeCommand {
    /// Parse, resolve and render the compose file in canonical format
    Config(config::ConfigArgs),
}

/// Runs a compose subcommand; the result is the exit code. Compose errors are printed here as
/// one line and give 1, as Docker Compose's do.
pub fn run(args: ComposeArgs) -> anyhow::Result<i32> {
    match &args.command {
        ComposeCommand::Config(c) => config::run(&args, c),
    }
}

/// The load options the global flags describe, for the current process.
pub fn load_options(args: &ComposeArgs) -> compose::LoadOptions {
    let mut opts = compose::LoadOptions::from_process();
    opts.files = args.files.clone();
    opts.project_name = args.project_name.clone();
    opts.project_directory = args.project_directory.clone();
    opts.profiles = args.profiles.clone();
    opts.env_files = args.env_files.clone();
    if opts.files.iter().any(|f| f.as_os_str() == "-") {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut std::io::stdin(), &mut text);
        opts.stdin = Some(text);
    }
    opts
}

/// Prints the loader's warnings the way Compose does.
pub fn print_warnings(warnings: &[String]) {
    for w in warnings {
        eprintln!("WARN[0000] {w}");
    }
}

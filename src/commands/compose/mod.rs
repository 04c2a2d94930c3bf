//! `berth compose ...`: Compose's global flags and its subcommands. Loading is the compose
//! crate's; this only turns flags into `LoadOptions` and prints.

mod config;
mod converge;
mod down;
mod image;
mod lifecycle;
mod logs;
mod progress;
mod project;
mod ps;
mod run;
mod tools;
mod up;
mod watch;

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::Context;

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
    /// Set type of progress output (auto, tty, plain, json, quiet)
    #[arg(long, default_value = "auto")]
    pub progress: String,
    /// Produce monochrome output (and plain progress)
    #[arg(long)]
    pub ansi: Option<String>,
    #[command(subcommand)]
    pub command: ComposeCommand,
}

#[derive(Subcommand, Debug)]
#[command(defer = true)]
pub enum ComposeCommand {
    /// Parse, resolve and render the compose file in canonical format
    Config(config::ConfigArgs),
    /// Create and start containers
    Up(up::UpArgs),
    /// Stop and remove containers, networks
    Down(down::DownArgs),
    /// Creates containers for a service
    Create(up::CreateArgs),
    /// List containers
    Ps(ps::PsArgs),
    /// List running compose projects
    Ls(ps::LsArgs),
    /// View output from containers
    Logs(logs::LogsArgs),
    /// Start services
    Start(lifecycle::ServicesArgs),
    /// Stop services
    Stop(lifecycle::StopArgs),
    /// Restart service containers
    Restart(lifecycle::StopArgs),
    /// Force stop service containers
    Kill(lifecycle::KillArgs),
    /// Pause services
    Pause(lifecycle::ServicesArgs),
    /// Unpause services
    Unpause(lifecycle::ServicesArgs),
    /// Removes stopped service containers
    Rm(lifecycle::RmArgs),
    /// Run a one-off command on a service
    Run(run::RunArgs),
    /// Execute a command in a running container
    Exec(run::ExecArgs),
    /// List images used by the created containers
    Images(tools::ImagesArgs),
    /// Display the running processes
    Top(lifecycle::ServicesArgs),
    /// Print the public port for a port binding
    Port(tools::PortArgs),
    /// Copy files/folders between a service container and the local filesystem
    Cp(tools::CpArgs),
    /// Attach local standard input, output, and error streams to a service's running container
    Attach(tools::AttachArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(tools::StatsArgs),
    /// Block until containers of all (or specified) services stop
    Wait(tools::WaitArgs),
    /// Scale services
    Scale(tools::ScaleArgs),
    /// Receive real time events from containers
    Events(tools::EventsArgs),
    /// Show the Docker Compose version information
    Version(tools::VersionArgs),
    /// Build or rebuild services
    Build(image::BuildArgs),
    /// Pull service images
    Pull(image::PullArgs),
    /// Push service images
    Push(image::PushArgs),
    /// Watch build context for service and rebuild/refresh containers when files are updated
    Watch(watch::WatchArgs),
}

/// Runs a compose subcommand; the result is the exit code. Compose errors are printed where
/// they happen, as one line, and give 1, as Docker Compose's do.
pub fn run(ctx: &Context, args: ComposeArgs) -> anyhow::Result<i32> {
    let progress = if args.ansi.as_deref() == Some("never") { "plain" } else { args.progress.as_str() };
    let result = progress::set_mode(progress).and_then(|()| match &args.command {
        ComposeCommand::Config(c) => config::run(&args, c),
        ComposeCommand::Up(c) => up::run(ctx, &args, c),
        ComposeCommand::Down(c) => down::run(ctx, &args, c),
        ComposeCommand::Create(c) => up::create(ctx, &args, c),
        ComposeCommand::Ps(c) => ps::run(ctx, &args, c),
        ComposeCommand::Ls(c) => ps::ls(ctx, c),
        ComposeCommand::Logs(c) => logs::run(ctx, &args, c),
        ComposeCommand::Start(c) => lifecycle::start(ctx, &args, c),
        ComposeCommand::Stop(c) => lifecycle::stop(ctx, &args, c),
        ComposeCommand::Restart(c) => lifecycle::restart(ctx, &args, c),
        ComposeCommand::Kill(c) => lifecycle::kill(ctx, &args, c),
        ComposeCommand::Pause(c) => lifecycle::pause(ctx, &args, c, true),
        ComposeCommand::Unpause(c) => lifecycle::pause(ctx, &args, c, false),
        ComposeCommand::Rm(c) => lifecycle::rm(ctx, &args, c),
        ComposeCommand::Run(c) => run::run(ctx, &args, c),
        ComposeCommand::Exec(c) => run::exec(ctx, &args, c),
        ComposeCommand::Images(c) => tools::images(ctx, &args, c),
        ComposeCommand::Top(c) => tools::top(ctx, &args, c),
        ComposeCommand::Port(c) => tools::port(ctx, &args, c),
        ComposeCommand::Cp(c) => tools::cp(ctx, &args, c),
        ComposeCommand::Attach(c) => tools::attach(ctx, &args, c),
        ComposeCommand::Stats(c) => tools::stats(ctx, &args, c),
        ComposeCommand::Wait(c) => tools::wait(ctx, &args, c),
        ComposeCommand::Scale(c) => tools::scale(ctx, &args, c),
        ComposeCommand::Events(c) => tools::events(ctx, &args, c),
        ComposeCommand::Version(c) => tools::version(c),
        ComposeCommand::Build(c) => image::build_cmd(ctx, &args, c),
        ComposeCommand::Pull(c) => image::pull_cmd(ctx, &args, c),
        ComposeCommand::Push(c) => image::push_cmd(ctx, &args, c),
        ComposeCommand::Watch(c) => watch::run(ctx, &args, c),
    });
    match result {
        Err(e) if e.downcast_ref::<project::Reported>().is_some() => Ok(1),
        Err(e) => {
            eprintln!("Error: {}", super::error_text(&e));
            Ok(1)
        }
        ok => ok,
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

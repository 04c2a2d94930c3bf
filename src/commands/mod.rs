//! One module per command group. Commands return the process exit code; an error becomes
//! `Error: ...` on stderr and exit status 125 (berth's own failure), as `docker run` does.

mod build;
pub mod compose;
pub(crate) mod container;
pub(crate) mod container_opts;
pub(crate) mod image;
mod network;
pub mod registry;
mod system;
mod tty;
mod volume;

use std::path::PathBuf;

use anyhow::Result;
use engine::config::{EngineConfig, DEFAULT_ROOT, DEFAULT_RUNROOT};
use engine::{Access, Store};

use crate::cli::{Cli, Command, ContainerCommand, ImageCommand, NetworkCommand, SystemCommand, VolumeCommand};

/// Exit status for berth's own errors (Docker's 125).
pub const EXIT_BERTH: i32 = 125;

/// What every engine command needs: where the state is and the engine configuration.
pub struct Context {
    pub root: PathBuf,
    pub runroot: PathBuf,
    pub config: EngineConfig,
    pub config_path: Option<PathBuf>,
    /// Monitors are forked from this process rather than started as `berth __monitor`: set
    /// where nothing else runs on other threads when they start (see `spawn_monitor`).
    pub fork_monitors: bool,
}

impl Context {
    fn new(cli: &Cli) -> Result<Context> {
        let config = EngineConfig::load(cli.global.config.as_deref())?;
        let root = cli.global.root.clone().or_else(|| config.data_root.clone()).unwrap_or_else(|| DEFAULT_ROOT.into());
        let runroot = cli.global.runroot.clone().unwrap_or_else(|| DEFAULT_RUNROOT.into());
        let fork_monitors = starts_on_one_thread(&cli.command);
        Ok(Context { root, runroot, config, config_path: cli.global.config.clone(), fork_monitors })
    }

    /// The `berth` binary bound to this state (for the monitor and other helper processes).
    pub fn berth_command(&self) -> Result<std::process::Command> {
        let mut args = self.berth_args()?.into_iter();
        let mut cmd = std::process::Command::new(args.next().expect("the binary comes first"));
        cmd.args(args);
        Ok(cmd)
    }

    /// `berth_command`'s command line: the binary and the global flags.
    pub fn berth_args(&self) -> Result<Vec<std::ffi::OsString>> {
        use anyhow::Context as _;
        let exe = std::env::current_exe().context("locating the berth binary")?;
        let mut args = vec![exe.into_os_string(), "--root".into(), self.root.clone().into(), "--runroot".into()];
        args.push(self.runroot.clone().into());
        if let Some(config) = &self.config_path {
            args.extend(["--config".into(), config.clone().into()]);
        }
        Ok(args)
    }

    /// Opens the store shared with other berth commands.
    pub fn store(&self) -> Result<Store> {
        Ok(Store::open(&self.root, Access::Shared)?)
    }

    /// Opens the store alone (garbage collection).
    pub fn store_exclusive(&self) -> Result<Store> {
        Ok(Store::open(&self.root, Access::Exclusive)?)
    }
}

pub fn dispatch(cli: Cli) -> Result<i32> {
    if cli.global.version {
        crate::printer::line(&format!("berth version {}", env!("CARGO_PKG_VERSION")));
        return Ok(0);
    }
    let ctx = Context::new(&cli)?;
    match cli.command {
        Command::Build(a) | Command::Image(ImageCommand::Build(a)) => build::build(&ctx, a),
        Command::Images(a) | Command::Image(ImageCommand::Ls(a)) => image::images(&ctx, a),
        Command::Import(a) | Command::Image(ImageCommand::Import(a)) => image::import(&ctx, a),
        Command::Load(a) | Command::Image(ImageCommand::Load(a)) => image::load(&ctx, a),
        Command::Save(a) | Command::Image(ImageCommand::Save(a)) => image::save(&ctx, a),
        Command::Tag(a) | Command::Image(ImageCommand::Tag(a)) => image::tag(&ctx, a),
        Command::Rmi(a) | Command::Image(ImageCommand::Rm(a)) => image::rmi(&ctx, a),
        Command::Image(ImageCommand::Prune(a)) => image::prune(&ctx, a),
        Command::History(a) | Command::Image(ImageCommand::History(a)) => image::history(&ctx, a),
        Command::Image(ImageCommand::Inspect(a)) => image::inspect(&ctx, a, image::InspectKind::Image),
        Command::Inspect(a) => image::inspect(&ctx, a, image::InspectKind::Any),
        Command::Pull(a) | Command::Image(ImageCommand::Pull(a)) => registry::pull(&ctx, a),
        Command::Push(a) | Command::Image(ImageCommand::Push(a)) => registry::push(&ctx, a),
        Command::Login(a) => registry::login(&ctx, a),
        Command::Logout(a) => registry::logout(&ctx, a),
        Command::Search(a) => registry::search(&ctx, a),
        Command::Version(a) => system::version(&ctx, a),
        Command::Info(a) | Command::System(SystemCommand::Info(a)) => system::info(&ctx, a),
        Command::System(SystemCommand::Check(a)) => system::check(&ctx, a),
        Command::System(SystemCommand::Df(a)) => system::df(&ctx, a),
        Command::System(SystemCommand::Prune(a)) => system::prune(&ctx, a),
        Command::Compose(a) => compose::run(&ctx, a),
        Command::Monitor(a) => container::monitor(&ctx, a),
        Command::Dns => network::dns(&ctx),
        Command::Network(NetworkCommand::Create(a)) => network::create(&ctx, a),
        Command::Network(NetworkCommand::Ls(a)) => network::ls(&ctx, a),
        Command::Network(NetworkCommand::Inspect(a)) => network::inspect(&ctx, a),
        Command::Network(NetworkCommand::Rm(a)) => network::rm(&ctx, a),
        Command::Network(NetworkCommand::Prune(a)) => network::prune(&ctx, a),
        Command::Network(NetworkCommand::Connect(a)) => network::connect(&ctx, a),
        Command::Network(NetworkCommand::Disconnect(a)) => network::disconnect(&ctx, a),
        Command::Volume(VolumeCommand::Create(a)) => volume::create(&ctx, a),
        Command::Volume(VolumeCommand::Ls(a)) => volume::ls(&ctx, a),
        Command::Volume(VolumeCommand::Inspect(a)) => volume::inspect(&ctx, a),
        Command::Volume(VolumeCommand::Rm(a)) => volume::rm(&ctx, a),
        Command::Volume(VolumeCommand::Prune(a)) => volume::prune(&ctx, a),
        Command::Run(a) | Command::Container(ContainerCommand::Run(a)) => container::run(&ctx, a),
        Command::Create(a) | Command::Container(ContainerCommand::Create(a)) => container::create(&ctx, a),
        Command::Start(a) | Command::Container(ContainerCommand::Start(a)) => container::start(&ctx, a),
        Command::Stop(a) | Command::Container(ContainerCommand::Stop(a)) => container::stop(&ctx, a),
        Command::Restart(a) | Command::Container(ContainerCommand::Restart(a)) => container::restart(&ctx, a),
        Command::Kill(a) | Command::Container(ContainerCommand::Kill(a)) => container::kill(&ctx, a),
        Command::Rm(a) | Command::Container(ContainerCommand::Rm(a)) => container::rm(&ctx, a),
        Command::Ps(a) | Command::Container(ContainerCommand::Ls(a)) => container::ps(&ctx, a),
        Command::Logs(a) | Command::Container(ContainerCommand::Logs(a)) => container::logs(&ctx, a),
        Command::Wait(a) | Command::Container(ContainerCommand::Wait(a)) => container::wait(&ctx, a),
        Command::Rename(a) | Command::Container(ContainerCommand::Rename(a)) => container::rename(&ctx, a),
        Command::Attach(a) | Command::Container(ContainerCommand::Attach(a)) => container::attach(&ctx, a),
        Command::Container(ContainerCommand::Inspect(a)) => image::inspect(&ctx, a, image::InspectKind::Container),
        Command::Container(ContainerCommand::Prune(a)) => container::prune(&ctx, a),
        Command::Commit(a) | Command::Container(ContainerCommand::Commit(a)) => container::commit(&ctx, a),
        Command::Cp(a) | Command::Container(ContainerCommand::Cp(a)) => container::cp(&ctx, a),
        Command::Exec(a) | Command::Container(ContainerCommand::Exec(a)) => container::exec(&ctx, a),
        Command::Diff(a) | Command::Container(ContainerCommand::Diff(a)) => container::diff(&ctx, a),
        Command::Export(a) | Command::Container(ContainerCommand::Export(a)) => container::export(&ctx, a),
        Command::Pause(a) | Command::Container(ContainerCommand::Pause(a)) => container::pause(&ctx, a, true),
        Command::Unpause(a) | Command::Container(ContainerCommand::Unpause(a)) => container::pause(&ctx, a, false),
        Command::Top(a) | Command::Container(ContainerCommand::Top(a)) => container::top(&ctx, a),
        Command::Stats(a) | Command::Container(ContainerCommand::Stats(a)) => container::stats(&ctx, a),
        Command::Update(a) | Command::Container(ContainerCommand::Update(a)) => container::update(&ctx, a),
        Command::Port(a) | Command::Container(ContainerCommand::Port(a)) => container::port(&ctx, a),
    }
}

/// Commands that start containers from their main thread alone: their monitors can be forked.
/// compose starts services on several threads at once, and a forked child could find a lock
/// (SQLite's, say) held by a thread that does not exist in it.
fn starts_on_one_thread(command: &Command) -> bool {
    matches!(
        command,
        Command::Run(_)
            | Command::Start(_)
            | Command::Restart(_)
            | Command::Container(ContainerCommand::Run(_) | ContainerCommand::Start(_) | ContainerCommand::Restart(_))
    )
}

/// The exit status for an error: 126/127 when a container's command cannot run, 1 for a failed
/// build (as `docker build`), else 125.
pub fn exit_code_of(err: &anyhow::Error) -> i32 {
    if let Some(e) = err.downcast_ref::<container::ExitError>() {
        return e.code;
    }
    // A failed build exits 1, as `docker build` does.
    if err.downcast_ref::<engine::build::BuildError>().is_some() {
        return 1;
    }
    EXIT_BERTH
}

/// The one-line message for an error: the outermost context and its causes, joined.
pub fn error_text(err: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
    }
    parts.join(": ")
}

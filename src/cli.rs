//! The command line, as clap definitions: Docker's command names and flags.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(name = "berth", version, about = "A daemonless, Docker-compatible container engine")]
#[command(disable_version_flag = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// The flags before the command, as Docker's global flags are (`docker run --config x` is an
/// unknown flag). Not `global = true`: clap would copy each into every one of the ~100
/// commands at every parse, 39 page faults of a `run`'s CLI (bench/README.md).
#[derive(Args, Debug, Clone)]
pub struct GlobalArgs {
    /// Root of berth's persistent state
    #[arg(long, env = "BERTH_ROOT", value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Root of berth's runtime state
    #[arg(long, env = "BERTH_RUNROOT", value_name = "DIR")]
    pub runroot: Option<PathBuf>,
    /// Engine configuration file (Docker's daemon.json format)
    #[arg(long, env = "BERTH_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print version information and quit
    #[arg(short = 'v', long = "version")]
    pub version: bool,
}

#[derive(Subcommand, Debug)]
#[command(defer = true)]
pub enum Command {
    /// Manage images
    #[command(subcommand)]
    Image(ImageCommand),
    /// List images
    Images(ImagesArgs),
    /// Build an image from a Dockerfile
    Build(BuildArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(ImportArgs),
    /// Load an image from a tar archive or STDIN
    Load(LoadArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(SaveArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(TagArgs),
    /// Remove one or more images
    Rmi(RmiArgs),
    /// Show the history of an image
    History(HistoryArgs),
    /// Download an image from a registry
    Pull(PullArgs),
    /// Upload an image to a registry
    Push(PushArgs),
    /// Log in to a registry
    Login(LoginArgs),
    /// Log out from a registry
    Logout(LogoutArgs),
    /// Search Docker Hub (or a registry's catalog) for images
    Search(SearchArgs),
    /// Return low-level information on berth objects
    Inspect(InspectArgs),
    /// Show the berth version information
    Version(FormatArgs),
    /// Display system-wide information
    Info(FormatArgs),
    /// Manage berth
    #[command(subcommand)]
    System(SystemCommand),
    /// Create and run a new container from an image
    Run(RunArgs),
    /// Create a new container
    Create(RunArgs),
    /// Start one or more stopped containers
    Start(StartArgs),
    /// Stop one or more running containers
    Stop(StopArgs),
    /// Restart one or more containers
    Restart(StopArgs),
    /// Kill one or more running containers
    Kill(KillArgs),
    /// Remove one or more containers
    Rm(RmArgs),
    /// List containers
    Ps(PsArgs),
    /// Fetch the logs of a container
    Logs(LogsArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(NamesArgs),
    /// Rename a container
    Rename(RenameArgs),
    /// Attach local standard input, output, and error streams to a running container
    Attach(AttachArgs),
    /// Manage containers
    #[command(subcommand)]
    Container(ContainerCommand),
    /// Manage volumes
    #[command(subcommand)]
    Volume(VolumeCommand),
    /// Manage networks
    #[command(subcommand)]
    Network(NetworkCommand),
    /// Copy files/folders between a container and the local filesystem
    Cp(CpArgs),
    /// Execute a command in a running container
    Exec(ExecArgs),
    /// Create a new image from a container's changes
    Commit(CommitArgs),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(ContainerArg),
    /// Export a container's filesystem as a tar archive
    Export(ExportArgs),
    /// Pause all processes within one or more containers
    Pause(NamesArgs),
    /// Unpause all processes within one or more containers
    Unpause(NamesArgs),
    /// Display the running processes of a container
    Top(TopArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(StatsArgs),
    /// Update configuration of one or more containers
    Update(UpdateArgs),
    /// List port mappings or a specific mapping for the container
    Port(PortArgs),
    /// Run the monitor of one container (internal: started by berth itself)
    #[command(name = "__dns", hide = true)]
    Dns,
    #[command(name = "__monitor", hide = true)]
    Monitor(MonitorArgs),
    /// Define and run multi-container applications
    Compose(crate::commands::compose::ComposeArgs),
}

#[derive(Subcommand, Debug)]
#[command(defer = true)]
pub enum ImageCommand {
    /// List images
    #[command(alias = "list")]
    Ls(ImagesArgs),
    /// Build an image from a Dockerfile
    Build(BuildArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(ImportArgs),
    /// Load an image from a tar archive or STDIN
    Load(LoadArgs),
    /// Save one or more images to a tar archive
    Save(SaveArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(TagArgs),
    /// Remove one or more images
    #[command(alias = "remove")]
    Rm(RmiArgs),
    /// Remove unused images
    Prune(ImagePruneArgs),
    /// Display detailed information on one or more images
    Inspect(InspectArgs),
    /// Show the history of an image
    History(HistoryArgs),
    /// Download an image from a registry
    Pull(PullArgs),
    /// Upload an image to a registry
    Push(PushArgs),
}

#[derive(Args, Debug)]
pub struct PullArgs {
    /// Download all tagged images in the repository
    #[arg(short, long)]
    pub all_tags: bool,
    /// Suppress verbose output
    #[arg(short, long)]
    pub quiet: bool,
    /// Set platform if server is multi-platform capable
    #[arg(long)]
    pub platform: Option<String>,
    /// Require HTTPS and verify certificates (false: also allow plain HTTP)
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub tls_verify: bool,
    /// NAME[:TAG|@DIGEST]
    pub name: String,
}

#[derive(Args, Debug)]
pub struct PushArgs {
    /// Push all tags of an image to the repository
    #[arg(short, long)]
    pub all_tags: bool,
    /// Suppress verbose output
    #[arg(short, long)]
    pub quiet: bool,
    /// Require HTTPS and verify certificates (false: also allow plain HTTP)
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub tls_verify: bool,
    /// NAME[:TAG]
    pub name: String,
}

#[derive(Args, Debug)]
pub struct LoginArgs {
    /// Username
    #[arg(short, long)]
    pub username: Option<String>,
    /// Password
    #[arg(short, long)]
    pub password: Option<String>,
    /// Take the password from stdin
    #[arg(long)]
    pub password_stdin: bool,
    /// Require HTTPS and verify certificates (false: also allow plain HTTP)
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub tls_verify: bool,
    /// The registry (default: Docker Hub)
    pub server: Option<String>,
}

#[derive(Args, Debug)]
pub struct LogoutArgs {
    /// The registry (default: Docker Hub)
    pub server: Option<String>,
}

#[derive(Args, Debug)]
pub struct SearchArgs {
    /// Max number of search results
    #[arg(long, default_value_t = 25)]
    pub limit: usize,
    /// Filter output based on conditions provided
    #[arg(short, long = "filter", value_name = "FILTER")]
    pub filters: Vec<String>,
    /// Don't truncate output
    #[arg(long)]
    pub no_trunc: bool,
    /// Require HTTPS and verify certificates (false: also allow plain HTTP)
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub tls_verify: bool,
    /// The term to search for (`HOST/TERM` searches that registry's catalog)
    pub term: String,
}

#[derive(Args, Debug)]
pub struct ImagesArgs {
    /// Show all images (default hides intermediate images)
    #[arg(short, long)]
    pub all: bool,
    /// Only show image IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// Show digests
    #[arg(long)]
    pub digests: bool,
    /// Don't truncate output
    #[arg(long)]
    pub no_trunc: bool,
    /// Filter output based on conditions provided
    #[arg(short, long = "filter", value_name = "FILTER")]
    pub filters: Vec<String>,
    /// Format output using a custom template ('table', 'json', or a Go-style template)
    #[arg(long)]
    pub format: Option<String>,
    /// REPOSITORY[:TAG]
    pub reference: Option<String>,
}

#[derive(Args, Debug)]
pub struct BuildArgs {
    /// Name and optionally a tag (format: "name:tag")
    #[arg(short = 't', long = "tag", value_name = "NAME:TAG")]
    pub tags: Vec<String>,
    /// Name of the Dockerfile (default: "PATH/Dockerfile"; "-" reads it from STDIN)
    #[arg(short = 'f', long = "file")]
    pub file: Option<PathBuf>,
    /// Set build-time variables
    #[arg(long = "build-arg", value_name = "K=V")]
    pub build_args: Vec<String>,
    /// Set the target build stage to build
    #[arg(long)]
    pub target: Option<String>,
    /// Set metadata for an image
    #[arg(long = "label", value_name = "K=V")]
    pub labels: Vec<String>,
    /// Do not use cache when building the image
    #[arg(long)]
    pub no_cache: bool,
    /// Always attempt to pull a newer version of the image (no registry yet: local images only)
    #[arg(long)]
    pub pull: bool,
    /// Suppress the build output and print image ID on success
    #[arg(short, long)]
    pub quiet: bool,
    /// Networking mode for the RUN instructions during build (none, host, default)
    #[arg(long)]
    pub network: Option<String>,
    /// Set platform (the host's only)
    #[arg(long)]
    pub platform: Option<String>,
    /// Remove intermediate containers after a successful build (always)
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub rm: bool,
    /// Build context: a directory, or "-" for a tar (or a Dockerfile) on STDIN
    #[arg(value_name = "PATH|-")]
    pub context: String,
}

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// Apply Dockerfile instruction to the created image
    #[arg(short, long = "change", value_name = "CHANGE")]
    pub changes: Vec<String>,
    /// Set commit message for imported image
    #[arg(short, long)]
    pub message: Option<String>,
    /// Set platform if server is multi-platform capable
    #[arg(long)]
    pub platform: Option<String>,
    /// File, URL or - for STDIN
    pub source: String,
    /// REPOSITORY[:TAG]
    pub reference: Option<String>,
}

#[derive(Args, Debug)]
pub struct LoadArgs {
    /// Read from tar archive file, instead of STDIN
    #[arg(short, long)]
    pub input: Option<PathBuf>,
    /// Suppress the load output
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Args, Debug)]
pub struct SaveArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Images to save
    #[arg(required = true)]
    pub images: Vec<String>,
}

#[derive(Args, Debug)]
pub struct TagArgs {
    pub source: String,
    pub target: String,
}

#[derive(Args, Debug)]
pub struct RmiArgs {
    /// Force removal of the image
    #[arg(short, long)]
    pub force: bool,
    /// Do not delete untagged parents
    #[arg(long)]
    pub no_prune: bool,
    #[arg(required = true)]
    pub images: Vec<String>,
}

#[derive(Args, Debug)]
pub struct ImagePruneArgs {
    /// Remove all unused images, not just dangling ones
    #[arg(short, long)]
    pub all: bool,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    pub force: bool,
    /// Provide filter values (e.g. 'label=<key>=<value>')
    #[arg(long = "filter", value_name = "FILTER")]
    pub filters: Vec<String>,
}

#[derive(Args, Debug)]
pub struct InspectArgs {
    /// Format output using a custom template
    #[arg(short, long)]
    pub format: Option<String>,
    /// Return JSON for specified type
    #[arg(long = "type")]
    pub kind: Option<String>,
    /// Display total file sizes if the type is container
    #[arg(short, long)]
    pub size: bool,
    #[arg(required = true)]
    pub names: Vec<String>,
}

#[derive(Args, Debug)]
pub struct HistoryArgs {
    /// Print sizes and dates in human readable format
    #[arg(short = 'H', long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub human: bool,
    /// Don't truncate output
    #[arg(long)]
    pub no_trunc: bool,
    /// Only show image IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// Format output using a custom template
    #[arg(long)]
    pub format: Option<String>,
    pub image: String,
}

#[derive(Args, Debug)]
pub struct FormatArgs {
    /// Format output using a custom template
    #[arg(short, long)]
    pub format: Option<String>,
}

#[derive(Subcommand, Debug)]
#[command(defer = true)]
pub enum SystemCommand {
    /// Verify the store: every blob's digest, every layer referenced, no dangling references
    Check(SystemCheckArgs),
    /// Show berth disk usage
    Df(SystemDfArgs),
    /// Remove unused data
    Prune(SystemPruneArgs),
    /// Display system-wide information
    Info(FormatArgs),
}

#[derive(Args, Debug)]
pub struct SystemCheckArgs {
    /// Do not remove reclaimable garbage (temporary files of interrupted commands)
    #[arg(long)]
    pub no_repair: bool,
}

#[derive(Args, Debug)]
pub struct SystemDfArgs {
    /// Show detailed information on space usage
    #[arg(short, long)]
    pub verbose: bool,
    /// Format output using a custom template
    #[arg(long)]
    pub format: Option<String>,
}

#[derive(Args, Debug)]
pub struct SystemPruneArgs {
    /// Remove all unused images not just dangling ones
    #[arg(short, long)]
    pub all: bool,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    pub force: bool,
    /// Prune anonymous volumes
    #[arg(long)]
    pub volumes: bool,
}

#[derive(Subcommand, Debug)]
#[command(defer = true)]
pub enum ContainerCommand {
    /// Create and run a new container from an image
    Run(RunArgs),
    /// Create a new container
    Create(RunArgs),
    /// Start one or more stopped containers
    Start(StartArgs),
    /// Stop one or more running containers
    Stop(StopArgs),
    /// Restart one or more containers
    Restart(StopArgs),
    /// Kill one or more running containers
    Kill(KillArgs),
    /// Remove one or more containers
    Rm(RmArgs),
    /// List containers
    #[command(alias = "list")]
    Ls(PsArgs),
    /// Fetch the logs of a container
    Logs(LogsArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(NamesArgs),
    /// Rename a container
    Rename(RenameArgs),
    /// Display detailed information on one or more containers
    Inspect(InspectArgs),
    /// Remove all stopped containers
    Prune(ContainerPruneArgs),
    /// Attach local standard input, output, and error streams to a running container
    Attach(AttachArgs),
    /// Copy files/folders between a container and the local filesystem
    Cp(CpArgs),
    /// Execute a command in a running container
    Exec(ExecArgs),
    /// Create a new image from a container's changes
    Commit(CommitArgs),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(ContainerArg),
    /// Export a container's filesystem as a tar archive
    Export(ExportArgs),
    /// Pause all processes within one or more containers
    Pause(NamesArgs),
    /// Unpause all processes within one or more containers
    Unpause(NamesArgs),
    /// Display the running processes of a container
    Top(TopArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(StatsArgs),
    /// Update configuration of one or more containers
    Update(UpdateArgs),
    /// List port mappings or a specific mapping for the container
    Port(PortArgs),
}

#[derive(Args, Debug)]
pub struct MonitorArgs {
    pub id: String,
    /// Wait for one attach connection before starting the process
    #[arg(long)]
    pub attach_first: bool,
    /// The restart backoff reached so far (ms)
    #[arg(long, default_value_t = 100)]
    pub backoff_ms: u64,
    /// Handed back by the shim: PID 1 exited with this status
    #[arg(long)]
    pub resume: Option<i32>,
    /// Handed back by the shim: how long PID 1 ran (ms)
    #[arg(long, default_value_t = 0)]
    pub ran_ms: u64,
    /// Handed back by the shim: the attach socket
    #[arg(long)]
    pub listener_fd: Option<i32>,
    /// Handed back by the shim: an attached client's socket
    #[arg(long)]
    pub client_fd: Vec<i32>,
}

// `run` and `create` flags, Docker's names. (Not a doc comment: with deferred subcommands it
// would replace the commands' own descriptions in their help.)
#[derive(Args, Debug, Default)]
#[command(disable_help_flag = true)]
pub struct RunArgs {
    /// Print usage
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
    /// Run container in background and print container ID
    #[arg(short, long)]
    pub detach: bool,
    /// Keep STDIN open even if not attached
    #[arg(short, long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short, long)]
    pub tty: bool,
    /// Override the key sequence for detaching a container
    #[arg(long, default_value = "ctrl-p,ctrl-q")]
    pub detach_keys: String,
    /// Automatically remove the container when it exits
    #[arg(long)]
    pub rm: bool,
    /// Assign a name to the container
    #[arg(long)]
    pub name: Option<String>,
    /// Set environment variables
    #[arg(short, long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file", value_name = "FILE")]
    pub env_file: Vec<PathBuf>,
    /// Working directory inside the container
    #[arg(short, long)]
    pub workdir: Option<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short, long)]
    pub user: Option<String>,
    /// Container host name
    #[arg(short = 'h', long)]
    pub hostname: Option<String>,
    /// Overwrite the default ENTRYPOINT of the image
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Bind mount a volume
    #[arg(short, long = "volume", value_name = "VOLUME")]
    pub volumes: Vec<String>,
    /// Attach a filesystem mount to the container
    #[arg(long = "mount", value_name = "MOUNT")]
    pub mounts: Vec<String>,
    /// Mount a tmpfs directory
    #[arg(long = "tmpfs", value_name = "PATH[:OPTIONS]")]
    pub tmpfs: Vec<String>,
    /// Mount the container's root filesystem as read only
    #[arg(long)]
    pub read_only: bool,
    /// Set meta data on a container
    #[arg(short, long = "label", value_name = "KEY=VALUE")]
    pub labels: Vec<String>,
    /// Restart policy to apply when a container exits
    #[arg(long, default_value = "no")]
    pub restart: String,
    /// Run an init inside the container that forwards signals and reaps processes
    #[arg(long)]
    pub init: bool,
    /// Signal to stop the container
    #[arg(long)]
    pub stop_signal: Option<String>,
    /// Timeout (in seconds) to stop a container
    #[arg(long)]
    pub stop_timeout: Option<i64>,
    /// Command to run to check health
    #[arg(long)]
    pub health_cmd: Option<String>,
    /// Time between running the check (ms|s|m|h)
    #[arg(long)]
    pub health_interval: Option<String>,
    /// Maximum time to allow one check to run (ms|s|m|h)
    #[arg(long)]
    pub health_timeout: Option<String>,
    /// Consecutive failures needed to report unhealthy
    #[arg(long)]
    pub health_retries: Option<i64>,
    /// Start period for the container to initialize before starting health-retries countdown
    #[arg(long)]
    pub health_start_period: Option<String>,
    /// Disable any container-specified HEALTHCHECK
    #[arg(long)]
    pub no_healthcheck: bool,
    /// Ulimit options
    #[arg(long = "ulimit", value_name = "NAME=SOFT[:HARD]")]
    pub ulimits: Vec<String>,
    /// Add Linux capabilities
    #[arg(long = "cap-add")]
    pub cap_add: Vec<String>,
    /// Drop Linux capabilities
    #[arg(long = "cap-drop")]
    pub cap_drop: Vec<String>,
    /// Give extended privileges to this container
    #[arg(long)]
    pub privileged: bool,
    /// Add a host device to the container
    #[arg(long = "device")]
    pub devices: Vec<String>,
    /// Security Options
    #[arg(long = "security-opt")]
    pub security_opt: Vec<String>,
    /// Memory limit
    #[arg(short, long)]
    pub memory: Option<String>,
    /// Number of CPUs
    #[arg(long)]
    pub cpus: Option<String>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long)]
    pub pids_limit: Option<i64>,
    /// Size of /dev/shm
    #[arg(long)]
    pub shm_size: Option<String>,
    /// Connect a container to a network
    #[arg(long = "network", alias = "net", default_value = "bridge")]
    pub network: String,
    /// Expose a port or a range of ports
    #[arg(long = "expose")]
    pub expose: Vec<String>,
    /// Add network-scoped alias for the container
    #[arg(long = "network-alias", alias = "net-alias")]
    pub network_alias: Vec<String>,
    /// Add a custom host-to-IP mapping (host:ip)
    #[arg(long = "add-host", value_name = "HOST:IP")]
    pub add_host: Vec<String>,
    /// Add link to another container
    #[arg(long = "link", value_name = "NAME[:ALIAS]")]
    pub link: Vec<String>,
    /// Set custom DNS servers
    #[arg(long)]
    pub dns: Vec<String>,
    /// Set custom DNS search domains
    #[arg(long = "dns-search")]
    pub dns_search: Vec<String>,
    /// Set DNS options
    #[arg(long = "dns-option", alias = "dns-opt")]
    pub dns_option: Vec<String>,
    /// IPv4 address (e.g., 172.30.100.104)
    #[arg(long)]
    pub ip: Option<String>,
    /// Publish a container's port(s) to the host
    #[arg(short = 'p', long = "publish")]
    pub publish: Vec<String>,
    /// Publish all exposed ports to random ports
    #[arg(short = 'P', long = "publish-all")]
    pub publish_all: bool,
    /// Pull image before running ("always", "missing", "never")
    #[arg(long, default_value = "missing")]
    pub pull: String,
    /// Set platform if server is multi-platform capable
    #[arg(long)]
    pub platform: Option<String>,
    /// Proxy received signals to the process
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub sig_proxy: bool,
    /// Suppress the pull output
    #[arg(short, long)]
    pub quiet: bool,
    /// The image to run
    pub image: String,
    /// The command and its arguments
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

#[derive(Args, Debug)]
pub struct StartArgs {
    /// Attach STDOUT/STDERR and forward signals
    #[arg(short, long)]
    pub attach: bool,
    /// Attach container's STDIN
    #[arg(short, long)]
    pub interactive: bool,
    /// Override the key sequence for detaching a container
    #[arg(long, default_value = "ctrl-p,ctrl-q")]
    pub detach_keys: String,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct StopArgs {
    /// Seconds to wait before killing the container
    #[arg(short = 't', long = "time", alias = "timeout")]
    pub time: Option<i64>,
    /// Signal to send to the container
    #[arg(short, long)]
    pub signal: Option<String>,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct KillArgs {
    /// Signal to send to the container
    #[arg(short, long, default_value = "KILL")]
    pub signal: String,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct RmArgs {
    /// Force the removal of a running container (uses SIGKILL)
    #[arg(short, long)]
    pub force: bool,
    /// Remove anonymous volumes associated with the container
    #[arg(short, long)]
    pub volumes: bool,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct PsArgs {
    /// Show all containers (default shows just running)
    #[arg(short, long)]
    pub all: bool,
    /// Only display container IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// Show the latest created container (includes all states)
    #[arg(short, long)]
    pub latest: bool,
    /// Show n last created containers (includes all states)
    #[arg(short = 'n', long, default_value_t = -1)]
    pub last: i64,
    /// Display total file sizes
    #[arg(short, long)]
    pub size: bool,
    /// Don't truncate output
    #[arg(long)]
    pub no_trunc: bool,
    /// Filter output based on conditions provided
    #[arg(short, long = "filter")]
    pub filters: Vec<String>,
    /// Format output using a custom template
    #[arg(long)]
    pub format: Option<String>,
}

#[derive(Args, Debug)]
pub struct LogsArgs {
    /// Follow log output
    #[arg(short, long)]
    pub follow: bool,
    /// Show timestamps
    #[arg(short, long)]
    pub timestamps: bool,
    /// Number of lines to show from the end of the logs
    #[arg(short = 'n', long, default_value = "all")]
    pub tail: String,
    /// Show logs since timestamp or relative (e.g. 42m)
    #[arg(long)]
    pub since: Option<String>,
    /// Show logs before a timestamp or relative (e.g. 42m)
    #[arg(long)]
    pub until: Option<String>,
    pub container: String,
}

#[derive(Args, Debug)]
pub struct NamesArgs {
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct RenameArgs {
    pub container: String,
    pub new_name: String,
}

#[derive(Args, Debug)]
pub struct AttachArgs {
    /// Override the key sequence for detaching a container
    #[arg(long, default_value = "ctrl-p,ctrl-q")]
    pub detach_keys: String,
    /// Do not attach STDIN
    #[arg(long)]
    pub no_stdin: bool,
    /// Proxy all received signals to the process
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub sig_proxy: bool,
    pub container: String,
}

#[derive(Args, Debug)]
pub struct ContainerPruneArgs {
    /// Do not prompt for confirmation
    #[arg(short, long)]
    pub force: bool,
    /// Provide filter values
    #[arg(long = "filter")]
    pub filters: Vec<String>,
}

#[derive(Subcommand, Debug)]
#[command(defer = true)]
pub enum VolumeCommand {
    /// Create a volume
    Create(VolumeCreateArgs),
    /// List volumes
    #[command(alias = "list")]
    Ls(VolumeLsArgs),
    /// Display detailed information on one or more volumes
    Inspect(VolumeInspectArgs),
    /// Remove one or more volumes
    #[command(alias = "remove")]
    Rm(VolumeRmArgs),
    /// Remove unused local volumes
    Prune(VolumePruneArgs),
}

#[derive(Args, Debug)]
pub struct VolumeCreateArgs {
    /// Specify volume driver name
    #[arg(short, long, default_value = "local")]
    pub driver: String,
    /// Set metadata for a volume
    #[arg(long = "label")]
    pub labels: Vec<String>,
    /// Set driver specific options
    #[arg(short, long = "opt")]
    pub opts: Vec<String>,
    pub name: Option<String>,
}

#[derive(Args, Debug)]
pub struct VolumeLsArgs {
    /// Only display volume names
    #[arg(short, long)]
    pub quiet: bool,
    /// Provide filter values (e.g. 'dangling=true')
    #[arg(short, long = "filter")]
    pub filters: Vec<String>,
    /// Format output using a custom template
    #[arg(long)]
    pub format: Option<String>,
}

#[derive(Args, Debug)]
pub struct VolumeInspectArgs {
    /// Format output using a custom template
    #[arg(short, long)]
    pub format: Option<String>,
    #[arg(required = true)]
    pub names: Vec<String>,
}

#[derive(Args, Debug)]
pub struct VolumeRmArgs {
    /// Force the removal of one or more volumes
    #[arg(short, long)]
    pub force: bool,
    #[arg(required = true)]
    pub names: Vec<String>,
}

#[derive(Args, Debug)]
pub struct VolumePruneArgs {
    /// Remove all unused volumes, not just anonymous ones
    #[arg(short, long)]
    pub all: bool,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    pub force: bool,
    /// Provide filter values
    #[arg(long = "filter")]
    pub filters: Vec<String>,
}

#[derive(Args, Debug)]
pub struct CommitArgs {
    /// Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")
    #[arg(short, long)]
    pub author: Option<String>,
    /// Apply Dockerfile instruction to the created image
    #[arg(short, long = "change")]
    pub changes: Vec<String>,
    /// Commit message
    #[arg(short, long)]
    pub message: Option<String>,
    /// Pause container during commit
    #[arg(short, long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub pause: bool,
    pub container: String,
    /// REPOSITORY[:TAG]
    pub reference: Option<String>,
}

#[derive(Args, Debug)]
pub struct ContainerArg {
    pub container: String,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    pub container: String,
}

#[derive(Args, Debug)]
pub struct TopArgs {
    pub container: String,
    /// Options for ps (default: -ef)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_options: Vec<String>,
}

#[derive(Args, Debug)]
pub struct StatsArgs {
    /// Show all containers (default shows just running)
    #[arg(short, long)]
    pub all: bool,
    /// Disable streaming stats and only pull the first result
    #[arg(long)]
    pub no_stream: bool,
    /// Do not truncate output
    #[arg(long)]
    pub no_trunc: bool,
    /// Format output using a custom template
    #[arg(long)]
    pub format: Option<String>,
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct UpdateArgs {
    /// Restart policy to apply when a container exits
    #[arg(long)]
    pub restart: Option<String>,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct PortArgs {
    pub container: String,
    /// PRIVATE_PORT[/PROTO]
    pub port: Option<String>,
}

#[derive(Args, Debug)]
pub struct CpArgs {
    /// Archive mode (copy all uid/gid information)
    #[arg(short, long)]
    pub archive: bool,
    /// Always follow symbol link in SRC_PATH
    #[arg(short = 'L', long)]
    pub follow_link: bool,
    /// Suppress progress output during copy
    #[arg(short, long)]
    pub quiet: bool,
    /// CONTAINER:SRC_PATH or a local path (- for a tar on stdin)
    pub source: String,
    /// CONTAINER:DEST_PATH or a local path (- for a tar on stdout)
    pub destination: String,
}

#[derive(Args, Debug)]
pub struct ExecArgs {
    /// Detached mode: run command in the background
    #[arg(short, long)]
    pub detach: bool,
    /// Keep STDIN open even if not attached
    #[arg(short, long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short, long)]
    pub tty: bool,
    /// Set environment variables
    #[arg(short, long = "env")]
    pub env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file")]
    pub env_file: Vec<PathBuf>,
    /// Username or UID (format: "<name|uid>[:<group|gid>]")
    #[arg(short, long)]
    pub user: Option<String>,
    /// Working directory inside the container
    #[arg(short, long)]
    pub workdir: Option<String>,
    /// Give extended privileges to the command
    #[arg(long)]
    pub privileged: bool,
    pub container: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
    pub command: Vec<String>,
}

#[derive(Subcommand, Debug)]
#[command(defer = true)]
pub enum NetworkCommand {
    /// Create a network
    Create(NetworkCreateArgs),
    /// List networks
    #[command(alias = "list")]
    Ls(NetworkLsArgs),
    /// Display detailed information on one or more networks
    Inspect(NetworkInspectArgs),
    /// Remove one or more networks
    #[command(alias = "remove")]
    Rm(NetworkRmArgs),
    /// Remove all unused networks
    Prune(NetworkPruneArgs),
    /// Connect a container to a network
    Connect(NetworkConnectArgs),
    /// Disconnect a container from a network
    Disconnect(NetworkDisconnectArgs),
}

#[derive(Args, Debug)]
pub struct NetworkConnectArgs {
    /// Add network-scoped alias for the container
    #[arg(long)]
    pub alias: Vec<String>,
    /// IPv4 address (e.g., "172.30.100.104")
    #[arg(long)]
    pub ip: Option<String>,
    pub network: String,
    pub container: String,
}

#[derive(Args, Debug)]
pub struct NetworkDisconnectArgs {
    /// Force the container to disconnect from a network
    #[arg(short, long)]
    pub force: bool,
    pub network: String,
    pub container: String,
}

#[derive(Args, Debug)]
pub struct NetworkCreateArgs {
    /// Driver to manage the Network
    #[arg(short, long, default_value = "bridge")]
    pub driver: String,
    /// Subnet in CIDR format that represents a network segment
    #[arg(long)]
    pub subnet: Option<String>,
    /// IPv4 Gateway for the master subnet
    #[arg(long)]
    pub gateway: Option<String>,
    /// Restrict external access to the network
    #[arg(long)]
    pub internal: bool,
    /// Set metadata on a network
    #[arg(short = 'l', long = "label")]
    pub labels: Vec<String>,
    pub name: String,
}

#[derive(Args, Debug)]
pub struct NetworkLsArgs {
    /// Only display network IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// Do not truncate the output
    #[arg(long)]
    pub no_trunc: bool,
    /// Provide filter values (e.g. "name=front")
    #[arg(short, long = "filter")]
    pub filters: Vec<String>,
    /// Format output using a custom template
    #[arg(long)]
    pub format: Option<String>,
}

#[derive(Args, Debug)]
pub struct NetworkInspectArgs {
    /// Format output using a custom template
    #[arg(short, long)]
    pub format: Option<String>,
    #[arg(required = true)]
    pub names: Vec<String>,
}

#[derive(Args, Debug)]
pub struct NetworkRmArgs {
    #[arg(required = true)]
    pub names: Vec<String>,
}

#[derive(Args, Debug)]
pub struct NetworkPruneArgs {
    /// Do not prompt for confirmation
    #[arg(short, long)]
    pub force: bool,
}

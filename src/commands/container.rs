//! Container commands: run, create, start, stop, restart, kill, rm, ps, logs, wait, rename,
//! attach, container inspect/prune, and the hidden `__monitor`.

use std::io::{self, BufRead, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use engine::container::lifecycle::parse_signal;
use engine::container::model::{Record, State, Status};
use engine::container::{attach, logs};
use engine::monitor::{self, Launcher};
use engine::Store;
use serde_json::{json, Value};

use super::container_opts::create_options;
use super::tty;
use super::{Context, EXIT_BERTH};
use crate::cli::{
    AttachArgs, CommitArgs, ContainerArg, ContainerPruneArgs, CpArgs, ExecArgs, ExportArgs, KillArgs, LogsArgs,
    MonitorArgs, NamesArgs, PortArgs, PsArgs, RenameArgs, RmArgs, RunArgs, StartArgs, StatsArgs, StopArgs, TopArgs,
    UpdateArgs,
};
use crate::format::{self, human_duration, human_since, parse_time, Format};
use crate::printer;

/// An error with the exit status Docker gives it (126/127 when the command cannot run).
#[derive(Debug)]
pub struct ExitError {
    pub code: i32,
    pub message: String,
}

impl std::fmt::Display for ExitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ExitError {}

pub(crate) fn launcher(ctx: &Context) -> Box<dyn Launcher> {
    Box::new(NetworkedLauncher {
        inner: engine::container::launch::RuntimeLauncher::new(&ctx.root, &ctx.runroot),
        root: ctx.root.clone(),
        runroot: ctx.runroot.clone(),
        config: ctx.config_path.clone(),
        detaching: Vec::new(),
        plugging: None,
        releasing: None,
    })
}

/// The runtime plus a user network: before PID 1 starts, the container gets its namespace,
/// address and veth on the network's bridge (netctl); after it exits, they go.
struct NetworkedLauncher {
    inner: engine::container::launch::RuntimeLauncher,
    root: std::path::PathBuf,
    runroot: std::path::PathBuf,
    /// The engine configuration, for the DNS server's upstreams.
    config: Option<std::path::PathBuf>,
    /// Containers whose network namespace is being torn down (`delete_in_background`): their
    /// veth pairs and addresses go in `settle`.
    detaching: Vec<String>,
    /// The first start's network, begun while the monitor prepares the rest (`prepare`): the
    /// container's ID, its sandbox, and the thread reserving its address.
    plugging: Option<(String, netctl::link::PendingSandbox, std::thread::JoinHandle<Reserved>)>,
    /// The network of a `--rm` container that exited, being freed (`begin_delete_network`).
    releasing: Option<std::thread::JoinHandle<()>>,
}

/// The container's endpoints (`reserve`), or why it has none.
type Reserved = std::result::Result<Reservation, String>;

/// The container's endpoints: on its bridge network, and on each further network (`eth1`
/// onwards).
struct Reservation {
    network: netctl::Network,
    endpoint: netctl::Endpoint,
    extras: Vec<(netctl::Network, netctl::Endpoint)>,
}

/// Reserves the container's addresses (and host ports) on its bridge network and its further
/// networks. An error leaves none of them.
fn reserve(root: &std::path::Path, record: &Record, network: &str) -> Reserved {
    let networks = netctl::Networks::open(root).map_err(|e| e.to_string())?;
    if network == netctl::store::DEFAULT_NETWORK {
        // Made on first use (containers made by `build` or compose never went through `run`).
        networks.ensure_default().map_err(|e| e.to_string())?;
    }
    let ip = Some(record.endpoint.ipv4_address.as_str()).filter(|ip| !ip.is_empty());
    let (network, endpoint) = networks
        .reserve(network, &record.id, &record.name, ip, &record.endpoint.aliases, &publish_requests(record))
        .map_err(|e| e.to_string())?;
    let mut extras = Vec::new();
    for extra in &record.extra_networks {
        match reserve_extra(&networks, record, extra) {
            Ok(reserved) => extras.push(reserved),
            Err(e) => {
                let _ = networks.detach(&record.id);
                return Err(e.to_string());
            }
        }
    }
    Ok(Reservation { network, endpoint, extras })
}

/// Plugs the container's sandbox in at its reserved endpoints: `eth0`, and an interface on
/// each further network. An error leaves none of them.
fn plug(
    networks: &netctl::Networks,
    id: &str,
    sandbox: netctl::link::PendingSandbox,
    reserved: &Reservation,
) -> std::result::Result<(), String> {
    networks.plug_sandbox(sandbox, &reserved.network, &reserved.endpoint, id).map_err(|e| e.to_string())?;
    for (i, (network, endpoint)) in reserved.extras.iter().enumerate() {
        if let Err(e) = networks.plug_interface(network, endpoint, id, i + 1) {
            let _ = networks.detach(id);
            return Err(e.to_string());
        }
    }
    Ok(())
}

/// Frees the container's endpoints on its bridge network and unpins its namespace (the kernel
/// takes it down in the background).
fn release_network(root: &std::path::Path, record: &Record) {
    if bridge_network(record).is_some() {
        if let Ok(networks) = netctl::Networks::open(root) {
            let _ = networks.release(&record.id);
        }
    }
}

impl Drop for NetworkedLauncher {
    fn drop(&mut self) {
        self.cancel_prepared();
        self.settle();
        if let Some(thread) = self.releasing.take() {
            let _ = thread.join();
        }
    }
}

/// Whether a network mode names a user network (not the default `bridge`, `none`, `host` or
/// another container's).
fn is_user_network(mode: &str) -> bool {
    !matches!(mode, "" | "none" | "host" | "bridge" | "default") && !mode.starts_with("container:")
}

/// The bridge network the container joins (the default `bridge` or a user network), if any.
fn bridge_network(record: &Record) -> Option<&str> {
    match record.host_config.network_mode.as_str() {
        "bridge" | "default" => Some(netctl::store::DEFAULT_NETWORK),
        mode if is_user_network(mode) => Some(mode),
        _ => None,
    }
}

/// The container's network and its endpoint there, while it has one (user networks only: the
/// network files are not read for the others).
fn endpoint_of(store: &Store, record: &Record) -> Option<(netctl::Network, netctl::Endpoint)> {
    let network = netctl::Networks::open(store.root()).ok()?.find(bridge_network(record)?).ok()?;
    let endpoint = network.endpoints.get(&record.id)?.clone();
    Some((network, endpoint))
}

impl Launcher for NetworkedLauncher {
    /// A bridge network's sandbox (its namespace, about a millisecond of the kernel's) and the
    /// container's address are made by two threads alongside the monitor's attach and mount;
    /// the sandbox begins first, before the monitor's other threads. The veth pair, `eth0`'s
    /// address and the routes are made later, while the runtime sets the container up (`start`).
    fn prepare(&mut self, record: &Record) {
        if let Some(network) = bridge_network(record) {
            let sandbox = netctl::link::sandbox_begin(&record.id);
            let (root, network) = (self.root.clone(), network.to_string());
            let record = record.clone();
            let id = record.id.clone();
            let thread =
                std::thread::Builder::new().name("berth-ipam".into()).spawn(move || reserve(&root, &record, &network));
            match thread {
                Ok(thread) => self.plugging = Some((id, sandbox, thread)),
                Err(_) => drop(sandbox),
            }
        }
        self.inner.prepare(record);
    }

    fn cancel_prepared(&mut self) {
        self.inner.cancel_prepared();
        if let Some((id, sandbox, thread)) = self.plugging.take() {
            drop(sandbox);
            if thread.join().is_ok_and(|reserved| reserved.is_ok()) {
                if let Ok(networks) = netctl::Networks::open(&self.root) {
                    let _ = networks.detach(&id);
                }
            }
        }
    }

    fn start(
        &mut self,
        record: &Record,
        rootfs: &std::path::Path,
        dir: &std::path::Path,
    ) -> std::result::Result<monitor::Started, (i32, String)> {
        // A restart: the last run's network is gone first.
        self.settle();
        if let Some(other) = record.host_config.network_mode.strip_prefix("container:") {
            let netns = join_container_network(&self.root, other, dir).map_err(|m| (EXIT_BERTH, m))?;
            self.inner.join_network_namespace(Some(netns));
            return self.inner.start(record, rootfs, dir);
        }
        // Joined before anything forks (the sandbox's thread by `wait_pinned`).
        let prepared = self.plugging.take().map(|(_, sandbox, thread)| {
            (sandbox, thread.join().unwrap_or_else(|_| Err("the network thread panicked".into())))
        });
        let Some(network) = bridge_network(record) else { return self.inner.start(record, rootfs, dir) };
        let (mut sandbox, reserved) =
            prepared.unwrap_or_else(|| (netctl::link::sandbox_begin(&record.id), reserve(&self.root, record, network)));
        let reserved = reserved.map_err(|m| (EXIT_BERTH, m))?;
        let (joined, endpoint) = (&reserved.network, &reserved.endpoint);
        let networks = netctl::Networks::open(&self.root).map_err(|e| (EXIT_BERTH, e.to_string()))?;
        if let Err(e) = sandbox.wait_pinned() {
            let _ = networks.detach(&record.id);
            return Err((EXIT_BERTH, e.to_string()));
        }
        let gateway = joined.gateway.clone();
        // On a user network names resolve through berth's DNS server on the gateway; the
        // default network has no DNS by name (as Docker's), so its resolv.conf stays the host's.
        let dns = (!joined.default).then_some(gateway.as_str());
        let links = match link_lines(joined, record) {
            Ok(lines) => lines,
            Err(message) => {
                let _ = networks.detach(&record.id);
                return Err((EXIT_BERTH, message));
            }
        };
        let written = write_network_etc(dir, dns, &endpoint.ip, &links, record);
        if let Err(e) = written {
            let _ = networks.detach(&record.id);
            return Err((EXIT_BERTH, format!("writing {}: {e}", dir.display())));
        }
        if !joined.default {
            netctl::dns::ensure_listening(&self.runroot, &gateway, &record.id, || {
                super::network::start_dns(&self.root, &self.runroot, self.config.as_deref())
            });
        }
        ensure_dns_on_extras(&self.root, &self.runroot, self.config.as_deref(), record);
        // The runtime joins the namespace by its path; its interfaces come while the runtime
        // sets the container up.
        self.inner.join_network_namespace(Some(netctl::link::netns_path(&record.id)));
        let (plugging, id) = (networks.clone(), record.id.clone());
        self.inner.beside_setup(Box::new(move || plug(&plugging, &id, sandbox, &reserved)));
        let started = self.inner.start(record, rootfs, dir);
        if started.is_err() {
            let _ = networks.detach(&record.id);
        }
        started
    }

    fn after_fork(&mut self, work: engine::monitor::AfterFork) {
        self.inner.after_fork(work);
    }

    fn delete(&mut self, record: &Record) {
        self.delete_in_background(record);
        self.settle();
    }

    fn delete_in_background(&mut self, record: &Record) {
        self.inner.delete(record);
        if bridge_network(record).is_some() {
            netctl::link::namespace_down(&record.id);
            self.detaching.push(record.id.clone());
        }
    }

    fn delete_network(&mut self, record: &Record) {
        match self.releasing.take() {
            Some(thread) => {
                let _ = thread.join();
            }
            None => release_network(&self.root, record),
        }
    }

    fn begin_delete_network(&mut self, record: &Record) {
        if bridge_network(record).is_none() {
            return;
        }
        let (root, record) = (self.root.clone(), record.clone());
        let thread = std::thread::Builder::new().name("berth-release".into());
        self.releasing = thread.spawn(move || release_network(&root, &record)).ok();
    }

    /// Finishes the network teardowns begun by `delete_in_background`.
    fn settle(&mut self) {
        if self.detaching.is_empty() {
            return;
        }
        if let Ok(networks) = netctl::Networks::open(&self.root) {
            for id in self.detaching.drain(..) {
                let _ = networks.release(&id);
            }
        }
    }

    fn exec(
        &mut self,
        record: &Record,
        process: &monitor::ExecProcess,
    ) -> std::result::Result<monitor::Started, (i32, String)> {
        self.inner.exec(record, process)
    }
}

/// Plugs the container's `eth<index>` into one of its further networks.
pub(crate) fn connect_endpoint(
    networks: &netctl::Networks,
    record: &Record,
    extra: &engine::container::model::ExtraNetwork,
    index: usize,
) -> netctl::Result<(netctl::Network, netctl::Endpoint)> {
    let (network, endpoint) = reserve_extra(networks, record, extra)?;
    networks.plug_interface(&network, &endpoint, &record.id, index)?;
    Ok((network, endpoint))
}

/// The container's address (the one it asks for, or the next free) on one of its further
/// networks.
fn reserve_extra(
    networks: &netctl::Networks,
    record: &Record,
    extra: &engine::container::model::ExtraNetwork,
) -> netctl::Result<(netctl::Network, netctl::Endpoint)> {
    let ip = Some(extra.endpoint.ipv4_address.as_str()).filter(|ip| !ip.is_empty());
    networks.reserve(&extra.name, &record.id, &record.name, ip, &extra.endpoint.aliases, &[])
}

/// The DNS server listens on the gateways of the container's further networks too.
pub(crate) fn ensure_dns_on_extras(
    root: &std::path::Path,
    runroot: &std::path::Path,
    config: Option<&std::path::Path>,
    record: &Record,
) {
    let Ok(networks) = netctl::Networks::open(root) else { return };
    for extra in &record.extra_networks {
        if let Some(n) = networks.find(&extra.name).ok().filter(|n| !n.default) {
            netctl::dns::ensure_listening(runroot, &n.gateway, &record.id, || {
                super::network::start_dns(root, runroot, config)
            });
        }
    }
}

/// What the container publishes: `-p` bindings, and with `-P` every other exposed port on a
/// random host port.
fn publish_requests(record: &Record) -> Vec<netctl::ports::Request> {
    let host = &record.host_config;
    let mut requests: Vec<netctl::ports::Request> = host
        .port_bindings
        .iter()
        .flat_map(|(port, bindings)| {
            bindings.iter().map(move |b| netctl::ports::Request {
                container: port.clone(),
                host_ip: b.host_ip.clone(),
                host_port: b.host_port.clone(),
            })
        })
        .collect();
    if host.publish_all_ports {
        for port in record.config.exposed_ports.keys().filter(|p| !host.port_bindings.contains_key(*p)) {
            requests.push(netctl::ports::Request {
                container: port.clone(),
                host_ip: String::new(),
                host_port: String::new(),
            });
        }
    }
    requests
}

/// The ports a container publishes now (from its network endpoint).
pub(crate) fn published_ports(store: &Store, record: &Record) -> Vec<netctl::ports::Mapping> {
    endpoint_of(store, record).map(|(_, e)| e.ports).unwrap_or_default()
}

pub(crate) fn host_ip_of(m: &netctl::ports::Mapping) -> &str {
    if m.host_ip.is_empty() {
        "0.0.0.0"
    } else {
        &m.host_ip
    }
}

/// A user network's resolv.conf (the gateway's DNS server; the container's search domains and
/// options, else the host's) and the container's own line in /etc/hosts, as Docker writes them.
/// The `hosts` lines of the container's `--link`s: each linked container's address on
/// `network` under its alias and its name (it must be running there).
fn link_lines(network: &netctl::Network, record: &Record) -> std::result::Result<String, String> {
    let mut out = String::new();
    for link in &record.host_config.links {
        let (name, alias) = link.split_once(':').unwrap_or((link, link));
        let Some(endpoint) = network.endpoints.values().find(|e| e.container_name == name) else {
            return Err(format!("Cannot link to {name}: it is not running on network {}", network.name));
        };
        out.push_str(&if alias == name {
            format!("{}\t{name}\n", endpoint.ip)
        } else {
            format!("{}\t{alias} {name}\n", endpoint.ip)
        });
    }
    Ok(out)
}

/// The network's part of the container's files: its resolv.conf (berth's DNS server on a user
/// network) and, in hosts, its own address and the `--link` lines.
fn write_network_etc(
    dir: &std::path::Path,
    dns: Option<&str>,
    ip: &str,
    links: &str,
    record: &Record,
) -> io::Result<()> {
    if let Some(gateway) = dns {
        let host = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        let h = &record.host_config;
        let resolv =
            engine::container::etc::with_dns_options(&host, &[gateway.to_string()], &h.dns_search, &h.dns_options);
        engine::files::replace_volatile(&dir.join("resolv.conf"), resolv.as_bytes())?;
    }
    // Added to what the monitor just wrote (`etc::write_etc_files`): an append, where a
    // rewrite of the file makes ext4 write it out at once (`files::replace_volatile`).
    let hostname = &record.config.hostname;
    let mut hosts = std::fs::OpenOptions::new().append(true).open(dir.join("hosts"))?;
    io::Write::write_all(&mut hosts, format!("{ip}\t{hostname}\n{links}").as_bytes())
}

/// `run`/`create --network NAME`: the network must exist (Docker's message otherwise);
/// `container:NAME` is stored as `container:<id>`, as Docker stores it.
fn check_network(ctx: &Context, args: &RunArgs, options: &mut engine::container::CreateOptions) -> Result<()> {
    let name = args.network.as_str();
    if let Some(other) = name.strip_prefix("container:") {
        if !options.host.port_bindings.is_empty() || args.publish_all {
            bail!("conflicting options: port publishing and the container type network mode");
        }
        let id = ctx.store()?.resolve_container(other)?;
        options.host.network_mode = format!("container:{id}");
    }
    if matches!(name, "" | "bridge" | "default") {
        super::network::networks(ctx)?.ensure_default()?;
    }
    for link in &options.host.links {
        let target = link.split(':').next().unwrap_or_default();
        ctx.store()?.resolve_container(target).map_err(|_| anyhow::anyhow!("could not get container for {target}"))?;
    }
    if !is_user_network(name) {
        if args.ip.is_some() {
            bail!("user specified IP address is supported on user defined networks only");
        }
        if !args.network_alias.is_empty() {
            bail!("network-scoped alias is supported only for containers in user defined networks");
        }
        return Ok(());
    }
    super::network::networks(ctx)?.find(name)?;
    Ok(())
}

/// `--network container:<id>`: the other container's network namespace, and its hosts and
/// resolv.conf (it must be running).
fn join_container_network(
    root: &std::path::Path,
    other: &str,
    dir: &std::path::Path,
) -> std::result::Result<std::path::PathBuf, String> {
    let other_dir = root.join("containers").join(other);
    let state: State = engine::container::store::read_json(&other_dir.join("state.json"))
        .map_err(|_| format!("No such container: {other}"))?;
    if !state.status.is_running() || !engine::container::store::process_alive(state.pid, state.pid_start) {
        return Err(format!("cannot join network of a non running container: {other}"));
    }
    for file in ["hosts", "resolv.conf"] {
        let _ = std::fs::copy(other_dir.join(file), dir.join(file));
    }
    Ok(std::path::PathBuf::from(format!("/proc/{}/ns/net", state.pid)))
}

/// `__monitor`: the per-container monitor, detached from the CLI that started it.
pub fn monitor(ctx: &Context, args: MonitorArgs) -> Result<i32> {
    let mut launcher = launcher(ctx);
    let resume = match (args.resume, args.listener_fd) {
        (Some(exit_code), Some(listener_fd)) => Some(monitor::Resume {
            exit_code,
            ran: std::time::Duration::from_millis(args.ran_ms),
            backoff: std::time::Duration::from_millis(args.backoff_ms),
            listener_fd,
            client_fds: args.client_fd,
        }),
        _ => None,
    };
    let mut command = ctx.berth_args()?;
    command.extend(["__monitor".into(), args.id.clone().into()]);
    let job = monitor::Job {
        root: ctx.root.clone(),
        runroot: ctx.runroot.clone(),
        id: args.id,
        attach_first: args.attach_first,
        resume,
        command,
    };
    Ok(monitor::run(job, launcher.as_mut()))
}

/// A monitor this command started; `run --rm` waits for it, as the monitor removes the
/// container before it exits.
pub(super) struct MonitorProcess(libc::pid_t);

impl MonitorProcess {
    pub(super) fn wait(&self) {
        let mut status = 0;
        // SAFETY: waits for our own child; `status` outlives the call.
        while unsafe { libc::waitpid(self.0, &mut status, 0) } < 0
            && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted
        {}
    }
}

/// Starts a container's monitor and returns the pipe of its report. With `attach_first`, it
/// reports `ready` once it listens; the caller then attaches, which starts the process.
pub(super) fn spawn_monitor(
    ctx: &Context,
    id: &str,
    attach_first: bool,
) -> Result<(MonitorProcess, io::BufReader<std::fs::File>)> {
    let (read, write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).context("pipe")?;
    // SQLite keeps per-process lock records: a child forked while a connection is open here
    // would open the database with this process's records and locks it does not hold.
    let pid = if ctx.fork_monitors && engine::db::open_connections() == 0 {
        fork_monitor(ctx, id, attach_first, &write)?
    } else {
        exec_monitor(ctx, id, attach_first, &write)?
    };
    drop(write);
    Ok((MonitorProcess(pid), io::BufReader::new(std::fs::File::from(read))))
}

/// `berth __monitor <id>`, a process of its own.
fn exec_monitor(ctx: &Context, id: &str, attach_first: bool, report: &OwnedFd) -> Result<libc::pid_t> {
    let mut cmd = ctx.berth_command()?;
    cmd.arg("__monitor").arg(id);
    if attach_first {
        cmd.arg("--attach-first");
    }
    // The monitor must not hold the CLI's stdio: whoever waits for our output would wait for it.
    cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
    let report_fd = report.as_raw_fd();
    // SAFETY: between fork and exec only async-signal-safe calls: setsid and dup2.
    unsafe {
        cmd.pre_exec(move || {
            libc::setsid();
            if libc::dup2(report_fd, monitor::REPORT_FD) < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd.spawn().context("starting the container monitor")?;
    Ok(child.id() as libc::pid_t)
}

/// The monitor as a fork of this process: no exec of the berth binary, no loader, no argument
/// parsing and no second look at the engine configuration (about 3 ms of each start). Only for
/// commands that start containers from their one thread (`Context::fork_monitors`): the child
/// has only the thread that forked, so no lock can be left held by another.
fn fork_monitor(ctx: &Context, id: &str, attach_first: bool, report: &OwnedFd) -> Result<libc::pid_t> {
    let null = std::fs::OpenOptions::new().read(true).write(true).open("/dev/null").context("opening /dev/null")?;
    let args = MonitorArgs {
        id: id.to_string(),
        attach_first,
        backoff_ms: 100,
        resume: None,
        ran_ms: 0,
        listener_fd: None,
        client_fd: Vec::new(),
    };
    // SAFETY: the child runs on the forking thread alone; see above.
    match unsafe { libc::fork() } {
        -1 => Err(io::Error::last_os_error()).context("starting the container monitor"),
        0 => {
            // SAFETY: the child's own descriptors and signal state. It keeps only /dev/null as
            // stdio and the report pipe as fd 3, as `exec_monitor`'s would.
            unsafe {
                libc::setsid();
                for fd in 0..3 {
                    libc::dup2(null.as_raw_fd(), fd);
                }
                if report.as_raw_fd() == monitor::REPORT_FD {
                    libc::fcntl(monitor::REPORT_FD, libc::F_SETFD, 0);
                } else {
                    libc::dup2(report.as_raw_fd(), monitor::REPORT_FD);
                }
                libc::syscall(libc::SYS_close_range, monitor::REPORT_FD + 1, u32::MAX, 0);
                for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGWINCH] {
                    libc::signal(signal, libc::SIG_DFL);
                }
                // Its command line is still the CLI's; the name tells it apart in `ps`.
                libc::prctl(libc::PR_SET_NAME, c"berth-monitor".as_ptr());
            }
            // A panic must not unwind into the CLI's code: the child ends here, whatever happens.
            let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| monitor(ctx, args).unwrap_or(1)));
            // SAFETY: ends the child without running the CLI's exit handlers or flushing its buffers.
            unsafe { libc::_exit(code.unwrap_or(101)) }
        }
        pid => Ok(pid),
    }
}

/// Reads the monitor's report up to `started`/`ready`; an `error` becomes an ExitError.
/// Connects to the attach socket of a monitor that said `ready`. A monitor that failed before
/// it took the connection has closed the socket by then, or resets the connection later
/// (`stream_attached`): its report says why.
pub(super) fn connect_attached(
    socket: &std::path::Path,
    report: &mut io::BufReader<std::fs::File>,
) -> Result<UnixStream> {
    UnixStream::connect(socket).or_else(|e| {
        read_report(report, "started")?;
        Err(e).with_context(|| format!("attaching to {}", socket.display()))
    })
}

pub(super) fn read_report(report: &mut io::BufReader<std::fs::File>, until: &str) -> Result<()> {
    let mut line = String::new();
    loop {
        line.clear();
        if report.read_line(&mut line)? == 0 {
            bail!("the container monitor exited before starting the container");
        }
        let line = line.trim_end();
        if line.starts_with(until) {
            return Ok(());
        }
        if let Some(rest) = line.strip_prefix("error ") {
            let (code, message) = rest.split_once(' ').unwrap_or((rest, ""));
            return Err(ExitError { code: code.parse().unwrap_or(EXIT_BERTH), message: message.to_string() }.into());
        }
    }
}

pub(crate) fn start_detached(ctx: &Context, store: &Store, id: &str) -> Result<()> {
    if ready_to_start(store, id)? {
        start_monitor(ctx, id)?;
    }
    Ok(())
}

/// Whether the container needs a start (it is not running already); clears the mark a stop
/// left.
fn ready_to_start(store: &Store, id: &str) -> Result<bool> {
    let state = store.observed_state(id)?;
    if state.status.is_running() {
        return Ok(false);
    }
    wait_for_last_monitor(store, &state, id)?;
    store.clear_stopped(id);
    Ok(true)
}

/// A container whose PID 1 has just exited may still have the monitor of that run finishing
/// (its network's teardown, the unmount, its last state): a new run waits for it, or the old
/// monitor would undo what the new one set up.
fn wait_for_last_monitor(store: &Store, state: &engine::container::model::State, id: &str) -> Result<()> {
    if !state.status.is_running() && state.monitor_pid != 0 {
        store.wait_stopped(id, std::time::Duration::from_secs(10))?;
    }
    Ok(())
}

/// The record of a container about to be started attached, once the last run's monitor is done
/// and the mark a stop left is cleared.
fn record_for_attached_start(store: &Store, id: &str) -> Result<Record> {
    wait_for_last_monitor(store, &store.observed_state(id)?, id)?;
    store.clear_stopped(id);
    Ok(store.container(id)?)
}

/// Starts the container's monitor, which starts the process; returns once it has.
fn start_monitor(ctx: &Context, id: &str) -> Result<()> {
    let (_monitor, mut report) = spawn_monitor(ctx, id, false)?;
    read_report(&mut report, "started")
}

/// Starts a stopped or created container attached, streams until it exits; returns its exit
/// status.
pub(crate) fn start_attached(ctx: &Context, store: &Store, id: &str, stdin: bool, detach_keys: &str) -> Result<i32> {
    let record = record_for_attached_start(store, id)?;
    start_and_attach(ctx, &record, stdin, detach_keys)
}

/// Starts the container's monitor, attaches before the process starts (so no output is missed)
/// and streams until it exits; returns its exit status.
fn start_and_attach(ctx: &Context, record: &Record, stdin: bool, detach_keys: &str) -> Result<i32> {
    let keys = tty::parse_detach_keys(detach_keys)?;
    let (monitor, mut report) = spawn_monitor(ctx, &record.id, true)?;
    read_report(&mut report, "ready")?;
    let stream = connect_attached(&monitor::attach_socket(&ctx.runroot, &record.id), &mut report)?;
    // Errors after the process was asked to start come as the report or an EXIT frame.
    let (code, exited) = stream_attached(stream, stdin, record.config.tty, keys, Some(&mut report))?;
    if exited && record.host_config.auto_remove {
        // Docker's `run --rm` returns once the container is gone: its monitor says so on the
        // pipe, or, when it handed the pipe's end to no one (the shim), by exiting.
        match read_report(&mut report, "removed") {
            Err(e) if e.downcast_ref::<ExitError>().is_some() => return Err(e),
            Ok(()) => {}
            Err(_) => monitor.wait(),
        }
    }
    Ok(code)
}

/// Copies frames to stdout/stderr (and stdin to the monitor) until EXIT; returns the status
/// and whether the container exited (false when the user detached or the monitor went away).
fn stream_attached(
    stream: UnixStream,
    stdin: bool,
    tty: bool,
    detach_keys: Vec<u8>,
    report: Option<&mut io::BufReader<std::fs::File>>,
) -> Result<(i32, bool)> {
    let _raw = (tty && stdin).then(tty::RawMode::enable);
    // Two threads may write frames (stdin, resizes): one at a time, so frames never interleave.
    let writing = std::sync::Arc::new(std::sync::Mutex::new(()));
    if tty {
        let resize = |stream: &UnixStream, rows: u16, cols: u16| {
            let mut size = rows.to_be_bytes().to_vec();
            size.extend_from_slice(&cols.to_be_bytes());
            attach::write_frame(&mut &*stream, attach::RESIZE, &size)
        };
        if let Some((rows, cols)) = tty::window_size() {
            resize(&stream, rows, cols)?;
        }
        // Later resizes of the local terminal follow (SIGWINCH), as Docker's attach does.
        let resizer = stream.try_clone()?;
        let writing = writing.clone();
        tty::forward_resizes(move |rows, cols| {
            let _turn = writing.lock();
            let _ = resize(&resizer, rows, cols);
        });
    }
    let detached = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    if stdin {
        let mut writer = stream.try_clone()?;
        let detached = detached.clone();
        let writing = writing.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 16 * 1024];
            let mut input = io::stdin().lock();
            // Docker's detach keys apply to tty sessions.
            let mut watch = tty::DetachWatch::new(if tty { detach_keys } else { Vec::new() });
            loop {
                match input.read(&mut buf) {
                    Ok(0) | Err(_) => {
                        let _ = attach::write_frame(&mut writer, attach::STDIN_EOF, &[]);
                        return;
                    }
                    Ok(n) => {
                        if watch.feed(&buf[..n]) {
                            // Leave the container running: ending our side ends the stream.
                            detached.store(true, std::sync::atomic::Ordering::SeqCst);
                            let _ = writer.shutdown(std::net::Shutdown::Both);
                            return;
                        }
                        let _turn = writing.lock();
                        if attach::write_frame(&mut writer, attach::STDIN, &buf[..n]).is_err() {
                            return;
                        }
                    }
                }
            }
        });
    }
    let mut reader = io::BufReader::new(stream);
    let mut stdout = io::stdout().lock();
    let mut stderr = io::stderr().lock();
    loop {
        let frame = match attach::read_frame(&mut reader) {
            Ok(frame) => frame,
            // A monitor that fails before it accepts the connection resets it: the pipe says why.
            Err(e) => {
                if let Some(report) = report {
                    read_report(report, "started")?;
                }
                return Err(e.into());
            }
        };
        let Some((kind, data)) = frame else { break };
        match kind {
            attach::STDOUT => {
                let _ = stdout.write_all(&data);
                let _ = stdout.flush();
            }
            attach::STDERR => {
                let _ = stderr.write_all(&data);
            }
            attach::EXIT => {
                let code = i32::from_be_bytes(data.get(..4).and_then(|b| b.try_into().ok()).unwrap_or([0, 0, 0, 125]));
                if let Some(report) = report {
                    // A start error is reported on the pipe with its message.
                    read_report(report, "started")?;
                }
                return Ok((code, true));
            }
            _ => {}
        }
    }
    if detached.load(std::sync::atomic::Ordering::SeqCst) {
        return Ok((0, false));
    }
    // The monitor went away without an EXIT frame: a start that failed says why on the pipe.
    if let Some(report) = report {
        read_report(report, "started")?;
    }
    Ok((EXIT_BERTH, false))
}

/// The engine configuration's `dns`, `dns-search` and `dns-opts` for a container that sets
/// none of its own.
pub(crate) fn apply_dns_defaults(ctx: &Context, options: &mut engine::container::CreateOptions) {
    let h = &mut options.host;
    if h.dns.is_empty() && h.dns_search.is_empty() && h.dns_options.is_empty() {
        h.dns = ctx.config.dns.clone();
        h.dns_search = ctx.config.dns_search.clone();
        h.dns_options = ctx.config.dns_opts.clone();
    }
}

pub fn create(ctx: &Context, args: RunArgs) -> Result<i32> {
    let mut store = ctx.store()?;
    super::registry::ensure_image(ctx, &mut store, &args.image, &args.pull, args.platform.as_deref(), args.quiet)?;
    let mut options = create_options(&args)?;
    check_network(ctx, &args, &mut options)?;
    apply_dns_defaults(ctx, &mut options);
    let record = store.create_container(&options)?;
    printer::line(&record.id);
    Ok(0)
}

pub fn run(ctx: &Context, args: RunArgs) -> Result<i32> {
    // The store is closed before the monitor starts, so that it can be forked (`spawn_monitor`).
    let record = {
        let mut store = ctx.store()?;
        // A missing image is pulled first, on threads that end before any container work.
        super::registry::ensure_image(ctx, &mut store, &args.image, &args.pull, args.platform.as_deref(), args.quiet)?;
        let mut options = create_options(&args)?;
        check_network(ctx, &args, &mut options)?;
        apply_dns_defaults(ctx, &mut options);
        store.create_container(&options)?
    };
    let result = if args.detach {
        start_monitor(ctx, &record.id).map(|()| {
            printer::line(&record.id);
            0
        })
    } else {
        start_and_attach(ctx, &record, args.interactive, &args.detach_keys)
    };
    if result.is_err() && record.host_config.auto_remove {
        // A container that never ran and was to be removed is removed now.
        if let Ok(mut store) = ctx.store() {
            let _ = store.remove_container(&record.id, true, true, launcher(ctx).as_mut());
        }
    }
    result
}

pub fn start(ctx: &Context, args: StartArgs) -> Result<i32> {
    // The store is closed before each monitor starts, so that it can be forked (`spawn_monitor`).
    if args.attach {
        if args.containers.len() > 1 {
            bail!("you cannot start and attach multiple containers at once");
        }
        let record = {
            let store = ctx.store()?;
            let id = store.resolve_container(&args.containers[0])?;
            record_for_attached_start(&store, &id)?
        };
        return start_and_attach(ctx, &record, args.interactive, &args.detach_keys);
    }
    let mut failed = false;
    for name in &args.containers {
        let ready = ctx.store().and_then(|store| {
            let id = store.resolve_container(name)?;
            Ok(ready_to_start(&store, &id)?.then_some(id))
        });
        match ready.and_then(|id| id.map_or(Ok(()), |id| start_monitor(ctx, &id))) {
            Ok(()) => printer::line(name),
            Err(e) => {
                printer::err_line(&format!("Error response from daemon: {}", super::error_text(&e)));
                failed = true;
            }
        }
    }
    if failed {
        bail!("failed to start containers: {}", args.containers.join(", "));
    }
    Ok(0)
}

/// Runs `f` on each named container, printing the name on success, as Docker's verbs do.
fn each(store: &Store, names: &[String], what: &str, mut f: impl FnMut(&str) -> Result<()>) -> Result<i32> {
    let mut failed = Vec::new();
    for name in names {
        match store.resolve_container(name).map_err(anyhow::Error::from).and_then(|id| f(&id)) {
            Ok(()) => printer::line(name),
            Err(e) => {
                printer::err_line(&format!("Error response from daemon: {}", super::error_text(&e)));
                failed.push(name.clone());
            }
        }
    }
    if !failed.is_empty() {
        bail!("failed to {what} containers: {}", failed.join(", "));
    }
    Ok(0)
}

pub(crate) fn stop_timeout(store: &Store, id: &str, flag: Option<i64>) -> i64 {
    flag.or_else(|| store.container(id).ok().and_then(|r| r.config.stop_timeout)).unwrap_or(10)
}

pub fn stop(ctx: &Context, args: StopArgs) -> Result<i32> {
    let store = ctx.store()?;
    let mut launcher = launcher(ctx);
    each(&store, &args.containers, "stop", |id| {
        Ok(store.stop_container(id, stop_timeout(&store, id, args.time), launcher.as_mut())?)
    })
}

pub fn restart(ctx: &Context, args: StopArgs) -> Result<i32> {
    let store = ctx.store()?;
    let mut launcher = launcher(ctx);
    each(&store, &args.containers, "restart", |id| {
        store.stop_container(id, stop_timeout(&store, id, args.time), launcher.as_mut())?;
        start_detached(ctx, &store, id)
    })
}

pub fn kill(ctx: &Context, args: KillArgs) -> Result<i32> {
    let store = ctx.store()?;
    let signal = parse_signal(&args.signal)?;
    each(&store, &args.containers, "kill", |id| Ok(store.kill_container(id, signal)?))
}

pub fn rm(ctx: &Context, args: RmArgs) -> Result<i32> {
    let mut store = ctx.store()?;
    let mut launcher = launcher(ctx);
    let mut failed = Vec::new();
    for name in &args.containers {
        let result = store
            .resolve_container(name)
            .and_then(|id| store.remove_container(&id, args.force, args.volumes, launcher.as_mut()));
        match result {
            Ok(()) => printer::line(name),
            Err(e) => {
                printer::err_line(&format!("Error response from daemon: {e}"));
                failed.push(name.clone());
            }
        }
    }
    Ok(if failed.is_empty() { 0 } else { EXIT_BERTH })
}

pub fn prune(ctx: &Context, args: ContainerPruneArgs) -> Result<i32> {
    if !args.force && !super::image::confirm("WARNING! This will remove all stopped containers.")? {
        return Ok(0);
    }
    let mut store = ctx.store()?;
    let mut launcher = launcher(ctx);
    let mut removed = Vec::new();
    for id in store.container_ids()? {
        let state = store.observed_state(&id)?;
        if matches!(state.status, Status::Exited | Status::Created | Status::Dead) {
            store.remove_container(&id, false, false, launcher.as_mut())?;
            removed.push(id);
        }
    }
    if !removed.is_empty() {
        printer::line("Deleted Containers:");
        for id in &removed {
            printer::line(id);
        }
        printer::line("");
    }
    printer::line("Total reclaimed space: 0B");
    Ok(0)
}

pub fn rename(ctx: &Context, args: RenameArgs) -> Result<i32> {
    let mut store = ctx.store()?;
    let id = store.resolve_container(&args.container)?;
    if !engine::container::names::valid_name(&args.new_name) {
        bail!("Invalid container name ({}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", args.new_name);
    }
    store.rename_container(&id, &args.new_name)?;
    Ok(0)
}

pub fn wait(ctx: &Context, args: NamesArgs) -> Result<i32> {
    let store = ctx.store()?;
    let mut failed = false;
    for name in &args.containers {
        match store.resolve_container(name) {
            Ok(id) => {
                let code = match exit_frame(ctx, &store, &id) {
                    Some(code) => code,
                    // Until the monitor has recorded the exit status, not just until PID 1 is
                    // gone.
                    None => store.wait_stopped(&id, Duration::from_secs(u64::MAX / 4))?.exit_code,
                };
                printer::line(&code.to_string());
            }
            Err(e) => {
                printer::err_line(&format!("Error response from daemon: {e}"));
                failed = true;
            }
        }
    }
    Ok(if failed { EXIT_BERTH } else { 0 })
}

/// A running `--rm` container's exit status, from its monitor's EXIT frame to attached clients:
/// the monitor removes the container, and its recorded state, right after the exit, so a
/// waiter polling that state could find it gone. `None` for any other container.
fn exit_frame(ctx: &Context, store: &Store, id: &str) -> Option<i32> {
    let record = store.container(id).ok()?;
    if !record.host_config.auto_remove || !store.observed_state(id).ok()?.status.is_running() {
        return None;
    }
    let mut stream = io::BufReader::new(UnixStream::connect(monitor::attach_socket(&ctx.runroot, id)).ok()?);
    while let Ok(Some((kind, data))) = attach::read_frame(&mut stream) {
        if kind == attach::EXIT {
            return data.get(..4).and_then(|b| b.try_into().ok()).map(i32::from_be_bytes);
        }
    }
    None
}

pub fn attach(ctx: &Context, args: AttachArgs) -> Result<i32> {
    let store = ctx.store()?;
    let id = store.resolve_container(&args.container)?;
    let record = store.container(&id)?;
    let state = store.observed_state(&id)?;
    if state.status != Status::Running {
        bail!("You cannot attach to a stopped container, start it first");
    }
    let stream =
        UnixStream::connect(monitor::attach_socket(&ctx.runroot, &id)).context("attaching to the container")?;
    let keys = tty::parse_detach_keys(&args.detach_keys)?;
    let (code, _) = stream_attached(stream, record.config.open_stdin && !args.no_stdin, record.config.tty, keys, None)?;
    Ok(code)
}

pub(crate) fn status_text(state: &State) -> String {
    let ago = |t: &str| parse_time(t).map(human_since).unwrap_or_default();
    match state.status {
        Status::Created => "Created".into(),
        Status::Running | Status::Paused => {
            let up = parse_time(&state.started_at)
                .map(|t| human_duration((chrono::Utc::now() - t).num_seconds()))
                .unwrap_or_default();
            let mut s = format!("Up {up}");
            if state.status == Status::Paused {
                s.push_str(" (Paused)");
            }
            if let Some(h) = &state.health {
                s.push_str(&format!(" ({})", if h.status == "starting" { "health: starting" } else { &h.status }));
            }
            s
        }
        Status::Restarting => format!("Restarting ({}) {}", state.exit_code, ago(&state.finished_at)),
        Status::Exited => format!("Exited ({}) {}", state.exit_code, ago(&state.finished_at)),
        Status::Removing => "Removal In Progress".into(),
        Status::Dead => "Dead".into(),
    }
}

pub(crate) fn command_text(record: &Record, no_trunc: bool) -> String {
    let full: Vec<&str> = std::iter::once(record.path.as_str()).chain(record.args.iter().map(String::as_str)).collect();
    let full = full.join(" ");
    let shown =
        if no_trunc || full.chars().count() <= 20 { full } else { full.chars().take(19).collect::<String>() + "…" };
    format!("\"{shown}\"")
}

/// What `ps` shows of a container, Docker's field names.
fn ps_row(store: &Store, id: &str, no_trunc: bool, size: bool) -> Result<(Value, State, Record)> {
    let record = store.container(id)?;
    let state = store.observed_state(id)?;
    let created = parse_time(&record.created).unwrap_or_default();
    let mut row = json!({
        "ID": if no_trunc { record.id.clone() } else { record.short_id().to_string() },
        "Image": record.config.image,
        "Command": command_text(&record, no_trunc),
        "CreatedAt": created.format("%Y-%m-%d %H:%M:%S %z UTC").to_string(),
        "RunningFor": human_since(created),
        "Ports": published_ports(store, &record)
            .iter()
            .map(|m| format!("{}:{}->{}/{}", host_ip_of(m), m.host_port, m.container_port, m.protocol))
            .collect::<Vec<_>>()
            .join(", "),
        "State": state.status.as_str(),
        "Status": status_text(&state),
        "Names": record.name,
        "Labels": record.config.labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","),
        "Mounts": record.host_config.mounts.iter().map(|m| m.source.clone()).collect::<Vec<_>>().join(","),
        "Networks": record.host_config.network_mode,
        "LocalVolumes": "0",
    });
    if size {
        let upper = engine::ingest::dir_size(&store.container_dir(id).join("upper"));
        let image = store.db.image(&record.image)?.map_or(0, |i| i.size);
        row["Size"] = json!(format!("{} (virtual {})", format::human_size(upper), format::human_size(upper + image)));
    }
    Ok((row, state, record))
}

fn ps_matches(filters: &[(String, String)], state: &State, record: &Record, store: &Store) -> bool {
    // Values of the same key are ORed, different keys ANDed, as Docker does.
    let mut keys: Vec<&str> = filters.iter().map(|(k, _)| k.as_str()).collect();
    keys.dedup();
    keys.iter().all(|key| {
        filters.iter().filter(|(k, _)| k == key).any(|(_, v)| match *key {
            "status" => state.status.as_str() == v,
            "name" => record.name.contains(v.trim_start_matches('/')),
            "id" => record.id.starts_with(v),
            "label" => match v.split_once('=') {
                Some((k, val)) => record.config.labels.get(k).is_some_and(|x| x == val),
                None => record.config.labels.contains_key(v),
            },
            "ancestor" => store.resolve_image(v).is_ok_and(|img| img == record.image) || record.config.image == *v,
            "exited" => state.status == Status::Exited && state.exit_code.to_string() == *v,
            _ => false,
        })
    })
}

pub fn ps(ctx: &Context, args: PsArgs) -> Result<i32> {
    let store = ctx.store()?;
    let mut filters = Vec::new();
    for f in &args.filters {
        let (k, v) = f.split_once('=').with_context(|| format!("bad format of filter (expected name=value): {f}"))?;
        if !matches!(k, "status" | "name" | "id" | "label" | "ancestor" | "exited") {
            bail!("invalid filter '{k}'");
        }
        if k == "status"
            && !matches!(v, "created" | "restarting" | "running" | "removing" | "paused" | "exited" | "dead")
        {
            bail!("invalid filter 'status={v}'");
        }
        filters.push((k.to_string(), v.to_string()));
    }
    let limit = if args.latest { 1 } else { args.last };
    let all = args.all || limit > 0 || filters.iter().any(|(k, _)| k == "status" || k == "exited");
    let mut items = Vec::new();
    for (n, id) in store.container_ids()?.iter().enumerate() {
        if limit > 0 && n as i64 >= limit {
            break;
        }
        let (row, state, record) = match ps_row(&store, id, args.no_trunc, args.size) {
            Ok(listed) => listed,
            // A `--rm` container that its monitor removed while this listed: gone, as it is
            // in the next listing.
            Err(_) if store.removed_meanwhile(id) => continue,
            Err(e) => return Err(e),
        };
        let running = matches!(state.status, Status::Running | Status::Paused | Status::Restarting);
        if (all || running) && ps_matches(&filters, &state, &record, &store) {
            items.push(row);
        }
    }
    if args.quiet {
        for item in &items {
            printer::line(item["ID"].as_str().unwrap_or_default());
        }
        return Ok(0);
    }
    let mut default =
        "{{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}".to_string();
    if args.size {
        default.push_str("\t{{.Size}}");
    }
    let header = |f: &str| match f {
        "ID" => "CONTAINER ID".to_string(),
        "RunningFor" => "CREATED".to_string(),
        "CreatedAt" => "CREATED AT".to_string(),
        "LocalVolumes" => "LOCAL VOLUMES".to_string(),
        other => other.to_uppercase(),
    };
    printer::out(
        &format::render(&Format::parse(args.format.as_deref()), &items, &default, &header)
            .map_err(anyhow::Error::msg)?,
    );
    Ok(0)
}

/// `--since`/`--until`: RFC 3339, a Unix time, or a duration back from now (`42m`).
pub(crate) fn parse_log_time(s: &str) -> Result<chrono::DateTime<chrono::Utc>> {
    if let Some(t) = parse_time(s) {
        return Ok(t);
    }
    if let Ok(secs) = s.parse::<f64>() {
        return chrono::DateTime::from_timestamp(secs as i64, ((secs.fract()) * 1e9) as u32).context("invalid time");
    }
    let ns = super::container_opts::parse_duration(s).with_context(|| format!("invalid value for \"since\": {s}"))?;
    Ok(chrono::Utc::now() - chrono::Duration::nanoseconds(ns))
}

pub fn logs(ctx: &Context, args: LogsArgs) -> Result<i32> {
    let store = ctx.store()?;
    let id = store.resolve_container(&args.container)?;
    let path = store.container_dir(&id).join(format!("{id}-json.log"));
    let since = args.since.as_deref().map(parse_log_time).transpose()?;
    let until = args.until.as_deref().map(parse_log_time).transpose()?;
    let tail: Option<usize> = match args.tail.as_str() {
        "all" | "-1" => None,
        n => Some(n.parse().with_context(|| format!("invalid value for \"tail\": {n}"))?),
    };
    let print = |entry: &logs::Entry| {
        let time = parse_time(&entry.time);
        if since.is_some_and(|s| time.is_some_and(|t| t < s)) || until.is_some_and(|u| time.is_some_and(|t| t > u)) {
            return;
        }
        let text = if args.timestamps { format!("{} {}", entry.time, entry.log) } else { entry.log.clone() };
        if entry.stream == "stderr" {
            let _ = io::stderr().lock().write_all(text.as_bytes());
        } else {
            printer::out(&text);
        }
    };
    let entries = logs::read_entries(&path)?;
    let skip = tail.map_or(0, |n| entries.len().saturating_sub(n));
    for entry in &entries[skip..] {
        print(entry);
    }
    if args.follow {
        // Follow by re-reading what was appended, until the container is no longer running.
        let mut seen = entries.len();
        loop {
            let running = matches!(store.observed_state(&id)?.status, Status::Running | Status::Restarting);
            let entries = logs::read_entries(&path)?;
            for entry in entries.iter().skip(seen) {
                print(entry);
            }
            seen = entries.len().max(seen);
            if !running {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    Ok(0)
}

/// The Docker-shaped `inspect` object of a container.
pub fn container_json(store: &Store, id: &str) -> Result<Value> {
    let record = store.container(id)?;
    let state = store.observed_state(id)?;
    let dir = store.container_dir(id);
    let running = matches!(state.status, Status::Running | Status::Paused | Status::Restarting);
    let mut state_json = json!({
        "Status": state.status.as_str(),
        "Running": running,
        "Paused": state.status == Status::Paused,
        "Restarting": state.status == Status::Restarting,
        "OOMKilled": state.oom_killed,
        "Dead": state.status == Status::Dead,
        "Pid": state.pid,
        "ExitCode": state.exit_code,
        "Error": state.error,
        "StartedAt": if state.started_at.is_empty() { engine::container::model::ZERO_TIME.to_string() } else { state.started_at.clone() },
        "FinishedAt": if state.finished_at.is_empty() { engine::container::model::ZERO_TIME.to_string() } else { state.finished_at.clone() },
    });
    if let Some(health) = &state.health {
        state_json["Health"] = serde_json::to_value(health)?;
    }
    let layers = store.db.image_layers(&record.image)?;
    let init = engine::container::rootfs::init_layer_dir(store.root());
    let lower: Vec<String> = std::iter::once(init)
        .chain(layers.iter().rev().map(|l| store.layer_dir(l).join("diff")))
        .map(|dir| dir.display().to_string())
        .collect();
    let mounts: Vec<Value> = record
        .host_config
        .mounts
        .iter()
        .map(|m| json!({"Type": m.kind, "Source": m.source, "Destination": m.target, "Mode": if m.read_only { "ro" } else { "" }, "RW": !m.read_only, "Propagation": if m.kind == "bind" { "rprivate" } else { "" }}))
        .collect();
    Ok(json!({
        "Id": record.id,
        "Created": record.created,
        "Path": record.path,
        "Args": record.args,
        "State": state_json,
        "Image": record.image,
        "ResolvConfPath": dir.join("resolv.conf"),
        "HostnamePath": dir.join("hostname"),
        "HostsPath": dir.join("hosts"),
        "LogPath": dir.join(format!("{id}-json.log")),
        "Name": format!("/{}", record.name),
        "RestartCount": state.restart_count,
        "Driver": "overlay",
        "Platform": "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "ExecIDs": null,
        "HostConfig": record.host_config,
        "GraphDriver": {"Data": {"LowerDir": lower.join(":"), "UpperDir": dir.join("upper"), "WorkDir": dir.join("work"), "MergedDir": dir.join("merged")}, "Name": "overlay"},
        "Mounts": mounts,
        "Config": record.config,
        "NetworkSettings": network_settings(store, &record),
    }))
}

/// Docker's `NetworkSettings`, with the address the container holds on a user network.
fn network_settings(store: &Store, record: &Record) -> Value {
    let mode = record.host_config.network_mode.clone();
    let (ip, gateway, prefix, id, mappings) = match endpoint_of(store, record) {
        Some((n, e)) => {
            let prefix = n.subnet.split('/').nth(1).and_then(|p| p.parse::<u32>().ok()).unwrap_or(0);
            (e.ip, n.gateway, prefix, n.id, e.ports)
        }
        None => (String::new(), String::new(), 0, String::new(), Vec::new()),
    };
    let mut ports = serde_json::Map::new();
    for m in mappings {
        let entry = ports.entry(format!("{}/{}", m.container_port, m.protocol)).or_insert_with(|| json!([]));
        if let Some(list) = entry.as_array_mut() {
            list.push(json!({"HostIp": host_ip_of(&m), "HostPort": m.host_port.to_string()}));
        }
    }
    let mut networks = serde_json::Map::new();
    networks.insert(
        mode,
        json!({"Aliases": record.endpoint.aliases, "NetworkID": id, "IPAddress": ip, "IPPrefixLen": prefix, "Gateway": gateway}),
    );
    // Further networks: their addresses while the container runs (only those are read).
    let all = if record.extra_networks.is_empty() { None } else { netctl::Networks::open(store.root()).ok() };
    for extra in &record.extra_networks {
        let found = all.as_ref().and_then(|n| n.find(&extra.name).ok());
        let (nid, eip, gw, pfx) = match &found {
            Some(n) => (
                n.id.clone(),
                n.endpoints.get(&record.id).map(|e| e.ip.clone()).unwrap_or_default(),
                n.gateway.clone(),
                n.subnet.split('/').nth(1).and_then(|p| p.parse::<u32>().ok()).unwrap_or(0),
            ),
            None => Default::default(),
        };
        networks.insert(
            extra.name.clone(),
            json!({"Aliases": extra.endpoint.aliases, "NetworkID": nid, "IPAddress": eip, "IPPrefixLen": pfx, "Gateway": gw}),
        );
    }
    json!({
        "Networks": networks,
        "IPAddress": ip,
        "IPPrefixLen": prefix,
        "Gateway": gateway,
        "Ports": ports,
    })
}

pub fn commit(ctx: &Context, args: CommitArgs) -> Result<i32> {
    let mut store = ctx.store()?;
    let id = store.resolve_container(&args.container)?;
    let options = engine::container::commit::CommitOptions {
        author: args.author,
        message: args.message,
        changes: args.changes,
        reference: args.reference,
    };
    let image = store.commit_container(&id, &options)?;
    printer::line(image.as_str());
    Ok(0)
}

pub fn diff(ctx: &Context, args: ContainerArg) -> Result<i32> {
    let store = ctx.store()?;
    let id = store.resolve_container(&args.container)?;
    for change in store.container_changes(&id)? {
        printer::line(&format!("{} {}", change.kind, change.path));
    }
    Ok(0)
}

pub fn export(ctx: &Context, args: ExportArgs) -> Result<i32> {
    let store = ctx.store()?;
    let id = store.resolve_container(&args.container)?;
    match &args.output {
        Some(path) => {
            let file = std::fs::File::create(path)
                .with_context(|| format!("failed to export container: {}", path.display()))?;
            store.export_container(&id, io::BufWriter::new(file))?;
        }
        None => {
            if std::io::IsTerminal::is_terminal(&io::stdout()) {
                bail!("cowardly refusing to save to a terminal. Use the -o flag or redirect");
            }
            store.export_container(&id, io::BufWriter::new(io::stdout().lock()))?;
        }
    }
    Ok(0)
}

fn running_pid(store: &Store, id: &str) -> Result<i32> {
    let state = store.observed_state(id)?;
    if !matches!(state.status, Status::Running | Status::Paused) {
        bail!("container {id} is not running");
    }
    Ok(state.pid)
}

pub fn pause(ctx: &Context, args: NamesArgs, frozen: bool) -> Result<i32> {
    let store = ctx.store()?;
    let verb = if frozen { "pause" } else { "unpause" };
    each(&store, &args.containers, verb, |id| {
        let state = store.observed_state(id)?;
        match (state.status, frozen) {
            (Status::Paused, true) => bail!("container {id} is already paused"),
            (Status::Running, false) => bail!("container {id} is not paused"),
            (Status::Running | Status::Paused, _) => Ok(engine::container::cgroup::set_frozen(state.pid, frozen)?),
            _ => bail!("container {id} is not running"),
        }
    })
}

pub fn top(ctx: &Context, args: TopArgs) -> Result<i32> {
    let store = ctx.store()?;
    let id = store.resolve_container(&args.container)?;
    let pid = running_pid(&store, &id)?;
    let pids = engine::container::cgroup::processes(pid);
    let pid_list = pids.iter().map(i32::to_string).collect::<Vec<_>>().join(",");
    let options = if args.ps_options.is_empty() { vec!["-f".to_string()] } else { args.ps_options.clone() };
    // Docker runs the host's ps over the container's processes; so do we.
    let out = Command::new("ps").args(&options).arg("-p").arg(&pid_list).output().context("running ps")?;
    if !out.status.success() {
        bail!("ps: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    printer::out(&String::from_utf8_lossy(&out.stdout));
    Ok(0)
}

pub fn stats(ctx: &Context, args: StatsArgs) -> Result<i32> {
    let store = ctx.store()?;
    let ids: Vec<String> = if args.containers.is_empty() {
        store.container_ids()?
    } else {
        args.containers.iter().map(|c| store.resolve_container(c)).collect::<std::result::Result<_, _>>()?
    };
    let mut targets = Vec::new();
    for id in ids {
        let state = store.observed_state(&id)?;
        let running = matches!(state.status, Status::Running | Status::Paused);
        if running || args.all || !args.containers.is_empty() {
            targets.push((id, if running { state.pid } else { 0 }));
        }
    }
    // CPU % needs two samples, as Docker's first streamed line does.
    let before: Vec<u64> = targets.iter().map(|(_, pid)| engine::container::cgroup::usage(*pid).cpu_ns).collect();
    let window = Duration::from_millis(500);
    std::thread::sleep(window);
    let mut items = Vec::new();
    for ((id, pid), cpu_before) in targets.iter().zip(before) {
        let record = store.container(id)?;
        let u = if *pid > 0 { engine::container::cgroup::usage(*pid) } else { Default::default() };
        let cpu = (u.cpu_ns.saturating_sub(cpu_before)) as f64 / window.as_nanos() as f64 * 100.0;
        let limit = if u.memory_limit == 0 || u.memory_limit > (1 << 60) { mem_total() } else { u.memory_limit };
        let mem_pct = if limit == 0 { 0.0 } else { u.memory as f64 / limit as f64 * 100.0 };
        items.push(json!({
            "ID": if args.no_trunc { record.id.clone() } else { record.short_id().to_string() },
            "Container": record.short_id(),
            "Name": record.name,
            "CPUPerc": format!("{cpu:.2}%"),
            "MemUsage": format!("{} / {}", format::human_size_binary(u.memory), format::human_size_binary(limit)),
            "MemPerc": format!("{mem_pct:.2}%"),
            "NetIO": "0B / 0B",
            "BlockIO": "0B / 0B",
            "PIDs": u.pids.to_string(),
        }));
    }
    let header = |f: &str| match f {
        "ID" => "CONTAINER ID".to_string(),
        "CPUPerc" => "CPU %".to_string(),
        "MemUsage" => "MEM USAGE / LIMIT".to_string(),
        "MemPerc" => "MEM %".to_string(),
        "NetIO" => "NET I/O".to_string(),
        "BlockIO" => "BLOCK I/O".to_string(),
        other => other.to_uppercase(),
    };
    let default = "{{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}";
    printer::out(
        &format::render(&Format::parse(args.format.as_deref()), &items, default, &header)
            .map_err(anyhow::Error::msg)?,
    );
    Ok(0)
}

fn mem_total() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines().find_map(|l| {
                l.strip_prefix("MemTotal:").and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            })
        })
        .unwrap_or(0)
        * 1024
}

pub fn update(ctx: &Context, args: UpdateArgs) -> Result<i32> {
    let store = ctx.store()?;
    let Some(restart) = &args.restart else { bail!("you must provide one or more flags when using this command") };
    let policy = super::container_opts::parse_restart(restart)?;
    each(&store, &args.containers, "update", |id| {
        let mut record = store.container(id)?;
        if record.host_config.auto_remove && policy.name != "no" {
            bail!("Restart policy cannot be updated because AutoRemove is enabled for the container");
        }
        record.host_config.restart_policy = policy.clone();
        Ok(engine::container::store::write_json(&store.container_dir(id).join("config.json"), &record)?)
    })
}

pub fn port(ctx: &Context, args: PortArgs) -> Result<i32> {
    let store = ctx.store()?;
    let id = store.resolve_container(&args.container)?;
    let record = store.container(&id)?;
    let mappings = published_ports(&store, &record);
    match &args.port {
        Some(port) => {
            let port = if port.contains('/') { port.clone() } else { format!("{port}/tcp") };
            let found: Vec<_> =
                mappings.iter().filter(|m| format!("{}/{}", m.container_port, m.protocol) == port).collect();
            if found.is_empty() {
                bail!("No public port '{port}' published for {}", record.name);
            }
            for m in found {
                printer::line(&format!("{}:{}", host_ip_of(m), m.host_port));
            }
        }
        None => {
            for m in &mappings {
                printer::line(&format!("{}/{} -> {}:{}", m.container_port, m.protocol, host_ip_of(m), m.host_port));
            }
        }
    }
    Ok(0)
}

/// `CONTAINER:PATH` or a local path (Docker: a path starting with `/` or `.` is local).
fn split_cp_arg(arg: &str) -> Option<(&str, &str)> {
    if arg.starts_with('/') || arg.starts_with('.') {
        return None;
    }
    arg.split_once(':').filter(|(c, _)| !c.is_empty())
}

pub fn cp(ctx: &Context, args: CpArgs) -> Result<i32> {
    use engine::container::copy::{CopyIn, CopyOut};
    let store = ctx.store()?;
    match (split_cp_arg(&args.source), split_cp_arg(&args.destination)) {
        (Some((container, path)), None) => {
            let id = store.resolve_container(container)?;
            if args.destination == "-" {
                let mut out = io::BufWriter::new(io::stdout().lock());
                store.copy_from_container(&id, path, CopyOut::Tar(&mut out))?;
                out.flush()?;
            } else {
                store.copy_from_container(&id, path, CopyOut::Host(std::path::Path::new(&args.destination)))?;
            }
        }
        (None, Some((container, path))) => {
            let id = store.resolve_container(container)?;
            if args.source == "-" {
                store.copy_to_container(&id, CopyIn::Tar(&mut io::stdin().lock()), path)?;
            } else {
                let src = std::path::Path::new(&args.source);
                if !src.exists() && std::fs::symlink_metadata(src).is_err() {
                    bail!("lstat {}: no such file or directory", args.source);
                }
                store.copy_to_container(&id, CopyIn::Host(src), path)?;
            }
        }
        (Some(_), Some(_)) => bail!("copying between containers is not supported"),
        (None, None) => bail!("must specify at least one container source"),
    }
    Ok(0)
}

pub fn exec(ctx: &Context, args: ExecArgs) -> Result<i32> {
    let store = ctx.store()?;
    let id = store.resolve_container(&args.container)?;
    let record = store.container(&id)?;
    match store.observed_state(&id)?.status {
        Status::Running => {}
        Status::Paused => bail!("Container {id} is paused, unpause the container before exec"),
        _ => bail!("Container {id} is not running"),
    }
    let rootfs = store.container_dir(&id).join("merged");
    let mut env = record.config.env.clone();
    let mut extra = Vec::new();
    for file in &args.env_file {
        extra.extend(super::container_opts::read_env_file(file)?);
    }
    extra.extend(args.env.iter().filter_map(|e| super::container_opts::host_env(e)));
    engine::container::create::merge_env(&mut env, &extra);
    let cwd = args.workdir.clone().unwrap_or_else(|| record.config.working_dir.clone());
    let cwd = if cwd.is_empty() { "/".to_string() } else { cwd };
    // The container's mounts are not in the host's view of its rootfs.
    let mounted: Vec<&str> = record.host_config.mounts.iter().map(|m| m.target.as_str()).collect();
    if let Err((code, message)) =
        engine::container::command_check::check_command(&rootfs, &args.command[0], &env, &cwd, &mounted)
    {
        return Err(ExitError { code, message }.into());
    }
    let user = args.user.clone().unwrap_or_else(|| record.config.user.clone());
    let identity =
        engine::container::user::resolve_user(&rootfs, &user).map_err(|message| ExitError { code: 126, message })?;
    let process = engine::monitor::ExecProcess {
        args: args.command.clone(),
        env,
        cwd,
        uid: identity.uid,
        gid: identity.gid,
        additional_gids: identity.additional_gids,
        tty: args.tty,
    };
    // The process gets our stdio; without -i its stdin is /dev/null, as Docker's.
    if !args.interactive || args.detach {
        let null = std::fs::File::open("/dev/null")?;
        rustix::stdio::dup2_stdin(&null)?;
    }
    if args.detach {
        let null = std::fs::File::options().write(true).open("/dev/null")?;
        rustix::stdio::dup2_stdout(&null)?;
        rustix::stdio::dup2_stderr(&null)?;
    }
    let started = match launcher(ctx).exec(&record, &process) {
        Ok(started) => started,
        Err((code, message)) => {
            // PID 1 exited while the runtime set up the process: the runtime's helper joins the
            // container's cgroups first, making them again if the monitor had removed them,
            // then cannot enter the dead PID namespace. What it made goes (the helpers of other
            // such execs may still be on their way out of it).
            if matches!(store.observed_state(&id).map(|s| s.status), Ok(Status::Exited)) {
                let cgroups = engine::container::spec::cgroups_path(&record);
                let _ = engine::container::cgroup::remove_empty(&cgroups, std::time::Duration::from_millis(100));
            }
            return Err(ExitError { code, message }.into());
        }
    };
    if args.detach {
        return Ok(0);
    }
    if let Some(master) = started.console {
        tty::proxy(master, args.interactive)?;
    }
    let pid = rustix::process::Pid::from_raw(started.pid).context("invalid pid")?;
    let status = rustix::process::waitpid(Some(pid), rustix::process::WaitOptions::empty())?;
    Ok(match status {
        Some((_, s)) if s.exited() => s.exit_status().unwrap_or(0),
        Some((_, s)) if s.signaled() => 128 + s.terminating_signal().unwrap_or(0),
        _ => 126,
    })
}

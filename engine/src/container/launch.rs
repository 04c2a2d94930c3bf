//! The runtime behind the monitor: youki's `libcontainer`, driven in-process. It gets each
//! container's OCI spec in memory, and keeps its own state under `<runroot>/rt/<id>`, which is
//! also the bundle: the spec is written there right after the runtime's fork, for `exec` (whose
//! own process spec goes to a file under `<runroot>/bundles`). Called only from single-threaded
//! processes (the monitor, the CLI's `exec`): libcontainer clones the caller.

use std::path::{Path, PathBuf};
use std::time::Duration;

use libcontainer::container::builder::ContainerBuilder;
use libcontainer::container::Container;
use libcontainer::process::container_intermediate_process::set_cgroup_resources_applied;
use libcontainer::process::container_main_process::set_after_clone;
use libcontainer::syscall::syscall::SyscallType;
use libcontainer::workload::default::DefaultExecutor;

use super::console::ConsoleSocket;
use super::model::Record;
use super::spec::{self, Namespaces};
use super::user::resolve_user;
use crate::monitor::{ExecProcess, Launcher, Started};

pub struct RuntimeLauncher {
    volumes: PathBuf,
    bundles: PathBuf,
    state: PathBuf,
    consoles: PathBuf,
    /// Compiled seccomp programs (`seccomp::prepare`).
    seccomp: PathBuf,
    /// A network namespace prepared for the next start (a user network's).
    netns: Option<PathBuf>,
    /// `--network none`: the container's own network namespace, with its loopback up, being
    /// made by a thread while the monitor prepares the rest (`prepare`).
    own_netns: Option<std::thread::JoinHandle<std::io::Result<std::fs::File>>>,
    /// The container's cgroups (with their limits and device rules), being made by a thread
    /// while the monitor prepares the rest (`prepare`), and their path. The thread says
    /// whether it applied the limits and rules.
    cgroups: Option<(String, std::thread::JoinHandle<bool>)>,
    /// The seccomp program, being compiled or read by a thread of its own (`prepare`).
    seccomp_program: Option<std::thread::JoinHandle<()>>,
    /// Work for the next start that must be done before PID 1 runs but not before the
    /// runtime's clone (`beside_setup`).
    beside_setup: Option<BesideSetup>,
    /// Work for the next start once its last fork is made (`Launcher::after_fork`).
    after_fork: Vec<crate::monitor::AfterFork>,
    /// The running container's mount namespace, held until `delete`: when the last process
    /// leaves a namespace with mounts, its exit waits for an RCU grace period while the kernel
    /// unmounts them (~0.2 ms), before its parent hears of it. With this held, that happens on
    /// the monitor's own way out, after a `--rm` container's removal is reported.
    mount_namespace: Option<std::fs::File>,
}

/// Work done by a thread while the runtime sets the container up; an error fails the start.
pub type BesideSetup = Box<dyn FnOnce() -> Result<(), String> + Send>;

impl RuntimeLauncher {
    pub fn new(root: &Path, runroot: &Path) -> RuntimeLauncher {
        RuntimeLauncher {
            volumes: root.join("volumes"),
            bundles: runroot.join("bundles"),
            state: runroot.join("rt"),
            consoles: runroot.join("console"),
            seccomp: runroot.join("seccomp"),
            netns: None,
            own_netns: None,
            cgroups: None,
            seccomp_program: None,
            beside_setup: None,
            after_fork: Vec::new(),
            mount_namespace: None,
        }
    }

    /// The next start joins this network namespace instead of making its own.
    pub fn join_network_namespace(&mut self, path: Option<PathBuf>) {
        self.netns = path;
    }

    /// Gives the next start work to do on a thread of its own from the runtime's clone of its
    /// intermediate process (a vendored libcontainer hook) until PID 1 is about to run: the
    /// time the intermediate and init processes take to set the container up (about 3 ms).
    /// The thread starts after the clone, which must not happen while another thread of this
    /// process runs.
    pub fn beside_setup(&mut self, work: BesideSetup) {
        self.beside_setup = Some(work);
    }

    /// The runtime's name for the container: short, so its sockets fit in `sun_path`.
    fn runtime_id(record: &Record) -> String {
        record.id[..32].to_string()
    }

    /// A console socket for a tty process (`None` without a tty).
    fn console(&self, tty: bool, name: &str) -> Result<Option<ConsoleSocket>, (i32, String)> {
        if !tty {
            return Ok(None);
        }
        let path = self.consoles.join(format!("{name}.sock"));
        ConsoleSocket::listen(&path).map(Some).map_err(|e| (125, format!("console socket {}: {e}", path.display())))
    }

    /// Removes what a previous run left (a monitor killed before it could delete).
    fn remove_stale(&self, runtime_id: &str) {
        let dir = self.state.join(runtime_id);
        if dir.exists() {
            if let Ok(mut old) = Container::load(dir.clone()) {
                let _ = old.delete(true);
            }
            let _ = std::fs::remove_dir_all(&dir);
        }
    }

    /// The start itself, once `start` has joined the cgroups' thread: the runtime creates the
    /// container in the prepared namespace and starts PID 1.
    fn create_and_start(
        &mut self,
        record: &Record,
        rootfs: &Path,
        dir: &Path,
        resources_applied: bool,
    ) -> Result<Started, (i32, String)> {
        // Taken first: dropped on the way out of a start that fails before the build.
        let beside_setup = self.beside_setup.take();
        let mut after_fork = std::mem::take(&mut self.after_fork);
        let own_netns = match self.own_netns.take().map(|t| t.join()) {
            Some(Ok(Ok(namespace))) => Some(namespace),
            Some(Ok(Err(e))) => return Err((125, format!("making the network namespace: {e}"))),
            Some(Err(_)) => return Err((125, "the network namespace thread panicked".to_string())),
            None => None,
        };
        let identity = resolve_user(rootfs, &record.config.user).map_err(|m| (126, m))?;
        if !record.config.working_dir.is_empty() {
            super::rootfs::make_dir_in_root(rootfs, &record.config.working_dir)
                .map_err(|e| (125, format!("creating the working directory {}: {e}", record.config.working_dir)))?;
        }
        // The runtime's init process joins the prepared namespace through this process's fd.
        let own_netns_path = own_netns
            .as_ref()
            .map(|f| PathBuf::from(format!("/proc/{}/fd/{}", std::process::id(), std::os::fd::AsRawFd::as_raw_fd(f))));
        let network = match (record.host_config.network_mode.as_str(), &self.netns, &own_netns_path) {
            ("host", _, _) => None,
            (_, Some(path), _) | (_, None, Some(path)) => Some(Some(path.as_path())),
            _ => Some(None),
        };
        let spec =
            spec::spec(record, rootfs, dir, &self.volumes, &identity, &Namespaces { network }).map_err(|m| (125, m))?;
        // Handed to the runtime as it is (a vendored libcontainer patch), and written to the
        // bundle after the runtime's fork (below).
        let spec_text = spec.to_string();
        let spec: libcontainer::oci_spec::runtime::Spec =
            serde_json::from_str(&spec_text).map_err(|e| (125, format!("the runtime spec: {e}")))?;
        let id = Self::runtime_id(record);
        let bundle = self.state.join(&id);
        self.remove_stale(&id);
        // For `exec`, whose runtime reads the container's spec from its bundle. Written while
        // the runtime's processes set the container up and this thread waits for them (the
        // bundle is made before the fork); not a failed start if this fails: an `exec` then
        // says what is missing. Written after the start, it had been on the way to PID 1's exit.
        let config = bundle.join("config.json");
        after_fork.push(Box::new(move || {
            let _ = std::fs::write(config, spec_text);
        }));
        let console = self.console(record.config.tty, &id)?;
        // The runtime's intermediate process, a fork made during the build, then only joins
        // the cgroups (vendor/README.md).
        set_cgroup_resources_applied(resources_applied);
        // This process forks only the intermediate process: what waits for the last fork runs
        // right after it, with the beside work's thread.
        let beside = beside_setup.as_ref().map(|_| std::sync::Arc::new(std::sync::Mutex::new(None)));
        let slot = beside.clone();
        set_after_clone(Some(Box::new(move || {
            if let (Some(work), Some(slot)) = (beside_setup, slot) {
                let spawned = std::thread::Builder::new().name("berth-beside".into()).spawn(work);
                *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(spawned);
            }
            for work in after_fork {
                work();
            }
        })));
        let built = ContainerBuilder::new(id.clone(), SyscallType::default())
            .with_executor(DefaultExecutor {})
            .with_console_socket(console.as_ref().map(|c| c.path()))
            .with_root_path(&self.state)
            .and_then(|b| b.as_init(&bundle).with_spec(spec).with_systemd(false).with_detach(true).build());
        set_cgroup_resources_applied(false);
        // Not run if the build failed before its clone: dropped here.
        set_after_clone(None);
        let beside = beside.map(|thread| match thread.lock().unwrap_or_else(|e| e.into_inner()).take() {
            Some(Ok(thread)) => thread.join().unwrap_or_else(|_| Err("a start thread panicked".to_string())),
            Some(Err(e)) => Err(format!("starting a thread: {e}")),
            None => Err("the runtime made no process".to_string()),
        });
        // The thread's error first: what it undid may have failed the build.
        let mut container = match (built, beside) {
            (Ok(c), None | Some(Ok(()))) => c,
            (Ok(mut c), Some(Err(message))) => {
                let _ = c.delete(true);
                return Err((125, message));
            }
            (Err(e), beside) => {
                self.remove_stale(&id);
                let message = match beside {
                    Some(Err(message)) => message,
                    _ => format!("creating the container: {}", describe(&e)),
                };
                return Err((125, message));
            }
        };
        let master = match console.as_ref().map(|c| c.receive_master()).transpose() {
            Ok(master) => master,
            Err(e) => {
                let _ = container.delete(true);
                return Err((125, format!("receiving the container's pty: {e}")));
            }
        };
        // Init has joined the prepared namespace: this process's handle on it can go.
        drop(own_netns);
        // Docker's `--network none` still has a loopback that is up. A namespace the runtime
        // made (a restart's) gets it here.
        if network == Some(None) && record.host_config.network_mode != "host" {
            if let Some(pid) = container.pid() {
                if let Err(e) = loopback_up(pid.as_raw()) {
                    let _ = container.delete(true);
                    return Err((125, format!("bringing up the loopback interface: {e}")));
                }
            }
        }
        // Before the start, while PID 1 waits for it (after, it may have exited already).
        let mount_namespace = container.pid().and_then(|p| std::fs::File::open(format!("/proc/{p}/ns/mnt")).ok());
        if let Err(e) = container.start() {
            let _ = container.delete(true);
            return Err((125, format!("starting the container: {}", describe(&e))));
        }
        self.mount_namespace = mount_namespace;
        let pid =
            container.pid().map(|p| p.as_raw()).ok_or_else(|| (125, "the runtime reported no PID".to_string()))?;
        Ok(Started { pid, console: master })
    }
}

/// libcontainer's errors chain their causes; the innermost says what went wrong.
fn describe(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text = format!("{text}: {s}");
        source = s.source();
    }
    text
}

impl Launcher for RuntimeLauncher {
    /// `--network none` gets its namespace, loopback up, from a thread that runs alongside the
    /// monitor's work until the start: the kernel's ~0.6 ms to make a network namespace and
    /// the loopback's setup leave the path from the runtime's clone to PID 1's exec.
    /// The cgroups likewise (about 0.5 ms of mkdirs in the runtime's intermediate process),
    /// with their limits and device rules (two dozen writes there), and on a third thread the
    /// seccomp profile's BPF program (about 0.4 ms of libseccomp in its init process, or one
    /// file read when kept from an earlier start; vendor/README.md). The cgroups' thread
    /// alone, with the program, was the last to end (a profile); two threads end sooner.
    fn prepare(&mut self, record: &Record) {
        if record.host_config.network_mode == "none" {
            self.own_netns = std::thread::Builder::new().name("berth-netns".into()).spawn(own_network_namespace).ok();
        }
        let path = spec::cgroups_path(record);
        let profile = spec::seccomp_profile(record);
        let resources = spec::resources(record).ok();
        let seccomp_dir = self.seccomp.clone();
        let thread = std::thread::Builder::new().name("berth-cgroups".into()).spawn({
            let path = path.clone();
            move || {
                super::cgroup::precreate(&path);
                // Best effort: limits not applied here are applied by the runtime, which reports
                // what fails.
                resources.is_some_and(|r| super::cgroup::apply_resources(&path, r))
            }
        });
        self.cgroups = thread.ok().map(|t| (path, t));
        if let Some(profile) = profile {
            let thread = std::thread::Builder::new().name("berth-seccomp".into());
            self.seccomp_program = thread.spawn(move || super::seccomp::prepare(&seccomp_dir, profile)).ok();
        }
    }

    fn cancel_prepared(&mut self) {
        self.beside_setup = None;
        self.after_fork.clear();
        if let Some(thread) = self.seccomp_program.take() {
            let _ = thread.join();
        }
        if let Some(thread) = self.own_netns.take() {
            let _ = thread.join();
        }
        if let Some((path, thread)) = self.cgroups.take() {
            let _ = thread.join();
            let _ = super::cgroup::remove_empty(&path, Duration::ZERO);
        }
    }

    fn start(&mut self, record: &Record, rootfs: &Path, dir: &Path) -> Result<Started, (i32, String)> {
        // Joined first, so that the threads have ended before anything forks.
        if let Some(thread) = self.seccomp_program.take() {
            let _ = thread.join();
        }
        let (precreated, applied) = match self.cgroups.take() {
            Some((path, thread)) => (Some(path), thread.join().unwrap_or(false)),
            None => (None, false),
        };
        let started = self.create_and_start(record, rootfs, dir, applied);
        if let (Err(_), Some(path)) = (&started, precreated) {
            let _ = super::cgroup::remove_empty(&path, Duration::ZERO);
        }
        started
    }

    fn delete(&mut self, record: &Record) {
        // First: the rootfs is unmounted next (the store's removal), and the namespace's
        // mounts with it.
        self.mount_namespace = None;
        let id = Self::runtime_id(record);
        // Once PID 1 is gone, and its PID namespace with it, what is left of libcontainer's
        // work is the container's cgroups and its state directory. Removing them here spares
        // libcontainer's delete, which loads its state and builds a cgroup manager (about 2 ms
        // before the libcgroups patch, vendor/README.md). A cgroup that still has processes, or
        // anything unexpected, goes the long way, which kills them first.
        let cgroups = spec::cgroups_path(record);
        if !super::cgroup::remove_empty(&cgroups, Duration::from_millis(100)).unwrap_or(false) {
            self.remove_stale(&id);
            // libcontainer's delete gives up on a cgroup that stays busy; what it left goes now.
            let _ = super::cgroup::remove_empty(&cgroups, Duration::from_millis(100));
        }
        let _ = std::fs::remove_dir_all(self.state.join(&id));
        // Where an older berth wrote the container's spec.
        let _ = std::fs::remove_dir_all(self.bundles.join(&id));
    }

    fn after_fork(&mut self, work: crate::monitor::AfterFork) {
        self.after_fork.push(work);
    }

    fn exec(&mut self, record: &Record, process: &ExecProcess) -> Result<Started, (i32, String)> {
        let identity = super::user::Identity {
            uid: process.uid,
            gid: process.gid,
            additional_gids: process.additional_gids.clone(),
            home: String::new(),
        };
        let spec = spec::process(&process.args, &process.env, &process.cwd, process.tty, &identity, record);
        let name = format!("exec-{}", std::process::id());
        let path = self.bundles.join(format!("{}-{name}.json", Self::runtime_id(record)));
        std::fs::create_dir_all(&self.bundles)
            .and_then(|()| std::fs::write(&path, spec.to_string()))
            .map_err(|e| (125, format!("writing {}: {e}", path.display())))?;
        let console = self.console(process.tty, &name)?;
        let pid = ContainerBuilder::new(Self::runtime_id(record), SyscallType::default())
            .with_executor(DefaultExecutor {})
            .with_console_socket(console.as_ref().map(|c| c.path()))
            .with_root_path(&self.state)
            .map(|b| b.as_tenant().with_process(Some(&path)).with_detach(true).build());
        let _ = std::fs::remove_file(&path);
        let pid = match pid {
            Ok(Ok(pid)) => pid.as_raw(),
            Ok(Err(e)) | Err(e) => return Err((126, format!("exec failed: {}", describe(&e)))),
        };
        let master = console.as_ref().map(|c| c.receive_master()).transpose();
        let master = master.map_err(|e| (126, format!("receiving the exec's pty: {e}")))?;
        Ok(Started { pid, console: master })
    }
}

/// Makes a network namespace for the calling thread, which must be one that ends after this
/// (unshare(CLONE_NEWNET) moves only the calling thread), with `lo` up; returns a handle on it.
fn own_network_namespace() -> std::io::Result<std::fs::File> {
    // SAFETY: CLONE_NEWNET alone moves only this thread, which is ours and ends after this;
    // the file table stays shared (the hazard of CLONE_FILES).
    unsafe { rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::NEWNET) }?;
    loopback_up_here()?;
    std::fs::File::open("/proc/thread-self/ns/net")
}

/// Sets `lo` up in the network namespace of `pid`, from a short-lived thread that enters it
/// (setns changes only the calling thread's namespace; the thread is joined before the
/// runtime forks again).
fn loopback_up(pid: i32) -> std::io::Result<()> {
    let ns = std::fs::File::open(format!("/proc/{pid}/ns/net"))?;
    std::thread::spawn(move || -> std::io::Result<()> {
        rustix::thread::move_into_link_name_space(
            std::os::fd::AsFd::as_fd(&ns),
            Some(rustix::thread::LinkNameSpaceType::Network),
        )?;
        loopback_up_here()
    })
    .join()
    .map_err(|_| std::io::Error::other("the loopback thread panicked"))?
}

/// Sets `lo` up in the calling thread's network namespace.
fn loopback_up_here() -> std::io::Result<()> {
    let sock = rustix::net::socket(rustix::net::AddressFamily::INET, rustix::net::SocketType::DGRAM, None)?;
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    let fd = std::os::fd::AsRawFd::as_raw_fd(&sock);
    // SAFETY: SIOCGIFFLAGS/SIOCSIFFLAGS read and write the ifreq we pass, which lives
    // across both calls.
    unsafe {
        if libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut req) < 0 {
            return Err(std::io::Error::last_os_error());
        }
        req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        if libc::ioctl(fd, libc::SIOCSIFFLAGS, &req) < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

//! The per-container monitor (DESIGN.md section 1): `berth __monitor <id>`, detached from the
//! CLI, started before any thread exists, single-threaded whenever it forks (its few helper
//! threads, which prepare the start and open the store, end first). It starts the container and is the
//! parent of its PID 1: it copies the container's output to the json-file log and to attached
//! clients, feeds stdin from a client, records the exit status and time, and applies the
//! restart policy. It holds no store lock, so `system check` never waits on a running container.
//!
//! While PID 1 runs, a container without a healthcheck is watched by the small shim
//! (`berth-shim`, the `shim` crate) instead: the monitor execs it in its own place once the
//! container started, and the shim execs the monitor again (`--resume`) when PID 1 exited.
//! One full berth process per running container would keep ~2 MiB resident; the shim keeps a
//! fraction of that.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use shim::supervise::{broadcast, supervise, Checks, Client, Streams};

use crate::container::attach;
use crate::container::health::{self, Checker};
use crate::container::logs::LogWriter;
use crate::container::model::{Record, State, Status, ZERO_TIME};
use crate::container::store::{process_start_time, write_state_at, write_state_volatile_at};
use crate::error::Result;
use crate::store::{Access, Store};
use crate::time::now;

/// A process to run inside a running container (`exec`, healthchecks).
#[derive(Debug, Clone, Default)]
pub struct ExecProcess {
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    pub tty: bool,
}

/// A process the runtime started: its PID (the caller's child) and, for a tty, the pty master.
pub struct Started {
    pub pid: i32,
    pub console: Option<OwnedFd>,
}

/// Starts and deletes container processes (the runtime behind the monitor).
pub trait Launcher {
    /// Called once, as the monitor begins, before its first `start`: work the launcher can do
    /// alongside the monitor's own (threads that make a namespace, the cgroups). Nothing forks
    /// until `start`, which finishes it first.
    fn prepare(&mut self, _record: &Record) {}
    /// Undoes what `prepare` began when no `start` follows (the start failed before the runtime
    /// was asked), before the failure is reported.
    fn cancel_prepared(&mut self) {}
    /// Starts the container's PID 1, with the monitor's current fds 0, 1 and 2 as its stdio
    /// (or, with `Config.tty`, a pty whose master is returned). The monitor is its parent.
    /// Errors carry the exit status to report.
    fn start(&mut self, record: &Record, rootfs: &Path, etc: &Path) -> std::result::Result<Started, (i32, String)>;
    /// Work for the next `start` to run as soon as this process has made the last fork it
    /// makes for it (threads may start then), unless the start fails before. Without it, or
    /// where the launcher has no such moment, the work is dropped.
    fn after_fork(&mut self, _work: AfterFork) {}
    /// Removes what the runtime keeps for the container (cgroups, state), after it exited.
    fn delete(&mut self, record: &Record);
    /// `delete` in two steps: this one starts what the kernel finishes in the background (a
    /// network namespace's teardown), and `settle` (also before the launcher's next start and
    /// when it is dropped) removes the container's network endpoints. The exit of a container
    /// that stays uses this, so that the teardown overlaps the monitor's own work (the state,
    /// the unmount).
    fn delete_in_background(&mut self, record: &Record) {
        self.delete(record);
    }
    /// Finishes what `delete_in_background` began.
    fn settle(&mut self) {}
    /// The network part of `delete` alone (its endpoints freed, its namespace unpinned), for a
    /// `--rm` container whose removal is reported before the rest of `delete` runs.
    fn delete_network(&mut self, _record: &Record) {}
    /// Begins `delete_network` beside the monitor's own work on the exit (the state, the row's
    /// removal); `delete_network` then waits for it. No fork follows a `--rm` container's exit.
    fn begin_delete_network(&mut self, _record: &Record) {}
    /// Starts a process in the running container with the caller's fds 0, 1 and 2 as its
    /// stdio (or a pty, with `process.tty`); the caller is its parent.
    fn exec(&mut self, record: &Record, process: &ExecProcess) -> std::result::Result<Started, (i32, String)>;
}

/// Where the CLI finds a container's attach socket (short: sun_path holds 108 bytes).
pub fn attach_socket(runroot: &Path, id: &str) -> PathBuf {
    runroot.join("attach").join(format!("{}.sock", &id[..32]))
}

/// How long the monitor watches a container itself before it hands it to the shim.
const SHIM_AFTER: Duration = Duration::from_millis(250);

/// The file descriptor on which the monitor reports to the CLI that started it.
pub const REPORT_FD: i32 = 3;

/// Tells the CLI how the start went, once: `ready`, `started <pid>` or `error <code> <text>`.
struct Reporter(Option<File>);

impl Reporter {
    fn say(&mut self, line: &str) {
        if let Some(f) = self.0.as_mut() {
            let _ = f.write_all(format!("{line}\n").as_bytes());
        }
    }
    fn done(&mut self) {
        self.0 = None;
    }
}

/// A container its shim handed back when PID 1 exited (the `shim::resume` flags).
pub struct Resume {
    pub exit_code: i32,
    /// How long PID 1 ran.
    pub ran: Duration,
    /// The restart backoff the monitor had reached before it handed the container off.
    pub backoff: Duration,
    pub listener_fd: RawFd,
    pub client_fds: Vec<RawFd>,
}

/// The container a monitor watches, and how it was asked to.
pub struct Job {
    pub root: PathBuf,
    pub runroot: PathBuf,
    pub id: String,
    /// Wait for one attach connection before starting the process.
    pub attach_first: bool,
    pub resume: Option<Resume>,
    /// The command line that runs this monitor (`berth <global flags> __monitor <id>`): the
    /// shim execs it, with `--resume`, when PID 1 exits.
    pub command: Vec<OsString>,
}

/// Runs the monitor; returns the process exit status.
pub fn run(job: Job, launcher: &mut dyn Launcher) -> i32 {
    // SAFETY: fd 3 is the report pipe the CLI passed us (or closed); we own it from here on. A
    // resumed monitor has reported long ago: its fd 3, if any, is something else.
    let report = (job.resume.is_none()
        && rustix::io::fcntl_getfd(unsafe { rustix::fd::BorrowedFd::borrow_raw(REPORT_FD) }).is_ok())
    .then(|| unsafe { File::from_raw_fd(REPORT_FD) });
    let mut reporter = Reporter(report);
    match monitor(job, launcher, &mut reporter) {
        Ok(()) => 0,
        Err(e) => {
            // What `prepare` began is undone before the CLI hears of the failure: it may remove
            // the container and its network next.
            launcher.cancel_prepared();
            reporter.say(&format!("error 125 {e}"));
            1
        }
    }
}

fn monitor(job: Job, launcher: &mut dyn Launcher, reporter: &mut Reporter) -> Result<()> {
    let Job { root, runroot, id, attach_first, resume, command } = job;
    let (root, runroot, id) = (root.as_path(), runroot.as_path(), id.as_str());
    // Read without the store, so that what the start needs is prepared while the store opens.
    let record = crate::container::store::record_at(root, id)?;
    if resume.is_none() {
        launcher.prepare(&record);
    }
    // The store is not needed before the start (the record has the image's layers): it opens
    // on a thread begun right after the runtime's fork (`LazyStore`).
    let mut store = LazyStore::new(root);
    let dir = crate::container::store::container_dir_at(root, id);
    let socket_path = attach_socket(runroot, id);
    let log_path = dir.join(format!("{id}-json.log"));
    let mut log = LogWriter::open(&log_path).map_err(|e| io_err(&dir, e))?;
    let mut state = crate::container::store::read_state_at(root, id)?;
    state.monitor_pid = std::process::id() as i32;
    let mut first = resume.is_none();
    let (listener, mut clients, mut handed_back, mut backoff) = match resume {
        Some(r) => {
            let fds: Vec<RawFd> = std::iter::once(r.listener_fd).chain(r.client_fds.iter().copied()).collect();
            set_cloexec(&fds, true);
            // SAFETY: the shim passed us these sockets (the attach listener and its clients).
            let listener = unsafe { UnixListener::from_raw_fd(r.listener_fd) };
            // SAFETY: as above.
            let clients = r.client_fds.iter().map(|&fd| Client::new(unsafe { UnixStream::from_raw_fd(fd) })).collect();
            (listener, clients, Some((r.exit_code, r.ran)), r.backoff)
        }
        None => {
            std::fs::create_dir_all(socket_path.parent().expect("has parent")).map_err(|e| io_err(&socket_path, e))?;
            let _ = std::fs::remove_file(&socket_path);
            let listener = UnixListener::bind(&socket_path).map_err(|e| io_err(&socket_path, e))?;
            listener.set_nonblocking(true).map_err(|e| io_err(&socket_path, e))?;
            if attach_first {
                // `run` and `start -a` attach before the process starts, so no output is missed.
                // The CLI connects while the rootfs is mounted; the start accepts it (below).
                reporter.say("ready");
            }
            (listener, Vec::new(), None, Duration::from_millis(100))
        }
    };

    let exit_code = loop {
        let (code, ran) = match handed_back.take() {
            Some(exited) => exited,
            None => {
                let rootfs = if record.layers.is_empty() {
                    store.get()?.mount_rootfs(id)?
                } else {
                    crate::container::rootfs::mount_rootfs_at(root, &record)?
                };
                crate::container::etc::write_etc_files(root, &record)?;
                for m in record
                    .host_config
                    .mounts
                    .iter()
                    .filter(|m| m.kind == "volume" && !m.options.iter().any(|o| o.contains("nocopy")))
                {
                    store.get()?.seed_volume(&m.source, &rootfs, &m.target)?;
                }
                let mounted: Vec<&str> = record.host_config.mounts.iter().map(|m| m.target.as_str()).collect();
                let checked = crate::container::command_check::check_command(
                    &rootfs,
                    &record.path,
                    &record.config.env,
                    &record.config.working_dir,
                    &mounted,
                );
                if attach_first && first {
                    clients.push(Client::new(accept_attached(&listener).map_err(|e| io_err(&socket_path, e))?));
                }
                let stdio = Stdio::new(record.config.open_stdin).map_err(|e| io_err(&dir, e))?;
                // No thread of this process runs while the runtime forks it.
                store.settle()?;
                store.begin_after_fork(launcher);
                let started = checked.and_then(|()| stdio.with_as_std_fds(|| launcher.start(&record, &rootfs, &dir)));
                let (pid, console) = match started {
                    Ok(Started { pid, console }) => (pid, console),
                    Err((code, message)) => {
                        launcher.cancel_prepared();
                        return fail_start(
                            store.get()?,
                            &record,
                            &mut state,
                            first,
                            code,
                            message,
                            reporter,
                            &mut clients,
                            &socket_path,
                        );
                    }
                };
                let started_at = Instant::now();
                state.status = Status::Running;
                state.pid = pid;
                state.pid_start = process_start_time(pid).unwrap_or(0);
                state.started_at = now();
                state.finished_at = ZERO_TIME.to_string();
                state.error.clear();
                if first {
                    state.exit_code = 0;
                }
                // A checked container is "starting" in the same write that makes it running: a
                // waiter on service_healthy may read the state as soon as the start is reported.
                let checker = Checker::new(record.config.healthcheck.as_ref());
                if checker.is_some() {
                    state.health = Some(health::starting());
                }
                save_state(root, &record, &state)?;
                // The store is opening since the runtime's fork (or opens now, if the launcher
                // had no such moment); the exit is recorded through it.
                store.begin();
                if first {
                    reporter.say(&format!("started {pid}"));
                    // `run --rm` hears on the pipe when the container is gone, too.
                    if !(attach_first && record.host_config.auto_remove) {
                        reporter.done();
                    }
                }
                first = false;
                let mut streams = stdio.with_console(console).into_streams();

                let code = match checker {
                    None => {
                        // A short-lived container is seen through here: two more execs would
                        // only slow down `run --rm`. One that runs on goes to the shim.
                        let soon = Instant::now() + SHIM_AFTER;
                        match supervise(pid, &mut streams, &listener, &mut clients, &mut log, None, Some(soon)) {
                            Ok(None) => {
                                // Only returns if there is no shim to hand over to.
                                // The shim keeps no pipe: `run --rm` waits for the process then.
                                reporter.done();
                                // The exec ends every other thread: the store's has ended first.
                                let _ = store.settle();
                                let _ = hand_off(pid, &streams, &listener, &clients, &log_path, &command, backoff);
                                release_code_pages(store.get()?);
                                supervise(pid, &mut streams, &listener, &mut clients, &mut log, None, None)
                            }
                            done => done,
                        }
                    }
                    Some(checker) => {
                        let store = store.get()?;
                        release_code_pages(store);
                        let identity =
                            crate::container::user::resolve_user(&rootfs, &record.config.user).unwrap_or_default();
                        let exec = ExecProcess {
                            args: checker.argv.clone(),
                            env: record.config.env.clone(),
                            cwd: if record.config.working_dir.is_empty() {
                                "/".into()
                            } else {
                                record.config.working_dir.clone()
                            },
                            uid: identity.uid,
                            gid: identity.gid,
                            additional_gids: identity.additional_gids,
                            tty: false,
                        };
                        let mut checks = HealthChecks {
                            checker,
                            exec,
                            launcher: &mut *launcher,
                            record: &record,
                            store,
                            id,
                            state: &mut state,
                        };
                        supervise(pid, &mut streams, &listener, &mut clients, &mut log, Some(&mut checks), None)
                    }
                }
                .map_err(|e| io_err(Path::new("supervising the container"), e))?
                .unwrap_or(255);
                let _ = log.flush_partial();
                (code, started_at.elapsed())
            }
        };
        // A `--rm` container's runtime leftovers (cgroups, state) go after `run` heard that it
        // is removed, below.
        if record.host_config.auto_remove {
            launcher.begin_delete_network(&record);
        } else {
            launcher.delete_in_background(&record);
        }
        state.status = Status::Exited;
        state.pid = 0;
        state.exit_code = code;
        state.finished_at = now();
        // The restart policy decides (as `update --restart` left it; a `--rm` container has
        // none, and `update` gives it none); a stop or kill by the user always wins.
        let user_stopped = dir.join("stopped").exists();
        let policy = if record.host_config.auto_remove {
            record.host_config.restart_policy.clone()
        } else {
            store
                .get()?
                .container(id)
                .map(|r| r.host_config.restart_policy)
                .unwrap_or_else(|_| record.host_config.restart_policy.clone())
        };
        let policy = &policy;
        let restart = !user_stopped
            && match policy.name.as_str() {
                "always" | "unless-stopped" => true,
                "on-failure" => {
                    code != 0 && (policy.maximum_retry_count == 0 || state.restart_count < policy.maximum_retry_count)
                }
                _ => false,
            };
        if !restart {
            // A container that stays keeps the monitor's PID in its state until its network
            // endpoints are gone too (`settle` below): `stop` and `rm` wait for that, and
            // compose removes the network next. A `--rm` one is removed below, and its `run`
            // waits for the monitor to say so.
            if record.host_config.auto_remove {
                state.monitor_pid = 0;
            }
            save_state(root, &record, &state)?;
            break code;
        }
        // Docker's backoff: doubling from 100 ms, reset after ten seconds of running.
        if ran > Duration::from_secs(10) {
            backoff = Duration::from_millis(100);
        }
        state.status = Status::Restarting;
        state.restart_count += 1;
        save_state(root, &record, &state)?;
        std::thread::sleep(backoff);
        backoff = (backoff * 2).min(Duration::from_secs(60));
        if dir.join("stopped").exists() {
            state.status = Status::Exited;
            if record.host_config.auto_remove {
                state.monitor_pid = 0;
            }
            save_state(root, &record, &state)?;
            break code;
        }
    };
    broadcast(&mut clients, attach::EXIT, &exit_code.to_be_bytes());
    let _ = std::fs::remove_file(&socket_path);
    let store = store.get()?;
    if record.host_config.auto_remove {
        // `--rm` takes the anonymous volumes along, as Docker's does (the removal unmounts).
        store.lock(Access::Shared)?;
        let files = store.remove_container_but_files(id, true, true, launcher)?;
        launcher.delete_network(&record);
        // The row and the network endpoints are gone: `run` may return while the rest goes.
        reporter.say("removed");
        reporter.done();
        launcher.delete(&record);
        drop(files);
    } else {
        let _ = store.unmount_rootfs(id);
        launcher.settle();
        state.monitor_pid = 0;
        store.write_state(id, &state)?;
    }
    Ok(())
}

/// Writes the container's state; a `--rm` container's need not survive a crash.
fn save_state(root: &Path, record: &Record, state: &State) -> Result<()> {
    if record.host_config.auto_remove {
        write_state_volatile_at(root, &record.id, state)
    } else {
        write_state_at(root, &record.id, state)
    }
}

/// The store, opened on a thread beside other work (about 0.7 ms, most of it the database's
/// code faulted in), or where first needed. The thread never runs while this process forks:
/// `settle` before a start.
struct LazyStore {
    root: PathBuf,
    opening: Option<std::thread::JoinHandle<Result<Store>>>,
    store: Option<Store>,
    /// Where the launcher puts the opening thread it began after its fork (`begin_after_fork`).
    handed: Option<std::sync::Arc<std::sync::Mutex<Option<std::thread::JoinHandle<Result<Store>>>>>>,
}

/// Work given to `Launcher::after_fork`.
pub type AfterFork = Box<dyn FnOnce() + Send>;

impl LazyStore {
    fn new(root: &Path) -> LazyStore {
        LazyStore { root: root.to_path_buf(), opening: None, store: None, handed: None }
    }

    /// Has the launcher begin to open the store on a thread as soon as the start's last fork is
    /// made (`Launcher::after_fork`): the intermediate and init processes set the container up
    /// meanwhile, and the store is open by the time PID 1 exits (the exit waited about 0.2 ms
    /// for it when the opening began once PID 1 ran).
    fn begin_after_fork(&mut self, launcher: &mut dyn Launcher) {
        if self.store.is_some() || self.opening.is_some() {
            return;
        }
        let slot = std::sync::Arc::new(std::sync::Mutex::new(None));
        let (root, handed) = (self.root.clone(), slot.clone());
        launcher.after_fork(Box::new(move || {
            let thread = std::thread::Builder::new().name("berth-store".into());
            let opening = thread.spawn(move || Store::open(&root, Access::None)).ok();
            *handed.lock().unwrap_or_else(|e| e.into_inner()) = opening;
        }));
        self.handed = Some(slot);
    }

    /// The thread the launcher began, if it did.
    fn take_handed(&mut self) {
        if let Some(slot) = self.handed.take() {
            if let Some(thread) = slot.lock().unwrap_or_else(|e| e.into_inner()).take() {
                self.opening = Some(thread);
            }
        }
    }

    /// Begins to open the store on a thread, unless it is open or opening.
    fn begin(&mut self) {
        self.take_handed();
        if self.store.is_none() && self.opening.is_none() {
            let root = self.root.clone();
            let thread = std::thread::Builder::new().name("berth-store".into());
            self.opening = thread.spawn(move || Store::open(&root, Access::None)).ok();
        }
    }

    /// Waits for the opening thread, if there is one.
    fn settle(&mut self) -> Result<()> {
        self.take_handed();
        if let Some(thread) = self.opening.take() {
            let opened =
                thread.join().unwrap_or_else(|_| Err(crate::Error::Invalid("the store's thread panicked".into())));
            self.store = Some(opened?);
        }
        Ok(())
    }

    /// The store, opened here if no thread has.
    fn get(&mut self) -> Result<&mut Store> {
        self.settle()?;
        if self.store.is_none() {
            self.store = Some(Store::open(&self.root, Access::None)?);
        }
        Ok(self.store.as_mut().expect("opened above"))
    }
}

/// The connection of the CLI that started the monitor to stream the container (`attach_first`).
fn accept_attached(listener: &UnixListener) -> io::Result<UnixStream> {
    listener.set_nonblocking(false)?;
    let (stream, _) = listener.accept()?;
    listener.set_nonblocking(true)?;
    stream.set_nonblocking(true)?;
    Ok(stream)
}

/// A start that failed before PID 1 ran: the state says why, the CLI and clients hear it.
#[allow(clippy::too_many_arguments)]
fn fail_start(
    store: &Store,
    record: &Record,
    state: &mut State,
    first: bool,
    code: i32,
    message: String,
    reporter: &mut Reporter,
    clients: &mut Vec<Client>,
    socket_path: &Path,
) -> Result<()> {
    state.status = if first { Status::Created } else { Status::Exited };
    state.exit_code = code;
    state.error = message.clone();
    state.monitor_pid = 0;
    store.write_state(&record.id, state)?;
    reporter.say(&format!("error {code} {message}"));
    let _ = store.unmount_rootfs(&record.id);
    broadcast(clients, attach::EXIT, &code.to_be_bytes());
    let _ = std::fs::remove_file(socket_path);
    Ok(())
}

/// Execs the shim in this process's place (same PID, so it stays PID 1's parent), passing it
/// the container's streams, the attach socket and clients, and this monitor's command line
/// (with the backoff reached so far) to exec again when PID 1 exits. Returns only if the exec
/// failed (no `berth-shim` beside this binary), with everything as it was.
fn hand_off(
    pid: i32,
    streams: &Streams,
    listener: &UnixListener,
    clients: &[Client],
    log: &Path,
    command: &[OsString],
    backoff: Duration,
) -> io::Error {
    let shim = match std::env::current_exe() {
        Ok(exe) => exe.with_file_name("berth-shim"),
        Err(e) => return e,
    };
    if !shim.is_file() {
        return io::Error::new(io::ErrorKind::NotFound, format!("{} is missing", shim.display()));
    }
    let optional = |fd: Option<&OwnedFd>| fd.map_or("-".to_string(), |fd| fd.as_raw_fd().to_string());
    let client_fds: Vec<RawFd> = clients.iter().map(|c| c.stream.as_raw_fd()).collect();
    let mut passed: Vec<RawFd> = vec![listener.as_raw_fd()];
    passed.extend(std::iter::once(&streams.stdin).chain(&streams.outputs).flatten().map(|fd| fd.as_raw_fd()));
    passed.extend(&client_fds);
    let clients_arg = if client_fds.is_empty() {
        "-".to_string()
    } else {
        client_fds.iter().map(|fd| fd.to_string()).collect::<Vec<_>>().join(",")
    };
    let mut shim_command = std::process::Command::new(&shim);
    shim_command
        .arg(pid.to_string())
        .arg(log)
        .arg(optional(streams.stdin.as_ref()))
        .arg(optional(streams.outputs[0].as_ref()))
        .arg(optional(streams.outputs[1].as_ref()))
        .arg(listener.as_raw_fd().to_string())
        .arg(clients_arg)
        .arg("--")
        .args(command)
        .arg("--backoff-ms")
        .arg(backoff.as_millis().to_string());
    set_cloexec(&passed, false);
    let error = shim_command.exec();
    set_cloexec(&passed, true);
    error
}

fn set_cloexec(fds: &[RawFd], on: bool) {
    for &fd in fds {
        // SAFETY: changes only the close-on-exec flag of fds this process owns.
        unsafe {
            libc::fcntl(fd, libc::F_SETFD, if on { libc::FD_CLOEXEC } else { 0 });
        }
    }
}

/// Drops SQLite's page cache, then the file pages the start mapped in (`shim::memory`).
fn release_code_pages(store: &Store) {
    let _ = store.db.conn().execute_batch("PRAGMA shrink_memory");
    shim::memory::release_file_pages();
}

fn io_err(path: &Path, source: io::Error) -> crate::error::Error {
    crate::error::Error::Io { path: path.to_path_buf(), source }
}

/// The container's stdio: pipes the monitor reads (stdout, stderr) and writes (stdin).
struct Stdio {
    stdin_child: OwnedFd,
    stdin_ours: Option<OwnedFd>,
    out_child: OwnedFd,
    out_ours: OwnedFd,
    err_child: OwnedFd,
    err_ours: Option<OwnedFd>,
}

impl Stdio {
    fn new(open_stdin: bool) -> io::Result<Stdio> {
        use rustix::pipe::{pipe_with, PipeFlags};
        let flags = PipeFlags::CLOEXEC;
        let (out_ours, out_child) = pipe_with(flags)?;
        let (err_ours, err_child) = pipe_with(flags)?;
        let (stdin_child, stdin_ours) = if open_stdin {
            let (r, w) = pipe_with(flags)?;
            (r, Some(w))
        } else {
            (OwnedFd::from(File::open("/dev/null")?), None)
        };
        Ok(Stdio { stdin_child, stdin_ours, out_child, out_ours, err_child, err_ours: Some(err_ours) })
    }

    /// With a tty, the pty master is both streams: output (one stream, as Docker's) and input.
    fn with_console(mut self, console: Option<OwnedFd>) -> Stdio {
        if let Some(master) = console {
            let input = if self.stdin_ours.is_some() { master.try_clone().ok() } else { None };
            self.stdin_ours = input;
            self.out_ours = master;
            self.err_ours = None;
        }
        self
    }

    /// Our ends, for the supervision loop (the child's ends close: it has its copies).
    fn into_streams(self) -> Streams {
        Streams { stdin: self.stdin_ours, outputs: [Some(self.out_ours), self.err_ours] }
    }

    /// Runs `f` with the child's ends on fds 0, 1 and 2 (what the runtime hands the container),
    /// then puts /dev/null back, so the monitor itself never holds the child's ends there.
    fn with_as_std_fds<T>(&self, f: impl FnOnce() -> T) -> T {
        let _ = rustix::stdio::dup2_stdin(&self.stdin_child);
        let _ = rustix::stdio::dup2_stdout(&self.out_child);
        let _ = rustix::stdio::dup2_stderr(&self.err_child);
        let value = f();
        if let Ok(null) = File::options().read(true).write(true).open("/dev/null") {
            let _ = rustix::stdio::dup2_stdin(&null);
            let _ = rustix::stdio::dup2_stdout(&null);
            let _ = rustix::stdio::dup2_stderr(&null);
        }
        value
    }
}

/// A healthcheck schedule, what the check process needs, and where results go: the in-process
/// monitor's side of the supervision loop's checks.
struct HealthChecks<'a, 'l> {
    checker: Checker,
    exec: ExecProcess,
    launcher: &'a mut (dyn Launcher + 'l),
    record: &'a Record,
    store: &'a Store,
    id: &'a str,
    state: &'a mut State,
}

impl Checks for HealthChecks<'_, '_> {
    fn due(&self) -> bool {
        Instant::now() >= self.checker.next
    }

    /// Starts a check with its output on a pipe (stdin /dev/null).
    fn start(&mut self) -> Option<(i32, OwnedFd)> {
        let (out_ours, out_child) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).ok()?;
        let null = File::open("/dev/null").ok()?;
        let _ = rustix::stdio::dup2_stdin(&null);
        let _ = rustix::stdio::dup2_stdout(&out_child);
        let _ = rustix::stdio::dup2_stderr(&out_child);
        let started = self.launcher.exec(self.record, &self.exec);
        if let Ok(null) = File::options().read(true).write(true).open("/dev/null") {
            let _ = rustix::stdio::dup2_stdout(&null);
            let _ = rustix::stdio::dup2_stderr(&null);
        }
        drop(out_child);
        Some((started.ok()?.pid, out_ours))
    }

    fn timeout(&self) -> Duration {
        self.checker.timeout
    }

    fn record(&mut self, code: i64, output: String, start: String) {
        let health = self.state.health.get_or_insert_with(health::starting);
        self.checker.record(health, code, output, start);
        let _ = self.store.write_state(self.id, self.state);
    }
}

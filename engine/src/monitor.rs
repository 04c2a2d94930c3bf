//! The per-container monitor (DESIGN.md section 1): `berth __monitor <id>`, detached from the
//! CLI, single-threaded, started before any thread exists. It starts the container and is the
//! parent of its PID 1: it copies the container's output to the json-file log and to attached
//! clients, feeds stdin from a client, records the exit status and time, and applies the
//! restart policy. It holds no store lock, so `system check` never waits on a running container.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rustix::event::{poll, PollFd, PollFlags, Timespec};
use rustix::process::{Pid, WaitOptions};

use crate::container::attach::{self, FrameBuffer};
use crate::container::health::{self, Checker};
use crate::container::logs::LogWriter;
use crate::container::model::{Record, State, Status, ZERO_TIME};
use crate::container::store::process_start_time;
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
    /// Starts the container's PID 1, with the monitor's current fds 0, 1 and 2 as its stdio
    /// (or, with `Config.tty`, a pty whose master is returned). The monitor is its parent.
    /// Errors carry the exit status to report.
    fn start(&mut self, record: &Record, rootfs: &Path, etc: &Path) -> std::result::Result<Started, (i32, String)>;
    /// Removes what the runtime keeps for the container (cgroups, state), after it exited.
    fn delete(&mut self, record: &Record);
    /// Starts a process in the running container with the caller's fds 0, 1 and 2 as its
    /// stdio (or a pty, with `process.tty`); the caller is its parent.
    fn exec(&mut self, record: &Record, process: &ExecProcess) -> std::result::Result<Started, (i32, String)>;
}

/// Where the CLI finds a container's attach socket (short: sun_path holds 108 bytes).
pub fn attach_socket(runroot: &Path, id: &str) -> PathBuf {
    runroot.join("attach").join(format!("{}.sock", &id[..32]))
}

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

struct Client {
    stream: UnixStream,
    frames: FrameBuffer,
}

/// Runs the monitor for container `id`; returns the process exit status.
pub fn run(root: &Path, runroot: &Path, id: &str, attach_first: bool, launcher: &mut dyn Launcher) -> i32 {
    // SAFETY: fd 3 is the report pipe the CLI passed us (or closed); we own it from here on.
    let report = (rustix::io::fcntl_getfd(unsafe { rustix::fd::BorrowedFd::borrow_raw(REPORT_FD) }).is_ok())
        .then(|| unsafe { File::from_raw_fd(REPORT_FD) });
    let mut reporter = Reporter(report);
    match monitor(root, runroot, id, attach_first, launcher, &mut reporter) {
        Ok(()) => 0,
        Err(e) => {
            reporter.say(&format!("error 125 {e}"));
            1
        }
    }
}

fn monitor(
    root: &Path,
    runroot: &Path,
    id: &str,
    attach_first: bool,
    launcher: &mut dyn Launcher,
    reporter: &mut Reporter,
) -> Result<()> {
    let store = Store::open(root, Access::None)?;
    let record = store.container(id)?;
    let dir = store.container_dir(id);
    let socket_path = attach_socket(runroot, id);
    std::fs::create_dir_all(socket_path.parent().expect("has parent")).map_err(|e| io_err(&socket_path, e))?;
    let _ = std::fs::remove_file(&socket_path);
    let listener = UnixListener::bind(&socket_path).map_err(|e| io_err(&socket_path, e))?;
    listener.set_nonblocking(true).map_err(|e| io_err(&socket_path, e))?;
    let mut log = LogWriter::open(&dir.join(format!("{id}-json.log"))).map_err(|e| io_err(&dir, e))?;
    let mut clients: Vec<Client> = Vec::new();
    let mut state = store.read_state(id)?;
    state.monitor_pid = std::process::id() as i32;

    if attach_first {
        // `run` and `start -a` attach before the process starts, so no output is missed.
        reporter.say("ready");
        listener.set_nonblocking(false).map_err(|e| io_err(&socket_path, e))?;
        let (stream, _) = listener.accept().map_err(|e| io_err(&socket_path, e))?;
        listener.set_nonblocking(true).map_err(|e| io_err(&socket_path, e))?;
        stream.set_nonblocking(true).map_err(|e| io_err(&socket_path, e))?;
        clients.push(Client { stream, frames: FrameBuffer::default() });
    }

    let mut backoff = Duration::from_millis(100);
    let mut first = true;
    let exit_code = loop {
        let rootfs = store.mount_rootfs(id)?;
        crate::container::etc::write_etc_files(&store, &record)?;
        for m in record
            .host_config
            .mounts
            .iter()
            .filter(|m| m.kind == "volume" && !m.options.iter().any(|o| o.contains("nocopy")))
        {
            store.seed_volume(&m.source, &rootfs, &m.target)?;
        }
        let mounted: Vec<&str> = record.host_config.mounts.iter().map(|m| m.target.as_str()).collect();
        if let Err((code, message)) = crate::container::command_check::check_command(
            &rootfs,
            &record.path,
            &record.config.env,
            &record.config.working_dir,
            &mounted,
        ) {
            state.status = if first { Status::Created } else { Status::Exited };
            state.exit_code = code;
            state.error = message.clone();
            state.monitor_pid = 0;
            store.write_state(id, &state)?;
            reporter.say(&format!("error {code} {message}"));
            let _ = store.unmount_rootfs(id);
            broadcast(&mut clients, attach::EXIT, &code.to_be_bytes());
            let _ = std::fs::remove_file(&socket_path);
            return Ok(());
        }
        let stdio = Stdio::new(record.config.open_stdin).map_err(|e| io_err(&dir, e))?;
        let started = stdio.with_as_std_fds(|| launcher.start(&record, &rootfs, &dir));
        let (pid, console) = match started {
            Ok(Started { pid, console }) => (pid, console),
            Err((code, message)) => {
                state.status = if first { Status::Created } else { Status::Exited };
                state.exit_code = code;
                state.error = message.clone();
                state.monitor_pid = 0;
                store.write_state(id, &state)?;
                reporter.say(&format!("error {code} {message}"));
                let _ = store.unmount_rootfs(id);
                broadcast(&mut clients, attach::EXIT, &code.to_be_bytes());
                let _ = std::fs::remove_file(&socket_path);
                return Ok(());
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
        // A checked container is "starting" in the same write that makes it running: a waiter
        // on service_healthy may read the state as soon as the start is reported.
        let checker = Checker::new(record.config.healthcheck.as_ref());
        if checker.is_some() {
            state.health = Some(health::starting());
        }
        store.write_state(id, &state)?;
        if first {
            reporter.say(&format!("started {pid}"));
            reporter.done();
            // What the start used (SQLite's page cache, the runtime's code) is not needed
            // while the container runs.
            let _ = store.db.conn().execute_batch("PRAGMA shrink_memory");
            release_code_pages();
        }
        first = false;

        let mut health = match checker {
            Some(checker) => {
                let identity = crate::container::user::resolve_user(&rootfs, &record.config.user).unwrap_or_default();
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
                Some(HealthCtx { checker, exec, run: None })
            }
            None => None,
        };
        let checks: Option<Health> = match health.as_mut() {
            Some(h) => Some((h, &mut *launcher, &record, &store, id, &mut state)),
            None => None,
        };
        let code = supervise(pid, stdio.with_console(console), &listener, &mut clients, &mut log, checks)?;
        let _ = log.flush_partial();
        launcher.delete(&record);
        state.status = Status::Exited;
        state.pid = 0;
        state.exit_code = code;
        state.finished_at = now();
        // The restart policy decides (as `update --restart` left it); a stop or kill by the
        // user always wins.
        let user_stopped = dir.join("stopped").exists();
        let policy = &store
            .container(id)
            .map(|r| r.host_config.restart_policy)
            .unwrap_or_else(|_| record.host_config.restart_policy.clone());
        let restart = !user_stopped
            && match policy.name.as_str() {
                "always" | "unless-stopped" => true,
                "on-failure" => {
                    code != 0 && (policy.maximum_retry_count == 0 || state.restart_count < policy.maximum_retry_count)
                }
                _ => false,
            };
        if !restart {
            state.monitor_pid = 0;
            store.write_state(id, &state)?;
            break code;
        }
        // Docker's backoff: doubling from 100 ms, reset after ten seconds of running.
        if started_at.elapsed() > Duration::from_secs(10) {
            backoff = Duration::from_millis(100);
        }
        state.status = Status::Restarting;
        state.restart_count += 1;
        store.write_state(id, &state)?;
        std::thread::sleep(backoff);
        backoff = (backoff * 2).min(Duration::from_secs(60));
        if dir.join("stopped").exists() {
            state.status = Status::Exited;
            state.monitor_pid = 0;
            store.write_state(id, &state)?;
            break code;
        }
    };
    broadcast(&mut clients, attach::EXIT, &exit_code.to_be_bytes());
    let _ = std::fs::remove_file(&socket_path);
    let _ = store.unmount_rootfs(id);
    if record.host_config.auto_remove {
        // `--rm` takes the anonymous volumes along, as Docker's does.
        let mut store = Store::open(root, Access::Shared)?;
        store.remove_container(id, true, true, launcher)?;
    }
    Ok(())
}

/// Drops the file pages the start mapped in (the runtime's code: most of a monitor's
/// resident memory) and turns off fault-around for them, so the long wait that follows keeps
/// only the few pages its loop uses; then returns freed heap to the kernel. Only read-only
/// file mappings with no anonymous (copied-on-write) page: their contents are the file's, so
/// dropping them loses nothing. Relocated RELRO data is anonymous and stays. (Not "no private
/// dirty page": while a just-forked child still shares them, relocated pages count as
/// shared dirty, and dropping those crashes.)
fn release_code_pages() {
    let Ok(smaps) = std::fs::read_to_string("/proc/self/smaps") else { return };
    let mut current: Option<(usize, usize)> = None;
    for line in smaps.lines() {
        let mut fields = line.split_whitespace();
        let Some(first) = fields.next() else { continue };
        if let Some((start, end)) = first.split_once('-').filter(|_| !first.ends_with(':')) {
            let perms = fields.next().unwrap_or("");
            let file_backed = line.contains(" /");
            current = match (usize::from_str_radix(start, 16), usize::from_str_radix(end, 16)) {
                (Ok(s), Ok(e)) if file_backed && !perms.contains('w') => Some((s, e)),
                _ => None,
            };
        } else if first == "Anonymous:" {
            let copied = fields.next().and_then(|n| n.parse::<u64>().ok()).unwrap_or(1);
            if let (Some((start, end)), 0) = (current.take(), copied) {
                // SAFETY: a read-only file mapping with no anonymous page: its pages are the file's,
                // so MADV_DONTNEED only changes which pages are resident, never the contents.
                unsafe {
                    let addr = start as *mut libc::c_void;
                    libc::madvise(addr, end - start, libc::MADV_RANDOM);
                    libc::madvise(addr, end - start, libc::MADV_DONTNEED);
                }
            }
        }
    }
    // SAFETY: malloc_trim only returns free memory at the top of the heap to the kernel.
    unsafe {
        libc::malloc_trim(0);
    }
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

fn broadcast(clients: &mut Vec<Client>, kind: u8, data: &[u8]) {
    clients.retain_mut(|c| {
        let _ = c.stream.set_nonblocking(false);
        let ok = attach::write_frame(&mut c.stream, kind, data).is_ok();
        let _ = c.stream.set_nonblocking(true);
        ok
    });
}

/// A healthcheck schedule, the process that runs it, and what the check process needs.
struct HealthCtx {
    checker: Checker,
    exec: ExecProcess,
    run: Option<HealthRun>,
}

/// One check in flight.
struct HealthRun {
    pid: i32,
    pidfd: OwnedFd,
    out: Option<OwnedFd>,
    output: Vec<u8>,
    start: String,
    deadline: Instant,
}

type Health<'a, 'l> = (&'a mut HealthCtx, &'a mut (dyn Launcher + 'l), &'a Record, &'a Store, &'a str, &'a mut State);

/// Starts a check with its output on a pipe (stdin /dev/null); `None` if it could not start.
fn start_check(ctx: &mut HealthCtx, launcher: &mut dyn Launcher, record: &Record) -> Option<HealthRun> {
    let (out_ours, out_child) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).ok()?;
    let null = File::open("/dev/null").ok()?;
    let _ = rustix::stdio::dup2_stdin(&null);
    let _ = rustix::stdio::dup2_stdout(&out_child);
    let _ = rustix::stdio::dup2_stderr(&out_child);
    let started = launcher.exec(record, &ctx.exec);
    if let Ok(null) = File::options().read(true).write(true).open("/dev/null") {
        let _ = rustix::stdio::dup2_stdout(&null);
        let _ = rustix::stdio::dup2_stderr(&null);
    }
    drop(out_child);
    let start = now();
    let pid = started.ok()?.pid;
    let pidfd = rustix::process::pidfd_open(Pid::from_raw(pid)?, rustix::process::PidfdFlags::empty()).ok()?;
    Some(HealthRun {
        pid,
        pidfd,
        out: Some(out_ours),
        output: Vec::new(),
        start,
        deadline: Instant::now() + ctx.checker.timeout,
    })
}

/// Records a check's result (`output` replaces what it printed, for timeouts and failures to start).
fn finish_check(ctx: &mut HealthCtx, store: &Store, id: &str, state: &mut State, code: i64, output: Option<String>) {
    let (start, printed) = match ctx.run.take() {
        Some(run) => (run.start, String::from_utf8_lossy(&run.output).into_owned()),
        None => (now(), String::new()),
    };
    let health = state.health.get_or_insert_with(health::starting);
    ctx.checker.record(health, code, output.unwrap_or(printed), start);
    let _ = store.write_state(id, state);
}

/// Copies output until PID 1 exits and its output is drained; returns Docker's exit status.
fn supervise(
    pid: i32,
    stdio: Stdio,
    listener: &UnixListener,
    clients: &mut Vec<Client>,
    log: &mut LogWriter,
    mut health: Option<Health<'_, '_>>,
) -> Result<i32> {
    let Stdio { stdin_child, mut stdin_ours, out_child, out_ours, err_child, err_ours } = stdio;
    // The child has its copies now; ours would keep the pipes open forever.
    drop((stdin_child, out_child, err_child));
    let pidfd =
        rustix::process::pidfd_open(Pid::from_raw(pid).expect("positive pid"), rustix::process::PidfdFlags::empty())
            .map_err(|e| io_err(Path::new("pidfd"), e.into()))?;
    let mut outputs: Vec<(u8, Option<OwnedFd>)> = vec![(attach::STDOUT, Some(out_ours)), (attach::STDERR, err_ours)];
    let mut exit: Option<i32> = None;
    let mut exited_at: Option<Instant> = None;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let open_outputs = outputs.iter().filter(|(_, fd)| fd.is_some()).count();
        // Done when PID 1 exited and its output ended (or a daemon it left holds the pipes
        // for longer than a grace period, as Docker's copy does).
        if let Some(code) = exit {
            if open_outputs == 0 || exited_at.is_some_and(|t| t.elapsed() > Duration::from_secs(2)) {
                return Ok(code);
            }
        }
        // A healthcheck that is due starts now; one past its deadline is killed.
        if let Some((ctx, launcher, record, store, id, state)) = health.as_mut() {
            if exit.is_none() && ctx.run.is_none() && Instant::now() >= ctx.checker.next {
                ctx.run = start_check(ctx, &mut **launcher, record);
                if ctx.run.is_none() {
                    finish_check(ctx, store, id, state, 1, Some("the health check could not be started".into()));
                }
            }
            let overdue = ctx.run.as_ref().is_some_and(|r| Instant::now() >= r.deadline);
            if overdue {
                let run = ctx.run.as_ref().expect("checked");
                if let Some(p) = Pid::from_raw(run.pid) {
                    let _ = rustix::process::kill_process(p, rustix::process::Signal::KILL);
                    let _ = rustix::process::waitpid(Some(p), WaitOptions::empty());
                }
                let note = format!("Health check exceeded timeout ({:?})", ctx.checker.timeout);
                finish_check(ctx, store, id, state, -1, Some(note));
            }
        }
        let mut fds: Vec<PollFd> = Vec::new();
        let mut roles: Vec<Role> = Vec::new();
        if let Some((ctx, ..)) = health.as_ref() {
            if let Some(run) = &ctx.run {
                fds.push(PollFd::new(&run.pidfd, PollFlags::IN));
                roles.push(Role::HealthExit);
                if let Some(out) = &run.out {
                    fds.push(PollFd::new(out, PollFlags::IN));
                    roles.push(Role::HealthOut);
                }
            }
        }
        for (i, (_, fd)) in outputs.iter().enumerate() {
            if let Some(fd) = fd {
                fds.push(PollFd::new(fd, PollFlags::IN));
                roles.push(Role::Output(i));
            }
        }
        if exit.is_none() {
            fds.push(PollFd::new(&pidfd, PollFlags::IN));
            roles.push(Role::Exit);
        }
        fds.push(PollFd::new(listener, PollFlags::IN));
        roles.push(Role::Listener);
        for (i, c) in clients.iter().enumerate() {
            fds.push(PollFd::new(&c.stream, PollFlags::IN));
            roles.push(Role::Client(i));
        }
        let timeout = Timespec { tv_sec: 0, tv_nsec: 200_000_000 };
        match poll(&mut fds, Some(&timeout)) {
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(io_err(Path::new("poll"), e.into())),
        }
        let ready: Vec<(Role, PollFlags)> = fds.iter().zip(roles.iter()).map(|(f, r)| (*r, f.revents())).collect();
        drop(fds);
        let mut closed_clients = Vec::new();
        for (role, revents) in ready {
            if revents.is_empty() {
                continue;
            }
            match role {
                Role::Output(i) => {
                    let (kind, fd) = &mut outputs[i];
                    let fd_ref = fd.as_ref().expect("polled only when open");
                    match rustix::io::read(fd_ref, &mut buf) {
                        Ok(0) | Err(_) => *fd = None,
                        Ok(n) => {
                            let _ = log.write(*kind, &buf[..n]);
                            broadcast(clients, *kind, &buf[..n]);
                        }
                    }
                }
                Role::Exit => {
                    let status = rustix::process::waitpid(Pid::from_raw(pid), WaitOptions::empty())
                        .map_err(|e| io_err(Path::new("waitpid"), e.into()))?;
                    let code = match status {
                        Some((_, s)) if s.exited() => s.exit_status().unwrap_or(0),
                        Some((_, s)) if s.signaled() => 128 + s.terminating_signal().unwrap_or(0),
                        _ => 255,
                    };
                    exit = Some(code);
                    exited_at = Some(Instant::now());
                    // Nobody will read stdin any more.
                    stdin_ours = None;
                }
                Role::HealthOut => {
                    if let Some((ctx, ..)) = health.as_mut() {
                        if let Some(run) = ctx.run.as_mut() {
                            let fd = run.out.as_ref().expect("polled only when open");
                            match rustix::io::read(fd, &mut buf) {
                                Ok(0) | Err(_) => run.out = None,
                                Ok(n) => {
                                    let room = health::MAX_OUTPUT.saturating_sub(run.output.len());
                                    run.output.extend_from_slice(&buf[..n.min(room)]);
                                }
                            }
                        }
                    }
                }
                Role::HealthExit => {
                    if let Some((ctx, _, _, store, id, state)) = health.as_mut() {
                        if let Some(run) = ctx.run.as_mut() {
                            // Collect what is left of its output before recording.
                            if let Some(out) = run.out.take() {
                                let _ = rustix::io::ioctl_fionbio(&out, true);
                                while let Ok(n) = rustix::io::read(&out, &mut buf) {
                                    if n == 0 || run.output.len() >= health::MAX_OUTPUT {
                                        break;
                                    }
                                    run.output.extend_from_slice(&buf[..n]);
                                }
                            }
                            let status = Pid::from_raw(run.pid)
                                .and_then(|p| rustix::process::waitpid(Some(p), WaitOptions::empty()).ok().flatten());
                            let code = match status {
                                Some((_, s)) if s.exited() => s.exit_status().unwrap_or(1) as i64,
                                _ => 1,
                            };
                            finish_check(ctx, store, id, state, code, None);
                        }
                    }
                }
                Role::Listener => {
                    while let Ok((stream, _)) = listener.accept() {
                        let _ = stream.set_nonblocking(true);
                        clients.push(Client { stream, frames: FrameBuffer::default() });
                    }
                }
                Role::Client(i) => {
                    let client = &mut clients[i];
                    match client.stream.read(&mut buf) {
                        Ok(0) => closed_clients.push(i),
                        Ok(n) => {
                            client.frames.push(&buf[..n]);
                            while let Ok(Some((kind, data))) = client.frames.next_frame() {
                                match kind {
                                    attach::STDIN => {
                                        if let Some(w) = stdin_ours.as_ref() {
                                            if rustix::io::write(w, &data).is_err() {
                                                stdin_ours = None;
                                            }
                                        }
                                    }
                                    attach::STDIN_EOF => stdin_ours = None,
                                    attach::RESIZE if data.len() == 4 => {
                                        if let Some((_, Some(out))) = outputs.first() {
                                            let size = rustix::termios::Winsize {
                                                ws_row: u16::from_be_bytes([data[0], data[1]]),
                                                ws_col: u16::from_be_bytes([data[2], data[3]]),
                                                ws_xpixel: 0,
                                                ws_ypixel: 0,
                                            };
                                            // Fails harmlessly on a pipe (no tty).
                                            let _ = rustix::termios::tcsetwinsize(out, size);
                                        }
                                    }
                                    _ => {}
                                }
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                        Err(_) => closed_clients.push(i),
                    }
                }
            }
        }
        for i in closed_clients.into_iter().rev() {
            clients.remove(i);
        }
    }
}

#[derive(Clone, Copy)]
enum Role {
    HealthOut,
    HealthExit,
    Output(usize),
    Exit,
    Listener,
    Client(usize),
}

//! The loop that watches a running container: copies PID 1's output to the log and to attached
//! clients, feeds stdin and window sizes from clients, reaps PID 1 and returns Docker's exit
//! status. The full monitor runs it with its healthchecks; the shim runs it alone.

use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::time::{Duration, Instant};

use crate::frames::{self, FrameBuffer};
use crate::logfile::LogWriter;

/// An attached client (`run`, `start -a`, `attach`) and what it sent that is not a whole frame yet.
pub struct Client {
    pub stream: UnixStream,
    frames: FrameBuffer,
}

impl Client {
    pub fn new(stream: UnixStream) -> Client {
        Client { stream, frames: FrameBuffer::default() }
    }
}

/// The monitor's ends of the container's stdio (with a tty, the pty master is stdout and
/// stdin, and there is no stderr). Each is `None` once it ended.
pub struct Streams {
    pub stdin: Option<OwnedFd>,
    /// stdout, then stderr.
    pub outputs: [Option<OwnedFd>; 2],
}

/// The attach frame kind of each of `Streams::outputs`.
const OUTPUT_KINDS: [u8; 2] = [frames::STDOUT, frames::STDERR];

/// Healthchecks, for a monitor that runs them.
pub trait Checks {
    /// Whether a check is due now.
    fn due(&self) -> bool;
    /// Starts one: its PID (the caller's child) and the read end of its output.
    fn start(&mut self) -> Option<(i32, OwnedFd)>;
    /// How long a check may run.
    fn timeout(&self) -> Duration;
    /// Records a finished check: its status, its output, when it started.
    fn record(&mut self, code: i64, output: String, start: String);
}

/// Docker keeps up to 4 KiB of each check's output.
pub const MAX_CHECK_OUTPUT: usize = 4096;

/// One check in flight.
struct CheckRun {
    pid: i32,
    pidfd: OwnedFd,
    out: Option<OwnedFd>,
    output: Vec<u8>,
    start: String,
    deadline: Instant,
}

/// Sends a frame to every client; drops the ones that went away.
pub fn broadcast(clients: &mut Vec<Client>, kind: u8, data: &[u8]) {
    clients.retain_mut(|c| {
        let _ = c.stream.set_nonblocking(false);
        let ok = frames::write_frame(&mut c.stream, kind, data).is_ok();
        let _ = c.stream.set_nonblocking(true);
        ok
    });
}

/// A pidfd for `pid`: readable once it exits.
pub fn pidfd_open(pid: i32) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just gave us this fd; nobody else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Reaps `pid` (blocking); its wait status.
fn reap(pid: i32) -> Option<i32> {
    let mut status = 0;
    loop {
        // SAFETY: waitpid writes only to `status`.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r == pid {
            return Some(status);
        }
        if r < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
            continue;
        }
        return None;
    }
}

/// Reaps the caller's exited children other than `keep` (PID 1 and a check in flight, which the
/// loop reaps itself). A health check's exec that fails half-way leaves the runtime's helper
/// processes unreaped, and those that had joined the container's PID namespace hold its PID 1
/// in the kernel's exit (`zap_pid_ns_processes`) until they are reaped: PID 1 would never exit.
fn reap_strays(keep: &[i32]) {
    loop {
        // SAFETY: siginfo_t is plain old data; waitid writes one.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: WNOWAIT only looks: the child stays waitable.
        let r = unsafe { libc::waitid(libc::P_ALL, 0, &mut info, libc::WEXITED | libc::WNOHANG | libc::WNOWAIT) };
        // SAFETY: si_pid is set by a successful waitid (0 when no child has exited).
        let pid = unsafe { info.si_pid() };
        if r < 0 || pid == 0 || keep.contains(&pid) {
            return;
        }
        reap(pid);
    }
}

/// Docker's exit status from a wait status: the code, or 128 + the signal.
fn exit_code(status: Option<i32>) -> i32 {
    match status {
        Some(s) if libc::WIFEXITED(s) => libc::WEXITSTATUS(s),
        Some(s) if libc::WIFSIGNALED(s) => 128 + libc::WTERMSIG(s),
        _ => 255,
    }
}

fn read_fd(fd: &OwnedFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: reads into `buf`, at most its length.
    let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n as usize)
}

fn write_all_fd(fd: &OwnedFd, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        // SAFETY: writes from `data`, at most its length.
        let n = unsafe { libc::write(fd.as_raw_fd(), data.as_ptr().cast(), data.len()) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return Err(e);
        }
        data = &data[n as usize..];
    }
    Ok(())
}

/// Sets a tty's window size (fails harmlessly on a pipe).
fn set_window_size(fd: &OwnedFd, rows: u16, cols: u16) {
    let size = libc::winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCSWINSZ reads one winsize from the pointer.
    unsafe {
        libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, &size);
    }
}

#[derive(Clone, Copy)]
enum Role {
    CheckOut,
    CheckExit,
    Output(usize),
    Exit,
    Listener,
    Client(usize),
}

/// Copies output until PID 1 exits and its output is drained; returns Docker's exit status.
/// With `until`, returns `None` at that time if PID 1 still runs (the streams, listener and
/// clients as they are, for the shim to take over).
pub fn supervise(
    pid: i32,
    streams: &mut Streams,
    listener: &UnixListener,
    clients: &mut Vec<Client>,
    log: &mut LogWriter,
    mut checks: Option<&mut dyn Checks>,
    until: Option<Instant>,
) -> io::Result<Option<i32>> {
    let pidfd = pidfd_open(pid)?;
    let mut exit: Option<i32> = None;
    let mut exited_at: Option<Instant> = None;
    let mut check: Option<CheckRun> = None;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        if checks.is_some() {
            reap_strays(&[pid, check.as_ref().map_or(0, |r| r.pid)]);
        }
        let open_outputs = streams.outputs.iter().filter(|fd| fd.is_some()).count();
        // Done when PID 1 exited and its output ended (or a daemon it left holds the pipes
        // for longer than a grace period, as Docker's copy does).
        if let Some(code) = exit {
            if open_outputs == 0 || exited_at.is_some_and(|t| t.elapsed() > Duration::from_secs(2)) {
                return Ok(Some(code));
            }
        } else if until.is_some_and(|t| Instant::now() >= t) {
            return Ok(None);
        }
        // A healthcheck that is due starts now; one past its deadline is killed.
        if let Some(checks) = checks.as_deref_mut() {
            if exit.is_none() && check.is_none() && checks.due() {
                let start = crate::time::now();
                check = checks.start().and_then(|(pid, out)| {
                    let pidfd = pidfd_open(pid).ok()?;
                    let deadline = Instant::now() + checks.timeout();
                    Some(CheckRun { pid, pidfd, out: Some(out), output: Vec::new(), start: start.clone(), deadline })
                });
                if check.is_none() {
                    checks.record(1, "the health check could not be started".into(), start);
                }
            }
            if let Some(run) = check.take_if(|r| Instant::now() >= r.deadline) {
                // SAFETY: kill sends a signal to our own child, which we then reap.
                unsafe {
                    libc::kill(run.pid, libc::SIGKILL);
                }
                reap(run.pid);
                let note = format!("Health check exceeded timeout ({:?})", checks.timeout());
                checks.record(-1, note, run.start);
            }
        }
        let mut fds: Vec<libc::pollfd> = Vec::new();
        let mut roles: Vec<Role> = Vec::new();
        let mut watch = |fd: RawFd, role: Role| {
            fds.push(libc::pollfd { fd, events: libc::POLLIN, revents: 0 });
            roles.push(role);
        };
        if let Some(run) = &check {
            watch(run.pidfd.as_raw_fd(), Role::CheckExit);
            if let Some(out) = &run.out {
                watch(out.as_raw_fd(), Role::CheckOut);
            }
        }
        for (i, fd) in streams.outputs.iter().enumerate() {
            if let Some(fd) = fd {
                watch(fd.as_raw_fd(), Role::Output(i));
            }
        }
        if exit.is_none() {
            watch(pidfd.as_raw_fd(), Role::Exit);
        }
        watch(listener.as_raw_fd(), Role::Listener);
        for (i, c) in clients.iter().enumerate() {
            watch(c.stream.as_raw_fd(), Role::Client(i));
        }
        let timeout = until.map_or(200, |t| t.saturating_duration_since(Instant::now()).as_millis().min(200) as i32);
        // SAFETY: poll reads and writes the `fds` array, of the length given.
        let r = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EINTR) {
                return Err(e);
            }
            continue;
        }
        let mut closed_clients = Vec::new();
        for (f, role) in fds.iter().zip(roles) {
            if f.revents == 0 {
                continue;
            }
            match role {
                Role::Output(i) => {
                    let (kind, fd) = (OUTPUT_KINDS[i], &mut streams.outputs[i]);
                    match fd.as_ref().map(|fd| read_fd(fd, &mut buf)) {
                        Some(Ok(n)) if n > 0 => {
                            let _ = log.write(kind, &buf[..n]);
                            broadcast(clients, kind, &buf[..n]);
                        }
                        _ => *fd = None,
                    }
                }
                Role::Exit => {
                    exit = Some(exit_code(reap(pid)));
                    exited_at = Some(Instant::now());
                    // Nobody will read stdin any more.
                    streams.stdin = None;
                }
                Role::CheckOut => {
                    if let Some(run) = check.as_mut() {
                        match run.out.as_ref().map(|fd| read_fd(fd, &mut buf)) {
                            Some(Ok(n)) if n > 0 => {
                                let room = MAX_CHECK_OUTPUT.saturating_sub(run.output.len());
                                run.output.extend_from_slice(&buf[..n.min(room)]);
                            }
                            _ => run.out = None,
                        }
                    }
                }
                Role::CheckExit => {
                    if let (Some(mut run), Some(checks)) = (check.take(), checks.as_deref_mut()) {
                        // Collect what is left of its output before recording.
                        if let Some(out) = run.out.take() {
                            // SAFETY: sets O_NONBLOCK on our own fd.
                            unsafe {
                                libc::fcntl(out.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK);
                            }
                            while let Ok(n) = read_fd(&out, &mut buf) {
                                if n == 0 || run.output.len() >= MAX_CHECK_OUTPUT {
                                    break;
                                }
                                run.output.extend_from_slice(&buf[..n]);
                            }
                        }
                        let code = match reap(run.pid) {
                            Some(s) if libc::WIFEXITED(s) => i64::from(libc::WEXITSTATUS(s)),
                            _ => 1,
                        };
                        checks.record(code, String::from_utf8_lossy(&run.output).into_owned(), run.start);
                    }
                }
                Role::Listener => {
                    while let Ok((stream, _)) = listener.accept() {
                        let _ = stream.set_nonblocking(true);
                        clients.push(Client::new(stream));
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
                                    frames::STDIN => {
                                        if let Some(w) = streams.stdin.as_ref() {
                                            if write_all_fd(w, &data).is_err() {
                                                streams.stdin = None;
                                            }
                                        }
                                    }
                                    frames::STDIN_EOF => streams.stdin = None,
                                    frames::RESIZE if data.len() == 4 => {
                                        if let Some(out) = &streams.outputs[0] {
                                            let rows = u16::from_be_bytes([data[0], data[1]]);
                                            let cols = u16::from_be_bytes([data[2], data[3]]);
                                            set_window_size(out, rows, cols);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_statuses_as_docker_reports_them() {
        assert_eq!(exit_code(Some(7 << 8)), 7);
        assert_eq!(exit_code(Some(libc::SIGKILL)), 137);
        assert_eq!(exit_code(None), 255);
    }

    /// Forks a child that exits at once; returns once it is a zombie.
    fn exited_child() -> i32 {
        // SAFETY: the child only calls _exit.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // SAFETY: ends the child without running the parent's destructors.
            unsafe { libc::_exit(3) };
        }
        let stat = format!("/proc/{pid}/stat");
        while !std::fs::read_to_string(&stat).is_ok_and(|s| s.contains(") Z ")) {
            std::thread::sleep(Duration::from_millis(1));
        }
        pid
    }

    #[test]
    fn strays_are_reaped_and_the_kept_children_are_not() {
        let kept = exited_child();
        let stray = exited_child();
        reap_strays(&[kept]);
        // waitid finds the kept child first or the stray; either way one more pass reaps the
        // stray once the kept one is gone, as the loop's next round does.
        assert_eq!(reap(kept).map(|s| libc::WEXITSTATUS(s)), Some(3), "the kept child was reaped");
        reap_strays(&[kept]);
        // SAFETY: WNOHANG makes this a query; it writes only `status`.
        let r = unsafe { libc::waitpid(stray, &mut 0, libc::WNOHANG) };
        assert_eq!(r, -1, "the stray is still waitable");
    }
}

//! `berth-shim PID LOG STDIN STDOUT STDERR LISTENER CLIENTS -- MONITOR-COMMAND...`
//!
//! Started only by a container's monitor, which execs it in its own place once the
//! container's PID 1 (its child) runs. STDIN, STDOUT and STDERR are the monitor's ends of the
//! container's stdio (fd numbers, `-` for none); LISTENER the attach socket; CLIENTS the
//! attached clients' sockets (comma-separated, `-` for none). When PID 1 has exited and its
//! output is drained, the shim execs MONITOR-COMMAND with the exit status and the sockets
//! (the `shim::resume` flags), so the monitor records the exit.

use std::os::fd::{FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::time::Instant;

use shim::logfile::LogWriter;
use shim::supervise::{supervise, Client, Streams};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let message = match run(&args) {
        Ok(never) => match never {},
        Err(message) => message,
    };
    eprintln!("berth-shim: {message}");
    std::process::exit(125);
}

enum Never {}

fn fd(arg: &str) -> Result<Option<RawFd>, String> {
    if arg == "-" {
        return Ok(None);
    }
    arg.parse().map(Some).map_err(|_| format!("not a file descriptor: {arg}"))
}

/// Takes ownership of an fd passed by the monitor.
fn owned(raw: RawFd) -> OwnedFd {
    // SAFETY: the monitor passed us this fd and nothing else in this process uses it.
    unsafe { OwnedFd::from_raw_fd(raw) }
}

/// Keeps an fd open across the exec back to the monitor.
fn inherit(raw: RawFd) -> RawFd {
    // SAFETY: clears FD_CLOEXEC on an fd we own.
    unsafe {
        libc::fcntl(raw, libc::F_SETFD, 0);
    }
    raw
}

fn run(args: &[String]) -> Result<Never, String> {
    let split = args
        .iter()
        .position(|a| a == "--")
        .ok_or("usage: berth-shim PID LOG STDIN STDOUT STDERR LISTENER CLIENTS -- MONITOR-COMMAND...")?;
    let (ours, monitor) = (&args[..split], &args[split + 1..]);
    let [pid, log, stdin, stdout, stderr, listener, clients] = ours else {
        return Err("usage: berth-shim PID LOG STDIN STDOUT STDERR LISTENER CLIENTS -- MONITOR-COMMAND...".into());
    };
    let (program, monitor_args) = monitor.split_first().ok_or("no monitor command")?;
    let pid: i32 = pid.parse().map_err(|_| format!("not a PID: {pid}"))?;
    let started = Instant::now();
    let mut streams =
        Streams { stdin: fd(stdin)?.map(owned), outputs: [fd(stdout)?.map(owned), fd(stderr)?.map(owned)] };
    // SAFETY: the monitor passed us its listening attach socket.
    let listener = unsafe { UnixListener::from_raw_fd(fd(listener)?.ok_or("no attach socket")?) };
    let mut clients: Vec<Client> = if clients == "-" {
        Vec::new()
    } else {
        clients
            .split(',')
            .map(|c| {
                let raw = fd(c)?.ok_or("no client")?;
                // SAFETY: the monitor passed us this client's socket.
                Ok(Client::new(unsafe { UnixStream::from_raw_fd(raw) }))
            })
            .collect::<Result<_, String>>()?
    };
    let mut log = LogWriter::open(Path::new(log)).map_err(|e| format!("opening {log}: {e}"))?;
    shim::memory::release_file_pages();
    let code = supervise(pid, &mut streams, &listener, &mut clients, &mut log, None, None)
        .map_err(|e| format!("supervising {pid}: {e}"))?
        .unwrap_or(255);
    let _ = log.flush_partial();
    drop(log);

    let mut command = std::process::Command::new(program);
    command.args(monitor_args);
    command.arg(shim::resume::EXIT).arg(code.to_string());
    command.arg(shim::resume::RAN_MS).arg(started.elapsed().as_millis().to_string());
    command.arg(shim::resume::LISTENER).arg(inherit(listener.into_raw_fd()).to_string());
    for client in clients {
        command.arg(shim::resume::CLIENT).arg(inherit(client.stream.into_raw_fd()).to_string());
    }
    let error = command.exec();
    Err(format!("handing the exit of {pid} back to its monitor ({program}): {error}"))
}

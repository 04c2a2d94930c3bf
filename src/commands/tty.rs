//! The CLI's side of a container's tty (`run -t`, `start -a`, `attach`, `exec -t`): the local
//! terminal in raw mode while attached, its size sent along, and the detach keys.

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};

use rustix::termios::{tcgetattr, tcgetwinsize, tcsetattr, OptionalActions, Termios};

/// Puts stdin's terminal in raw mode until dropped (nothing when stdin is not a terminal).
pub struct RawMode(Option<Termios>);

impl RawMode {
    pub fn enable() -> RawMode {
        let stdin = io::stdin();
        let Ok(saved) = tcgetattr(stdin.as_fd()) else { return RawMode(None) };
        let mut raw = saved.clone();
        raw.make_raw();
        if tcsetattr(stdin.as_fd(), OptionalActions::Now, &raw).is_err() {
            return RawMode(None);
        }
        RawMode(Some(saved))
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(saved) = &self.0 {
            let _ = tcsetattr(io::stdin().as_fd(), OptionalActions::Now, saved);
        }
    }
}

/// The local terminal's size as (rows, columns), from stdout or stdin.
pub fn window_size() -> Option<(u16, u16)> {
    let size = tcgetwinsize(io::stdout().as_fd()).or_else(|_| tcgetwinsize(io::stdin().as_fd())).ok()?;
    (size.ws_row > 0 && size.ws_col > 0).then_some((size.ws_row, size.ws_col))
}

/// Parses Docker's `--detach-keys` (`ctrl-p,ctrl-q`, `a`, `ctrl-@`...) into the bytes typed.
pub fn parse_detach_keys(spec: &str) -> anyhow::Result<Vec<u8>> {
    let mut keys = Vec::new();
    for key in spec.split(',').filter(|k| !k.is_empty()) {
        let byte = match key.strip_prefix("ctrl-") {
            Some(c) if c.len() == 1 => {
                let c = c.as_bytes()[0].to_ascii_lowercase();
                match c {
                    b'a'..=b'z' => c - b'a' + 1,
                    b'@' => 0,
                    b'[' => 27,
                    b'\\' => 28,
                    b']' => 29,
                    b'^' => 30,
                    b'_' => 31,
                    _ => anyhow::bail!("Unknown character: '{key}'"),
                }
            }
            None if key.len() == 1 => key.as_bytes()[0],
            _ => anyhow::bail!("Unknown character: '{key}'"),
        };
        keys.push(byte);
    }
    Ok(keys)
}

/// Watches typed input for the detach sequence.
pub struct DetachWatch {
    keys: Vec<u8>,
    matched: usize,
}

impl DetachWatch {
    pub fn new(keys: Vec<u8>) -> DetachWatch {
        DetachWatch { keys, matched: 0 }
    }

    /// Whether `input` completes the sequence.
    pub fn feed(&mut self, input: &[u8]) -> bool {
        if self.keys.is_empty() {
            return false;
        }
        for &b in input {
            if b == self.keys[self.matched] {
                self.matched += 1;
                if self.matched == self.keys.len() {
                    return true;
                }
            } else {
                self.matched = usize::from(b == self.keys[0]);
            }
        }
        false
    }
}

static RESIZED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

extern "C" fn on_winch(_: libc::c_int) {
    RESIZED.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// Calls `apply(rows, cols)` each time the local terminal is resized (SIGWINCH), from a thread
/// that lives as long as the process (an attach or exec session).
pub fn forward_resizes(apply: impl Fn(u16, u16) + Send + 'static) {
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe { libc::signal(libc::SIGWINCH, on_winch as *const () as libc::sighandler_t) };
    std::thread::spawn(move || loop {
        std::thread::sleep(std::time::Duration::from_millis(50));
        if RESIZED.swap(false, std::sync::atomic::Ordering::SeqCst) {
            if let Some((rows, cols)) = window_size() {
                apply(rows, cols);
            }
        }
    });
}

/// `exec -t`: copies between the local terminal and the process's pty master until the
/// process closes it (stdin only with `-i`).
pub fn proxy(master: OwnedFd, interactive: bool) -> io::Result<()> {
    let _raw = interactive.then(RawMode::enable);
    let set_size = |master: &OwnedFd, rows: u16, cols: u16| {
        let size = rustix::termios::Winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 };
        let _ = rustix::termios::tcsetwinsize(master, size);
    };
    if let Some((rows, cols)) = window_size() {
        set_size(&master, rows, cols);
    }
    let resized = master.try_clone()?;
    forward_resizes(move |rows, cols| set_size(&resized, rows, cols));
    if interactive {
        let input = master.try_clone()?;
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            let mut stdin = io::stdin().lock();
            while let Ok(n) = stdin.read(&mut buf) {
                if n == 0 || rustix::io::write(&input, &buf[..n]).is_err() {
                    return;
                }
            }
        });
    }
    let mut buf = [0u8; 16 * 1024];
    let mut stdout = io::stdout().lock();
    loop {
        match rustix::io::read(&master, &mut buf) {
            // EIO: every slave end is closed (the process exited).
            Ok(0) | Err(rustix::io::Errno::IO) => return Ok(()),
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
            Ok(n) => {
                stdout.write_all(&buf[..n])?;
                stdout.flush()?;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_keys_parse_and_match_as_dockers() {
        assert_eq!(parse_detach_keys("ctrl-p,ctrl-q").unwrap(), [16, 17]);
        assert_eq!(parse_detach_keys("a,ctrl-@").unwrap(), [b'a', 0]);
        assert!(parse_detach_keys("ctrl-pp").is_err());
        let mut watch = DetachWatch::new(vec![16, 17]);
        assert!(!watch.feed(b"ab\x10"));
        assert!(watch.feed(b"\x11"));
        let mut watch = DetachWatch::new(vec![16, 17]);
        assert!(!watch.feed(b"\x10x\x11"));
    }
}

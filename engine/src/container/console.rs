//! The console socket of a `-t` container or `exec -t` process (runc's protocol, which
//! libcontainer speaks): the runtime connects to it while creating the process, and the process
//! sends the master end of the pty it made inside the container, as an SCM_RIGHTS message.

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rustix::net::{recvmsg, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};

/// A listening console socket, removed when dropped.
pub struct ConsoleSocket {
    path: PathBuf,
    listener: UnixListener,
}

impl ConsoleSocket {
    pub fn listen(path: &Path) -> io::Result<ConsoleSocket> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let _ = std::fs::remove_file(path);
        let listener = UnixListener::bind(path)?;
        Ok(ConsoleSocket { path: path.to_path_buf(), listener })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The pty master the process sent (it was sent during creation, so it is waiting).
    pub fn receive_master(&self) -> io::Result<OwnedFd> {
        self.listener.set_nonblocking(true)?;
        let (stream, _) = self
            .listener
            .accept()
            .map_err(|e| io::Error::new(e.kind(), format!("the runtime did not connect to the console socket: {e}")))?;
        stream.set_nonblocking(false)?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut name = [0u8; 256];
        let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(1))];
        let mut control = RecvAncillaryBuffer::new(&mut space);
        recvmsg(&stream, &mut [io::IoSliceMut::new(&mut name)], &mut control, RecvFlags::CMSG_CLOEXEC)?;
        for message in control.drain() {
            if let RecvAncillaryMessage::ScmRights(mut fds) = message {
                if let Some(fd) = fds.next() {
                    return Ok(fd);
                }
            }
        }
        Err(io::Error::other("the console socket carried no pty"))
    }
}

impl Drop for ConsoleSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

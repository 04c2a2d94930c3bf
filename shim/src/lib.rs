//! berth's container shim. A container's monitor (`berth __monitor`) starts the container
//! through the runtime, then, for a container without a healthcheck, execs this small program
//! in its place: same PID, so it stays the parent of PID 1. The shim copies the container's
//! output to its json-file log and to attached clients until PID 1 exits, then execs the
//! monitor again to record the exit and apply the restart policy. Only this small program
//! stays resident while the container runs (docs/architecture.md, "The monitor and its shim").
//!
//! The pieces both sides use live here: the attach protocol's frames, the log writer, the
//! supervision loop.

pub mod frames;
pub mod logfile;
pub mod memory;
pub mod supervise;
pub mod time;

/// The flags the shim adds when it hands a container back to its monitor.
pub mod resume {
    /// `--resume <exit status>`
    pub const EXIT: &str = "--resume";
    /// `--ran-ms <ms>`: how long PID 1 ran (the restart backoff resets after ten seconds).
    pub const RAN_MS: &str = "--ran-ms";
    /// `--listener-fd <fd>`: the attach socket, still listening.
    pub const LISTENER: &str = "--listener-fd";
    /// `--client-fd <fd>`, once per attached client.
    pub const CLIENT: &str = "--client-fd";
}

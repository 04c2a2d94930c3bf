//! What the CLI does to a created or running container: stop, kill, remove, wait. The monitor
//! owns the state while it lives; these only signal the container and wait for the monitor to
//! record the outcome, taking over (cleanup included) when the monitor is gone.

use std::time::{Duration, Instant};

use rustix::process::{kill_process, Pid, Signal};

use super::model::{State, Status};
use super::store::{process_alive, RemovedFiles};
use crate::error::{Error, Result};
use crate::monitor::Launcher;
use crate::store::Store;

/// Parses `SIGTERM`, `TERM`, `term` or `15`.
pub fn parse_signal(s: &str) -> Result<i32> {
    if let Ok(n) = s.parse::<i32>() {
        if (1..=64).contains(&n) {
            return Ok(n);
        }
    }
    let name = s.to_ascii_uppercase();
    let name = name.strip_prefix("SIG").unwrap_or(&name);
    let n = match name {
        "HUP" => 1,
        "INT" => 2,
        "QUIT" => 3,
        "ILL" => 4,
        "TRAP" => 5,
        "ABRT" | "IOT" => 6,
        "BUS" => 7,
        "FPE" => 8,
        "KILL" => 9,
        "USR1" => 10,
        "SEGV" => 11,
        "USR2" => 12,
        "PIPE" => 13,
        "ALRM" => 14,
        "TERM" => 15,
        "STKFLT" => 16,
        "CHLD" => 17,
        "CONT" => 18,
        "STOP" => 19,
        "TSTP" => 20,
        "TTIN" => 21,
        "TTOU" => 22,
        "URG" => 23,
        "XCPU" => 24,
        "XFSZ" => 25,
        "VTALRM" => 26,
        "PROF" => 27,
        "WINCH" => 28,
        "IO" | "POLL" => 29,
        "PWR" => 30,
        "SYS" => 31,
        _ => return Err(Error::Invalid(format!("Invalid signal: {s}"))),
    };
    Ok(n)
}

fn send(pid: i32, signal: i32) -> Result<()> {
    let (Some(pid), Some(sig)) = (Pid::from_raw(pid), Signal::from_named_raw(signal)) else {
        return Err(Error::Invalid(format!("Invalid signal: {signal}")));
    };
    // A process that is already gone is not an error: it is what the caller wanted.
    let _ = kill_process(pid, sig);
    Ok(())
}

fn is_running(state: &State) -> bool {
    matches!(state.status, Status::Running | Status::Paused | Status::Restarting)
}

impl Store {
    /// Marks the container as stopped by the user: its restart policy must not revive it.
    fn mark_stopped(&self, id: &str) {
        let _ = std::fs::write(self.container_dir(id).join("stopped"), b"");
    }

    /// Clears that mark (`start`, `restart`).
    pub fn clear_stopped(&self, id: &str) {
        let _ = std::fs::remove_file(self.container_dir(id).join("stopped"));
    }

    /// Waits until the container is no longer running and its monitor has recorded it (or is
    /// gone), up to `limit`. Returns the state then.
    pub fn wait_stopped(&self, id: &str, limit: Duration) -> Result<State> {
        let deadline = Instant::now() + limit;
        loop {
            let state = self.observed_state(id)?;
            let monitor_done = state.monitor_pid == 0 || !process_alive(state.monitor_pid, 0);
            if (!is_running(&state) && monitor_done) || Instant::now() >= deadline {
                return Ok(state);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// `wait_stopped` for `stop`, `kill` and `rm`, where a `--rm` container may be removed by
    /// its monitor meanwhile: `None` once it is gone.
    fn wait_stopped_or_removed(&self, id: &str, limit: Duration) -> Result<Option<State>> {
        match self.wait_stopped(id, limit) {
            Err(_) if self.removed_meanwhile(id) => Ok(None),
            other => other.map(Some),
        }
    }

    /// Whether the container's files are gone: its monitor removed it (`--rm`) after PID 1
    /// exited, while the caller was looking at it.
    pub fn removed_meanwhile(&self, id: &str) -> bool {
        !self.container_dir(id).join("state.json").exists()
    }

    /// `stop`: the stop signal, then SIGKILL after `timeout` seconds (negative: wait forever).
    pub fn stop_container(&self, id: &str, timeout: i64, launcher: &mut dyn Launcher) -> Result<()> {
        let record = self.container(id)?;
        let state = self.observed_state(id)?;
        self.mark_stopped(id);
        if !is_running(&state) {
            return self.cleanup_after_exit(id, launcher);
        }
        let signal =
            parse_signal(if record.config.stop_signal.is_empty() { "SIGTERM" } else { &record.config.stop_signal })?;
        send(state.pid, signal)?;
        let grace = if timeout < 0 { Duration::from_secs(u64::MAX / 4) } else { Duration::from_secs(timeout as u64) };
        let Some(after) = self.wait_stopped_or_removed(id, grace)? else { return Ok(()) };
        if is_running(&after) {
            send(after.pid, 9)?;
            self.wait_stopped_or_removed(id, Duration::from_secs(10))?;
        }
        self.cleanup_after_exit(id, launcher)
    }

    /// `kill`: sends a signal (SIGKILL by default) to PID 1.
    pub fn kill_container(&self, id: &str, signal: i32) -> Result<()> {
        let state = self.observed_state(id)?;
        if !is_running(&state) {
            return Err(Error::Conflict(format!("Cannot kill container: {id}: Container {id} is not running")));
        }
        self.mark_stopped(id);
        send(state.pid, signal)?;
        if signal == 9 {
            self.wait_stopped_or_removed(id, Duration::from_secs(10))?;
        }
        Ok(())
    }

    /// After PID 1 is gone: if the monitor died without recording it, record the exit and
    /// undo what it would have undone (runtime state, cgroups, the rootfs mount).
    pub fn cleanup_after_exit(&self, id: &str, launcher: &mut dyn Launcher) -> Result<()> {
        self.record_exit_if_unseen(id, launcher)?;
        self.unmount_rootfs(id)
    }

    /// `cleanup_after_exit` but the rootfs's unmount (a removal leaves it to `RemovedFiles`).
    fn record_exit_if_unseen(&self, id: &str, launcher: &mut dyn Launcher) -> Result<()> {
        let raw = match self.read_state(id) {
            // Nothing is left to undo of a `--rm` container its monitor removed.
            Err(_) if self.removed_meanwhile(id) => return Ok(()),
            other => other?,
        };
        if raw.monitor_pid != 0 && process_alive(raw.monitor_pid, 0) {
            return Ok(());
        }
        let observed = self.observed_state(id)?;
        if raw.status != observed.status || raw.monitor_pid != 0 {
            let mut state = observed;
            state.monitor_pid = 0;
            self.write_state(id, &state)?;
            if let Ok(record) = self.container(id) {
                launcher.delete(&record);
            }
        }
        Ok(())
    }

    /// `rm`: refuses a running container unless `force` (which kills it first); with
    /// `volumes`, its anonymous volumes go too.
    pub fn remove_container(
        &mut self,
        id: &str,
        force: bool,
        volumes: bool,
        launcher: &mut dyn Launcher,
    ) -> Result<()> {
        self.remove_container_but_files(id, force, volumes, launcher).map(drop)
    }

    /// `remove_container`, except that the container's files are deleted when the returned
    /// value goes (`RemovedFiles`).
    pub fn remove_container_but_files(
        &mut self,
        id: &str,
        force: bool,
        volumes: bool,
        launcher: &mut dyn Launcher,
    ) -> Result<RemovedFiles> {
        if !self.container_dir(id).exists() {
            // A row whose files a crash took: only the row is left to remove.
            return self.delete_container(id, false);
        }
        let state = self.observed_state(id)?;
        if is_running(&state) {
            if !force {
                return Err(Error::Conflict(format!(
                    "You cannot remove a running container {id}. Stop the container before attempting removal or force remove"
                )));
            }
            self.mark_stopped(id);
            send(state.pid, 9)?;
        }
        // Also when PID 1 has just exited: its monitor may still be writing the container's
        // files, which must not be removed under it. A `--rm` container's monitor removes it
        // itself; what is left of it (nothing, or the row) goes below.
        self.wait_stopped_or_removed(id, Duration::from_secs(10))?;
        // The rootfs is unmounted with the files (`RemovedFiles`): for a `--rm` container,
        // after `run` heard that it is removed (the overlay's teardown, 0.3-0.4 ms here).
        self.record_exit_if_unseen(id, launcher)?;
        let record = self.container(id);
        let auto_remove = record.as_ref().is_ok_and(|r| r.host_config.auto_remove);
        let anonymous: Vec<String> = match record {
            Ok(record) if volumes => record
                .host_config
                .mounts
                .iter()
                .filter(|m| m.kind == "volume")
                .filter(|m| self.volume(&m.source).ok().flatten().is_some_and(|v| v.anonymous))
                .map(|m| m.source.clone())
                .collect(),
            _ => Vec::new(),
        };
        let files = self.delete_container(id, auto_remove)?;
        for volume in anonymous {
            // Still used by another container (`--volumes-from`): keep it.
            if self.volume_users(&volume)?.is_empty() {
                self.remove_volume(&volume, true)?;
            }
        }
        Ok(files)
    }
}

//! Containers in the store: the `containers` rows (names are unique, reserved in a
//! transaction) and each container's directory:
//!
//! ```text
//! <root>/containers/<id>/config.json   the Record, written once at create
//! <root>/containers/<id>/state.json    the State, replaced atomically on every change
//! <root>/containers/<id>/upper, work   the overlay's writable layer
//! <root>/containers/<id>/merged        the root filesystem while it runs
//! <root>/containers/<id>/<id>-json.log the log, in Docker's json-file format
//! ```

use std::fs;
use std::path::PathBuf;

use rusqlite::{params, OptionalExtension};

use super::model::{Record, State, Status};
use crate::digest::Digest;
use crate::error::{Error, IoContext, Result};
use crate::store::Store;

/// A removed container's directory, moved aside, its rootfs maybe still mounted in it:
/// unmounted and deleted when this goes. The monitor of a `--rm` container holds it until it
/// has told `run` that the container is gone, so that `run` does not wait for the unmount and
/// the deletion (~1 ms of unlinks).
pub struct RemovedFiles(Option<PathBuf>);

impl Drop for RemovedFiles {
    fn drop(&mut self) {
        if let Some(dir) = self.0.take() {
            unmount_merged(&dir);
            let _ = fs::remove_dir_all(dir);
        }
    }
}

/// Unmounts the container's rootfs in its directory `dir`, if mounted (the mount goes along
/// when the directory is moved).
fn unmount_merged(dir: &std::path::Path) {
    let merged = dir.join("merged");
    if crate::container::rootfs::is_mountpoint(&merged) {
        let _ = rustix::mount::unmount(&merged, rustix::mount::UnmountFlags::DETACH);
    }
}

impl Store {
    pub fn container_dir(&self, id: &str) -> PathBuf {
        container_dir_at(self.root(), id)
    }

    /// Reserves the name and writes the container's directory. The row comes first: a kill
    /// after it leaves a container without files, which `rm` removes.
    pub fn insert_container(&mut self, record: &Record) -> Result<()> {
        let taken: Option<String> = self
            .db
            .conn()
            .query_row("SELECT id FROM containers WHERE name = ?1", [&record.name], |r| r.get(0))
            .optional()?;
        if let Some(other) = taken {
            return Err(Error::Conflict(format!(
                "Conflict. The container name \"/{}\" is already in use by container \"{other}\". You have to remove (or rename) that container to be able to reuse that name.",
                record.name
            )));
        }
        let insert = |tx: &rusqlite::Transaction| {
            tx.execute(
                "INSERT INTO containers (id, name, image, created) VALUES (?1, ?2, ?3, ?4)",
                params![record.id, record.name, record.image.as_str(), record.created],
            )
            .map_err(|e| match e {
                rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::ConstraintViolation => Error::Conflict(
                    format!("Conflict. The container name \"/{}\" is already in use. You have to remove (or rename) that container to be able to reuse that name.", record.name),
                ),
                other => other.into(),
            })?;
            Ok(())
        };
        self.container_transaction(record.host_config.auto_remove, insert)?;
        if record.host_config.auto_remove {
            // The monitor removes the row, and checkpoints a big WAL then, after `run` returns.
            self.db.leave_checkpoint();
        }
        let dir = self.container_dir(&record.id);
        for sub in ["upper", "work", "merged"] {
            fs::create_dir_all(dir.join(sub)).at(dir.join(sub))?;
        }
        write_json(&dir.join("config.json"), record)?;
        self.write_state(&record.id, &State::default())
    }

    /// A change to a container's row: a `--rm` container (`auto_remove`) does not outlive a
    /// reboot, so its changes need not be synced (`Db::transaction_unsynced`).
    fn container_transaction(
        &mut self,
        auto_remove: bool,
        f: impl FnOnce(&rusqlite::Transaction) -> Result<()>,
    ) -> Result<()> {
        if auto_remove {
            self.db.transaction_unsynced(f)
        } else {
            self.db.transaction(f)
        }
    }

    /// Finds a container by full ID, name, or unique ID prefix, as Docker does.
    pub fn resolve_container(&self, s: &str) -> Result<String> {
        let name = s.strip_prefix('/').unwrap_or(s);
        let conn = self.db.conn();
        let by_exact: Option<String> = conn
            .query_row("SELECT id FROM containers WHERE id = ?1 OR name = ?2", params![s, name], |r| r.get(0))
            .optional()?;
        if let Some(id) = by_exact {
            return Ok(id);
        }
        if !s.is_empty() && s.bytes().all(|c| c.is_ascii_hexdigit()) {
            let mut stmt = conn.prepare("SELECT id FROM containers WHERE substr(id, 1, ?2) = ?1")?;
            let ids: Vec<String> =
                stmt.query_map(params![s, s.len() as i64], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
            match ids.len() {
                1 => return Ok(ids.into_iter().next().expect("one")),
                n if n > 1 => {
                    return Err(Error::Invalid(format!("multiple containers found with provided prefix: {s}")))
                }
                _ => {}
            }
        }
        Err(Error::NoSuchContainer(s.to_string()))
    }

    pub fn container(&self, id: &str) -> Result<Record> {
        record_at(self.root(), id)
    }

    /// Every container's ID, newest first. A row whose directory is gone is left out: a crash
    /// can leave one (a kill between the row and the files, or a `--rm` container's unsynced
    /// removal lost); `rm` and `system check` remove it.
    pub fn container_ids(&self) -> Result<Vec<String>> {
        let mut ids = self.container_rows()?;
        ids.retain(|id| self.container_dir(id).exists());
        Ok(ids)
    }

    /// Every container row's ID, newest first, with or without its directory.
    pub fn container_rows(&self) -> Result<Vec<String>> {
        let mut stmt = self.db.conn().prepare("SELECT id FROM containers ORDER BY created DESC, rowid DESC")?;
        let ids = stmt.query_map([], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
        Ok(ids)
    }

    /// The name of a container using the image, if any (`rmi` refuses such an image).
    pub fn container_using_image(&self, image: &Digest) -> Result<Option<String>> {
        Ok(self
            .db
            .conn()
            .query_row("SELECT id FROM containers WHERE image = ?1 LIMIT 1", [image.as_str()], |r| r.get(0))
            .optional()?)
    }

    pub fn rename_container(&mut self, id: &str, new_name: &str) -> Result<()> {
        let mut record = self.container(id)?;
        if let Ok(other) = self.resolve_container(new_name) {
            if other != id {
                return Err(Error::Conflict(format!(
                    "Error when allocating new name: Conflict. The container name \"/{new_name}\" is already in use by container \"{other}\". You have to remove (or rename) that container to be able to reuse that name."
                )));
            }
        }
        self.db.transaction(|tx| {
            tx.execute("UPDATE containers SET name = ?1 WHERE id = ?2", params![new_name, id])?;
            Ok(())
        })?;
        record.name = new_name.to_string();
        write_json(&self.container_dir(id).join("config.json"), &record)
    }

    /// Rewrites a container's configuration (what `network connect` and `update` change).
    pub fn update_container(&self, record: &Record) -> Result<()> {
        write_json(&self.container_dir(&record.id).join("config.json"), record)
    }

    /// Deletes the row, then moves the files aside into `tmp/` (a kill in between leaves files
    /// `system check` reclaims); they are deleted when the returned value goes. The removal of
    /// a `--rm` container (`auto_remove`) is not synced, as its row was not: after a crash
    /// that loses it, the row without files is left out of listings and removed by `rm` or
    /// `system check`.
    pub fn delete_container(&mut self, id: &str, auto_remove: bool) -> Result<RemovedFiles> {
        let delete = |tx: &rusqlite::Transaction| {
            tx.execute("DELETE FROM containers WHERE id = ?1", [id])?;
            Ok(())
        };
        self.container_transaction(auto_remove, delete)?;
        let dir = self.container_dir(id);
        let aside = self.root().join("tmp").join(format!("removed-{id}"));
        match fs::rename(&dir, &aside) {
            Ok(()) => Ok(RemovedFiles(Some(aside))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(RemovedFiles(None)),
            // Another filesystem or a leftover in the way: deleted in place, now.
            Err(_) => {
                unmount_merged(&dir);
                match fs::remove_dir_all(&dir) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e).at(dir),
                    _ => Ok(RemovedFiles(None)),
                }
            }
        }
    }

    pub fn read_state(&self, id: &str) -> Result<State> {
        read_state_at(self.root(), id)
    }

    pub fn write_state(&self, id: &str, state: &State) -> Result<()> {
        write_state_at(self.root(), id, state)
    }

    /// The state as the kernel says it is: a container recorded as running whose PID 1 is
    /// gone is exited, even if its monitor died with it and never wrote so.
    pub fn observed_state(&self, id: &str) -> Result<State> {
        let mut state = self.read_state(id)?;
        let live = matches!(state.status, Status::Running | Status::Paused | Status::Restarting);
        // Paused is the freezer's word, not a stored one: nobody has to remember to undo it.
        if live && state.status != Status::Restarting && process_alive(state.pid, state.pid_start) {
            state.status = if super::cgroup::is_frozen(state.pid) { Status::Paused } else { Status::Running };
        }
        if live && state.status != Status::Restarting && !process_alive(state.pid, state.pid_start) {
            state.status = Status::Exited;
            state.pid = 0;
            if !process_alive(state.monitor_pid, 0) {
                // Nobody saw it exit: Docker reports such a container as exited (255).
                state.exit_code = 255;
                if state.finished_at.is_empty() || state.finished_at == super::model::ZERO_TIME {
                    state.finished_at = crate::time::now();
                }
            }
        }
        Ok(state)
    }

    /// The observed state, or `None` while PID 1 is gone but its monitor has not yet recorded
    /// the exit (so the exit code would still read 0).
    pub fn settled_state(&self, id: &str) -> Result<Option<State>> {
        let recorded = self.read_state(id)?;
        let state = self.observed_state(id)?;
        let in_flight = !state.status.is_running()
            && recorded.status.is_running()
            && recorded.monitor_pid != 0
            && process_alive(recorded.monitor_pid, 0);
        Ok((!in_flight).then_some(state))
    }
}

/// Whether `pid` is alive and (when `start` is given) is still the same process.
pub fn process_alive(pid: i32, start: u64) -> bool {
    if pid <= 0 {
        return false;
    }
    match process_start_time(pid) {
        Some(t) => start == 0 || t == start,
        None => false,
    }
}

/// Field 22 of `/proc/<pid>/stat`; `None` for a dead or zombie process.
pub fn process_start_time(pid: i32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    if fields.first() == Some(&"Z") || fields.first() == Some(&"X") {
        return None;
    }
    fields.get(19)?.parse().ok()
}

pub fn read_json<T: for<'de> serde::Deserialize<'de>>(path: &std::path::Path) -> Result<T> {
    let bytes = fs::read(path).at(path)?;
    serde_json::from_slice(&bytes).map_err(|source| Error::Json { what: path.display().to_string(), source })
}

/// Writes through a temp file and a rename: readers see the old file or the new one.
pub fn write_json<T: serde::Serialize>(path: &std::path::Path, value: &T) -> Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let bytes = serde_json::to_vec(value).map_err(|source| Error::Json { what: path.display().to_string(), source })?;
    fs::write(&tmp, bytes).at(&tmp)?;
    fs::rename(&tmp, path).at(path)
}

/// A container's directory under the state root `root`.
pub fn container_dir_at(root: &std::path::Path, id: &str) -> PathBuf {
    root.join("containers").join(id)
}

/// A container's record, read without the store (a monitor whose store is still opening).
pub fn record_at(root: &std::path::Path, id: &str) -> Result<Record> {
    read_json(&container_dir_at(root, id).join("config.json"))
}

/// A container's state, read without the store (a monitor whose store is still opening).
pub fn read_state_at(root: &std::path::Path, id: &str) -> Result<State> {
    read_json(&container_dir_at(root, id).join("state.json"))
}

/// `Store::write_state` without the store (a monitor whose store is not open yet).
pub fn write_state_at(root: &std::path::Path, id: &str, state: &State) -> Result<()> {
    write_json(&container_dir_at(root, id).join("state.json"), state)
}

/// `write_state_at` for a container whose state a reboot makes pointless, a `--rm` one: not
/// made durable (`files::replace_volatile`).
pub fn write_state_volatile_at(root: &std::path::Path, id: &str, state: &State) -> Result<()> {
    let path = container_dir_at(root, id).join("state.json");
    let bytes = serde_json::to_vec(state).map_err(|source| Error::Json { what: path.display().to_string(), source })?;
    crate::files::replace_volatile(&path, &bytes).at(&path)
}

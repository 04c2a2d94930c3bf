//! Volumes: `<root>/volumes/<name>/_data`, rows in the `volumes` table, and which containers
//! use them (`container_volumes`), so `volume rm` refuses a volume in use, as Docker does.

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;

use rusqlite::{params, OptionalExtension};

use crate::error::{Error, IoContext, Result};
use crate::store::Store;

#[derive(Clone, Debug)]
pub struct Volume {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub created: String,
    pub anonymous: bool,
}

fn valid_volume_name(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() >= 2
        && b[0].is_ascii_alphanumeric()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

fn volume_row(row: &rusqlite::Row) -> rusqlite::Result<Volume> {
    let labels: String = row.get(1)?;
    Ok(Volume {
        name: row.get(0)?,
        labels: serde_json::from_str(&labels).unwrap_or_default(),
        created: row.get(2)?,
        anonymous: row.get::<_, i64>(3)? != 0,
    })
}

impl Store {
    pub fn volume_data(&self, name: &str) -> PathBuf {
        self.root().join("volumes").join(name).join("_data")
    }

    /// Creates a volume; an existing one is returned as it is (Docker's `volume create` is
    /// idempotent). `None` makes an anonymous volume with a random name.
    pub fn create_volume(&mut self, name: Option<&str>, labels: &BTreeMap<String, String>) -> Result<Volume> {
        let (name, anonymous) = match name {
            Some(n) if !valid_volume_name(n) => {
                return Err(Error::Invalid(format!(
                    "create {n}: \"{n}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
                )))
            }
            Some(n) => (n.to_string(), false),
            None => (crate::container::names::random_id(), true),
        };
        if let Some(existing) = self.volume(&name)? {
            return Ok(existing);
        }
        let data = self.volume_data(&name);
        fs::create_dir_all(&data).at(&data)?;
        let volume = Volume {
            name,
            labels: labels.clone(),
            created: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            anonymous,
        };
        let labels_json = serde_json::to_string(&volume.labels).unwrap_or_else(|_| "{}".into());
        self.db.transaction(|tx| {
            tx.execute(
                "INSERT OR IGNORE INTO volumes (name, labels, created, anonymous) VALUES (?1, ?2, ?3, ?4)",
                params![volume.name, labels_json, volume.created, volume.anonymous as i64],
            )?;
            Ok(())
        })?;
        Ok(volume)
    }

    pub fn volume(&self, name: &str) -> Result<Option<Volume>> {
        Ok(self
            .db
            .conn()
            .query_row("SELECT name, labels, created, anonymous FROM volumes WHERE name = ?1", [name], volume_row)
            .optional()?)
    }

    pub fn volumes(&self) -> Result<Vec<Volume>> {
        let mut stmt = self.db.conn().prepare("SELECT name, labels, created, anonymous FROM volumes ORDER BY name")?;
        let rows = stmt.query_map([], volume_row)?.collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    /// The containers using a volume.
    pub fn volume_users(&self, name: &str) -> Result<Vec<String>> {
        let mut stmt = self.db.conn().prepare("SELECT container FROM container_volumes WHERE volume = ?1")?;
        let rows = stmt.query_map([name], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    /// Records that a container uses a volume.
    pub fn attach_volume(&mut self, container: &str, volume: &str) -> Result<()> {
        self.db.transaction(|tx| {
            tx.execute(
                "INSERT OR IGNORE INTO container_volumes (container, volume) VALUES (?1, ?2)",
                params![container, volume],
            )?;
            Ok(())
        })
    }

    /// `volume rm`: refuses a volume in use unless `force` is set and no container remains.
    pub fn remove_volume(&mut self, name: &str, force: bool) -> Result<()> {
        if self.volume(name)?.is_none() {
            if force {
                return Ok(());
            }
            return Err(Error::Invalid(format!("get {name}: no such volume")));
        }
        let users = self.volume_users(name)?;
        if !users.is_empty() {
            return Err(Error::Conflict(format!("remove {name}: volume is in use - [{}]", users.join(", "))));
        }
        self.db.transaction(|tx| {
            tx.execute("DELETE FROM volumes WHERE name = ?1", [name])?;
            Ok(())
        })?;
        let dir = self.root().join("volumes").join(name);
        match fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e).at(dir),
            _ => Ok(()),
        }
    }

    /// Copies the image's content at `target` into an empty volume, once (Docker's copy-up).
    /// The source is resolved inside the container's root filesystem; `cp -a` never follows a
    /// symlink inside it.
    pub fn seed_volume(&self, name: &str, rootfs: &std::path::Path, target: &str) -> Result<()> {
        let data = self.volume_data(name);
        let marker = self.root().join("volumes").join(name).join("seeded");
        if marker.exists() || fs::read_dir(&data).map(|mut d| d.next().is_some()).unwrap_or(true) {
            return Ok(());
        }
        use rustix::fs::{openat2, Mode, OFlags, ResolveFlags};
        let root = rustix::fs::open(rootfs, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
            .map_err(|e| Error::Io { path: rootfs.to_path_buf(), source: e.into() })?;
        let resolve = ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS;
        if let Ok(src) =
            openat2(&root, target, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty(), resolve)
        {
            // Our fd, seen from the `cp` child (which does not inherit it): /proc/<our pid>/fd.
            let from = format!("/proc/{}/fd/{}/.", std::process::id(), std::os::fd::AsRawFd::as_raw_fd(&src));
            let status = std::process::Command::new("cp")
                .arg("-a")
                .arg(&from)
                .arg(&data)
                .stdin(std::process::Stdio::null())
                .status()
                .map_err(|e| Error::Io { path: data.clone(), source: e })?;
            if !status.success() {
                return Err(Error::Invalid(format!("copying the image's {target} into volume {name} failed")));
            }
        }
        fs::write(&marker, b"").at(marker)
    }
}

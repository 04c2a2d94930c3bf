//! The container's root filesystem: an overlay of the image's layers (read-only, top first)
//! under the container's own writable `upper` directory, mounted at `merged`.

use std::path::Path;

use rustix::mount::{mount, unmount, MountFlags, UnmountFlags};

use crate::container::model::Record;
use crate::error::{Error, IoContext, Result};
use crate::store::Store;

/// The kernel takes mount options up to one page.
const MAX_OPTIONS: usize = 4000;

impl Store {
    /// Mounts the container's overlay at `containers/<id>/merged` (a no-op when mounted).
    pub fn mount_rootfs(&self, id: &str) -> Result<std::path::PathBuf> {
        let mut record = self.container(id)?;
        if record.layers.is_empty() {
            record.layers = self.db.image_layers(&record.image)?;
        }
        mount_rootfs_at(self.root(), &record)
    }

    /// Unmounts the container's overlay, if mounted.
    pub fn unmount_rootfs(&self, id: &str) -> Result<()> {
        let merged = self.container_dir(id).join("merged");
        if is_mountpoint(&merged) {
            match unmount(&merged, UnmountFlags::DETACH) {
                // EINVAL: no longer a mount point (the monitor and the CLI both clean up).
                Ok(()) | Err(rustix::io::Errno::INVAL) => {}
                Err(e) => return Err(std::io::Error::from(e)).at(&merged),
            }
        }
        Ok(())
    }
}

/// `Store::mount_rootfs` from the layers in the record, without the store (a monitor, whose
/// store opens later). The record must have its layers (`Record::layers`).
pub fn mount_rootfs_at(root: &Path, record: &Record) -> Result<std::path::PathBuf> {
    let dir = crate::container::store::container_dir_at(root, &record.id);
    let merged = dir.join("merged");
    if is_mountpoint(&merged) {
        return Ok(merged);
    }
    let layers = &record.layers;
    let lowers: Vec<String> = std::iter::once(init_layer_dir(root))
        .chain(layers.iter().rev().map(|chain| crate::ingest::layer_dir_at(root, chain).join("diff")))
        .map(|dir| dir.display().to_string())
        .collect();
    let mut options = format!(
        "lowerdir={},upperdir={},workdir={},index=off,redirect_dir=off,metacopy=off",
        lowers.join(":"),
        dir.join("upper").display(),
        dir.join("work").display()
    );
    if record.host_config.auto_remove {
        // Nothing of a `--rm` container outlives it: its writes need not reach the disk,
        // and the unmount need not sync the upper filesystem (about 1 ms). overlay leaves
        // a marker that refuses the next mount (made for a crash, after which the upper dir
        // may be incomplete); `cp` into a created container mounts it once before `start`.
        options.push_str(",volatile");
        let marker = dir.join("work/work/incompat");
        match std::fs::remove_dir_all(&marker) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e).at(&marker),
            _ => {}
        }
    }
    if options.len() > MAX_OPTIONS {
        return Err(Error::Invalid(format!(
            "image has too many layers ({}) to mount: the overlay options exceed one page",
            layers.len()
        )));
    }
    let data = std::ffi::CString::new(options).map_err(|_| Error::Invalid("layer path with a NUL byte".into()))?;
    mount("overlay", &merged, "overlay", MountFlags::empty(), Some(data.as_c_str()))
        .map_err(std::io::Error::from)
        .at(&merged)?;
    Ok(merged)
}

/// The layer every container's rootfs has right above the image's, as Docker's `-init` layer:
/// the mount points the runtime mounts over at each start (`/proc`, `/sys`, `/dev`, and
/// `/etc/hosts`, `/etc/hostname`, `/etc/resolv.conf` as empty files), and Docker's `/etc/mtab`
/// link to `/proc/mounts`. Without it the runtime made them in the container's own layer at
/// its first start: ext4 inodes made (and later removed) on the way to PID 1, and entries that
/// `diff` and `commit` reported as the container's changes, where Docker's show none.
pub fn init_layer_dir(root: &Path) -> std::path::PathBuf {
    root.join("init")
}

/// Makes the init layer unless it is there (`Store::open`): built beside it, then renamed into
/// place, so that it is whole once it exists.
pub fn ensure_init_layer(root: &Path) -> Result<()> {
    let dir = init_layer_dir(root);
    if dir.is_dir() {
        return Ok(());
    }
    let building = root.join(format!("init.tmp-{:016x}", rand::random::<u64>()));
    let built = (|| -> std::io::Result<()> {
        for sub in ["proc", "sys", "dev", "etc"] {
            std::fs::create_dir_all(building.join(sub))?;
        }
        for file in ["hosts", "hostname", "resolv.conf"] {
            std::fs::write(building.join("etc").join(file), "")?;
        }
        std::os::unix::fs::symlink("/proc/mounts", building.join("etc/mtab"))?;
        match std::fs::rename(&building, &dir) {
            // Another process made it first.
            Err(_) if dir.is_dir() => std::fs::remove_dir_all(&building),
            other => other,
        }
    })();
    if built.is_err() {
        let _ = std::fs::remove_dir_all(&building);
    }
    built.at(&dir)
}

/// Whether a path is a mount point: the root of a mount, as `statx` says since Linux 5.8 (one
/// syscall, where the kernel writes out the whole mount table for a read of mountinfo).
pub fn is_mountpoint(path: &Path) -> bool {
    use rustix::fs::{statx, AtFlags, StatxAttributes, StatxFlags, CWD};
    let flags = AtFlags::SYMLINK_NOFOLLOW | AtFlags::NO_AUTOMOUNT;
    match statx(CWD, path, flags, StatxFlags::empty()) {
        Err(_) => return false,
        Ok(st) if st.stx_attributes_mask.contains(StatxAttributes::MOUNT_ROOT) => {
            return st.stx_attributes.contains(StatxAttributes::MOUNT_ROOT);
        }
        Ok(_) => {}
    }
    let Ok(mounts) = std::fs::read_to_string("/proc/self/mountinfo") else { return false };
    let target = path.to_string_lossy();
    mounts.lines().any(|line| line.split(' ').nth(4).is_some_and(|mp| unescape(mp) == target))
}

/// mountinfo escapes space, tab, newline and backslash as octal.
fn unescape(s: &str) -> String {
    s.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace("\\134", "\\")
}

/// Creates `dir` (absolute, inside the container) and its missing parents, as Docker creates a
/// missing working directory at start. Every step is resolved inside `rootfs`, so a symlink in
/// the image cannot make berth create a directory on the host.
pub fn make_dir_in_root(rootfs: &Path, dir: &str) -> std::io::Result<()> {
    use rustix::fs::{mkdirat, openat2, Mode, OFlags, ResolveFlags};
    let root = rustix::fs::open(rootfs, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())?;
    let resolve = ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS;
    let mut current = String::from("/");
    for part in dir.split('/').filter(|p| !p.is_empty() && *p != ".") {
        let parent = openat2(
            &root,
            current.as_str(),
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
            resolve,
        )?;
        match mkdirat(&parent, part, Mode::from_raw_mode(0o755)) {
            Ok(()) | Err(rustix::io::Errno::EXIST) => {}
            Err(e) => return Err(e.into()),
        }
        current = format!("{}/{part}", current.trim_end_matches('/'));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_points_are_told_from_plain_directories() {
        assert!(is_mountpoint(Path::new("/")));
        assert!(is_mountpoint(Path::new("/proc")));
        assert!(!is_mountpoint(Path::new("/proc/self/fd")));
        assert!(!is_mountpoint(Path::new("/no/such/path")));
    }
}

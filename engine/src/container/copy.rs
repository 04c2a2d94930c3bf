//! `cp` between a container and the host. Every path inside the container is resolved with
//! openat2(RESOLVE_IN_ROOT) from its root, reading uses the fd-relative tar writer, and writing
//! uses the layer applier through a pinned directory fd, so a container that swaps symlinks
//! while we copy cannot make berth read or write outside its root.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{openat2, FileType, Mode, OFlags, ResolveFlags};

use crate::error::{Error, IoContext, Result};
use crate::layer::{apply_layer, remove_at, write_item_tar, write_layer_tar};
use crate::store::Store;

const IN_ROOT: ResolveFlags = ResolveFlags::IN_ROOT.union(ResolveFlags::NO_MAGICLINKS);

/// Splits `/a/b/c` into (`/a/b`, `c`); `/a/b/.` means "the contents of /a/b".
fn split(path: &str) -> (String, String) {
    let trimmed = path.trim_end_matches('/');
    match trimmed.rsplit_once('/') {
        Some((parent, name)) => (if parent.is_empty() { "/".into() } else { parent.into() }, name.into()),
        None if trimmed.is_empty() => ("/".into(), ".".into()),
        None => (".".into(), trimmed.into()),
    }
}

/// A directory fd, resolved inside the container's root.
fn open_dir_in(root: &OwnedFd, path: &str, what: &str) -> Result<OwnedFd> {
    openat2(root, path, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty(), IN_ROOT).map_err(|_| {
        Error::Invalid(format!("Could not find the file {what} in container (its directory {path} does not exist)"))
    })
}

/// The container's root filesystem, mounted while copying if it is not running.
struct Rootfs<'a> {
    store: &'a Store,
    id: String,
    unmount: bool,
    root: OwnedFd,
}

impl<'a> Rootfs<'a> {
    fn open(store: &'a Store, id: &str) -> Result<Rootfs<'a>> {
        let merged = store.container_dir(id).join("merged");
        let unmount = !super::rootfs::is_mountpoint(&merged);
        store.mount_rootfs(id)?;
        let root = rustix::fs::open(&merged, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
            .map_err(|e| Error::Io { path: merged.clone(), source: e.into() })?;
        Ok(Rootfs { store, id: id.to_string(), unmount, root })
    }

    fn root_path(&self) -> PathBuf {
        self.store.container_dir(&self.id).join("merged")
    }
}

impl Drop for Rootfs<'_> {
    fn drop(&mut self) {
        if self.unmount {
            let _ = self.store.unmount_rootfs(&self.id);
        }
    }
}

/// Where `cp` puts what it copies out of a container.
pub enum CopyOut<'a> {
    /// A host path, with Docker's rules for existing directories.
    Host(&'a Path),
    /// A tar stream (`-`).
    Tar(&'a mut dyn Write),
}

/// Where `cp` takes what it copies into a container.
pub enum CopyIn<'a> {
    Host(&'a Path),
    Tar(&'a mut dyn Read),
}

impl Store {
    /// `cp CONTAINER:SRC DEST`
    pub fn copy_from_container(&self, id: &str, src: &str, dest: CopyOut) -> Result<()> {
        let rootfs = Rootfs::open(self, id)?;
        let (parent, name) = split(src);
        let contents_only = src.ends_with("/.");
        let (parent, name) = if contents_only { split(&parent) } else { (parent, name) };
        let parent_fd = open_dir_in(&rootfs.root, &parent, src)?;
        let item = rustix::fs::statat(&parent_fd, name.as_str(), rustix::fs::AtFlags::SYMLINK_NOFOLLOW)
            .map_err(|_| Error::Invalid(format!("Could not find the file {src} in container {}", &id[..12])))?;
        let is_dir = FileType::from_raw_mode(item.st_mode) == FileType::Directory;
        match dest {
            CopyOut::Tar(out) => {
                write_item_tar(parent_fd.as_fd(), name.as_bytes(), name.as_bytes(), out).at(src)?;
            }
            CopyOut::Host(dest) => {
                // Docker's rules: into an existing directory under the source's name; else as
                // the destination itself; `SRC/.` copies the contents.
                let (target_dir, top) = if dest.is_dir() && !contents_only {
                    (dest.to_path_buf(), name.clone())
                } else if is_dir && contents_only {
                    std::fs::create_dir_all(dest).at(dest)?;
                    (dest.to_path_buf(), String::new())
                } else {
                    let parent = dest.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
                    if !parent.is_dir() {
                        return Err(Error::Invalid(format!(
                            "destination directory {} does not exist",
                            parent.display()
                        )));
                    }
                    (
                        parent.to_path_buf(),
                        dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
                    )
                };
                let mut tar = Vec::new();
                if top.is_empty() {
                    // The directory's contents, each child under its own name; the walk starts
                    // from the pinned fd (/proc/self/fd/N), never from a path in the container.
                    let dir = rustix::fs::openat(
                        &parent_fd,
                        name.as_str(),
                        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                        Mode::empty(),
                    )
                    .map_err(|e| Error::Invalid(format!("{src}: {e}")))?;
                    write_layer_tar(Path::new(&format!("/proc/self/fd/{}", dir.as_raw_fd())), &mut tar).at(src)?;
                } else {
                    write_item_tar(parent_fd.as_fd(), name.as_bytes(), top.as_bytes(), &mut tar).at(src)?;
                }
                apply_layer(&tar[..], &target_dir)?;
            }
        }
        Ok(())
    }

    /// `cp SRC CONTAINER:DEST`
    pub fn copy_to_container(&self, id: &str, src: CopyIn, dest: &str) -> Result<()> {
        let rootfs = Rootfs::open(self, id)?;
        let dest_is_dir =
            openat2(&rootfs.root, dest, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty(), IN_ROOT)
                .ok();
        match src {
            CopyIn::Tar(input) => {
                let dir = dest_is_dir.ok_or_else(|| {
                    Error::Invalid(format!("Could not find the file {dest} in container {}", &id[..12]))
                })?;
                apply_into(&dir, input)
            }
            CopyIn::Host(src) => {
                let meta = std::fs::symlink_metadata(src).at(src)?;
                let contents_only = src.to_string_lossy().ends_with("/.");
                let src_name = src.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                // Into an existing directory under the source's name; else as DEST itself.
                let (dir, top) = match dest_is_dir {
                    Some(dir) if !contents_only => (dir, src_name),
                    Some(dir) => (dir, String::new()),
                    None => {
                        let (parent, name) = split(dest);
                        if dest.ends_with('/') && !meta.is_dir() {
                            return Err(Error::Invalid(format!("destination directory {dest} does not exist")));
                        }
                        (open_dir_in(&rootfs.root, &parent, dest)?, name)
                    }
                };
                let mut tar = tar::Builder::new(Vec::new());
                tar.follow_symlinks(false);
                if top.is_empty() {
                    tar.append_dir_all(".", src).at(src)?;
                } else if meta.is_dir() {
                    tar.append_dir_all(&top, src).at(src)?;
                } else {
                    tar.append_path_with_name(src, &top).at(src)?;
                }
                let bytes = tar.into_inner().at(src)?;
                apply_into(&dir, &mut &bytes[..])
            }
        }
    }
}

/// A host file (or directory, without its contents) that `compose watch` puts into a
/// container, at an absolute path there.
pub struct SyncFile {
    pub host: PathBuf,
    pub target: String,
}

impl Store {
    /// `compose watch`'s sync into a running container: deletions first, then one tar of the
    /// host files applied from the container's root fd by the layer applier (modes kept, missing
    /// directories made, every path resolved inside the root, symlinks never followed out).
    /// Nothing runs in the container. A host file gone meanwhile is skipped: its deletion comes
    /// in the next batch.
    pub fn sync_into_container(&self, id: &str, files: &[SyncFile], remove: &[String]) -> Result<()> {
        let rootfs = Rootfs::open(self, id)?;
        for path in remove {
            let (parent, name) = split(path);
            if matches!(name.as_str(), "." | ".." | "") {
                continue;
            }
            // A parent that is already gone leaves nothing to delete.
            let Ok(dir) = openat2(
                &rootfs.root,
                parent.as_str(),
                OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
                IN_ROOT,
            ) else {
                continue;
            };
            remove_at(dir.as_fd(), name.as_bytes()).at(path)?;
        }
        if files.is_empty() {
            return Ok(());
        }
        let mut tar = tar::Builder::new(Vec::new());
        tar.follow_symlinks(false);
        for f in files {
            let name = f.target.trim_start_matches('/');
            let meta = match std::fs::symlink_metadata(&f.host) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                other => other.at(&f.host)?,
            };
            let added =
                if meta.is_dir() { tar.append_dir(name, &f.host) } else { tar.append_path_with_name(&f.host, name) };
            match added {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                other => other.at(&f.host)?,
            }
        }
        let bytes = tar.into_inner().at(rootfs.root_path())?;
        apply_into(&rootfs.root, &mut &bytes[..])
    }
}

/// Applies a tar into a directory held by fd (its path is never looked up again).
fn apply_into(dir: &OwnedFd, input: &mut dyn Read) -> Result<()> {
    // Reopen as a real directory fd; the applier starts from /proc/self/fd/N, which names
    // exactly this directory whatever happens to the path it was found by.
    let real = rustix::fs::openat(dir, ".", OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
        .map_err(|e| Error::Invalid(format!("copy: {e}")))?;
    let path = PathBuf::from(format!("/proc/self/fd/{}", real.as_raw_fd()));
    apply_layer(input, &path)?;
    drop(File::from(real));
    Ok(())
}

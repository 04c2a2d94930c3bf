//! Our own layer applier: unpacks an uncompressed layer tar into a directory that will be an
//! overlayfs lower dir, converting OCI whiteouts to overlayfs ones.
//!
//! Every write is made relative to a directory fd that was resolved with `openat2` and
//! `RESOLVE_BENEATH`, so neither a hostile name nor a symlink planted by an earlier entry can
//! make us write outside `dest`. The final component is never followed.

use std::ffi::{CString, OsStr};
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, ResolveFlags, Timespec, Timestamps, XattrFlags};
use rustix::io::Errno;
use tar::EntryType;

/// What an applied layer holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ApplyStats {
    /// Sum of the sizes of the regular files written.
    pub size: u64,
    /// Number of tar members applied (files, dirs, links, whiteouts...).
    pub entries: u64,
}

#[derive(thiserror::Error, Debug)]
pub enum LayerError {
    /// An entry that would escape the layer root or that we do not support.
    #[error("layer entry \"{entry}\" refused: {reason}")]
    Refused { entry: String, reason: String },
    /// A filesystem error while creating an entry.
    #[error("layer entry \"{entry}\": {source}")]
    Io { entry: String, source: io::Error },
    /// The destination directory itself could not be opened.
    #[error("layer destination {}: {source}", path.display())]
    Dest { path: PathBuf, source: io::Error },
    /// The tar stream is malformed or truncated.
    #[error("broken layer tar stream: {0}")]
    Tar(#[source] io::Error),
}

/// Why one entry failed, before the entry's name is attached.
enum Fail {
    Refused(String),
    Io(io::Error),
}

impl From<io::Error> for Fail {
    fn from(e: io::Error) -> Self {
        Fail::Io(e)
    }
}

impl From<Errno> for Fail {
    fn from(e: Errno) -> Self {
        Fail::Io(e.into())
    }
}

fn refused<T>(reason: impl Into<String>) -> Result<T, Fail> {
    Err(Fail::Refused(reason.into()))
}

const LEAVES_ROOT: &str = "path leaves the layer root";
const WHITEOUT_PREFIX: &[u8] = b".wh.";
const WHITEOUT_META_PREFIX: &[u8] = b".wh..wh.";
const WHITEOUT_OPAQUE: &[u8] = b".wh..wh..opq";
pub(crate) const OVERLAY_OPAQUE_XATTR: &str = "trusted.overlay.opaque";
pub(crate) const OVERLAY_XATTR_PREFIX: &[u8] = b"trusted.overlay.";
const PAX_XATTR_PREFIX: &[u8] = b"SCHILY.xattr.";

/// Applies the uncompressed layer tar `tar` to `dest`, an existing (normally empty) directory.
///
/// On error `dest` is left half-written; the caller removes it (`std::fs::remove_dir_all` is
/// safe for that: it does not follow symlinks).
pub fn apply_layer<R: Read>(tar: R, dest: &Path) -> Result<ApplyStats, LayerError> {
    let root = rfs::open(dest, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
        .map_err(|e| LayerError::Dest { path: dest.to_owned(), source: e.into() })?;
    let mut applier = Applier {
        root,
        dir_times: Vec::new(),
        stats: ApplyStats::default(),
        buf: vec![0; COPY_BUF].into_boxed_slice(),
    };

    let mut archive = tar::Archive::new(tar);
    for entry in archive.entries().map_err(LayerError::Tar)? {
        let mut entry = entry.map_err(LayerError::Tar)?;
        let name = entry.path_bytes().into_owned();
        applier.apply_entry(&mut entry, &name).map_err(|fail| {
            let entry = String::from_utf8_lossy(&name).into_owned();
            match fail {
                Fail::Refused(reason) => LayerError::Refused { entry, reason },
                Fail::Io(source) => LayerError::Io { entry, source },
            }
        })?;
    }

    // Last, because creating children changed the directories' mtimes.
    for (rel, times) in &applier.dir_times {
        let fd = match applier.open_beneath(rel, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW) {
            Ok(fd) => fd,
            // Replaced by a later entry of the layer: nothing to date.
            Err(_) => continue,
        };
        rfs::futimens(&fd, times).map_err(|e| LayerError::Io {
            entry: String::from_utf8_lossy(rel.as_os_str().as_bytes()).into_owned(),
            source: e.into(),
        })?;
    }
    Ok(applier.stats)
}

/// Metadata of one tar entry, taken from its header and PAX records.
struct Meta {
    mode: u32,
    uid: u32,
    gid: u32,
    times: Timestamps,
    xattrs: Vec<(CString, Vec<u8>)>,
}

struct Applier {
    root: OwnedFd,
    /// Directories whose mtime is set at the end, by path relative to the root.
    dir_times: Vec<(PathBuf, Timestamps)>,
    stats: ApplyStats,
    /// File contents pass through here: large reads and writes (a decompressor fills it in
    /// one call; `io::copy`'s 8 KiB would cost a write system call per 8 KiB).
    buf: Box<[u8]>,
}

/// The copy buffer's size.
const COPY_BUF: usize = 256 * 1024;

impl Applier {
    fn apply_entry<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>, name: &[u8]) -> Result<(), Fail> {
        let kind = entry.header().entry_type();
        match kind {
            EntryType::Regular
            | EntryType::Continuous
            | EntryType::Directory
            | EntryType::Symlink
            | EntryType::Link
            | EntryType::Char
            | EntryType::Block
            | EntryType::Fifo => {}
            // Global PAX defaults describe no file.
            EntryType::XGlobalHeader => return Ok(()),
            other => return refused(format!("unsupported entry type '{}'", other.as_byte().escape_ascii())),
        }
        let comps = components(name)?;
        let meta = read_meta(entry)?;
        self.stats.entries += 1;

        let Some((base, parents)) = comps.split_last() else {
            // "./": the layer root's own metadata.
            if kind != EntryType::Directory {
                return refused("names the layer root");
            }
            let root = self.root.try_clone()?;
            set_meta_fd(root.as_fd(), &meta)?;
            self.dir_times.push((PathBuf::new(), meta.times));
            return Ok(());
        };
        let base = *base;

        // Whiteouts become overlayfs ones.
        if base == WHITEOUT_OPAQUE {
            let parent = self.parent_dir(parents, true)?;
            let dir = rfs::openat(&parent, c".", OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())?;
            rfs::fsetxattr(&dir, OVERLAY_OPAQUE_XATTR, b"y", XattrFlags::empty())?;
            return Ok(());
        }
        if base.starts_with(WHITEOUT_META_PREFIX) {
            // aufs bookkeeping (`.wh..wh.plnk` and the like): meaningless to overlayfs.
            return Ok(());
        }
        if let Some(hidden) = base.strip_prefix(WHITEOUT_PREFIX) {
            if hidden.is_empty() || hidden == b"." || hidden == b".." {
                return refused("malformed whiteout");
            }
            let parent = self.parent_dir(parents, true)?;
            remove_existing(parent.as_fd(), hidden)?;
            rfs::mknodat(&parent, bytes_path(hidden), FileType::CharacterDevice, Mode::empty(), 0)?;
            // Dated like the `.wh.` entry, so that a diff of this dir gives the same bytes.
            rfs::utimensat(&parent, bytes_path(hidden), &meta.times, AtFlags::SYMLINK_NOFOLLOW)?;
            return Ok(());
        }

        let parent = self.parent_dir(parents, true)?;
        let base_path = bytes_path(base);
        match kind {
            EntryType::Directory => {
                match rfs::statat(&parent, base_path, AtFlags::SYMLINK_NOFOLLOW) {
                    // An existing directory keeps its contents; only its metadata changes.
                    Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Directory => {}
                    Ok(_) => {
                        rfs::unlinkat(&parent, base_path, AtFlags::empty())?;
                        rfs::mkdirat(&parent, base_path, Mode::from_raw_mode(0o700))?;
                    }
                    Err(Errno::NOENT) => rfs::mkdirat(&parent, base_path, Mode::from_raw_mode(0o700))?,
                    Err(e) => return Err(e.into()),
                }
                let dir = rfs::openat(
                    &parent,
                    base_path,
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )?;
                set_meta_fd(dir.as_fd(), &meta)?;
                self.dir_times.push((comps.iter().map(|c| bytes_path(c)).collect(), meta.times));
            }
            EntryType::Regular | EntryType::Continuous => {
                remove_existing(parent.as_fd(), base)?;
                let fd = rfs::openat(
                    &parent,
                    base_path,
                    OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o600),
                )?;
                let mut file = File::from(fd);
                let expected = entry.size();
                let written = copy_entry(entry, &mut file, &mut self.buf)?;
                if written != expected {
                    // The tar crate reports a short read as EOF, not as an error.
                    return Err(Fail::Io(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("layer tar ends after {written} of {expected} bytes of this file"),
                    )));
                }
                self.stats.size += written;
                set_meta_fd(file.as_fd(), &meta)?;
                rfs::futimens(&file, &meta.times)?;
            }
            EntryType::Symlink => {
                let Some(target) = entry.link_name_bytes() else {
                    return refused("symlink without a target");
                };
                remove_existing(parent.as_fd(), base)?;
                // The target is stored as is: it is only ever resolved inside the container.
                rfs::symlinkat(bytes_path(&target), &parent, base_path)?;
                rfs::chownat(&parent, base_path, Some(uid(meta.uid)), Some(gid(meta.gid)), AtFlags::SYMLINK_NOFOLLOW)?;
                set_xattrs_nofollow(parent.as_fd(), base, &meta)?;
                rfs::utimensat(&parent, base_path, &meta.times, AtFlags::SYMLINK_NOFOLLOW)?;
            }
            EntryType::Link => {
                let Some(target) = entry.link_name_bytes() else {
                    return refused("hard link without a target");
                };
                let target = match components(&target) {
                    Ok(t) => t,
                    Err(Fail::Refused(reason)) => {
                        return refused(format!("hard link target \"{}\": {reason}", target.escape_ascii()))
                    }
                    Err(e) => return Err(e),
                };
                let Some((tbase, tparents)) = target.split_last() else {
                    return refused("hard link to the layer root");
                };
                if target == comps {
                    return Ok(()); // a link to itself: already there
                }
                // No creation here: the target must already exist in this layer.
                let tparent = self.parent_dir(tparents, false).map_err(|e| match e {
                    Fail::Refused(reason) => Fail::Refused(format!("hard link target: {reason}")),
                    e => e,
                })?;
                remove_existing(parent.as_fd(), base)?;
                // Flags empty: linkat does not follow a symlink target, it links the symlink.
                rfs::linkat(&tparent, bytes_path(tbase), &parent, base_path, AtFlags::empty())?;
            }
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                let (file_type, dev) = match kind {
                    EntryType::Fifo => (FileType::Fifo, 0),
                    _ => {
                        let major = entry.header().device_major()?.unwrap_or(0);
                        let minor = entry.header().device_minor()?.unwrap_or(0);
                        let t = if kind == EntryType::Char { FileType::CharacterDevice } else { FileType::BlockDevice };
                        (t, rfs::makedev(major, minor))
                    }
                };
                remove_existing(parent.as_fd(), base)?;
                rfs::mknodat(&parent, base_path, file_type, Mode::from_raw_mode(0o600), dev)?;
                // Devices and fifos are not opened for real (that could block or have side
                // effects): an O_PATH fd pins the node we just made.
                let node =
                    rfs::openat(&parent, base_path, OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty())?;
                if FileType::from_raw_mode(rfs::fstat(&node)?.st_mode) != file_type {
                    return refused("replaced while being created");
                }
                rfs::chownat(&node, c"", Some(uid(meta.uid)), Some(gid(meta.gid)), AtFlags::EMPTY_PATH)?;
                // fchmod refuses O_PATH fds; the fd's /proc link reaches the node itself.
                rfs::chmod(proc_fd_path(node.as_fd()), Mode::from_raw_mode(meta.mode))?;
                set_xattrs_nofollow(parent.as_fd(), base, &meta)?;
                rfs::utimensat(&parent, base_path, &meta.times, AtFlags::SYMLINK_NOFOLLOW)?;
            }
            _ => return refused("unsupported entry type"),
        }
        Ok(())
    }

    /// Opens `rel` (relative to the root; empty for the root) without leaving the root.
    /// Symlinks on the way are followed as long as they stay beneath the root; add
    /// `OFlags::NOFOLLOW` to refuse one as the last component.
    fn open_beneath(&self, rel: &Path, flags: OFlags) -> Result<OwnedFd, Fail> {
        let rel = if rel.as_os_str().is_empty() { Path::new(".") } else { rel };
        let how = ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS;
        // EAGAIN: a concurrent rename somewhere on the host; the kernel asks us to retry.
        for _ in 0..16 {
            match rfs::openat2(&self.root, rel, flags | OFlags::CLOEXEC, Mode::empty(), how) {
                Err(Errno::AGAIN) => continue,
                Err(Errno::XDEV) => return refused(LEAVES_ROOT),
                Err(e) => return Err(e.into()),
                Ok(fd) => return Ok(fd),
            }
        }
        Err(Errno::AGAIN.into())
    }

    /// Resolves the directory `comps` beneath the root as an O_PATH fd, creating missing
    /// directories (0755, root-owned) one at a time when `create` is set.
    fn parent_dir(&self, comps: &[&[u8]], create: bool) -> Result<OwnedFd, Fail> {
        let dir_flags = OFlags::PATH | OFlags::DIRECTORY;
        let full: PathBuf = comps.iter().map(|c| bytes_path(c)).collect();
        match self.open_beneath(&full, dir_flags) {
            Err(Fail::Io(e)) if create && e.kind() == io::ErrorKind::NotFound => {}
            other => return other,
        }
        let mut dir = self.open_beneath(Path::new(""), dir_flags)?;
        let mut prefix = PathBuf::new();
        for comp in comps {
            prefix.push(bytes_path(comp));
            dir = match self.open_beneath(&prefix, dir_flags) {
                Ok(fd) => fd,
                Err(Fail::Io(e)) if e.kind() == io::ErrorKind::NotFound => {
                    // Fails with EEXIST on a dangling symlink, which we must not follow.
                    rfs::mkdirat(&dir, bytes_path(comp), Mode::from_raw_mode(0o755))?;
                    let made = rfs::openat(
                        &dir,
                        bytes_path(comp),
                        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                        Mode::empty(),
                    )?;
                    // mkdirat's mode went through the umask.
                    rfs::fchmod(&made, Mode::from_raw_mode(0o755))?;
                    made
                }
                Err(e) => return Err(e),
            };
        }
        Ok(dir)
    }
}

/// Copies an entry's contents into its file through `buf`; returns the bytes copied. A large
/// file's pages are sent to the disk as they are written (see `start_writeback`).
fn copy_entry(entry: &mut impl Read, file: &mut File, buf: &mut [u8]) -> io::Result<u64> {
    let mut written = 0u64;
    let mut sent = 0u64;
    loop {
        let n = match entry.read(buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        io::Write::write_all(file, &buf[..n])?;
        written += n as u64;
        if written - sent >= WRITEBACK_CHUNK {
            start_writeback(file.as_fd(), sent, written - sent);
            sent = written;
        }
    }
    if sent > 0 && written > sent {
        start_writeback(file.as_fd(), sent, written - sent);
    }
    Ok(written)
}

/// How many bytes of a file are written before they are sent to the disk.
pub const WRITEBACK_CHUNK: u64 = 4 << 20;

/// Starts writing `len` bytes of `fd` from `offset` to the disk without waiting (the store's
/// one `syncfs` before its commit then finds them written, or on their way, instead of
/// writing everything at the end). Only a hint: a failure changes nothing.
pub fn start_writeback(fd: BorrowedFd<'_>, offset: u64, len: u64) {
    let (Ok(offset), Ok(len)) = (i64::try_from(offset), i64::try_from(len)) else {
        return;
    };
    // SAFETY: sync_file_range reads no memory of ours; the fd is borrowed, so open.
    let _ = unsafe { libc::sync_file_range(fd.as_raw_fd(), offset, len, libc::SYNC_FILE_RANGE_WRITE) };
}

/// Splits a tar name into its components, refusing absolute names and `..`. A leading `./`
/// and `.` components are dropped; an empty result is the root itself.
fn components(name: &[u8]) -> Result<Vec<&[u8]>, Fail> {
    if name.starts_with(b"/") {
        return refused("absolute path");
    }
    let mut comps = Vec::new();
    for comp in name.split(|&b| b == b'/') {
        match comp {
            b"" | b"." => {}
            b".." => return refused(LEAVES_ROOT),
            c => comps.push(c),
        }
    }
    Ok(comps)
}

fn read_meta<R: Read>(entry: &mut tar::Entry<'_, R>) -> Result<Meta, Fail> {
    let header = entry.header();
    let mode = header.mode()? & 0o7777;
    // PAX uid/gid records are already folded into the header by the tar crate.
    let (Ok(uid), Ok(gid)) = (u32::try_from(header.uid()?), u32::try_from(header.gid()?)) else {
        return refused("uid or gid out of range");
    };
    // -1 means "leave unchanged" to chown: not an owner.
    if uid == u32::MAX || gid == u32::MAX {
        return refused("uid or gid out of range");
    }
    let mut mtime = Timespec { tv_sec: i64::try_from(header.mtime()?).unwrap_or(i64::MAX), tv_nsec: 0 };
    let mut atime = None;
    let mut xattrs = Vec::new();
    if let Some(pax) = entry.pax_extensions()? {
        for ext in pax {
            let ext = ext?;
            let key = ext.key_bytes();
            if let Some(name) = key.strip_prefix(PAX_XATTR_PREFIX) {
                // overlayfs' own xattrs would let a layer forge whiteouts, redirects or
                // metacopy files: only our whiteout conversion sets them.
                if name.starts_with(OVERLAY_XATTR_PREFIX) {
                    continue;
                }
                let Ok(name) = CString::new(name) else {
                    return refused("xattr name with a NUL byte");
                };
                xattrs.push((name, ext.value_bytes().to_vec()));
            } else if key == b"mtime" {
                mtime = parse_pax_time(ext.value_bytes()).unwrap_or(mtime);
            } else if key == b"atime" {
                atime = parse_pax_time(ext.value_bytes());
            }
        }
    }
    let times = Timestamps { last_access: atime.unwrap_or(mtime), last_modification: mtime };
    Ok(Meta { mode, uid, gid, times, xattrs })
}

/// Parses a PAX time, "seconds[.fraction]" (possibly negative).
fn parse_pax_time(value: &[u8]) -> Option<Timespec> {
    let s = std::str::from_utf8(value).ok()?;
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    let tv_sec: i64 = secs.parse().ok()?;
    let digits: String = frac.chars().take(9).collect();
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut tv_nsec: i64 = if digits.is_empty() { 0 } else { digits.parse().ok()? };
    tv_nsec *= 10i64.pow(9 - digits.len() as u32);
    if secs.starts_with('-') && tv_nsec > 0 {
        // "-1.5" is 1.5 s before the epoch: -2 s + 0.5 s.
        return Some(Timespec { tv_sec: tv_sec - 1, tv_nsec: 1_000_000_000 - tv_nsec });
    }
    Some(Timespec { tv_sec, tv_nsec })
}

/// Ownership, then mode (chown clears setuid/setgid), then xattrs (chown clears
/// security.capability), on an fd opened for real (a regular file or directory).
fn set_meta_fd(fd: BorrowedFd<'_>, meta: &Meta) -> Result<(), Fail> {
    rfs::fchown(fd, Some(uid(meta.uid)), Some(gid(meta.gid)))?;
    rfs::fchmod(fd, Mode::from_raw_mode(meta.mode))?;
    for (name, value) in &meta.xattrs {
        ignore_unsupported(rfs::fsetxattr(fd, name.as_c_str(), value, XattrFlags::empty()))?;
    }
    Ok(())
}

/// Sets xattrs on `parent/name` without following a final symlink.
fn set_xattrs_nofollow(parent: BorrowedFd<'_>, name: &[u8], meta: &Meta) -> Result<(), Fail> {
    if meta.xattrs.is_empty() {
        return Ok(());
    }
    // There is no fd-relative lsetxattr; the parent's /proc link keeps the lookup on the
    // directory we resolved, and lsetxattr does not follow the last component.
    let path = proc_fd_path(parent).join(bytes_path(name));
    for (xname, value) in &meta.xattrs {
        ignore_unsupported(rfs::lsetxattr(&path, xname.as_c_str(), value, XattrFlags::empty()))?;
    }
    Ok(())
}

/// A filesystem without xattr support (in that namespace) drops them, as containerd does.
fn ignore_unsupported(r: rustix::io::Result<()>) -> Result<(), Fail> {
    match r {
        Err(Errno::NOTSUP) => Ok(()),
        r => Ok(r?),
    }
}

fn proc_fd_path(fd: BorrowedFd<'_>) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// Removes whatever is at `parent/name` (nothing is fine), fd-relative and never following a
/// symlink: `compose watch` deletes through this what was deleted on the host.
pub(crate) fn remove_at(parent: BorrowedFd<'_>, name: &[u8]) -> io::Result<()> {
    match remove_existing(parent, name) {
        Ok(()) => Ok(()),
        Err(Fail::Io(e)) => Err(e),
        Err(Fail::Refused(why)) => Err(io::Error::other(why)),
    }
}

/// Removes whatever is at `parent/name` (nothing is fine), a directory with its contents.
fn remove_existing(parent: BorrowedFd<'_>, name: &[u8]) -> Result<(), Fail> {
    let name = bytes_path(name);
    match rfs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW) {
        Err(Errno::NOENT) => Ok(()),
        Err(e) => Err(e.into()),
        Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Directory => Ok(remove_tree_at(parent, name)?),
        Ok(_) => Ok(rfs::unlinkat(parent, name, AtFlags::empty())?),
    }
}

/// Removes the directory `parent/name` and its contents, fd-relative all the way down, never
/// following a symlink.
fn remove_tree_at(parent: BorrowedFd<'_>, name: &Path) -> io::Result<()> {
    let dir = rfs::openat(
        parent,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    // Read everything first: unlinking while iterating can make readdir skip entries.
    let mut children = Vec::new();
    for child in rfs::Dir::read_from(&dir)? {
        let child = child?;
        let child_name = child.file_name().to_bytes();
        if child_name != b"." && child_name != b".." {
            children.push((child_name.to_vec(), child.file_type()));
        }
    }
    for (child, file_type) in children {
        let child = bytes_path(&child);
        let is_dir = match file_type {
            FileType::Directory => true,
            FileType::Unknown => {
                let st = rfs::statat(&dir, child, AtFlags::SYMLINK_NOFOLLOW)?;
                FileType::from_raw_mode(st.st_mode) == FileType::Directory
            }
            _ => false,
        };
        if is_dir {
            remove_tree_at(dir.as_fd(), child)?;
        } else {
            rfs::unlinkat(&dir, child, AtFlags::empty())?;
        }
    }
    Ok(rfs::unlinkat(parent, name, AtFlags::REMOVEDIR)?)
}

fn bytes_path(b: &[u8]) -> &Path {
    Path::new(OsStr::from_bytes(b))
}

fn uid(id: u32) -> rfs::Uid {
    rfs::Uid::from_raw(id)
}

fn gid(id: u32) -> rfs::Gid {
    rfs::Gid::from_raw(id)
}

#[cfg(test)]
pub(crate) mod tests {
    //! These run as root: they make device nodes, chown and set trusted.* xattrs.

    use super::*;
    use std::fs;
    use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
    use tar::{Builder, Header};

    /// Builds test layers, with raw names where hostile entries need them.
    pub(crate) struct Layer(Builder<Vec<u8>>);

    pub(crate) const MTIME: u64 = 1_500_000_000;

    impl Layer {
        pub(crate) fn new() -> Self {
            Layer(Builder::new(Vec::new()))
        }

        fn header(kind: EntryType, name: &[u8], mode: u32) -> Header {
            let mut h = Header::new_gnu();
            h.set_entry_type(kind);
            h.set_mode(mode);
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(MTIME);
            h.set_size(0);
            // Raw bytes: `set_path` would refuse `..` and absolute names.
            let slot = &mut h.as_old_mut().name;
            slot.fill(0);
            slot[..name.len()].copy_from_slice(name);
            h
        }

        /// Appends an entry; `link` is a symlink or hard link target, `data` a file's content.
        pub(crate) fn entry(
            &mut self,
            kind: EntryType,
            name: &str,
            mode: u32,
            owner: (u64, u64),
            link: Option<&str>,
            data: &[u8],
        ) -> &mut Self {
            let mut h = Self::header(kind, name.as_bytes(), mode);
            h.set_uid(owner.0);
            h.set_gid(owner.1);
            h.set_size(data.len() as u64);
            if let Some(link) = link {
                let slot = &mut h.as_old_mut().linkname;
                slot.fill(0);
                slot[..link.len()].copy_from_slice(link.as_bytes());
            }
            h.set_cksum();
            self.0.append(&h, data).unwrap();
            self
        }

        pub(crate) fn file(&mut self, name: &str, data: &[u8]) -> &mut Self {
            self.entry(EntryType::Regular, name, 0o644, (0, 0), None, data)
        }

        pub(crate) fn dir(&mut self, name: &str) -> &mut Self {
            self.entry(EntryType::Directory, name, 0o755, (0, 0), None, b"")
        }

        pub(crate) fn symlink(&mut self, name: &str, target: &str) -> &mut Self {
            self.entry(EntryType::Symlink, name, 0o777, (0, 0), Some(target), b"")
        }

        pub(crate) fn hardlink(&mut self, name: &str, target: &str) -> &mut Self {
            self.entry(EntryType::Link, name, 0o644, (0, 0), Some(target), b"")
        }

        pub(crate) fn device(&mut self, kind: EntryType, name: &str, mode: u32, dev: (u32, u32)) -> &mut Self {
            let mut h = Self::header(kind, name.as_bytes(), mode);
            h.set_device_major(dev.0).unwrap();
            h.set_device_minor(dev.1).unwrap();
            h.set_cksum();
            self.0.append(&h, &b""[..]).unwrap();
            self
        }

        pub(crate) fn pax(&mut self, records: &[(&str, &[u8])]) -> &mut Self {
            self.0.append_pax_extensions(records.iter().copied()).unwrap();
            self
        }

        /// A GNU long-name record for the next entry (names longer than 100 bytes, or any).
        pub(crate) fn long_name(&mut self, name: &str) -> &mut Self {
            let mut data = name.as_bytes().to_vec();
            data.push(0);
            let mut h = Self::header(EntryType::GNULongName, b"././@LongLink", 0o644);
            h.set_size(data.len() as u64);
            h.set_cksum();
            self.0.append(&h, &data[..]).unwrap();
            self
        }

        pub(crate) fn finish(&mut self) -> Vec<u8> {
            std::mem::replace(&mut self.0, Builder::new(Vec::new())).into_inner().unwrap()
        }
    }

    /// A layer with one of everything the applier keeps.
    pub(crate) fn sample_layer() -> Vec<u8> {
        let long = format!("deep/{}", "n".repeat(150));
        Layer::new()
            .dir("./")
            .dir("etc/")
            .entry(EntryType::Regular, "etc/hostname", 0o640, (1000, 1001), None, b"box\n")
            .entry(EntryType::Directory, "bin/", 0o750, (0, 0), None, b"")
            .entry(EntryType::Symlink, "bin/sh", 0o777, (5, 6), Some("busybox"), b"")
            .entry(EntryType::Regular, "bin/busybox", 0o755, (0, 0), None, b"#!busybox")
            .hardlink("bin/hard", "bin/busybox")
            // setuid on a file owned by someone else: only kept if chown comes first.
            .entry(EntryType::Regular, "bin/ping", 0o4755, (1000, 1000), None, b"ping")
            .entry(EntryType::Regular, "bin/wall", 0o2755, (0, 5), None, b"wall")
            .device(EntryType::Char, "dev/null", 0o666, (1, 3))
            .device(EntryType::Block, "dev/sda", 0o660, (8, 0))
            .device(EntryType::Fifo, "run/fifo", 0o620, (0, 0))
            .entry(EntryType::Directory, "tmp/", 0o1777, (0, 0), None, b"")
            .pax(&[
                ("SCHILY.xattr.user.test", b"v1"),
                ("SCHILY.xattr.trusted.berth", b"v2"),
                // A layer may not set overlayfs' own xattrs.
                ("SCHILY.xattr.trusted.overlay.opaque", b"y"),
                ("mtime", b"1500000000.25"),
            ])
            .file("data/x", b"xattrs")
            .long_name(&long)
            .file("ignored-short-name", b"long")
            .finish()
    }

    fn meta(p: &Path) -> fs::Metadata {
        fs::symlink_metadata(p).unwrap()
    }

    #[test]
    fn applies_a_normal_layer() {
        let dest = tempfile::tempdir().unwrap();
        let d = dest.path();
        let stats = apply_layer(&sample_layer()[..], d).unwrap();
        assert_eq!(stats.entries, 15);
        assert_eq!(stats.size, 4 + 9 + 4 + 4 + 6 + 4);

        assert_eq!(fs::read(d.join("etc/hostname")).unwrap(), b"box\n");
        let m = meta(&d.join("etc/hostname"));
        assert_eq!((m.mode() & 0o7777, m.uid(), m.gid(), m.mtime()), (0o640, 1000, 1001, MTIME as i64));
        // Directory mtimes survive the creation of their children.
        assert_eq!(meta(&d.join("etc")).mtime(), MTIME as i64);
        assert_eq!(meta(d).mtime(), MTIME as i64);
        assert_eq!(meta(&d.join("bin")).mode() & 0o7777, 0o750);

        let sh = meta(&d.join("bin/sh"));
        assert!(sh.file_type().is_symlink());
        assert_eq!(fs::read_link(d.join("bin/sh")).unwrap(), Path::new("busybox"));
        assert_eq!((sh.uid(), sh.gid(), sh.mtime()), (5, 6, MTIME as i64));

        assert_eq!(meta(&d.join("bin/hard")).ino(), meta(&d.join("bin/busybox")).ino());
        assert_eq!(meta(&d.join("bin/busybox")).nlink(), 2);
        let ping = meta(&d.join("bin/ping"));
        assert_eq!((ping.mode() & 0o7777, ping.uid()), (0o4755, 1000));
        let wall = meta(&d.join("bin/wall"));
        assert_eq!((wall.mode() & 0o7777, wall.gid()), (0o2755, 5));
        assert_eq!(meta(&d.join("tmp")).mode() & 0o7777, 0o1777);

        let null = meta(&d.join("dev/null"));
        assert!(null.file_type().is_char_device());
        assert_eq!((null.rdev(), null.mode() & 0o7777), (rfs::makedev(1, 3), 0o666));
        let sda = meta(&d.join("dev/sda"));
        assert!(sda.file_type().is_block_device());
        assert_eq!(sda.rdev(), rfs::makedev(8, 0));
        let fifo = meta(&d.join("run/fifo"));
        assert!(fifo.file_type().is_fifo());
        assert_eq!(fifo.mode() & 0o7777, 0o620);
        // Implicit parents: 0755, root-owned.
        let run = meta(&d.join("run"));
        assert_eq!((run.mode() & 0o7777, run.uid()), (0o755, 0));

        let x = d.join("data/x");
        assert_eq!(xattr::get(&x, "user.test").unwrap().as_deref(), Some(&b"v1"[..]));
        assert_eq!(xattr::get(&x, "trusted.berth").unwrap().as_deref(), Some(&b"v2"[..]));
        assert_eq!(xattr::get(&x, "trusted.overlay.opaque").unwrap(), None);
        // PAX mtime, with its fraction.
        assert_eq!((meta(&x).mtime(), meta(&x).mtime_nsec()), (MTIME as i64, 250_000_000));

        let long = d.join("deep").join("n".repeat(150));
        assert_eq!(fs::read(long).unwrap(), b"long");
    }

    #[test]
    fn follows_symlinked_parents_inside_the_root() {
        let dest = tempfile::tempdir().unwrap();
        let d = dest.path();
        let layer = Layer::new()
            .dir("usr/lib/")
            .symlink("lib", "usr/lib")
            .file("lib/libc.so", b"libc")
            .symlink("usr/bin/up", "../lib")
            .file("usr/bin/up/via-dotdot", b"x")
            .entry(EntryType::Directory, "etc/", 0o700, (0, 0), None, b"")
            .file("etc/kept", b"kept")
            .entry(EntryType::Directory, "etc/", 0o755, (0, 0), None, b"")
            .file("blocker", b"")
            .dir("blocker/")
            .finish();
        apply_layer(&layer[..], d).unwrap();
        assert_eq!(fs::read(d.join("usr/lib/libc.so")).unwrap(), b"libc");
        assert!(meta(&d.join("lib")).file_type().is_symlink());
        assert_eq!(fs::read(d.join("usr/lib/via-dotdot")).unwrap(), b"x");
        // A directory entry over a directory keeps its contents and takes the new metadata.
        assert_eq!(fs::read(d.join("etc/kept")).unwrap(), b"kept");
        assert_eq!(meta(&d.join("etc")).mode() & 0o7777, 0o755);
        assert!(meta(&d.join("blocker")).is_dir());
    }

    #[test]
    fn converts_whiteouts() {
        let dest = tempfile::tempdir().unwrap();
        let d = dest.path();
        let layer = Layer::new()
            .dir("a/")
            .file("a/.wh..wh..opq", b"")
            .file("a/keep", b"k")
            .file("b/.wh.gone", b"")
            // Whatever was there is replaced: a file, and a whole tree.
            .file("c/victim", b"v")
            .file("c/.wh.victim", b"")
            .file("c/tree/sub/f", b"f")
            .symlink("c/tree/sub/l", "/etc/passwd")
            .file("c/.wh.tree", b"")
            // aufs bookkeeping is skipped.
            .file(".wh..wh.plnk", b"")
            .finish();
        apply_layer(&layer[..], d).unwrap();

        assert_eq!(xattr::get(d.join("a"), "trusted.overlay.opaque").unwrap().as_deref(), Some(&b"y"[..]));
        assert!(!d.join("a/.wh..wh..opq").exists());
        assert_eq!(fs::read(d.join("a/keep")).unwrap(), b"k");
        for wh in ["b/gone", "c/victim", "c/tree"] {
            let m = meta(&d.join(wh));
            assert!(m.file_type().is_char_device(), "{wh}");
            assert_eq!(m.rdev(), 0, "{wh}");
        }
        assert!(!d.join("b/.wh.gone").exists());
        assert!(!d.join(".wh..wh.plnk").exists());
        assert!(fs::symlink_metadata("/etc/passwd").unwrap().is_file());
    }

    /// A dest with a sibling holding a sentinel, to check nothing escapes.
    struct Sandbox {
        tmp: tempfile::TempDir,
        passwd: (u64, i64, Vec<u8>),
    }

    impl Sandbox {
        fn new() -> Self {
            let tmp = tempfile::tempdir().unwrap();
            fs::create_dir(tmp.path().join("dest")).unwrap();
            fs::create_dir(tmp.path().join("sibling")).unwrap();
            fs::write(tmp.path().join("sibling/sentinel"), b"keep").unwrap();
            Sandbox { tmp, passwd: Self::passwd() }
        }

        fn passwd() -> (u64, i64, Vec<u8>) {
            let m = meta(Path::new("/etc/passwd"));
            (m.ino(), m.mtime(), fs::read("/etc/passwd").unwrap())
        }

        fn dest(&self) -> PathBuf {
            self.tmp.path().join("dest")
        }

        fn names(dir: &Path) -> Vec<String> {
            let mut v: Vec<_> =
                fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
            v.sort();
            v
        }

        fn assert_untouched(&self) {
            assert_eq!(Self::names(self.tmp.path()), ["dest", "sibling"]);
            assert_eq!(Self::names(&self.tmp.path().join("sibling")), ["sentinel"]);
            let s = self.tmp.path().join("sibling/sentinel");
            assert_eq!(fs::read(&s).unwrap(), b"keep");
            assert_eq!(meta(&s).mode() & 0o7777, 0o644);
            assert_eq!(Self::passwd(), self.passwd);
            assert!(!Path::new("/etc/berth-layer-test").exists());
        }
    }

    fn assert_refused(layer: Vec<u8>, entry: &str) -> String {
        let sb = Sandbox::new();
        let err = apply_layer(&layer[..], &sb.dest()).unwrap_err();
        match &err {
            LayerError::Refused { entry: e, .. } => assert_eq!(e, entry, "{err}"),
            other => panic!("expected a refusal of {entry:?}, got {other}"),
        }
        sb.assert_untouched();
        err.to_string()
    }

    #[test]
    fn refuses_dotdot_and_absolute_names() {
        let msg = assert_refused(Layer::new().file("../x", b"x").finish(), "../x");
        assert_eq!(msg, r#"layer entry "../x" refused: path leaves the layer root"#);
        assert_refused(Layer::new().file("a/../../sibling/sentinel", b"x").finish(), "a/../../sibling/sentinel");
        let msg = assert_refused(Layer::new().file("/etc/berth-layer-test", b"x").finish(), "/etc/berth-layer-test");
        assert_eq!(msg, r#"layer entry "/etc/berth-layer-test" refused: absolute path"#);
        assert_refused(Layer::new().dir("/etc/").finish(), "/etc/");
    }

    #[test]
    fn refuses_hostile_long_and_pax_names() {
        let name = format!("{}/../../../sibling/sentinel", "a/".repeat(60));
        assert_refused(Layer::new().long_name(&name).file("innocent", b"x").finish(), &name);
        assert_refused(
            Layer::new().pax(&[("path", b"../sibling/sentinel")]).file("innocent", b"x").finish(),
            "../sibling/sentinel",
        );
    }

    #[test]
    fn refuses_writes_through_symlinks() {
        assert_refused(Layer::new().symlink("link", "/etc").file("link/passwd", b"x").finish(), "link/passwd");
        assert_refused(Layer::new().symlink("link", "../../..").file("link/x", b"x").finish(), "link/x");
        assert_refused(
            Layer::new().symlink("up", "..").file("up/sibling/sentinel", b"x").finish(),
            "up/sibling/sentinel",
        );
        // Through a chain of symlinks, and through a symlink that replaced a directory.
        assert_refused(Layer::new().symlink("a", "b").symlink("b", "/etc").file("a/passwd", b"x").finish(), "a/passwd");
        assert_refused(
            Layer::new().dir("d/").symlink("d", "/etc").dir("d/berth-layer-test/").finish(),
            "d/berth-layer-test/",
        );
        // Whiteouts and opaque markers too.
        assert_refused(Layer::new().symlink("link", "/etc").file("link/.wh.passwd", b"").finish(), "link/.wh.passwd");
        assert_refused(Layer::new().symlink("up", "..").file("up/.wh..wh..opq", b"").finish(), "up/.wh..wh..opq");
    }

    #[test]
    fn refuses_hostile_hardlinks() {
        assert_refused(Layer::new().hardlink("h", "/etc/passwd").finish(), "h");
        assert_refused(Layer::new().hardlink("h", "../sibling/sentinel").finish(), "h");
        let msg = assert_refused(Layer::new().symlink("link", "/etc").hardlink("h", "link/passwd").finish(), "h");
        assert!(msg.contains("hard link target"), "{msg}");
        assert_refused(Layer::new().symlink("up", "..").hardlink("h", "up/sibling/sentinel").finish(), "h");
    }

    #[test]
    fn refuses_outside_whiteouts_and_odd_types() {
        assert_refused(Layer::new().file("../.wh.x", b"").finish(), "../.wh.x");
        assert_refused(Layer::new().file("../.wh..wh..opq", b"").finish(), "../.wh..wh..opq");
        assert_refused(Layer::new().file("a/.wh...", b"").finish(), "a/.wh...");
        // 'V' is a GNU volume label: not something to create.
        let msg = assert_refused(
            Layer::new().entry(EntryType::new(b'V'), "label", 0o644, (0, 0), None, b"").finish(),
            "label",
        );
        assert!(msg.contains("unsupported entry type 'V'"), "{msg}");
        assert_refused(
            Layer::new().entry(EntryType::Regular, "x", 0o644, (u32::MAX as u64, 0), None, b"").finish(),
            "x",
        );
    }

    #[test]
    fn replaces_a_final_symlink_instead_of_following_it() {
        let sb = Sandbox::new();
        let layer = Layer::new()
            .symlink("f", "../sibling/sentinel")
            .file("f", b"new")
            .symlink("p", "/etc/passwd")
            .entry(EntryType::Directory, "p/", 0o700, (0, 0), None, b"")
            .symlink("n", "../sibling/sentinel")
            .device(EntryType::Fifo, "n", 0o600, (0, 0))
            .symlink("s", "../sibling")
            .symlink("s", "/etc")
            .file("target", b"t")
            .symlink("h", "/etc/passwd")
            .hardlink("h", "target")
            .finish();
        apply_layer(&layer[..], &sb.dest()).unwrap();
        let d = sb.dest();
        assert!(meta(&d.join("f")).is_file());
        assert_eq!(fs::read(d.join("f")).unwrap(), b"new");
        assert!(meta(&d.join("p")).is_dir());
        assert_eq!(meta(&d.join("p")).permissions().mode() & 0o777, 0o700);
        assert!(meta(&d.join("n")).file_type().is_fifo());
        assert_eq!(fs::read_link(d.join("s")).unwrap(), Path::new("/etc"));
        assert_eq!(meta(&d.join("h")).ino(), meta(&d.join("target")).ino());
        sb.assert_untouched();
    }

    #[test]
    fn broken_stream_is_reported() {
        let mut layer = Layer::new().file("a", &[7u8; 2000]).finish();
        layer.truncate(1024);
        let dest = tempfile::tempdir().unwrap();
        let err = apply_layer(&layer[..], dest.path()).unwrap_err();
        assert!(matches!(&err, LayerError::Io { entry, .. } if entry == "a"), "{err}");

        let mut garbage = Layer::new().file("a", b"x").finish();
        garbage[10] ^= 0xff; // checksum mismatch
        let err = apply_layer(&garbage[..], dest.path()).unwrap_err();
        assert!(matches!(err, LayerError::Tar(_)), "{err}");
    }

    #[test]
    fn pax_times() {
        let t = |s: &str| parse_pax_time(s.as_bytes()).map(|t| (t.tv_sec, t.tv_nsec));
        assert_eq!(t("12"), Some((12, 0)));
        assert_eq!(t("12.5"), Some((12, 500_000_000)));
        assert_eq!(t("12.0000000019"), Some((12, 1)));
        assert_eq!(t("-1.5"), Some((-2, 500_000_000)));
        assert_eq!(t("x"), None);
        assert_eq!(t("1.x"), None);
    }
}

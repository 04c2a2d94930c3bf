//! The reverse of `apply`: turns an overlayfs upper dir into a layer tar (for `commit` and
//! `build`), converting overlayfs whiteouts back to the OCI `.wh.` form.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, Stat};
use tar::{EntryType, Header};

use super::apply::{OVERLAY_OPAQUE_XATTR, OVERLAY_XATTR_PREFIX};

/// Writes a deterministic uncompressed tar of the overlayfs upper dir `upper` to `out`:
/// entries sorted by name, names relative (`etc/passwd`, directories as `etc/`), overlayfs
/// whiteouts and opaque dirs turned into `.wh.<name>` and `.wh..wh..opq` entries, xattrs as
/// PAX `SCHILY.xattr.*` records (except overlayfs' own), a second name of an inode as a hard
/// link. Returns the number of bytes written.
pub fn write_layer_tar<W: Write>(upper: &Path, out: W) -> io::Result<u64> {
    let root = rfs::open(upper, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())?;
    let mut writer = Writer { tar: tar::Builder::new(Counting { inner: out, written: 0 }), inodes: HashMap::new() };
    writer.walk(root.as_fd(), b"")?;
    // into_inner writes the two closing zero blocks.
    let counting = writer.tar.into_inner()?;
    Ok(counting.written)
}

/// Writes one item, `name` inside the directory `parent`, as a tar whose entries are named
/// `top` and `top/...` (what `cp` sends). The same fd-relative, never-following walk as
/// `write_layer_tar`, so a container swapping symlinks cannot make it read host files.
pub fn write_item_tar<W: Write>(parent: BorrowedFd<'_>, name: &[u8], top: &[u8], out: W) -> io::Result<u64> {
    let mut writer = Writer { tar: tar::Builder::new(Counting { inner: out, written: 0 }), inodes: HashMap::new() };
    writer.entry(parent, name, b"", top.to_vec())?;
    let counting = writer.tar.into_inner()?;
    Ok(counting.written)
}

struct Counting<W> {
    inner: W,
    written: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

struct Writer<W: Write> {
    tar: tar::Builder<Counting<W>>,
    /// First name written for each (dev, ino) with more than one link.
    inodes: HashMap<(u64, u64), Vec<u8>>,
}

impl<W: Write> Writer<W> {
    /// Writes the children of `dir`, whose tar name is `prefix` (empty, or ending in `/`).
    fn walk(&mut self, dir: BorrowedFd<'_>, prefix: &[u8]) -> io::Result<()> {
        let mut names = Vec::new();
        for child in rfs::Dir::read_from(dir)? {
            let child = child?;
            let name = child.file_name().to_bytes();
            if name != b"." && name != b".." {
                names.push(name.to_vec());
            }
        }
        names.sort();

        for name in names {
            let path = [prefix, &name].concat();
            self.entry(dir, &name, prefix, path)?;
        }
        Ok(())
    }

    /// Archives `name` of `dir` under the archive name `path` (and, for a directory,
    /// everything below it); `prefix` is the archive name of `dir`.
    fn entry(&mut self, dir: BorrowedFd<'_>, name: &[u8], prefix: &[u8], path: Vec<u8>) -> io::Result<()> {
        // Everything is fd-relative and nofollow: a running container cannot swap in a
        // symlink that makes us archive host files.
        let st = rfs::statat(dir, bytes_path(name), AtFlags::SYMLINK_NOFOLLOW)?;
        let file_type = FileType::from_raw_mode(st.st_mode);
        let (xattrs, opaque) = read_xattrs(dir, name)?;

        if file_type == FileType::Directory {
            let dir_name = [&path[..], b"/"].concat();
            self.append(header(&st, EntryType::Directory), &dir_name, None, &xattrs, io::empty())?;
            if opaque {
                // Right after the directory, before its own (new) contents.
                let marker = [&dir_name[..], b".wh..wh..opq"].concat();
                self.append(whiteout_header(&st), &marker, None, &[], io::empty())?;
            }
            let child = rfs::openat(
                dir,
                bytes_path(name),
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )?;
            self.walk(child.as_fd(), &dir_name)?;
            return Ok(());
        }

        // overlayfs' whiteout: a 0/0 char device (possibly sharing one inode with others).
        if file_type == FileType::CharacterDevice && st.st_rdev == 0 {
            let wh = [prefix, b".wh.", name].concat();
            self.append(whiteout_header(&st), &wh, None, &[], io::empty())?;
            return Ok(());
        }

        if st.st_nlink > 1 {
            let key = (st.st_dev, st.st_ino);
            if let Some(first) = self.inodes.get(&key) {
                let first = first.clone();
                let mut h = header(&st, EntryType::Link);
                h.set_size(0);
                self.append(h, &path, Some(&first), &[], io::empty())?;
                return Ok(());
            }
            self.inodes.insert(key, path.clone());
        }

        match file_type {
            FileType::RegularFile => {
                let fd = rfs::openat(
                    dir,
                    bytes_path(name),
                    OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )?;
                let st = rfs::fstat(&fd)?;
                let mut h = header(&st, EntryType::Regular);
                let size = st.st_size as u64;
                h.set_size(size);
                // Exactly `size` bytes even if the file changes under us, or the archive
                // would be corrupt: a shrunk file is padded with zeros.
                let data = File::from(fd).take(size).chain(io::repeat(0)).take(size);
                self.append(h, &path, None, &xattrs, data)?;
            }
            FileType::Symlink => {
                let target = rfs::readlinkat(dir, bytes_path(name), Vec::new())?;
                let h = header(&st, EntryType::Symlink);
                self.append(h, &path, Some(target.as_bytes()), &xattrs, io::empty())?;
            }
            FileType::CharacterDevice | FileType::BlockDevice | FileType::Fifo => {
                let kind = match file_type {
                    FileType::CharacterDevice => EntryType::Char,
                    FileType::BlockDevice => EntryType::Block,
                    _ => EntryType::Fifo,
                };
                let mut h = header(&st, kind);
                if kind != EntryType::Fifo {
                    h.set_device_major(rfs::major(st.st_rdev))?;
                    h.set_device_minor(rfs::minor(st.st_rdev))?;
                }
                self.append(h, &path, None, &xattrs, io::empty())?;
            }
            // Sockets (and anything else) cannot be archived; docker skips them too.
            _ => {}
        }
        Ok(())
    }

    /// Appends one entry: PAX records (xattrs, a long link target), then the header (the tar
    /// crate adds a GNU long-name record for a long `path`), then the data.
    fn append(
        &mut self,
        mut h: Header,
        path: &[u8],
        link: Option<&[u8]>,
        xattrs: &[(String, Vec<u8>)],
        data: impl Read,
    ) -> io::Result<()> {
        let mut pax: Vec<(String, &[u8])> = xattrs.iter().map(|(k, v)| (format!("SCHILY.xattr.{k}"), &v[..])).collect();
        if let Some(link) = link {
            if link.len() < h.as_old().linkname.len() {
                h.set_link_name_literal(link)?;
            } else {
                pax.push(("linkpath".to_owned(), link));
            }
        }
        if !pax.is_empty() {
            self.tar.append_pax_extensions(pax.iter().map(|(k, v)| (k.as_str(), *v)))?;
        }
        self.tar.append_data(&mut h, bytes_path(path), data)
    }
}

/// A header with the metadata we keep. atime/ctime and user/group names are left out so the
/// same tree always gives the same bytes.
fn header(st: &Stat, kind: EntryType) -> Header {
    let mut h = Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(st.st_mode & 0o7777);
    h.set_uid(st.st_uid.into());
    h.set_gid(st.st_gid.into());
    h.set_mtime(u64::try_from(st.st_mtime).unwrap_or(0));
    h.set_size(0);
    h
}

/// `.wh.` files are empty regular files that keep the owner, mode and mtime of what they
/// stand for (docker does the same).
fn whiteout_header(st: &Stat) -> Header {
    header(st, EntryType::Regular)
}

/// Name and value of each xattr.
type Xattrs = Vec<(String, Vec<u8>)>;

/// The xattrs of `dir/name` worth archiving (sorted by name, overlayfs' own left out), and
/// whether overlayfs marks it opaque.
fn read_xattrs(dir: BorrowedFd<'_>, name: &[u8]) -> io::Result<(Xattrs, bool)> {
    let mut all = list_xattrs(dir, name)?;
    let opaque = all.iter().any(|(k, v)| k == OVERLAY_OPAQUE_XATTR && v == b"y");
    all.retain(|(k, _)| !k.as_bytes().starts_with(OVERLAY_XATTR_PREFIX));
    Ok((all, opaque))
}

fn list_xattrs(dir: BorrowedFd<'_>, name: &[u8]) -> io::Result<Xattrs> {
    // No fd-relative llistxattr: go through the directory fd's /proc link; the `xattr` crate's
    // plain functions do not follow the final symlink.
    let path = PathBuf::from(format!("/proc/self/fd/{}", dir.as_raw_fd())).join(bytes_path(name));
    let names = match xattr::list(&path) {
        Ok(names) => names,
        Err(e) if e.raw_os_error() == Some(libc::ENOTSUP) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for key in names {
        let Some(key_str) = key.to_str() else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: xattr name is not UTF-8", String::from_utf8_lossy(name)),
            ));
        };
        // Gone between list and get: nothing to keep.
        if let Some(value) = xattr::get(&path, &key)? {
            out.push((key_str.to_owned(), value));
        }
    }
    out.sort();
    Ok(out)
}

fn bytes_path(b: &[u8]) -> &Path {
    Path::new(OsStr::from_bytes(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::apply::tests::{sample_layer, Layer};
    use crate::layer::apply_layer;
    use std::collections::BTreeMap;
    use std::fs;
    use std::os::unix::fs::MetadataExt;

    /// Everything we keep about a tree, by relative path (the root itself left out).
    fn snapshot(root: &Path) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        let mut inodes: HashMap<u64, String> = HashMap::new();
        let mut stack = vec![root.to_owned()];
        while let Some(dir) = stack.pop() {
            for e in fs::read_dir(&dir).unwrap() {
                let p = e.unwrap().path();
                let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                let m = fs::symlink_metadata(&p).unwrap();
                let ft = m.file_type();
                let mut xattrs: Vec<String> = xattr::list(&p)
                    .unwrap()
                    .map(|k| format!("{}={:?}", k.to_string_lossy(), xattr::get(&p, &k).unwrap().unwrap()))
                    .collect();
                xattrs.sort();
                let what = if ft.is_dir() {
                    stack.push(p.clone());
                    "dir".to_owned()
                } else if ft.is_symlink() {
                    format!("symlink {:?}", fs::read_link(&p).unwrap())
                } else if ft.is_file() {
                    format!("file {:?}", fs::read(&p).unwrap())
                } else {
                    format!("special {:o} {}", m.mode() & 0o170000, m.rdev())
                };
                let link = if !ft.is_dir() && m.nlink() > 1 {
                    inodes.entry(m.ino()).or_insert_with(|| rel.clone()).clone()
                } else {
                    String::new()
                };
                let desc = format!(
                    "{what} mode={:o} owner={}:{} mtime={} xattrs={xattrs:?} link={link}",
                    m.mode() & 0o7777,
                    m.uid(),
                    m.gid(),
                    m.mtime()
                );
                out.insert(rel, desc);
            }
        }
        out
    }

    fn tar_of(dir: &Path) -> Vec<u8> {
        let mut buf = Vec::new();
        let n = write_layer_tar(dir, &mut buf).unwrap();
        assert_eq!(n, buf.len() as u64);
        buf
    }

    #[test]
    fn diff_of_an_applied_layer_applies_to_the_same_tree() {
        let a = tempfile::tempdir().unwrap();
        apply_layer(&sample_layer()[..], a.path()).unwrap();
        // A second layer on top, as an upper dir would hold it: whiteouts and an opaque dir.
        let top = Layer::new()
            .dir("a/")
            .file("a/.wh..wh..opq", b"")
            .file("a/keep", b"k")
            .file("etc/.wh.hostname", b"")
            .finish();
        apply_layer(&top[..], a.path()).unwrap();

        let tar1 = tar_of(a.path());
        let b = tempfile::tempdir().unwrap();
        apply_layer(&tar1[..], b.path()).unwrap();
        assert_eq!(snapshot(a.path()), snapshot(b.path()));
        // Deterministic: the same tree gives the same bytes.
        assert_eq!(tar_of(b.path()), tar1);
        if let Ok(path) = std::env::var("BERTH_LAYER_TEST_DUMP") {
            fs::write(path, &tar1).unwrap();
        }

        let mut names = Vec::new();
        let mut archive = tar::Archive::new(&tar1[..]);
        for e in archive.entries().unwrap() {
            let e = e.unwrap();
            let name = String::from_utf8(e.path_bytes().into_owned()).unwrap();
            assert!(!name.starts_with('/') && !name.starts_with("./"), "{name}");
            if name == "bin/hard" {
                assert_eq!(e.header().entry_type(), EntryType::Link);
                assert_eq!(&*e.link_name_bytes().unwrap(), b"bin/busybox");
            }
            names.push(name);
        }
        for expected in ["a/", "a/.wh..wh..opq", "a/keep", "etc/.wh.hostname", "bin/hard", "dev/null"] {
            assert!(names.iter().any(|n| n == expected), "{expected} missing from {names:?}");
        }
        // The opaque marker comes right after its directory.
        let a_pos = names.iter().position(|n| n == "a/").unwrap();
        assert_eq!(names[a_pos + 1], "a/.wh..wh..opq");
        // Depth-first, each directory's children sorted by name.
        let bin: Vec<_> = names.iter().filter(|n| n.starts_with("bin/")).collect();
        assert_eq!(bin, ["bin/", "bin/busybox", "bin/hard", "bin/ping", "bin/sh", "bin/wall"]);
        assert!(!names.iter().any(|n| n.contains("trusted.overlay")));
    }

    #[test]
    fn symlinks_inside_the_upper_dir_are_not_followed() {
        let upper = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("/etc", upper.path().join("etc")).unwrap();
        let tar = tar_of(upper.path());
        let mut archive = tar::Archive::new(&tar[..]);
        let entries: Vec<_> = archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (e.path_bytes().into_owned(), e.header().entry_type())
            })
            .collect();
        assert_eq!(entries, [(b"etc".to_vec(), EntryType::Symlink)]);
    }
}

//! Sources for COPY and ADD: the build context (a directory, or a tar read from stdin into a
//! temporary one) filtered by `.dockerignore`, or another image's root filesystem (`--from`).
//! Every source path is resolved by hand, one component at a time: in the context, `..` above
//! the root and symlinks that leave it are refused; in an image, they stay inside its root, as
//! they would in a container.

use std::collections::VecDeque;
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use super::dockerignore::{clean, component_match, Ignore};
use super::BuildError;
use crate::error::IoContext;

/// Where sources are read from.
pub struct SourceRoot {
    pub root: PathBuf,
    /// `Some` for the build context; `None` for an image's filesystem.
    pub ignore: Option<Ignore>,
    /// Unmounted on drop.
    mounted: Option<PathBuf>,
    /// A temporary directory removed on drop.
    temp: Option<PathBuf>,
}

impl Drop for SourceRoot {
    fn drop(&mut self) {
        if let Some(dir) = &self.mounted {
            let _ = rustix::mount::unmount(dir, rustix::mount::UnmountFlags::DETACH);
        }
        if let Some(dir) = &self.temp {
            let _ = fs::remove_dir(dir);
        }
    }
}

fn forbidden(path: &str) -> BuildError {
    BuildError::Invalid(format!("forbidden path outside the build context: {path}"))
}

fn has_meta(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

impl SourceRoot {
    pub fn context(root: PathBuf, ignore: Ignore) -> SourceRoot {
        SourceRoot { root, ignore: Some(ignore), mounted: None, temp: None }
    }

    /// An image's filesystem: its layer directories, top first, overlaid read-only in `dir`
    /// (an empty directory the caller made, removed on drop).
    pub fn image(lowers: &[PathBuf], dir: PathBuf) -> Result<SourceRoot, BuildError> {
        let mut root = SourceRoot { root: dir.clone(), ignore: None, mounted: None, temp: Some(dir.clone()) };
        match lowers {
            [] => {}
            // One layer: overlayfs wants two lower dirs without an upper, and none is needed.
            [one] => root.root = one.clone(),
            many => {
                let list: Vec<String> = many.iter().map(|p| p.display().to_string()).collect();
                let options = format!("lowerdir={}", list.join(":"));
                if options.len() > 4000 {
                    return Err(BuildError::Invalid(format!("image has too many layers ({}) to mount", many.len())));
                }
                let data = std::ffi::CString::new(options)
                    .map_err(|_| BuildError::Invalid("layer path with a NUL byte".into()))?;
                rustix::mount::mount(
                    "overlay",
                    &dir,
                    "overlay",
                    rustix::mount::MountFlags::RDONLY,
                    Some(data.as_c_str()),
                )
                .map_err(io::Error::from)
                .at(&dir)?;
                root.mounted = Some(dir);
            }
        }
        Ok(root)
    }

    fn is_context(&self) -> bool {
        self.ignore.is_some()
    }

    /// Resolves components to a path under the root, following symlinks inside it (the last
    /// one too when `follow_last`). In the context, leaving the root is an error.
    pub fn resolve(&self, parts: &[String], follow_last: bool, shown: &str) -> Result<Vec<String>, BuildError> {
        let mut done: Vec<String> = Vec::new();
        let mut pending: VecDeque<String> = parts.iter().cloned().collect();
        let mut hops = 0;
        while let Some(c) = pending.pop_front() {
            match c.as_str() {
                "" | "." => continue,
                ".." => {
                    if done.pop().is_none() && self.is_context() {
                        return Err(forbidden(shown));
                    }
                    continue;
                }
                _ => {}
            }
            let path = self.root.join(done.join("/")).join(&c);
            let is_link = fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink());
            if is_link && (follow_last || !pending.is_empty()) {
                hops += 1;
                if hops > 40 {
                    return Err(BuildError::Invalid(format!("{shown}: too many levels of symbolic links")));
                }
                let target = fs::read_link(&path).at(&path)?;
                let target = target.to_string_lossy().into_owned();
                if target.starts_with('/') {
                    if self.is_context() {
                        return Err(forbidden(shown));
                    }
                    done.clear();
                }
                for (k, part) in target.split('/').enumerate() {
                    pending.insert(k, part.to_string());
                }
            } else {
                done.push(c);
            }
        }
        Ok(done)
    }

    pub fn path_of(&self, parts: &[String]) -> PathBuf {
        self.root.join(parts.join("/"))
    }

    fn excluded(&self, parts: &[String]) -> bool {
        let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
        self.ignore.as_ref().is_some_and(|i| !refs.is_empty() && i.excluded(&refs))
    }

    /// Expands one COPY/ADD source (globs allowed) to resolved paths, in name order.
    pub fn expand(&self, src: &str) -> Result<Vec<Vec<String>>, BuildError> {
        // An absolute source is relative to the root (the context is `/` for the build).
        let parts: Vec<String> = src.split('/').filter(|p| !p.is_empty() && *p != ".").map(str::to_string).collect();
        if self.is_context() && clean(src.trim_start_matches('/')).is_none() {
            return Err(forbidden(src));
        }
        let mut found = Vec::new();
        self.glob(Vec::new(), &parts, src, &mut found)?;
        let mut out = Vec::new();
        for m in found {
            let resolved = self.resolve(&m, true, src)?;
            if self.excluded(&resolved) {
                continue;
            }
            if fs::symlink_metadata(self.path_of(&resolved)).is_ok() {
                out.push(resolved);
            }
        }
        if out.is_empty() {
            return Err(BuildError::Invalid(if self.is_context() {
                format!("file not found in build context or excluded by .dockerignore: stat {src}: file does not exist")
            } else {
                format!("stat {src}: file does not exist")
            }));
        }
        Ok(out)
    }

    fn glob(
        &self,
        base: Vec<String>,
        rest: &[String],
        shown: &str,
        out: &mut Vec<Vec<String>>,
    ) -> Result<(), BuildError> {
        let Some((first, tail)) = rest.split_first() else {
            out.push(base);
            return Ok(());
        };
        if !has_meta(first) {
            let mut next = base;
            next.push(first.clone());
            return self.glob(next, tail, shown, out);
        }
        let dir_parts = self.resolve(&base, true, shown)?;
        let dir = self.path_of(&dir_parts);
        let Ok(entries) = fs::read_dir(&dir) else { return Ok(()) };
        let mut names: Vec<String> = entries.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        for name in names.into_iter().filter(|n| component_match(first, n)) {
            let mut next = dir_parts.clone();
            next.push(name);
            self.glob(next, tail, shown, out)?;
        }
        Ok(())
    }

    /// Every entry under the resolved directory `parts` (not following symlinks), relative to
    /// it, in name order; excluded entries are left out.
    pub fn walk(&self, parts: &[String]) -> Result<Vec<(Vec<String>, fs::Metadata)>, BuildError> {
        let mut out = Vec::new();
        self.walk_into(parts, &mut Vec::new(), &mut out)?;
        Ok(out)
    }

    fn walk_into(
        &self,
        base: &[String],
        rel: &mut Vec<String>,
        out: &mut Vec<(Vec<String>, fs::Metadata)>,
    ) -> Result<(), BuildError> {
        let dir = self.root.join(base.join("/")).join(rel.join("/"));
        let mut entries: Vec<(String, fs::Metadata)> = Vec::new();
        for e in fs::read_dir(&dir).at(&dir)? {
            let e = e.at(&dir)?;
            let meta = e.metadata().at(e.path())?;
            entries.push((e.file_name().to_string_lossy().into_owned(), meta));
        }
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, meta) in entries {
            rel.push(name);
            let full: Vec<String> = base.iter().chain(rel.iter()).cloned().collect();
            let excluded = self.excluded(&full);
            if meta.is_dir() {
                // An excluded directory is still entered when an exception may re-include
                // something in it.
                let enter = !excluded || self.ignore.as_ref().is_some_and(Ignore::has_exceptions);
                if enter {
                    let before = out.len();
                    out.push((rel.clone(), meta));
                    self.walk_into(base, rel, out)?;
                    if excluded && out.len() == before + 1 {
                        out.pop();
                    }
                }
            } else if !excluded {
                out.push((rel.clone(), meta));
            }
            rel.pop();
        }
        Ok(())
    }
}

/// What a COPY/ADD writes, entry by entry.
pub enum Item {
    Dir {
        dest: String,
        meta: Meta,
    },
    File {
        dest: String,
        src: Content,
        meta: Meta,
    },
    Symlink {
        dest: String,
        target: String,
        meta: Meta,
    },
    /// A local archive unpacked under `dest` (ADD).
    Archive {
        dest: String,
        src: PathBuf,
    },
}

pub enum Content {
    Path(PathBuf),
    Bytes(Vec<u8>),
}

#[derive(Clone, Copy)]
pub struct Meta {
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub mtime: u64,
}

impl Meta {
    pub fn of(m: &fs::Metadata) -> Meta {
        Meta { mode: m.permissions().mode() & 0o7777, uid: 0, gid: 0, mtime: m.mtime().max(0) as u64 }
    }
}

fn hash_file(path: &Path) -> Result<String, BuildError> {
    let mut f = fs::File::open(path).at(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = f.read(&mut buf).at(path)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

/// The cache checksum of the items: names, modes, owners, link targets and contents; not
/// modification times, so a touched but unchanged file still hits the cache (as in Docker).
pub fn checksum(items: &[Item]) -> Result<String, BuildError> {
    let mut h = Sha256::new();
    for item in items {
        let line = match item {
            Item::Dir { dest, meta } => format!("d {dest} {:o} {}:{}", meta.mode, meta.uid, meta.gid),
            Item::Symlink { dest, target, meta } => format!("l {dest} {target} {}:{}", meta.uid, meta.gid),
            Item::File { dest, src, meta } => {
                let sum = match src {
                    Content::Path(p) => hash_file(p)?,
                    Content::Bytes(b) => hex::encode(Sha256::digest(b)),
                };
                format!("f {dest} {:o} {}:{} {sum}", meta.mode, meta.uid, meta.gid)
            }
            Item::Archive { dest, src } => format!("a {dest} {}", hash_file(src)?),
        };
        h.update(line.as_bytes());
        h.update(b"\n");
    }
    Ok(hex::encode(h.finalize()))
}

fn header(kind: tar::EntryType, meta: &Meta, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(meta.mode);
    h.set_uid(meta.uid);
    h.set_gid(meta.gid);
    h.set_mtime(meta.mtime);
    h.set_size(size);
    h
}

/// Writes the items as a layer tar.
pub fn write_tar<W: Write>(items: &[Item], out: W) -> Result<W, BuildError> {
    let mut tar = tar::Builder::new(out);
    for item in items {
        match item {
            Item::Dir { dest, meta } => {
                let mut h = header(tar::EntryType::Directory, meta, 0);
                tar.append_data(&mut h, format!("{dest}/"), io::empty()).at(dest)?;
            }
            Item::Symlink { dest, target, meta } => {
                let mut h = header(tar::EntryType::Symlink, meta, 0);
                tar.append_link(&mut h, dest, target).at(dest)?;
            }
            Item::File { dest, src, meta } => match src {
                Content::Path(p) => {
                    let f = fs::File::open(p).at(p)?;
                    let size = f.metadata().at(p)?.len();
                    let mut h = header(tar::EntryType::Regular, meta, size);
                    tar.append_data(&mut h, dest, f.take(size)).at(p)?;
                }
                Content::Bytes(b) => {
                    let mut h = header(tar::EntryType::Regular, meta, b.len() as u64);
                    tar.append_data(&mut h, dest, b.as_slice()).at(dest)?;
                }
            },
            Item::Archive { dest, src } => copy_archive(&mut tar, dest, src)?,
        }
    }
    Ok(tar.into_inner().at("layer")?)
}

/// Re-roots a local archive's entries under `dest`. Names that climb out are cleaned back in.
fn copy_archive<W: Write>(tar: &mut tar::Builder<W>, dest: &str, src: &Path) -> Result<(), BuildError> {
    let file = fs::File::open(src).at(src)?;
    let (_, reader) = crate::layer::decompress(io::BufReader::new(file)).at(src)?;
    let mut archive = tar::Archive::new(reader);
    let join = |name: &[u8]| -> Option<String> {
        let mut parts: Vec<String> = Vec::new();
        for p in String::from_utf8_lossy(name).split('/') {
            match p {
                "" | "." => {}
                ".." => {
                    parts.pop();
                }
                p => parts.push(p.to_string()),
            }
        }
        if parts.is_empty() {
            return None;
        }
        Some(if dest.is_empty() { parts.join("/") } else { format!("{dest}/{}", parts.join("/")) })
    };
    for entry in archive.entries().at(src)? {
        let mut entry = entry.at(src)?;
        let path = entry.path_bytes().into_owned();
        let Some(name) = join(&path) else { continue };
        let mut h = entry.header().clone();
        match h.entry_type() {
            tar::EntryType::Link => {
                let Some(target) = entry.link_name_bytes().and_then(|l| join(&l)) else { continue };
                tar.append_link(&mut h, &name, &target).at(src)?;
            }
            tar::EntryType::Symlink => {
                let target =
                    entry.link_name_bytes().map(|l| String::from_utf8_lossy(&l).into_owned()).unwrap_or_default();
                tar.append_link(&mut h, &name, &target).at(src)?;
            }
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::Directory => {
                let size = h.size().at(src)?;
                let name = if h.entry_type() == tar::EntryType::Directory { format!("{name}/") } else { name };
                tar.append_data(&mut h, &name, (&mut entry).take(size)).at(src)?;
            }
            // Devices, fifos and PAX/GNU metadata records: the tar crate folds the latter into the
            // entry; device nodes have no place in a build.
            _ => {}
        }
    }
    Ok(())
}

/// Whether `path` is a local archive ADD unpacks: a tar, possibly gzip/bzip2/xz-compressed.
pub fn is_archive(path: &Path) -> bool {
    let Ok(file) = fs::File::open(path) else { return false };
    let Ok((kind, mut reader)) = crate::layer::decompress(io::BufReader::new(file)) else { return false };
    if kind == crate::layer::Compression::Zstd {
        return false;
    }
    let mut block = vec![0u8; 512];
    if reader.read_exact(&mut block).is_err() {
        return false;
    }
    &block[257..262] == b"ustar"
}

//! The state root on disk (DESIGN.md section 2): the content store of blobs, the unpacked
//! layers, the metadata database and the lock that lets `system check` reclaim garbage safely.
//!
//! ```text
//! <root>/blobs/sha256/<hex>      manifests, configs, layer tarballs, verified before they land
//! <root>/layers/<chain-hex>/diff unpacked layers, one per chain ID, shared by every image
//! <root>/tmp/                    files being written; whatever is here and unlocked is garbage
//! <root>/berth.db                SQLite metadata (images, tags, layers, ...)
//! <root>/lock                    flock: shared by writers, exclusive for `system check`/prune
//! ```

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use rustix::fs::FlockOperation;

use crate::db::Db;
use crate::digest::{Digest, HashingWriter};
use crate::error::{Error, IoContext, Result};

pub struct Store {
    root: PathBuf,
    pub db: Db,
    lock_file: File,
}

/// How a command holds the store: writers share it, garbage collection needs it alone, and
/// a container's monitor, which touches only its container's files, holds no lock at all.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Shared,
    Exclusive,
    None,
}

/// `<root>/blobs/sha256/<hex>`, as `Store::blob_path` names it (for threads without a `Store`).
pub fn blob_path_at(root: &Path, digest: &Digest) -> PathBuf {
    root.join("blobs/sha256").join(digest.hex())
}

/// `Store::temp_dir` for threads without a `Store`.
pub fn temp_dir_at(root: &Path, purpose: &str) -> Result<PathBuf> {
    let path = root.join("tmp").join(format!("{purpose}-{:016x}", rand::random::<u64>()));
    fs::create_dir(&path).at(&path)?;
    Ok(path)
}

impl Store {
    pub fn open(root: &Path, access: Access) -> Result<Store> {
        for dir in ["blobs/sha256", "layers", "tmp"] {
            fs::create_dir_all(root.join(dir)).at(root.join(dir))?;
        }
        crate::container::rootfs::ensure_init_layer(root)?;
        let lock_path = root.join("lock");
        let lock = File::options().create(true).truncate(false).write(true).open(&lock_path).at(&lock_path)?;
        let db = Db::open(&root.join("berth.db"))?;
        let store = Store { root: root.to_path_buf(), db, lock_file: lock };
        store.lock(access)?;
        Ok(store)
    }

    /// Takes the lock for `access` (a store opened with `Access::None` takes one later).
    pub fn lock(&self, access: Access) -> Result<()> {
        let op = match access {
            Access::Shared => FlockOperation::LockShared,
            Access::Exclusive => FlockOperation::LockExclusive,
            Access::None => return Ok(()),
        };
        rustix::fs::flock(&self.lock_file, op).map_err(io::Error::from).at(self.root.join("lock"))
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        blob_path_at(&self.root, digest)
    }

    pub fn has_blob(&self, digest: &Digest) -> bool {
        self.blob_path(digest).is_file()
    }

    pub fn open_blob(&self, digest: &Digest) -> Result<File> {
        let path = self.blob_path(digest);
        File::open(&path).at(path)
    }

    pub fn read_blob(&self, digest: &Digest) -> Result<Vec<u8>> {
        let path = self.blob_path(digest);
        fs::read(&path).at(path)
    }

    /// The unpacked layer directory for a chain ID (the overlay lower dir is its `diff`).
    pub fn layer_dir(&self, chain_id: &Digest) -> PathBuf {
        crate::ingest::layer_dir_at(&self.root, chain_id)
    }

    /// A fresh private directory under `tmp/` for a multi-step write.
    pub fn temp_dir(&self, purpose: &str) -> Result<PathBuf> {
        temp_dir_at(&self.root, purpose)
    }

    /// Stores `bytes` as a blob and returns its digest.
    pub fn put_blob(&self, bytes: &[u8]) -> Result<Digest> {
        let mut writer = self.blob_writer()?;
        writer.write_all(bytes).at(&writer.path)?;
        writer.commit(None)
    }

    /// Copies a stream into the store. With `expected`, a stream with another digest is refused
    /// and nothing lands.
    pub fn put_blob_from(&self, reader: &mut dyn Read, expected: Option<&Digest>) -> Result<(Digest, u64)> {
        let mut writer = self.blob_writer()?;
        io::copy(reader, &mut writer).at(&writer.path)?;
        let size = writer.inner.as_ref().map_or(0, |w| w.count());
        let digest = writer.commit(expected)?;
        Ok((digest, size))
    }

    /// A writer into `tmp/`; `commit` verifies, fsyncs and renames it into `blobs/`.
    pub fn blob_writer(&self) -> Result<BlobWriter> {
        let path = self.root.join("tmp").join(format!("blob-{:016x}", rand::random::<u64>()));
        let file = File::options().write(true).create_new(true).open(&path).at(&path)?;
        Ok(BlobWriter {
            inner: Some(HashingWriter::new(io::BufWriter::with_capacity(256 * 1024, file))),
            path,
            blobs: self.root.join("blobs/sha256"),
            keep: false,
        })
    }

    /// Flushes everything written under the root to disk, once, before metadata points at it.
    pub fn sync(&self) -> Result<()> {
        let dir = File::open(&self.root).at(&self.root)?;
        rustix::fs::syncfs(&dir).map_err(io::Error::from).at(&self.root)
    }
}

pub struct BlobWriter {
    inner: Option<HashingWriter<io::BufWriter<File>>>,
    path: PathBuf,
    blobs: PathBuf,
    /// A partial download survives a failure, so the next pull continues it.
    keep: bool,
}

impl BlobWriter {
    /// A writer for a download of `expected` that may be interrupted: `<root>/tmp/partial-<hex>`
    /// is kept when the writer is dropped uncommitted, and a later writer continues it; it is
    /// flocked while written, so two pulls of one blob take turns. Returns
    /// the writer and how many bytes it already holds. Takes the root, not the store, so
    /// download threads can call it. `commit` still verifies the whole content.
    pub fn partial(root: &Path, expected: &Digest) -> Result<(BlobWriter, u64)> {
        use std::os::unix::fs::MetadataExt;
        let path = root.join("tmp").join(format!("partial-{}", expected.hex()));
        let mut file = loop {
            let file = File::options().read(true).append(true).create(true).open(&path).at(&path)?;
            // Another berth may be fetching the same blob: wait for it. If it finished (renamed
            // the file into blobs/) or gave up (removed it), this descriptor is stale: reopen.
            rustix::fs::flock(&file, FlockOperation::LockExclusive).map_err(io::Error::from).at(&path)?;
            let same = match (file.metadata(), fs::metadata(&path)) {
                (Ok(a), Ok(b)) => a.ino() == b.ino() && a.dev() == b.dev(),
                _ => false,
            };
            if same {
                break file;
            }
        };
        let mut hashing = HashingWriter::new(io::BufWriter::with_capacity(256 * 1024, file.try_clone().at(&path)?));
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = file.read(&mut buf).at(&path)?;
            if n == 0 {
                break;
            }
            hashing.absorb(&buf[..n]);
        }
        let held = hashing.count();
        let writer = BlobWriter { inner: Some(hashing), path, blobs: root.join("blobs/sha256"), keep: true };
        Ok((writer, held))
    }

    /// Bytes in the blob so far.
    pub fn written(&self) -> u64 {
        self.inner.as_ref().map_or(0, |w| w.count())
    }

    /// Throws the content away (a partial download the server will not continue).
    pub fn discard(mut self) {
        self.inner = None;
        let _ = fs::remove_file(&self.path);
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Verifies the digest (if one is expected), fsyncs and renames the blob into place.
    pub fn commit(mut self, expected: Option<&Digest>) -> Result<Digest> {
        let writer = self.inner.take().expect("commit once");
        let (buffered, digest, _) = writer.finish();
        let file = buffered.into_inner().map_err(|e| e.into_error()).at(&self.path)?;
        if let Some(expected) = expected {
            if *expected != digest {
                let _ = fs::remove_file(&self.path);
                return Err(Error::DigestMismatch {
                    what: format!("blob {expected}"),
                    expected: expected.to_string(),
                    actual: digest.to_string(),
                });
            }
        }
        file.sync_all().at(&self.path)?;
        let target = self.blobs.join(digest.hex());
        fs::rename(&self.path, &target).at(&target)?;
        Ok(digest)
    }
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.as_mut().expect("not committed").write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.as_mut().expect("not committed").flush()
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        // Not committed: the temp file is garbage now, not later (unless it is to be resumed).
        if self.inner.is_some() && !self.keep {
            let _ = fs::remove_file(&self.path);
        }
    }
}

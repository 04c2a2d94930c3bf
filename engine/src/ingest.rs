//! Getting images into the store, the part shared by import, load and (later) pull: unpack a
//! layer blob into its chain directory, then commit config, manifest, layers and names in one
//! transaction. The order makes a kill at any point harmless: blobs and layer directories land
//! (by rename, so each is whole) before any row points at them; what no row points at is
//! garbage that `system check` reclaims.

use std::fs::{self, File};
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use crate::db::{write, ImageRow, LayerRow};
use crate::digest::{Digest, HashingReader};
use crate::error::{Error, IoContext, Result};
use crate::layer::{self, Compression};
use crate::oci::{self, Descriptor, ImageConfig, Manifest};
use crate::store::Store;

/// The layer media type for a blob of this compression.
pub fn layer_media_type(compression: Compression) -> &'static str {
    match compression {
        Compression::Gzip => oci::MEDIA_OCI_LAYER_GZIP,
        Compression::Zstd => oci::MEDIA_OCI_LAYER_ZSTD,
        _ => oci::MEDIA_OCI_LAYER,
    }
}

impl Store {
    /// Makes sure the layer stored as `blob` is unpacked on top of `parent`, checking that its
    /// uncompressed content is `diff_id`. Returns its row, to be committed with the image.
    pub fn unpack_layer(
        &self,
        blob: &Digest,
        diff_id: &Digest,
        parent: Option<&Digest>,
        media_type: Option<&str>,
    ) -> Result<LayerRow> {
        let chain_id = oci::chain_id(parent, diff_id);
        if let Some(row) = self.db.layer(&chain_id)? {
            return Ok(row);
        }
        unpack_stored_layer(self.root(), blob, diff_id, parent, media_type)
    }

    /// Stores an image whose config and layer blobs are in the store and whose layers are
    /// unpacked: writes the manifest (or keeps the given one), then commits the rows and names.
    /// Returns the image ID and, for each name, the image it took the name from.
    pub fn commit_image(
        &mut self,
        config: &Digest,
        manifest: Option<Digest>,
        layers: &[LayerRow],
        names: &[String],
    ) -> Result<(Digest, Vec<(String, Digest)>)> {
        self.commit_image_with_repo_digest(config, manifest, layers, names, None)
    }

    /// `commit_image`, recording `repo_digest` (`repo@sha256:...`, what a pull resolved) for
    /// the image in the same transaction.
    pub fn commit_image_with_repo_digest(
        &mut self,
        config: &Digest,
        manifest: Option<Digest>,
        layers: &[LayerRow],
        names: &[String],
        repo_digest: Option<&str>,
    ) -> Result<(Digest, Vec<(String, Digest)>)> {
        let config_bytes = self.read_blob(config)?;
        let parsed: ImageConfig = serde_json::from_slice(&config_bytes)
            .map_err(|source| Error::Json { what: format!("image config {config}"), source })?;
        let manifest = match manifest {
            Some(m) => m,
            None => {
                let m = Manifest {
                    schema_version: 2,
                    media_type: Some(oci::MEDIA_OCI_MANIFEST.into()),
                    config: Descriptor {
                        media_type: oci::MEDIA_OCI_CONFIG.into(),
                        digest: config.clone(),
                        size: config_bytes.len() as u64,
                        annotations: None,
                        platform: None,
                    },
                    layers: layers
                        .iter()
                        .map(|l| {
                            Ok(Descriptor {
                                media_type: l.media_type.clone(),
                                digest: l.blob.clone(),
                                size: self.blob_size(&l.blob)?,
                                annotations: None,
                                platform: None,
                            })
                        })
                        .collect::<Result<_>>()?,
                    annotations: None,
                };
                self.put_blob(&oci::to_canonical_json(&m))?
            }
        };
        let row = ImageRow {
            id: config.clone(),
            manifest,
            created: parsed.created.clone().unwrap_or_default(),
            size: layers.iter().map(|l| l.size).sum(),
            added: chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default(),
        };
        let chain_ids: Vec<Digest> = layers.iter().map(|l| l.chain_id.clone()).collect();
        // Data reaches the disk before any row points at it.
        self.sync()?;
        let replaced = self.db.transaction(|tx| {
            for layer in layers {
                write::insert_layer(tx, layer)?;
            }
            write::insert_image(tx, &row, &chain_ids)?;
            let mut replaced = Vec::new();
            for name in names {
                if let Some(old) = write::set_tag(tx, name, &row.id)? {
                    replaced.push((name.clone(), old));
                }
            }
            if let Some(repo_digest) = repo_digest {
                write::set_repo_digest(tx, repo_digest, &row.id)?;
            }
            Ok(replaced)
        })?;
        Ok((row.id, replaced))
    }

    pub fn blob_size(&self, digest: &Digest) -> Result<u64> {
        let path = self.blob_path(digest);
        Ok(fs::metadata(&path).at(path)?.len())
    }
}

/// `<root>/layers/<chain hex>`, as `Store::layer_dir` names it (for threads without a `Store`).
pub fn layer_dir_at(root: &Path, chain_id: &Digest) -> PathBuf {
    root.join("layers").join(chain_id.hex())
}

/// `Store::unpack_layer` without the database: unpacks the stored blob `blob` into its chain
/// directory unless that exists already. Takes the root, so download threads can call it.
pub fn unpack_stored_layer(
    root: &Path,
    blob: &Digest,
    diff_id: &Digest,
    parent: Option<&Digest>,
    media_type: Option<&str>,
) -> Result<LayerRow> {
    let chain_id = oci::chain_id(parent, diff_id);
    let blob_path = crate::store::blob_path_at(root, blob);
    let file = File::open(&blob_path).at(&blob_path)?;
    let (compression, reader) = layer::decompress(BufReader::with_capacity(256 * 1024, file)).at(&blob_path)?;
    let media_type = media_type.map(str::to_string).unwrap_or_else(|| layer_media_type(compression).to_string());
    let target = layer_dir_at(root, &chain_id);
    let size = if target.is_dir() {
        // Unpacked by an earlier command that stopped before its commit: directories land
        // whole (by rename), so it is complete; only its size is needed again.
        dir_size(&target.join("diff"))
    } else {
        let tmp = crate::store::temp_dir_at(root, "layer")?;
        let already_verified = compression == Compression::None && blob == diff_id;
        let result = apply_checked(reader, &tmp, already_verified).and_then(|(size, actual)| match actual {
            Some(actual) if actual != *diff_id => Err(Error::DigestMismatch {
                what: format!("layer {blob}"),
                expected: diff_id.to_string(),
                actual: actual.to_string(),
            }),
            _ => Ok(size),
        });
        match result {
            Ok(size) => {
                land_layer(&tmp, &target)?;
                size
            }
            Err(e) => {
                let _ = fs::remove_dir_all(&tmp);
                return Err(e);
            }
        }
    };
    Ok(LayerRow { chain_id, diff_id: diff_id.clone(), parent: parent.cloned(), blob: blob.clone(), media_type, size })
}

/// Applies a layer stream into `<tmp>/diff` (created here). Returns the size of its files and,
/// unless `already_verified` (the blob's own verified digest is its diff ID), the digest of
/// the whole uncompressed stream.
pub fn apply_checked(reader: impl Read, tmp: &Path, already_verified: bool) -> Result<(u64, Option<Digest>)> {
    let diff = tmp.join("diff");
    fs::create_dir(&diff).at(&diff)?;
    if already_verified {
        return Ok((layer::apply_layer(reader, &diff)?.size, None));
    }
    let mut hashing = HashingReader::new(reader);
    let stats = layer::apply_layer(&mut hashing, &diff)?;
    // The tar may end before the stream does (padding): hash all of it.
    io::copy(&mut hashing, &mut io::sink()).map_err(|e| Error::Layer(layer::LayerError::Tar(e)))?;
    let (actual, _) = hashing.finish();
    Ok((stats.size, Some(actual)))
}

/// Renames a complete temp layer directory to its chain directory. If another berth process
/// landed the same layer first, its copy is used and this one goes.
pub fn land_layer(tmp: &Path, target: &Path) -> Result<()> {
    if let Err(e) = fs::rename(tmp, target) {
        let _ = fs::remove_dir_all(tmp);
        if !target.is_dir() {
            return Err(e).at(target);
        }
    }
    Ok(())
}

/// Sum of regular file sizes under a directory (what Docker reports as a layer's size).
pub fn dir_size(path: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            match entry.file_type() {
                Ok(t) if t.is_dir() => stack.push(entry.path()),
                Ok(t) if t.is_file() => total += entry.metadata().map(|m| m.len()).unwrap_or(0),
                _ => {}
            }
        }
    }
    total
}

/// Copies everything read into a second writer (a blob being stored while it is unpacked).
pub struct TeeReader<'a, R, W> {
    pub inner: R,
    pub copy: &'a mut W,
}

impl<R: Read, W: Write> Read for TeeReader<'_, R, W> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.copy.write_all(&buf[..n])?;
        Ok(n)
    }
}

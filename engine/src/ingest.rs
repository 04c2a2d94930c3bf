//! Getting images into the store, the part shared by import, load and (later) pull: unpack a
//! layer blob into its chain directory, then commit config, manifest, layers and names in one
//! transaction. The order makes a kill at any point harmless: blobs and layer directories land
//! (by rename, so each is whole) before any row points at them; what no row points at is
//! garbage that `system check` reclaims.

use std::fs;
use std::io::{self, BufReader, Read, Write};
use std::path::Path;

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
        let chain_id = match parent {
            None => diff_id.clone(),
            Some(p) => Digest::of_bytes(format!("{p} {diff_id}").as_bytes()),
        };
        if let Some(row) = self.db.layer(&chain_id)? {
            return Ok(row);
        }
        let file = self.open_blob(blob)?;
        let (compression, reader) =
            layer::decompress(BufReader::with_capacity(256 * 1024, file)).at(self.blob_path(blob))?;
        let media_type = media_type.map(str::to_string).unwrap_or_else(|| layer_media_type(compression).to_string());
        let target = self.layer_dir(&chain_id);
        let size = if target.is_dir() {
            // Unpacked by an earlier command that stopped before its commit: directories land
            // whole (by rename), so it is complete; only its size is needed again.
            dir_size(&target.join("diff"))
        } else {
            let tmp = self.temp_dir("layer")?;
            let result =
                self.apply_checked(reader, &tmp, blob, diff_id, compression == Compression::None && blob == diff_id);
            match result {
                Ok(size) => {
                    if let Err(e) = fs::rename(&tmp, &target) {
                        let _ = fs::remove_dir_all(&tmp);
                        // Another berth process unpacked the same layer first: use its copy.
                        if !target.is_dir() {
                            return Err(e).at(&target);
                        }
                    }
                    size
                }
                Err(e) => {
                    let _ = fs::remove_dir_all(&tmp);
                    return Err(e);
                }
            }
        };
        Ok(LayerRow {
            chain_id,
            diff_id: diff_id.clone(),
            parent: parent.cloned(),
            blob: blob.clone(),
            media_type,
            size,
        })
    }

    /// Applies a layer stream into `<tmp>/diff`, verifying the diff ID unless the blob's own
    /// (already verified) digest is it.
    fn apply_checked(
        &self,
        reader: Box<dyn Read + '_>,
        tmp: &Path,
        blob: &Digest,
        diff_id: &Digest,
        already_verified: bool,
    ) -> Result<u64> {
        let diff = tmp.join("diff");
        fs::create_dir(&diff).at(&diff)?;
        if already_verified {
            return Ok(layer::apply_layer(reader, &diff)?.size);
        }
        let mut hashing = HashingReader::new(reader);
        let stats = layer::apply_layer(&mut hashing, &diff)?;
        // The tar may end before the stream does (padding): hash all of it.
        io::copy(&mut hashing, &mut io::sink()).at(self.blob_path(blob))?;
        let (actual, _) = hashing.finish();
        if actual != *diff_id {
            return Err(Error::DigestMismatch {
                what: format!("layer {blob}"),
                expected: diff_id.to_string(),
                actual: actual.to_string(),
            });
        }
        Ok(stats.size)
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
            Ok(replaced)
        })?;
        Ok((row.id, replaced))
    }

    pub fn blob_size(&self, digest: &Digest) -> Result<u64> {
        let path = self.blob_path(digest);
        Ok(fs::metadata(&path).at(path)?.len())
    }
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

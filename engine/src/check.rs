//! `system check`: verifies the store against its metadata, and reclaims the garbage that an
//! interrupted command leaves (temp files, blobs, layer and container directories no row
//! points at).
//! Runs under the exclusive store lock, so no other berth command is mid-write.

use std::collections::HashSet;
use std::fs;
use std::io::{self, BufReader};

use crate::digest::{Digest, HashingReader};
use crate::error::Result;
use crate::oci::Manifest;
use crate::store::Store;

#[derive(Default, Debug)]
pub struct CheckReport {
    /// Real damage: a blob whose content is not its digest, a row pointing at nothing.
    pub errors: Vec<String>,
    /// Garbage found (and removed unless `repair` was false).
    pub garbage: Vec<String>,
    pub blobs_checked: usize,
    pub layers_checked: usize,
    pub images_checked: usize,
}

impl Store {
    pub fn check(&self, repair: bool) -> Result<CheckReport> {
        let mut report = CheckReport::default();
        let remove = |path: &std::path::Path, what: String, report: &mut CheckReport| {
            report.garbage.push(what);
            if repair {
                let _ = if path.is_dir() { fs::remove_dir_all(path) } else { fs::remove_file(path) };
            }
        };

        // Temp files: only interrupted commands leave them, and none runs now.
        for entry in fs::read_dir(self.root().join("tmp")).into_iter().flatten().flatten() {
            remove(&entry.path(), format!("temporary file {}", entry.file_name().to_string_lossy()), &mut report);
        }

        // Container directories without a row: a `--rm` container's unsynced row lost in a
        // crash (`Db::transaction_unsynced`). A row comes before its directory and goes before
        // it, and a removal in between holds the shared lock, so none is mid-way now.
        let containers: HashSet<String> = self.container_rows()?.into_iter().collect();
        for entry in fs::read_dir(self.root().join("containers")).into_iter().flatten().flatten() {
            let id = entry.file_name().to_string_lossy().into_owned();
            if !containers.contains(&id) {
                if repair {
                    let _ = self.unmount_rootfs(&id);
                }
                remove(&entry.path(), format!("directory of container {id}, which has no row"), &mut report);
            }
        }

        // Container rows whose directory is gone (a crash between the two): `rm` would remove
        // them, one by one.
        for id in containers.iter().filter(|id| !self.container_dir(id).exists()) {
            report.garbage.push(format!("container {id}, which has no directory"));
            if repair {
                self.db.conn().execute("DELETE FROM containers WHERE id = ?1", [id])?;
            }
        }

        // Every blob's content against its name.
        let mut referenced: HashSet<Digest> = HashSet::new();
        let layers = self.db.layers()?;
        let images = self.db.images()?;
        for image in &images {
            referenced.insert(image.id.clone());
            referenced.insert(image.manifest.clone());
            match self.read_blob(&image.manifest).ok().and_then(|b| serde_json::from_slice::<Manifest>(&b).ok()) {
                Some(m) if m.config.digest == image.id => {}
                Some(_) => report.errors.push(format!("image {}: its manifest names another config", image.id)),
                None => report
                    .errors
                    .push(format!("image {}: manifest {} is missing or unreadable", image.id, image.manifest)),
            }
            for chain_id in self.db.image_layers(&image.id)? {
                if !layers.iter().any(|l| l.chain_id == chain_id) {
                    report.errors.push(format!("image {}: layer {chain_id} is not in the store", image.id));
                }
            }
            report.images_checked += 1;
        }
        for layer in &layers {
            referenced.insert(layer.blob.clone());
            if !self.layer_dir(&layer.chain_id).join("diff").is_dir() {
                report.errors.push(format!("layer {}: unpacked directory is missing", layer.chain_id));
            }
            if let Some(parent) = &layer.parent {
                if !layers.iter().any(|l| &l.chain_id == parent) {
                    report.errors.push(format!("layer {}: parent {parent} is missing", layer.chain_id));
                }
            }
            report.layers_checked += 1;
        }
        for digest in &referenced {
            if !self.has_blob(digest) {
                report.errors.push(format!("blob {digest}: missing"));
            }
        }
        for entry in fs::read_dir(self.root().join("blobs/sha256")).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(digest) = Digest::from_hex(&name) else {
                remove(&entry.path(), format!("stray file blobs/sha256/{name}"), &mut report);
                continue;
            };
            let actual = fs::File::open(entry.path()).and_then(|f| {
                let mut reader = HashingReader::new(BufReader::with_capacity(256 * 1024, f));
                io::copy(&mut reader, &mut io::sink())?;
                Ok(reader.finish().0)
            });
            report.blobs_checked += 1;
            match actual {
                Ok(actual) if actual == digest => {
                    if !referenced.contains(&digest) {
                        remove(&entry.path(), format!("unreferenced blob {digest}"), &mut report);
                    }
                }
                Ok(actual) => report.errors.push(format!("blob {digest}: content has digest {actual}")),
                Err(e) => report.errors.push(format!("blob {digest}: {e}")),
            }
        }
        let known: HashSet<String> = layers.iter().map(|l| l.chain_id.hex().to_string()).collect();
        for entry in fs::read_dir(self.root().join("layers")).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !known.contains(&name) {
                remove(&entry.path(), format!("unreferenced layer directory {name}"), &mut report);
            }
        }
        Ok(report)
    }
}

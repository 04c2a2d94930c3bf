//! `commit`, `diff` and `export`: a container's filesystem changes as a new image, as a list,
//! or its whole filesystem as a tarball.

use std::fs;
use std::io::Write;
use std::os::unix::fs::FileTypeExt;
use std::path::Path;

use crate::changes::apply_change;
use crate::digest::Digest;
use crate::error::{Error, IoContext, Result};
use crate::layer::write_layer_tar;
use crate::oci::{self, History, ImageConfig, RootFs};
use crate::reference::Reference;
use crate::store::Store;

#[derive(Default)]
pub struct CommitOptions {
    pub author: Option<String>,
    pub message: Option<String>,
    pub changes: Vec<String>,
    pub reference: Option<String>,
}

/// One line of `diff`: `A` added, `C` changed, `D` deleted.
#[derive(Debug, PartialEq, Eq)]
pub struct Change {
    pub kind: char,
    pub path: String,
}

impl Store {
    /// Makes an image of the container's changes on top of its image.
    pub fn commit_container(&mut self, id: &str, options: &CommitOptions) -> Result<Digest> {
        let name = options.reference.as_deref().map(Reference::parse_tagged).transpose()?.and_then(|r| r.tagged_name());
        let record = self.container(id)?;
        let parent = self.image_config(&record.image)?;
        let mut config = parent.config.clone();
        let c = &record.config;
        config.cmd = Some(c.cmd.clone());
        config.entrypoint = (!c.entrypoint.is_empty()).then(|| c.entrypoint.clone());
        config.env = c.env.clone();
        config.working_dir = c.working_dir.clone();
        config.user = c.user.clone();
        config.labels = c.labels.clone();
        config.exposed_ports = c.exposed_ports.clone();
        config.volumes = c.volumes.clone();
        config.stop_signal = c.stop_signal.clone();
        for change in &options.changes {
            apply_change(&mut config, change)?;
        }

        // The layer: the upper dir as a tar (stored uncompressed, so its digest is its diff ID).
        let upper = self.container_dir(id).join("upper");
        let mut blob = self.blob_writer()?;
        write_layer_tar(&upper, &mut blob).at(&upper)?;
        let diff_id = blob.commit(None)?;
        let mut layers = Vec::new();
        for chain in self.db.image_layers(&record.image)? {
            layers.push(self.db.layer(&chain)?.ok_or_else(|| Error::Invalid(format!("layer {chain} is missing")))?);
        }
        let parent_chain = layers.last().map(|l| l.chain_id.clone());
        layers.push(self.unpack_layer(&diff_id, &diff_id, parent_chain.as_ref(), Some(oci::MEDIA_OCI_LAYER))?);

        let created = crate::time::now();
        let mut history = parent.history.clone();
        let command = std::iter::once(record.path.as_str())
            .chain(record.args.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(" ");
        history.push(History {
            created: Some(created.clone()),
            created_by: Some(command),
            author: options.author.clone(),
            comment: options.message.clone(),
            empty_layer: false,
        });
        let mut diff_ids = parent.rootfs.diff_ids.clone();
        diff_ids.push(diff_id);
        let mut other = parent.other.clone();
        other.remove("comment");
        if let Some(m) = &options.message {
            other.insert("comment".into(), m.clone().into());
        }
        let image = ImageConfig {
            created: Some(created),
            author: options.author.clone(),
            architecture: parent.architecture.clone(),
            os: parent.os.clone(),
            variant: parent.variant.clone(),
            config,
            rootfs: RootFs { kind: "layers".into(), diff_ids },
            history,
            other,
        };
        let config_digest = self.put_blob(&oci::to_canonical_json(&image))?;
        let names: Vec<String> = name.into_iter().collect();
        let (image_id, _) = self.commit_image(&config_digest, None, &layers, &names)?;
        Ok(image_id)
    }

    /// `diff`: what changed in the container's filesystem, sorted by path.
    pub fn container_changes(&self, id: &str) -> Result<Vec<Change>> {
        let record = self.container(id)?;
        let lowers: Vec<std::path::PathBuf> =
            self.db.image_layers(&record.image)?.iter().map(|c| self.layer_dir(c).join("diff")).collect();
        let mut out = Vec::new();
        walk_upper(&self.container_dir(id).join("upper"), "", &lowers, &mut out)?;
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    /// `export`: the container's whole filesystem as a tar (mounted for the time it takes).
    pub fn export_container(&self, id: &str, out: impl Write) -> Result<()> {
        let mounted = crate::container::rootfs::is_mountpoint(&self.container_dir(id).join("merged"));
        let merged = self.mount_rootfs(id)?;
        let result = write_layer_tar(&merged, out).at(&merged);
        if !mounted {
            self.unmount_rootfs(id)?;
        }
        result.map(|_| ())
    }
}

fn in_lowers(lowers: &[std::path::PathBuf], rel: &str) -> bool {
    lowers.iter().any(|l| fs::symlink_metadata(l.join(rel)).is_ok())
}

fn walk_upper(dir: &Path, rel: &str, lowers: &[std::path::PathBuf], out: &mut Vec<Change>) -> Result<()> {
    let Ok(entries) = fs::read_dir(dir) else { return Ok(()) };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let rel_path = if rel.is_empty() { name.clone() } else { format!("{rel}/{name}") };
        let meta = entry.metadata().at(entry.path())?;
        let whiteout = meta.file_type().is_char_device() && std::os::unix::fs::MetadataExt::rdev(&meta) == 0;
        let kind = if whiteout {
            'D'
        } else if in_lowers(lowers, &rel_path) {
            'C'
        } else {
            'A'
        };
        out.push(Change { kind, path: format!("/{rel_path}") });
        if meta.is_dir() {
            walk_upper(&entry.path(), &rel_path, lowers, out)?;
        }
    }
    Ok(())
}

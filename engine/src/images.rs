//! Image operations on the store: find an image by name or ID, list, tag, remove, prune.

use std::fs;

use crate::db::{write, ImageRow, LayerRow};
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::oci::ImageConfig;
use crate::reference::Reference;
use crate::store::Store;

/// An image with what the listing and inspect commands show of it.
pub struct ImageSummary {
    pub row: ImageRow,
    /// Full stored names, e.g. `docker.io/library/busybox:latest`.
    pub tags: Vec<String>,
    pub repo_digests: Vec<String>,
    pub config: ImageConfig,
}

/// What `rmi` and `prune` did, in the order Docker prints it.
#[derive(Debug, PartialEq, Eq)]
pub enum Removal {
    /// A name removed, in familiar form (`busybox:latest`).
    Untagged(String),
    /// An image ID or layer chain ID deleted.
    Deleted(Digest),
}

impl Store {
    /// Finds an image the way Docker does: a full or prefixed ID, a name (tag `latest` by
    /// default), a name with digest, or a short ID prefix.
    pub fn resolve_image(&self, s: &str) -> Result<Digest> {
        if let Some(hex) = s.strip_prefix("sha256:") {
            return self.resolve_id_prefix(s, hex);
        }
        if let Ok(reference) = Reference::parse_tagged(s) {
            let found = match (&reference.digest, reference.tagged_name()) {
                (Some(_), _) => self.db.repo_digest_target(&reference.digested_name().unwrap_or_default())?,
                (None, Some(name)) => self.db.tag_target(&name)?,
                (None, None) => None,
            };
            if let Some(id) = found {
                return Ok(id);
            }
        }
        if !s.is_empty() && s.len() <= 64 && s.bytes().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()) {
            return self.resolve_id_prefix(s, s);
        }
        Err(Error::NoSuchImage(display_name(s)))
    }

    fn resolve_id_prefix(&self, s: &str, hex: &str) -> Result<Digest> {
        if hex.is_empty() || !hex.bytes().all(|c| c.is_ascii_hexdigit()) {
            return Err(Error::NoSuchImage(s.into()));
        }
        let mut found = self.db.images_with_prefix(hex)?;
        match found.len() {
            0 => Err(Error::NoSuchImage(display_name(s))),
            1 => Ok(found.remove(0)),
            _ => Err(Error::Ambiguous(s.into())),
        }
    }

    pub fn image_config(&self, id: &Digest) -> Result<ImageConfig> {
        let bytes = self.read_blob(id)?;
        serde_json::from_slice(&bytes).map_err(|source| Error::Json { what: format!("image config {id}"), source })
    }

    pub fn image_summary(&self, id: &Digest) -> Result<ImageSummary> {
        let row = self.db.image(id)?.ok_or_else(|| Error::NoSuchImage(id.to_string()))?;
        Ok(ImageSummary {
            tags: self.db.tags_of(id)?,
            repo_digests: self.db.repo_digests_of(id)?,
            config: self.image_config(id)?,
            row,
        })
    }

    /// Every image, newest first.
    pub fn list_images(&self) -> Result<Vec<ImageSummary>> {
        self.db.images()?.into_iter().map(|row| self.image_summary(&row.id)).collect()
    }

    /// `tag SOURCE TARGET`: returns the image the name pointed at before, if another.
    pub fn tag_image(&mut self, source: &str, target: &str) -> Result<Option<Digest>> {
        let id = self.resolve_image(source)?;
        let reference = Reference::parse_tagged(target)?;
        let name = reference
            .tagged_name()
            .ok_or_else(|| Error::Invalid(format!("refusing to create a tag with a digest reference: {target}")))?;
        self.db.transaction(|tx| write::set_tag(tx, &name, &id))
    }

    /// `rmi NAME|ID`: untags a name; deletes the image when no name is left, or, by ID, when it
    /// has one name (any number with `force`). An image a container uses is only untagged, even
    /// with `force`, so the container keeps its layers.
    pub fn remove_image(&mut self, s: &str, force: bool) -> Result<Vec<Removal>> {
        let id = self.resolve_image(s)?;
        let names: Vec<String> = self.db.tags_of(&id)?.into_iter().chain(self.db.repo_digests_of(&id)?).collect();
        let short = id.short().to_string();
        let user = self.container_using_image(&id)?.map(|c| c.chars().take(12).collect::<String>());
        let named = Reference::parse_tagged(s).ok().and_then(|r| {
            let tagged = r.tagged_name().filter(|n| names.contains(n));
            tagged.or_else(|| r.digested_name().filter(|n| names.contains(n)))
        });
        let untag: Vec<String> = match &named {
            // By name with other names left: only that name goes.
            Some(name) if names.len() > 1 => vec![name.clone()],
            Some(name) => {
                if let (Some(container), false) = (&user, force) {
                    return Err(Error::Conflict(format!(
                        "conflict: unable to remove repository reference \"{s}\" (must force) - container {container} is using its referenced image {short}"
                    )));
                }
                vec![name.clone()]
            }
            None => {
                if names.len() > 1 && !force {
                    return Err(Error::Conflict(format!("conflict: unable to delete {short} (must be forced) - image is referenced in multiple repositories")));
                }
                if let (Some(container), false) = (&user, force) {
                    return Err(Error::Conflict(format!("conflict: unable to delete {short} (must be forced) - image is being used by stopped container {container}")));
                }
                names.clone()
            }
        };
        self.db.transaction(|tx| {
            for name in &untag {
                write::remove_tag(tx, name)?;
                write::remove_repo_digest(tx, name)?;
            }
            Ok(())
        })?;
        let mut out: Vec<Removal> = untag.iter().map(|n| Removal::Untagged(familiar(n))).collect();
        if untag.len() == names.len() && user.is_none() {
            out.extend(self.delete_image(&id)?);
        }
        Ok(out)
    }

    /// Deletes an image and whatever of its layers and blobs nothing else uses.
    fn delete_image(&mut self, id: &Digest) -> Result<Vec<Removal>> {
        let manifest = self.db.image(id)?.map(|r| r.manifest);
        let unused: Vec<LayerRow> = self.db.transaction(|tx| {
            write::remove_image(tx, id)?;
            write::remove_unused_layers(tx)
        })?;
        // Metadata first, files after: a kill in between leaves only garbage for `system check`.
        let mut blobs: Vec<Digest> = vec![id.clone()];
        blobs.extend(manifest);
        let mut out = vec![Removal::Deleted(id.clone())];
        for layer in &unused {
            let _ = fs::remove_dir_all(self.layer_dir(&layer.chain_id));
            blobs.push(layer.blob.clone());
            out.push(Removal::Deleted(layer.chain_id.clone()));
        }
        for blob in blobs {
            if !self.blob_in_use(&blob)? {
                let _ = fs::remove_file(self.blob_path(&blob));
            }
        }
        Ok(out)
    }

    /// Whether any image or layer row still points at a blob.
    pub fn blob_in_use(&self, blob: &Digest) -> Result<bool> {
        let conn = self.db.conn();
        let used: bool = conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM images WHERE id = ?1 OR manifest = ?1) OR EXISTS (SELECT 1 FROM layers WHERE blob = ?1)",
            [blob.as_str()],
            |r| r.get(0),
        )?;
        Ok(used)
    }

    /// `image prune`: deletes dangling images (all unused ones with `all`) that no container
    /// uses and `keep` does not protect. Returns what went and the bytes reclaimed.
    pub fn prune_images(&mut self, all: bool, keep: &dyn Fn(&ImageSummary) -> bool) -> Result<(Vec<Removal>, u64)> {
        let mut out = Vec::new();
        let mut reclaimed = 0;
        for image in self.list_images()? {
            let dangling = image.tags.is_empty();
            if (!dangling && !all) || self.container_using_image(&image.row.id)?.is_some() || keep(&image) {
                continue;
            }
            for name in image.tags.iter().chain(&image.repo_digests) {
                out.push(Removal::Untagged(familiar(name)));
            }
            let removed = self.delete_image(&image.row.id)?;
            reclaimed += image.row.size;
            out.extend(removed);
        }
        Ok((out, reclaimed))
    }
}

/// `docker.io/library/busybox:latest` -> `busybox:latest`.
pub fn familiar(name: &str) -> String {
    Reference::parse(name).map(|r| r.familiar()).unwrap_or_else(|_| name.to_string())
}

/// How Docker names a missing image in its error: with the default tag filled in.
fn display_name(s: &str) -> String {
    match Reference::parse_tagged(s) {
        Ok(r) if r.digest.is_none() => {
            format!("{}:{}", r.familiar_repository(), r.tag.unwrap_or_default())
        }
        _ => s.to_string(),
    }
}

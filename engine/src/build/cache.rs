//! The build cache: a step's key (its parent image, its instruction with every value
//! substituted, the build args it sees, and for COPY/ADD the checksum of what it copies) maps to
//! the image the step made. Entries are small files under `<root>/buildcache/`, written by
//! rename; an entry whose image is gone (pruned) is a miss.

use std::fs;
use std::path::PathBuf;

use sha2::{Digest as _, Sha256};

use crate::digest::Digest;
use crate::store::Store;

pub struct Cache {
    dir: PathBuf,
    enabled: bool,
}

/// The key of a step: each part is length-prefixed so no two lists collide.
pub fn key(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p.as_bytes());
    }
    hex::encode(h.finalize())
}

impl Cache {
    pub fn new(store: &Store, enabled: bool) -> Cache {
        Cache { dir: store.root().join("buildcache"), enabled }
    }

    pub fn get(&self, store: &Store, key: &str) -> Option<Digest> {
        if !self.enabled {
            return None;
        }
        let text = fs::read_to_string(self.dir.join(key)).ok()?;
        let id = Digest::parse(text.trim())?;
        store.db.image(&id).ok().flatten().map(|_| id)
    }

    /// Records a step's image. A failure to record only costs a later cache miss.
    pub fn put(&self, key: &str, id: &Digest) {
        if fs::create_dir_all(&self.dir).is_err() {
            return;
        }
        let tmp = self.dir.join(format!(".{key}.{}", std::process::id()));
        if fs::write(&tmp, id.as_str()).is_ok() && fs::rename(&tmp, self.dir.join(key)).is_err() {
            let _ = fs::remove_file(&tmp);
        }
    }
}

/// Records that a build step made `child` on top of `parent` (what `images` hides as
/// intermediate while the child exists).
pub fn record_parent(store: &Store, child: &Digest, parent: &Digest) {
    let dir = store.root().join("buildcache").join("parents");
    if fs::create_dir_all(&dir).is_ok() {
        let _ = fs::write(dir.join(child.hex()), parent.as_str());
    }
}

/// The images some existing image was built on by a build step.
pub fn intermediate_images(store: &Store) -> std::collections::BTreeSet<Digest> {
    let dir = store.root().join("buildcache").join("parents");
    let mut out = std::collections::BTreeSet::new();
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        let Some(child) = Digest::from_hex(&entry.file_name().to_string_lossy()) else { continue };
        if !matches!(store.db.image(&child), Ok(Some(_))) {
            continue;
        }
        if let Some(parent) = fs::read_to_string(entry.path()).ok().and_then(|t| Digest::parse(t.trim())) {
            out.insert(parent);
        }
    }
    out
}

/// After `rmi` deleted `deleted`: removes the untagged images a build made it from, up the
/// chain, while no other image, name or container needs them (Docker's `rmi` does the same
/// for its intermediate images). Returns what went.
pub fn remove_intermediates(store: &mut Store, deleted: &Digest) -> crate::Result<Vec<crate::images::Removal>> {
    let dir = store.root().join("buildcache").join("parents");
    let mut out = Vec::new();
    let mut current = deleted.clone();
    loop {
        let record = dir.join(current.hex());
        let Some(parent) = fs::read_to_string(&record).ok().and_then(|t| Digest::parse(t.trim())) else { break };
        let _ = fs::remove_file(&record);
        if store.db.image(&parent)?.is_none()
            || !store.db.tags_of(&parent)?.is_empty()
            || !store.db.repo_digests_of(&parent)?.is_empty()
            || store.container_using_image(&parent)?.is_some()
        {
            break;
        }
        let other_child = fs::read_dir(&dir).into_iter().flatten().flatten().any(|entry| {
            fs::read_to_string(entry.path()).is_ok_and(|t| t.trim() == parent.as_str())
                && Digest::from_hex(&entry.file_name().to_string_lossy())
                    .is_some_and(|child| matches!(store.db.image(&child), Ok(Some(_))))
        });
        if other_child {
            break;
        }
        out.extend(store.remove_image(parent.as_str(), false)?);
        current = parent;
    }
    Ok(out)
}

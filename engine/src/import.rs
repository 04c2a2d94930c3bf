//! `import`: a root filesystem tarball (plain or compressed) becomes a one-layer image.

use std::fs;
use std::io::{self, BufReader, Read};

use crate::changes::apply_change;
use crate::digest::Digest;
use crate::error::{Error, IoContext, Result};
use crate::ingest::TeeReader;
use crate::layer;
use crate::oci::{self, ContainerConfig, History, ImageConfig, RootFs};
use crate::reference::Reference;
use crate::store::Store;

pub struct ImportOptions {
    /// `-c` instructions, applied in order.
    pub changes: Vec<String>,
    /// `-m`: the commit message (history comment).
    pub message: Option<String>,
    /// How the source is named in the default history comment (`-` for stdin).
    pub source_name: String,
    pub reference: Option<String>,
}

/// Imports a tarball and returns the new image's ID. The tarball is stored uncompressed (its
/// digest is then the layer's diff ID) while it is unpacked, in one pass.
pub fn import(store: &mut Store, input: impl Read, options: &ImportOptions) -> Result<Digest> {
    // Validate everything the user typed before reading a byte.
    let name = options.reference.as_deref().map(Reference::parse_tagged).transpose()?.and_then(|r| r.tagged_name());
    let mut container_config = ContainerConfig::default();
    for change in &options.changes {
        apply_change(&mut container_config, change)?;
    }

    let (_, reader) = layer::decompress(BufReader::with_capacity(256 * 1024, input))
        .map_err(|e| Error::Invalid(format!("reading {}: {e}", options.source_name)))?;
    let mut blob = store.blob_writer()?;
    let tmp = store.temp_dir("layer")?;
    let diff = tmp.join("diff");
    let unpacked = (|| -> Result<u64> {
        fs::create_dir(&diff).at(&diff)?;
        let mut tee = TeeReader { inner: reader, copy: &mut blob };
        let stats = layer::apply_layer(&mut tee, &diff)?;
        io::copy(&mut tee, &mut io::sink())
            .map_err(|e| Error::Invalid(format!("reading {}: {e}", options.source_name)))?;
        Ok(stats.size)
    })();
    let size = match unpacked {
        Ok(size) => size,
        Err(e) => {
            let _ = fs::remove_dir_all(&tmp);
            return Err(e);
        }
    };
    let diff_id = blob.commit(None)?;
    let target = store.layer_dir(&diff_id);
    if fs::rename(&tmp, &target).is_err() {
        // The same content is unpacked already.
        let _ = fs::remove_dir_all(&tmp);
    }
    let layer = crate::db::LayerRow {
        chain_id: diff_id.clone(),
        diff_id: diff_id.clone(),
        parent: None,
        blob: diff_id.clone(),
        media_type: oci::MEDIA_OCI_LAYER.into(),
        size,
    };

    let created = crate::time::now();
    let comment = options.message.clone().unwrap_or_else(|| format!("Imported from {}", options.source_name));
    let platform = oci::host_platform();
    let mut other = serde_json::Map::new();
    other.insert("comment".into(), comment.clone().into());
    let config = ImageConfig {
        other,
        created: Some(created.clone()),
        architecture: platform.architecture,
        os: platform.os,
        config: container_config,
        rootfs: RootFs { kind: "layers".into(), diff_ids: vec![diff_id] },
        history: vec![History { created: Some(created), comment: Some(comment), ..Default::default() }],
        ..Default::default()
    };
    let config_digest = store.put_blob(&oci::to_canonical_json(&config))?;
    let names: Vec<String> = name.into_iter().collect();
    let (id, _) = store.commit_image(&config_digest, None, &[layer], &names)?;
    Ok(id)
}

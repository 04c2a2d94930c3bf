//! `load` and `save`: image archives in both formats Docker speaks. A `docker save` archive
//! has `manifest.json`; an OCI image layout has `index.json` and `blobs/`. `save` writes both in
//! one archive (as Docker 25+ does), so docker, podman and berth all read it back.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{self, BufReader, Read, Write};

use serde::{Deserialize, Serialize};

use crate::db::LayerRow;
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::layer;
use crate::oci::{self, Descriptor, ImageConfig, Index, Manifest};
use crate::reference::Reference;
use crate::store::Store;

/// One entry of a docker-archive `manifest.json`.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ArchiveManifest {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

/// JSON files of an archive are kept in memory; everything else goes straight to the store.
const MAX_JSON: u64 = 16 << 20;

/// What one `load` stored.
pub enum Loaded {
    /// A name now pointing at an image; `replaced` is the image that had the name before.
    Named { name: String, replaced: Option<Digest> },
    /// An image loaded without a name.
    Unnamed(Digest),
}

/// The archive's files as stored while streaming it: paths to blobs, JSON in memory.
#[derive(Default)]
struct Contents {
    blobs: HashMap<String, Digest>,
    json: HashMap<String, Vec<u8>>,
    links: HashMap<String, String>,
    /// Blobs this load wrote (not there before), removed again if the load fails.
    new_blobs: RefCell<Vec<Digest>>,
}

impl Contents {
    /// The blob stored for a path, following the archive's symlinks (old `docker save` uses them
    /// for repeated layers).
    fn blob(&self, path: &str) -> Option<&Digest> {
        let mut path = normalize(path);
        for _ in 0..16 {
            if let Some(d) = self.blobs.get(&path) {
                return Some(d);
            }
            path = self.links.get(&path)?.clone();
        }
        None
    }
}

/// `./a/../b` -> `b`: archive paths are keys here, never filesystem paths.
fn normalize(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    parts.join("/")
}

fn json<T: for<'de> Deserialize<'de>>(bytes: &[u8], what: &str) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|source| Error::Json { what: what.to_string(), source })
}

/// Loads every image of an archive (plain or compressed) read from `input`.
pub fn load(store: &mut Store, input: impl Read) -> Result<Vec<Loaded>> {
    let mut contents = Contents::default();
    let result = load_inner(store, input, &mut contents);
    if result.is_err() {
        // Leave the store as it was: drop blobs that this load added and nothing uses.
        for blob in contents.new_blobs.borrow().iter() {
            if !store.blob_in_use(blob).unwrap_or(true) {
                let _ = std::fs::remove_file(store.blob_path(blob));
            }
        }
    }
    result
}

fn load_inner(store: &mut Store, input: impl Read, contents: &mut Contents) -> Result<Vec<Loaded>> {
    let (_, reader) = layer::decompress(BufReader::with_capacity(256 * 1024, input))
        .map_err(|e| Error::Invalid(format!("reading the archive: {e}")))?;
    let mut archive = tar::Archive::new(reader);
    let bad_archive = |e: io::Error| Error::Invalid(format!("invalid tar archive: {e}"));
    for entry in archive.entries().map_err(bad_archive)? {
        let mut entry = entry.map_err(bad_archive)?;
        let path = normalize(&String::from_utf8_lossy(&entry.path_bytes()));
        let kind = entry.header().entry_type();
        if kind.is_symlink() || kind.is_hard_link() {
            if let Some(target) = entry.link_name_bytes() {
                let target = String::from_utf8_lossy(&target).into_owned();
                let base = if kind.is_symlink() {
                    path.rsplit_once('/').map_or("", |(d, _)| d).to_string()
                } else {
                    String::new()
                };
                contents.links.insert(path, normalize(&format!("{base}/{target}")));
            }
            continue;
        }
        if !kind.is_file() {
            continue;
        }
        let is_json =
            path.ends_with(".json") || path.ends_with("/json") || path == "repositories" || path == "oci-layout";
        if is_json && !path.starts_with("blobs/") && entry.size() <= MAX_JSON {
            let mut bytes = Vec::with_capacity(entry.size() as usize);
            entry.read_to_end(&mut bytes).map_err(bad_archive)?;
            contents.json.insert(path, bytes);
            continue;
        }
        // A file under blobs/<alg>/ is named by its digest: verify it as it lands.
        let expected = path.strip_prefix("blobs/sha256/").and_then(Digest::from_hex);
        if path.starts_with("blobs/") && expected.is_none() {
            return Err(Error::Invalid(format!("archive entry {path:?}: unsupported blob name")));
        }
        let existed = expected.as_ref().is_some_and(|d| store.has_blob(d));
        let digest = if existed {
            io::copy(&mut entry, &mut io::sink()).map_err(bad_archive)?;
            expected.expect("checked")
        } else {
            let (digest, _) = store.put_blob_from(&mut entry, expected.as_ref()).map_err(|e| match e {
                Error::DigestMismatch { expected, actual, .. } => {
                    Error::DigestMismatch { what: format!("archive entry {path:?}"), expected, actual }
                }
                other => other,
            })?;
            contents.new_blobs.borrow_mut().push(digest.clone());
            digest
        };
        contents.blobs.insert(path, digest);
    }

    if let Some(bytes) = contents.json.get("manifest.json") {
        let manifests: Vec<ArchiveManifest> = json(bytes, "manifest.json")?;
        let mut loaded = Vec::new();
        for m in manifests {
            loaded.extend(load_docker_image(store, contents, &m)?);
        }
        Ok(loaded)
    } else if let Some(bytes) = contents.json.get("index.json") {
        let index: Index = json(bytes, "index.json")?;
        let mut loaded = Vec::new();
        for descriptor in &index.manifests {
            loaded.extend(load_oci_descriptor(store, descriptor, 0)?);
        }
        Ok(loaded)
    } else {
        Err(Error::Invalid(
            "invalid archive: neither manifest.json (docker save) nor index.json (OCI layout) found".into(),
        ))
    }
}

/// The config blob for an archive path (legacy archives keep configs as `<id>.json` files).
fn config_blob(store: &Store, contents: &Contents, path: &str) -> Result<Digest> {
    if let Some(d) = contents.blob(path) {
        return Ok(d.clone());
    }
    let bytes = contents
        .json
        .get(&normalize(path))
        .ok_or_else(|| Error::Invalid(format!("invalid archive: config {path:?} is missing")))?;
    let digest = Digest::of_bytes(bytes);
    if !store.has_blob(&digest) {
        store.put_blob(bytes)?;
        contents.new_blobs.borrow_mut().push(digest.clone());
    }
    Ok(digest)
}

fn load_docker_image(store: &mut Store, contents: &Contents, m: &ArchiveManifest) -> Result<Vec<Loaded>> {
    let config = config_blob(store, contents, &m.config)?;
    let image: ImageConfig = json(&store.read_blob(&config)?, &m.config)?;
    if image.rootfs.diff_ids.len() != m.layers.len() {
        return Err(Error::Invalid(format!(
            "invalid archive: {} lists {} layers, its config {}",
            m.config,
            m.layers.len(),
            image.rootfs.diff_ids.len()
        )));
    }
    let blobs = m
        .layers
        .iter()
        .map(|p| {
            contents.blob(p).cloned().ok_or_else(|| Error::Invalid(format!("invalid archive: layer {p:?} is missing")))
        })
        .collect::<Result<Vec<_>>>()?;
    let layers = unpack_all(store, &image, &blobs, None)?;
    let names = m
        .repo_tags
        .clone()
        .unwrap_or_default()
        .iter()
        .map(|t| Reference::parse_tagged(t).map(|r| r.tagged_name().unwrap_or_default()))
        .collect::<Result<Vec<_>>>()?;
    finish(store, &config, None, &layers, names)
}

fn load_oci_descriptor(store: &mut Store, descriptor: &Descriptor, depth: u32) -> Result<Vec<Loaded>> {
    if !store.has_blob(&descriptor.digest) {
        return Err(Error::Invalid(format!("invalid archive: blob {} is missing", descriptor.digest)));
    }
    let bytes = store.read_blob(&descriptor.digest)?;
    let is_index = matches!(descriptor.media_type.as_str(), oci::MEDIA_OCI_INDEX | oci::MEDIA_DOCKER_LIST);
    if is_index {
        // An index inside the index: one image per platform; load the host's.
        let index: Index = json(&bytes, &format!("index {}", descriptor.digest))?;
        let host = oci::host_platform();
        let pick = index
            .manifests
            .iter()
            .find(|d| d.platform.as_ref().is_some_and(|p| p.os == host.os && p.architecture == host.architecture))
            .or_else(|| index.manifests.first());
        return match (pick, depth) {
            (Some(d), 0) => {
                let mut inner = d.clone();
                inner.annotations = descriptor.annotations.clone();
                load_oci_descriptor(store, &inner, 1)
            }
            _ => Err(Error::Invalid(format!("invalid archive: index {} has no usable manifest", descriptor.digest))),
        };
    }
    let manifest: Manifest = json(&bytes, &format!("manifest {}", descriptor.digest))?;
    let image: ImageConfig =
        json(&store.read_blob(&manifest.config.digest)?, &format!("config {}", manifest.config.digest))?;
    if image.rootfs.diff_ids.len() != manifest.layers.len() {
        return Err(Error::Invalid(format!(
            "invalid archive: manifest {} lists {} layers, its config {}",
            descriptor.digest,
            manifest.layers.len(),
            image.rootfs.diff_ids.len()
        )));
    }
    let blobs: Vec<Digest> = manifest.layers.iter().map(|l| l.digest.clone()).collect();
    let types: Vec<String> = manifest.layers.iter().map(|l| l.media_type.clone()).collect();
    let layers = unpack_all(store, &image, &blobs, Some(&types))?;
    let annotations = descriptor.annotations.clone().unwrap_or_default();
    let name = annotations
        .get(oci::ANNOTATION_IMAGE_NAME)
        .or_else(|| annotations.get(oci::ANNOTATION_REF_NAME).filter(|n| n.contains([':', '/'])))
        .map(|n| Reference::parse_tagged(n))
        .transpose()?
        .and_then(|r| r.tagged_name());
    finish(store, &manifest.config.digest, Some(descriptor.digest.clone()), &layers, name.into_iter().collect())
}

fn unpack_all(
    store: &Store,
    image: &ImageConfig,
    blobs: &[Digest],
    media_types: Option<&[String]>,
) -> Result<Vec<LayerRow>> {
    let mut rows: Vec<LayerRow> = Vec::with_capacity(blobs.len());
    for (i, (blob, diff_id)) in blobs.iter().zip(&image.rootfs.diff_ids).enumerate() {
        if !store.has_blob(blob) {
            return Err(Error::Invalid(format!("invalid archive: layer blob {blob} is missing")));
        }
        let parent = rows.last().map(|r| r.chain_id.clone());
        rows.push(store.unpack_layer(blob, diff_id, parent.as_ref(), media_types.map(|t| t[i].as_str()))?);
    }
    Ok(rows)
}

fn finish(
    store: &mut Store,
    config: &Digest,
    manifest: Option<Digest>,
    layers: &[LayerRow],
    names: Vec<String>,
) -> Result<Vec<Loaded>> {
    let (id, replaced) = store.commit_image(config, manifest, layers, &names)?;
    if names.is_empty() {
        return Ok(vec![Loaded::Unnamed(id)]);
    }
    let replaced: HashMap<String, Digest> = replaced.into_iter().collect();
    Ok(names.into_iter().map(|n| Loaded::Named { replaced: replaced.get(&n).cloned(), name: n }).collect())
}

/// What to put in an archive: each image with the names it is saved under.
fn plan_save(store: &Store, names: &[String]) -> Result<Vec<(Digest, Vec<String>)>> {
    let mut plan: Vec<(Digest, Vec<String>)> = Vec::new();
    let all_tags = store.db.tags()?;
    for name in names {
        // A bare repository name saves every tag of that repository, as Docker does.
        let bare = Reference::parse(name).ok().filter(|r| r.tag.is_none() && r.digest.is_none());
        let mut selected: Vec<(Digest, String)> = Vec::new();
        if let Some(r) = &bare {
            let prefix = format!("{}:", r.repository());
            selected
                .extend(all_tags.iter().filter(|(t, _)| t.starts_with(&prefix)).map(|(t, id)| (id.clone(), t.clone())));
        }
        if selected.is_empty() {
            let id = store.resolve_image(name)?;
            let tag = Reference::parse_tagged(name)
                .ok()
                .and_then(|r| r.tagged_name())
                .filter(|t| store.db.tag_target(t).ok().flatten().as_ref() == Some(&id));
            plan_add(&mut plan, id, tag);
        }
        for (id, tag) in selected {
            plan_add(&mut plan, id, Some(tag));
        }
    }
    Ok(plan)
}

fn plan_add(plan: &mut Vec<(Digest, Vec<String>)>, id: Digest, tag: Option<String>) {
    let at = match plan.iter().position(|(i, _)| *i == id) {
        Some(at) => at,
        None => {
            plan.push((id, Vec::new()));
            plan.len() - 1
        }
    };
    if let Some(tag) = tag {
        if !plan[at].1.contains(&tag) {
            plan[at].1.push(tag);
        }
    }
}

/// Writes the named images into one tar archive.
pub fn save(store: &Store, names: &[String], out: impl Write) -> Result<()> {
    let plan = plan_save(store, names)?;
    let mut builder = tar::Builder::new(out);
    let mut written: HashSet<Digest> = HashSet::new();
    let mut index = Vec::new();
    let mut manifests = Vec::new();
    let io_err = |e: io::Error| Error::Invalid(format!("writing the archive: {e}"));
    let add_blob = |builder: &mut tar::Builder<_>, written: &mut HashSet<Digest>, digest: &Digest| -> Result<()> {
        if written.insert(digest.clone()) {
            let file = store.open_blob(digest)?;
            let size = file.metadata().map_err(io_err)?.len();
            let mut header = tar_header(size, 0o444);
            builder
                .append_data(
                    &mut header,
                    format!("blobs/sha256/{}", digest.hex()),
                    BufReader::with_capacity(256 * 1024, file),
                )
                .map_err(io_err)?;
        }
        Ok(())
    };
    for (id, tags) in &plan {
        let row = store.db.image(id)?.ok_or_else(|| Error::NoSuchImage(id.to_string()))?;
        let manifest_bytes = store.read_blob(&row.manifest)?;
        let manifest: Manifest = json(&manifest_bytes, &format!("manifest {}", row.manifest))?;
        for layer in &manifest.layers {
            add_blob(&mut builder, &mut written, &layer.digest)?;
        }
        add_blob(&mut builder, &mut written, &manifest.config.digest)?;
        add_blob(&mut builder, &mut written, &row.manifest)?;
        let descriptor = |annotations| Descriptor {
            media_type: manifest.media_type.clone().unwrap_or_else(|| oci::MEDIA_OCI_MANIFEST.into()),
            digest: row.manifest.clone(),
            size: manifest_bytes.len() as u64,
            annotations,
            platform: None,
        };
        if tags.is_empty() {
            index.push(descriptor(None));
        }
        for tag in tags {
            let r = Reference::parse(tag)?;
            let mut annotations = BTreeMap::new();
            annotations.insert(oci::ANNOTATION_IMAGE_NAME.to_string(), r.to_string());
            annotations.insert(oci::ANNOTATION_REF_NAME.to_string(), r.tag.clone().unwrap_or_default());
            index.push(descriptor(Some(annotations)));
        }
        manifests.push(ArchiveManifest {
            config: format!("blobs/sha256/{}", manifest.config.digest.hex()),
            repo_tags: Some(
                tags.iter().map(|t| Reference::parse(t).map(|r| r.familiar()).unwrap_or_else(|_| t.clone())).collect(),
            ),
            layers: manifest.layers.iter().map(|l| format!("blobs/sha256/{}", l.digest.hex())).collect(),
        });
    }
    let index = Index { schema_version: 2, media_type: Some(oci::MEDIA_OCI_INDEX.into()), manifests: index };
    let files: [(&str, Vec<u8>); 3] = [
        ("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec()),
        ("index.json", oci::to_canonical_json(&index)),
        ("manifest.json", oci::to_canonical_json(&manifests)),
    ];
    for (name, bytes) in files {
        let mut header = tar_header(bytes.len() as u64, 0o644);
        builder.append_data(&mut header, name, bytes.as_slice()).map_err(io_err)?;
    }
    builder.into_inner().and_then(|mut w| w.flush()).map_err(io_err)?;
    Ok(())
}

fn tar_header(size: u64, mode: u32) -> tar::Header {
    let mut header = tar::Header::new_ustar();
    header.set_size(size);
    header.set_mode(mode);
    header.set_entry_type(tar::EntryType::Regular);
    header.set_mtime(0);
    header
}

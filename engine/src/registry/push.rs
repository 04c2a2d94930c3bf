//! `push`: every blob of the image's stored manifest (layers, then config), then the manifest
//! itself, byte for byte as stored, so the pushed digest is the one berth holds and a pull
//! gives back the same image ID. A blob the registry has is skipped (HEAD); one that another
//! repository of the same registry holds (known from this image's repo digests) is mounted
//! instead of sent; a large one goes in chunks (PATCH with Content-Range, then PUT). Layers
//! go up a few at a time (`max-concurrent-uploads`, default 5, as Docker).

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Mutex};

use super::auth::repository_scope;
use super::progress::{Event, LayerStatus, Progress};
use super::pull::client_for;
use super::transport::{encode, error_detail, read_small, Body, Client, HttpResponse};
use super::{endpoints, RegistryError, RegistryOptions};
use crate::db::write;
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::oci::{self, Descriptor, Manifest};
use crate::reference::Reference;
use crate::store::Store;

/// Blobs larger than this go up in chunks of this size.
pub const CHUNK: u64 = 16 << 20;

#[derive(Debug)]
pub struct Pushed {
    pub digest: Digest,
    pub size: u64,
}

/// Pushes the image named by `reference` (which must carry a tag).
pub fn push(
    store: &mut Store,
    options: &RegistryOptions,
    reference: &Reference,
    progress: &mut dyn Progress,
) -> Result<Pushed> {
    let name = reference.tagged_name().unwrap_or_else(|| reference.to_string());
    let id = match store.db.tag_target(&name)? {
        Some(id) => id,
        None => {
            return Err(Error::NoSuchImage(format!(
                "{} (An image does not exist locally with the tag: {})",
                reference.familiar(),
                reference.familiar_repository()
            )))
        }
    };
    let row = store.db.image(&id)?.ok_or_else(|| Error::NoSuchImage(reference.familiar()))?;
    let bytes = store.read_blob(&row.manifest)?;
    let manifest: Manifest = serde_json::from_slice(&bytes)
        .map_err(|source| Error::Json { what: format!("manifest {}", row.manifest), source })?;
    let media_type = manifest.media_type.clone().unwrap_or_else(|| oci::MEDIA_OCI_MANIFEST.to_string());
    // Other repositories of this registry that hold the image: candidates for mounts.
    let sources: Vec<String> = store
        .db
        .repo_digests_of(&id)?
        .iter()
        .filter_map(|d| Reference::parse(d).ok())
        .filter(|r| r.domain == reference.domain && r.path != reference.path)
        .map(|r| r.path)
        .collect();
    progress.event(Event::Line(format!("The push refers to repository [{}]", reference.familiar_repository())));

    for layer in &manifest.layers {
        progress.event(Event::Layer { id: layer.digest.short().into(), status: LayerStatus::Preparing });
    }
    let mut scopes = vec![repository_scope(&reference.path, &["pull", "push"])];
    scopes.extend(sources.iter().map(|s| repository_scope(s, &["pull"])));
    let all = endpoints(&reference.domain, options, false);
    let mut result = Err(RegistryError::Protocol(format!("no endpoint for {}", reference.domain)).into());
    for (i, endpoint) in all.iter().enumerate() {
        let client = client_for(endpoint, options, scopes.clone())?;
        result = push_to(store, &client, options, reference, &manifest, &bytes, &media_type, &sources, progress);
        match &result {
            Err(Error::Registry(RegistryError::Unreachable { .. })) if i + 1 < all.len() => {}
            _ => break,
        }
    }
    let pushed = result?;
    let repo_digest = format!("{}@{}", reference.repository(), pushed.digest);
    store.db.transaction(|tx| write::set_repo_digest(tx, &repo_digest, &id))?;
    progress.event(Event::Line(format!(
        "{}: digest: {} size: {}",
        reference.tag.as_deref().unwrap_or("latest"),
        pushed.digest,
        pushed.size
    )));
    Ok(pushed)
}

#[allow(clippy::too_many_arguments)]
fn push_to(
    store: &Store,
    client: &Client,
    options: &RegistryOptions,
    reference: &Reference,
    manifest: &Manifest,
    bytes: &[u8],
    media_type: &str,
    sources: &[String],
    progress: &mut dyn Progress,
) -> Result<Pushed> {
    // Layers go up on a few threads (as pulls come down); the config and the manifest last,
    // so the registry never holds a manifest whose blobs are missing.
    let layers = &manifest.layers;
    let files: Vec<PathBuf> = layers.iter().map(|l| store.blob_path(&l.digest)).collect();
    let queue = Mutex::new((0..layers.len()).collect::<VecDeque<usize>>());
    let abort = AtomicBool::new(false);
    let mut first_error: Option<Error> = None;
    let workers = options.max_concurrent_uploads.max(1).min(layers.len());
    std::thread::scope(|scope| {
        let (tx, rx) = mpsc::channel::<(usize, Result<LayerStatus>)>();
        for _ in 0..workers {
            let tx = tx.clone();
            let (queue, abort, files) = (&queue, &abort, &files);
            scope.spawn(move || loop {
                if abort.load(Ordering::Relaxed) {
                    break;
                }
                let Some(i) = queue.lock().ok().and_then(|mut q| q.pop_front()) else {
                    break;
                };
                let result = push_blob(client, &reference.path, &layers[i], &files[i], sources, &mut |s| {
                    let _ = tx.send((i, Ok(s)));
                });
                let failed = result.is_err();
                let _ = tx.send((i, result));
                if failed {
                    abort.store(true, Ordering::Relaxed);
                }
            });
        }
        drop(tx);
        for (i, message) in rx {
            match message {
                Ok(status) => progress.event(Event::Layer { id: layers[i].digest.short().into(), status }),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
    });
    if let Some(e) = first_error {
        return Err(e);
    }
    let config_file = store.blob_path(&manifest.config.digest);
    push_blob(client, &reference.path, &manifest.config, &config_file, sources, &mut |_| {})?;

    let tag = reference.tag.clone().unwrap_or_else(|| "latest".into());
    let url = client.url(&format!("{}/manifests/{tag}", reference.path));
    let resp = client.send("PUT", &url, &[("Content-Type", media_type)], Body::Bytes(bytes))?;
    expect(client, resp, &[201, 200, 202], reference)?;
    Ok(Pushed { digest: Digest::of_bytes(bytes), size: bytes.len() as u64 })
}

/// Fails with an actionable error unless the status is one of `ok`.
fn expect(client: &Client, resp: HttpResponse, ok: &[u16], reference: &Reference) -> Result<HttpResponse> {
    let status = resp.status().as_u16();
    if ok.contains(&status) {
        return Ok(resp);
    }
    let body = read_small(resp, 1 << 20, client.host()).unwrap_or_default();
    let (_, detail) = error_detail(&body);
    Err(match status {
        401 => RegistryError::Unauthorized {
            host: client.host().into(),
            detail: if detail.is_empty() { "authentication required".into() } else { detail },
        },
        403 => RegistryError::Denied(reference.familiar_repository()),
        s => RegistryError::Protocol(format!("{}: answered {s}: {detail}", client.host())),
    }
    .into())
}

fn location(client: &Client, resp: &HttpResponse) -> Result<String> {
    let loc = resp
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .ok_or_else(|| RegistryError::Protocol(format!("{}: upload without a Location", client.host())))?;
    Ok(if loc.contains("://") { loc.to_string() } else { format!("{}{loc}", client.endpoint.base) })
}

fn with_query(url: &str, query: &str) -> String {
    format!("{url}{}{query}", if url.contains('?') { '&' } else { '?' })
}

/// Sends one blob (stored at `file`) unless the registry has it or can mount it. Reports
/// progress and the final status through `report`, and returns the final status.
fn push_blob(
    client: &Client,
    path: &str,
    desc: &Descriptor,
    file: &Path,
    sources: &[String],
    report: &mut dyn FnMut(LayerStatus),
) -> Result<LayerStatus> {
    let status = push_blob_inner(client, path, desc, file, sources, report)?;
    report(status.clone());
    Ok(status)
}

fn push_blob_inner(
    client: &Client,
    path: &str,
    desc: &Descriptor,
    file: &Path,
    sources: &[String],
    report: &mut dyn FnMut(LayerStatus),
) -> Result<LayerStatus> {
    let repo = Reference { domain: String::new(), path: path.into(), tag: None, digest: None };
    let head = client.send("HEAD", &client.url(&format!("{path}/blobs/{}", desc.digest)), &[], Body::Empty)?;
    match head.status().as_u16() {
        200 => return Ok(LayerStatus::LayerAlreadyExists),
        401 | 403 => {
            expect(client, head, &[], &repo)?;
        }
        _ => {}
    }
    let uploads = client.url(&format!("{path}/blobs/uploads/"));
    let mut upload = None;
    for source in sources {
        let url = with_query(&uploads, &format!("mount={}&from={}", encode(desc.digest.as_str()), encode(source)));
        let resp = client.send("POST", &url, &[], Body::Empty)?;
        match resp.status().as_u16() {
            201 => return Ok(LayerStatus::MountedFrom(source.clone())),
            // Not mountable: the registry opened an ordinary upload instead.
            202 => {
                upload = Some(location(client, &resp)?);
                break;
            }
            _ => {}
        }
    }
    let mut loc = match upload {
        Some(l) => l,
        None => {
            let resp = client.send("POST", &uploads, &[], Body::Empty)?;
            let resp = expect(client, resp, &[202], &repo)?;
            location(client, &resp)?
        }
    };
    let size = std::fs::metadata(file).map_err(|e| Error::Io { path: file.to_path_buf(), source: e })?.len();
    let done = with_query(&loc, &format!("digest={}", encode(desc.digest.as_str())));
    if size <= CHUNK {
        report(LayerStatus::Pushing(0, size));
        let resp =
            client.send("PUT", &done, &[("Content-Type", "application/octet-stream")], file_body(file, 0, size))?;
        expect(client, resp, &[201, 204], &repo)?;
        return Ok(LayerStatus::Pushed);
    }
    let mut offset = 0;
    while offset < size {
        let len = CHUNK.min(size - offset);
        report(LayerStatus::Pushing(offset, size));
        let range = format!("{offset}-{}", offset + len - 1);
        let resp = client.send(
            "PATCH",
            &loc,
            &[("Content-Type", "application/octet-stream"), ("Content-Range", &range)],
            file_body(file, offset, len),
        )?;
        let resp = expect(client, resp, &[202, 204], &repo)?;
        loc = location(client, &resp)?;
        offset += len;
    }
    report(LayerStatus::Pushing(size, size));
    let done = with_query(&loc, &format!("digest={}", encode(desc.digest.as_str())));
    let resp = client.send("PUT", &done, &[], Body::Empty)?;
    expect(client, resp, &[201, 204], &repo)?;
    Ok(LayerStatus::Pushed)
}

fn file_body(path: &Path, offset: u64, len: u64) -> Body<'_> {
    Body::File { path, offset, len }
}

//! `pull`: manifest (an index or manifest list resolves to one platform), config, then the
//! layers: a few worker threads each take a layer, stream its blob into the store (verified
//! by size and digest before it lands) and unpack it as it arrives, on a second thread
//! (layers unpack independently: each has its own directory). Only when every layer is in does the
//! image get a row, so a failed pull leaves no image. Blobs that landed stay (the next pull
//! skips them) and a blob cut off mid-way stays as `tmp/partial-<hex>`, continued with a
//! Range request next time; both are garbage to `system check` if no pull comes back for them.

use std::collections::VecDeque;
use std::io::{BufRead, Read};
use std::os::fd::AsFd;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Mutex};
use std::time::{Duration, Instant};

use super::auth::repository_scope;
use super::credentials::DockerConfig;
use super::progress::{Event, LayerStatus, Progress};
use super::transport::{error_detail, read_small, Body, Client, HttpResponse};
use super::{endpoints, Endpoint, RegistryError, RegistryOptions};
use crate::db::LayerRow;
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::ingest;
use crate::layer;
use crate::oci::{self, Descriptor, ImageConfig, Index, Manifest, Platform};
use crate::reference::Reference;
use crate::store::{BlobWriter, Store};

/// What the registry may answer for a manifest request, best first.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.v2+json";

const MAX_MANIFEST: u64 = 4 << 20;

/// What a pull did.
#[derive(Debug)]
pub struct Pulled {
    /// The image ID (config digest).
    pub id: Digest,
    /// The digest the reference resolved to (the index's, for a multi-platform image).
    pub digest: Digest,
    /// False when the name already pointed at this image.
    pub fresh: bool,
}

/// `linux/arm64/v8`, `linux/amd64`, `arm64`.
pub fn parse_platform(s: &str) -> Result<Platform> {
    let parts: Vec<&str> = s.split('/').collect();
    let bad = || Error::Invalid(format!("invalid platform {s:?}: expected os/arch[/variant]"));
    let (os, arch, variant) = match parts.as_slice() {
        [arch] if !arch.is_empty() => ("linux", *arch, None),
        [os, arch] if !os.is_empty() && !arch.is_empty() => (*os, *arch, None),
        [os, arch, v] if !os.is_empty() && !arch.is_empty() && !v.is_empty() => (*os, *arch, Some(v.to_string())),
        _ => return Err(bad()),
    };
    let arch = match arch {
        "x86_64" | "x86-64" => "amd64",
        "aarch64" => "arm64",
        a => a,
    };
    Ok(Platform { os: os.to_string(), architecture: arch.to_string(), variant })
}

fn platform_text(p: &Platform) -> String {
    match &p.variant {
        Some(v) => format!("{}/{}/{v}", p.os, p.architecture),
        None => format!("{}/{}", p.os, p.architecture),
    }
}

/// The client for one endpoint, with the credentials stored for it.
pub fn client_for(endpoint: &Endpoint, options: &RegistryOptions, scopes: Vec<String>) -> Result<Client> {
    let credential = DockerConfig::load(&options.docker_config)?.get(&endpoint.auth_key())?;
    Ok(Client::new(endpoint.clone(), options, credential, scopes))
}

/// Pulls one reference (tagged or by digest) into the store.
pub fn pull(
    store: &mut Store,
    options: &RegistryOptions,
    reference: &Reference,
    platform: Option<&Platform>,
    progress: &mut dyn Progress,
) -> Result<Pulled> {
    let what = reference.tag.clone().or_else(|| reference.digest.as_ref().map(|d| d.to_string())).unwrap_or_default();
    progress.event(Event::Line(format!("{what}: Pulling from {}", reference.path)));
    let all = endpoints(&reference.domain, options, true);
    for (i, endpoint) in all.iter().enumerate() {
        let client = client_for(endpoint, options, vec![repository_scope(&reference.path, &["pull"])])?;
        match pull_from(store, &client, options, reference, platform, progress) {
            Ok(pulled) => return Ok(pulled),
            Err(e) if i + 1 < all.len() && endpoint.mirror => {
                progress.event(Event::Warning(format!("failed to pull from mirror {}: {e}", endpoint.base)));
            }
            // An insecure registry may speak plain HTTP: try that next, as Docker does.
            Err(Error::Registry(RegistryError::Unreachable { .. }))
                if i + 1 < all.len() && all[i + 1].host == endpoint.host => {}
            Err(e) => return Err(e),
        }
    }
    Err(RegistryError::Protocol(format!("no endpoint for {}", reference.domain)).into())
}

/// The registry's tags for a repository (`pull -a`).
pub fn list_tags(options: &RegistryOptions, reference: &Reference) -> Result<Vec<String>> {
    let all = endpoints(&reference.domain, options, true);
    let mut last = None;
    for endpoint in &all {
        let client = client_for(endpoint, options, vec![repository_scope(&reference.path, &["pull"])])?;
        let result = (|| -> Result<Vec<String>> {
            let resp = client.send("GET", &client.url(&format!("{}/tags/list", reference.path)), &[], Body::Empty)?;
            let status = resp.status().as_u16();
            let body = read_small(resp, MAX_MANIFEST, client.host())?;
            check_status(&client, status, &body, reference)?;
            let v: serde_json::Value = serde_json::from_slice(&body)
                .map_err(|e| RegistryError::Protocol(format!("{}: tags list: {e}", client.host())))?;
            Ok(v.get("tags")
                .and_then(|t| t.as_array())
                .map(|t| t.iter().filter_map(|t| t.as_str().map(String::from)).collect())
                .unwrap_or_default())
        })();
        match result {
            Ok(tags) => return Ok(tags),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| RegistryError::Protocol("no endpoint".into()).into()))
}

/// Turns a registry's refusal into an error the user can act on.
fn check_status(client: &Client, status: u16, body: &[u8], reference: &Reference) -> Result<()> {
    let (code, detail) = error_detail(body);
    match status {
        200..=299 => Ok(()),
        404 if code.as_deref() == Some("NAME_UNKNOWN") => {
            Err(RegistryError::RepositoryUnknown(reference.familiar_repository()).into())
        }
        404 => Err(RegistryError::ManifestUnknown(reference.familiar()).into()),
        401 => Err(RegistryError::Unauthorized {
            host: client.host().to_string(),
            detail: if detail.is_empty() { "authentication required".into() } else { detail },
        }
        .into()),
        403 => Err(RegistryError::Denied(reference.familiar_repository()).into()),
        s => Err(RegistryError::Protocol(format!("{}: answered {s}: {detail}", client.host())).into()),
    }
}

/// GETs a manifest; returns its bytes, media type and digest (computed, never trusted).
fn fetch_manifest(client: &Client, reference: &Reference, what: &str) -> Result<(Vec<u8>, String, Digest)> {
    let url = client.url(&format!("{}/manifests/{what}", reference.path));
    let resp = client.send("GET", &url, &[("Accept", MANIFEST_ACCEPT)], Body::Empty)?;
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim().to_string());
    let header_digest = resp.headers().get("docker-content-digest").and_then(|v| v.to_str().ok()).map(String::from);
    let bytes = read_small(resp, MAX_MANIFEST, client.host())?;
    check_status(client, status, &bytes, reference)?;
    let digest = Digest::of_bytes(&bytes);
    if let Some(h) = header_digest.filter(|h| h.starts_with("sha256:")) {
        if h != digest.as_str() {
            return Err(Error::DigestMismatch {
                what: format!("manifest {what}"),
                expected: h,
                actual: digest.to_string(),
            });
        }
    }
    let json_type = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| v.get("mediaType").and_then(|m| m.as_str()).map(String::from));
    let media_type = json_type.or(content_type).unwrap_or_default();
    Ok((bytes, media_type, digest))
}

fn pull_from(
    store: &mut Store,
    client: &Client,
    options: &RegistryOptions,
    reference: &Reference,
    platform: Option<&Platform>,
    progress: &mut dyn Progress,
) -> Result<Pulled> {
    let what = reference.digest.as_ref().map(|d| d.to_string()).or_else(|| reference.tag.clone()).unwrap_or_default();
    let (bytes, media_type, top) = fetch_manifest(client, reference, &what)?;
    if let Some(want) = &reference.digest {
        if *want != top {
            return Err(Error::DigestMismatch {
                what: format!("manifest {}", reference.familiar()),
                expected: want.to_string(),
                actual: top.to_string(),
            });
        }
    }
    let (bytes, manifest_digest) = match media_type.as_str() {
        oci::MEDIA_OCI_INDEX | oci::MEDIA_DOCKER_LIST => {
            let index: Index = serde_json::from_slice(&bytes)
                .map_err(|source| Error::Json { what: format!("index {top}"), source })?;
            let want = platform.cloned().unwrap_or_else(oci::host_platform);
            let pick = index
                .manifests
                .iter()
                .find(|d| {
                    d.platform.as_ref().is_some_and(|p| {
                        p.os == want.os
                            && p.architecture == want.architecture
                            && want.variant.as_ref().is_none_or(|v| p.variant.as_ref() == Some(v))
                    })
                })
                .ok_or_else(|| RegistryError::NoMatchingPlatform(platform_text(&want)))?;
            let (child, _, digest) = fetch_manifest(client, reference, pick.digest.as_str())?;
            if digest != pick.digest {
                return Err(Error::DigestMismatch {
                    what: format!("manifest {}", pick.digest),
                    expected: pick.digest.to_string(),
                    actual: digest.to_string(),
                });
            }
            (child, digest)
        }
        "application/vnd.docker.distribution.manifest.v1+json"
        | "application/vnd.docker.distribution.manifest.v1+prettyjws" => {
            return Err(RegistryError::Protocol(format!(
                "{}: Docker Image Format v1 and Docker Image manifest version 2, schema 1 are not supported",
                reference.familiar()
            ))
            .into());
        }
        _ => (bytes, top.clone()),
    };
    let manifest: Manifest = serde_json::from_slice(&bytes)
        .map_err(|source| Error::Json { what: format!("manifest {manifest_digest}"), source })?;

    // The config first: it names the layers' uncompressed digests.
    let config = manifest.config.digest.clone();
    if !store.has_blob(&config) {
        download(client, &reference.path, &manifest.config, store.root(), &mut |_| {})?;
    }
    let image: ImageConfig = serde_json::from_slice(&store.read_blob(&config)?)
        .map_err(|source| Error::Json { what: format!("image config {config}"), source })?;
    if image.rootfs.diff_ids.len() != manifest.layers.len() {
        return Err(RegistryError::Protocol(format!(
            "manifest {manifest_digest} lists {} layers, its config {}",
            manifest.layers.len(),
            image.rootfs.diff_ids.len()
        ))
        .into());
    }
    if !store.has_blob(&manifest_digest) {
        store.put_blob_from(&mut &bytes[..], Some(&manifest_digest))?;
    }

    let rows =
        fetch_layers(store, client, options, &reference.path, &manifest.layers, &image.rootfs.diff_ids, progress)?;

    let names: Vec<String> = reference.tagged_name().into_iter().collect();
    let before = match names.first() {
        Some(n) => store.db.tag_target(n)?,
        None => store.db.image(&config)?.map(|i| i.id),
    };
    let repo_digest = format!("{}@{top}", reference.repository());
    let (id, _) =
        store.commit_image_with_repo_digest(&config, Some(manifest_digest), &rows, &names, Some(&repo_digest))?;
    let fresh = before.as_ref() != Some(&id);
    progress.event(Event::Line(format!("Digest: {top}")));
    let familiar = reference.familiar();
    progress.event(Event::Line(if fresh {
        format!("Status: Downloaded newer image for {familiar}")
    } else {
        format!("Status: Image is up to date for {familiar}")
    }));
    Ok(Pulled { id, digest: top, fresh })
}

enum Msg {
    Status(usize, LayerStatus),
    Done(usize, Result<LayerRow>),
}

/// Fetches and unpacks the missing layers on a few threads, each layer on one of them (and a
/// helper that unpacks what it downloads) from the first byte to its landed directory.
/// Returns the layer rows, in order.
fn fetch_layers(
    store: &Store,
    client: &Client,
    options: &RegistryOptions,
    path: &str,
    layers: &[Descriptor],
    diff_ids: &[Digest],
    progress: &mut dyn Progress,
) -> Result<Vec<LayerRow>> {
    let chains = oci::chain_ids(diff_ids);
    let short = |i: usize| layers[i].digest.short().to_string();
    let mut rows: Vec<Option<LayerRow>> = vec![None; layers.len()];
    let mut queue: VecDeque<usize> = VecDeque::new();
    for (i, layer) in layers.iter().enumerate() {
        if let Some(row) = store.db.layer(&chains[i])? {
            progress.event(Event::Layer { id: short(i), status: LayerStatus::AlreadyExists });
            rows[i] = Some(row);
        } else if store.has_blob(&layer.digest) {
            // Downloaded by an earlier pull that stopped before it unpacked everything.
            progress.event(Event::Layer { id: short(i), status: LayerStatus::DownloadComplete });
            queue.push_back(i);
        } else {
            progress.event(Event::Layer { id: short(i), status: LayerStatus::PullingFsLayer });
            queue.push_back(i);
        }
    }
    let workers = options.max_concurrent.max(1).min(queue.len());
    for &i in queue.iter().skip(workers) {
        if !store.has_blob(&layers[i].digest) {
            progress.event(Event::Layer { id: short(i), status: LayerStatus::Waiting });
        }
    }

    let queue = Mutex::new(queue);
    let abort = AtomicBool::new(false);
    let root = store.root().to_path_buf();
    let mut first_error: Option<Error> = None;
    std::thread::scope(|scope| {
        let (tx, rx) = mpsc::channel::<Msg>();
        for _ in 0..workers {
            let tx = tx.clone();
            let (queue, abort, root, chains) = (&queue, &abort, &root, &chains);
            scope.spawn(move || loop {
                if abort.load(Ordering::Relaxed) {
                    break;
                }
                let Some(i) = queue.lock().ok().and_then(|mut q| q.pop_front()) else {
                    break;
                };
                let layer = LayerJob {
                    desc: &layers[i],
                    diff_id: &diff_ids[i],
                    chain: &chains[i],
                    parent: if i == 0 { None } else { Some(&chains[i - 1]) },
                };
                let result = fetch_layer(client, path, &layer, root, &mut |s| {
                    let _ = tx.send(Msg::Status(i, s));
                });
                let _ = tx.send(Msg::Done(i, result));
            });
        }
        drop(tx);
        // Ends when every worker has finished (their senders are gone).
        for msg in rx {
            match msg {
                Msg::Status(i, status) => progress.event(Event::Layer { id: short(i), status }),
                Msg::Done(i, Ok(row)) => {
                    progress.event(Event::Layer { id: short(i), status: LayerStatus::PullComplete });
                    rows[i] = Some(row);
                }
                Msg::Done(_, Err(e)) => {
                    abort.store(true, Ordering::Relaxed);
                    first_error.get_or_insert(e);
                }
            }
        }
    });
    if let Some(e) = first_error {
        return Err(e);
    }
    rows.into_iter()
        .enumerate()
        .map(|(i, r)| {
            r.ok_or_else(|| RegistryError::Protocol(format!("layer {} was not fetched", layers[i].digest)).into())
        })
        .collect()
}

/// One layer to fetch: its blob, its uncompressed digest, its chain ID and its parent's.
struct LayerJob<'a> {
    desc: &'a Descriptor,
    diff_id: &'a Digest,
    chain: &'a Digest,
    parent: Option<&'a Digest>,
}

/// Gets one layer into the store: its blob verified and stored, its directory unpacked. A
/// fresh download is unpacked as it streams in (one pass: the bytes go to the blob file, its
/// digest, the decompressor, the diff ID's digest and the tar applier); a blob already stored,
/// or one continued from a partial download, is unpacked from the store once it is in.
fn fetch_layer(
    client: &Client,
    path: &str,
    layer: &LayerJob,
    root: &Path,
    report: &mut dyn FnMut(LayerStatus),
) -> Result<LayerRow> {
    let desc = layer.desc;
    let blob_path = crate::store::blob_path_at(root, &desc.digest);
    if !blob_path.is_file() {
        let (writer, held) = BlobWriter::partial(root, &desc.digest)?;
        let unpacked = ingest::layer_dir_at(root, layer.chain).is_dir();
        if blob_path.is_file() {
            // Another pull stored it while this one waited for the partial file's lock.
            writer.discard();
        } else {
            // What a pull of this blob that was cut off left half-unpacked: the partial
            // file's lock, held now, guards it.
            let stale = unpack_dir(root, &desc.digest);
            if stale.exists() {
                let _ = std::fs::remove_dir_all(&stale);
            }
            if held == 0 && !unpacked {
                if let Some(row) = stream_layer(client, path, layer, root, writer, report)? {
                    return Ok(row);
                }
            } else {
                download_into(client, path, desc, root, writer, report)?;
            }
            report(LayerStatus::DownloadComplete);
        }
    }
    report(LayerStatus::Extracting);
    ingest::unpack_stored_layer(root, &desc.digest, layer.diff_id, layer.parent, Some(&desc.media_type))
}

/// What a `BlobWriter` may hold before it writes (its `BufWriter`'s capacity).
const WRITER_BUFFER: u64 = 256 * 1024;

/// Where a layer is unpacked while its blob streams in.
fn unpack_dir(root: &Path, blob: &Digest) -> std::path::PathBuf {
    root.join("tmp").join(format!("unpack-{}", blob.hex()))
}

/// The response to a GET of a blob from byte `held` on (a Range request when `held` > 0),
/// or the registry's refusal as an error.
fn get_blob(client: &Client, path: &str, desc: &Descriptor, held: u64) -> Result<(u16, HttpResponse)> {
    let url = client.url(&format!("{path}/blobs/{}", desc.digest));
    let range = format!("bytes={held}-");
    let headers: Vec<(&str, &str)> = if held > 0 { vec![("Range", range.as_str())] } else { Vec::new() };
    let resp = client.send("GET", &url, &headers, Body::Empty)?;
    let status = resp.status().as_u16();
    if status != 200 && status != 206 {
        let body = read_small(resp, 1 << 20, client.host()).unwrap_or_default();
        let (_, detail) = error_detail(&body);
        return Err(match status {
            401 => RegistryError::Unauthorized { host: client.host().into(), detail },
            404 => RegistryError::Protocol(format!("{}: blob {} unknown to the registry", client.host(), desc.digest)),
            s => RegistryError::Protocol(format!("{}: blob {}: answered {s}: {detail}", client.host(), desc.digest)),
        }
        .into());
    }
    Ok((status, resp))
}

/// The size of the pieces a streamed blob is handed over in, and how many may wait.
const CHUNK: usize = 128 * 1024;
const CHUNKS_IN_FLIGHT: usize = 16;

/// The unpacking thread's side of a streamed blob: the pieces the download thread sends,
/// read as one stream. Spent pieces go back to be filled again.
struct Chunks {
    rx: mpsc::Receiver<Vec<u8>>,
    spent: mpsc::Sender<Vec<u8>>,
    current: Vec<u8>,
    pos: usize,
}

impl Read for Chunks {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for Chunks {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        while self.pos == self.current.len() {
            // A closed channel is the end of the stream (or of the download: its thread
            // knows which).
            let Ok(next) = self.rx.recv() else {
                return Ok(&[]);
            };
            let spent = std::mem::replace(&mut self.current, next);
            self.pos = 0;
            if spent.capacity() > 0 {
                let _ = self.spent.send(spent);
            }
        }
        Ok(&self.current[self.pos..])
    }

    fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.current.len());
    }
}

/// The download's ends of the pieces' two channels: to the unpacking thread, and back.
type Unpacker = (mpsc::SyncSender<Vec<u8>>, mpsc::Receiver<Vec<u8>>);

/// Reads a blob's response to its end into the partial blob file (which hashes it), sending
/// its pages to the disk as they come (the blob's fsync at the commit then has little left to
/// do) and reporting progress. With `unpacker`, also hands each piece to the unpacking thread
/// while that one still wants them, and takes spent pieces back to fill. Returns the
/// download's failure, if any: a broken connection, a write error, or more bytes than the
/// manifest says.
fn pump(
    mut body: impl Read,
    writer: &mut BlobWriter,
    desc: &Descriptor,
    host: &str,
    report: &mut dyn FnMut(LayerStatus),
    unpacker: Option<Unpacker>,
) -> Option<Error> {
    let sync = std::fs::File::open(writer.path()).ok();
    let (mut sent, mut last) = (0u64, Instant::now());
    let (mut to_unpack, spent) = unpacker.unzip();
    report(LayerStatus::Downloading(writer.written(), desc.size));
    loop {
        let mut buf = spent.as_ref().and_then(|r| r.try_recv().ok()).unwrap_or_default();
        buf.resize(CHUNK, 0);
        let n = match body.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Some(
                    RegistryError::Unreachable {
                        host: host.into(),
                        cause: format!("reading blob {}: {e}", desc.digest),
                    }
                    .into(),
                )
            }
        };
        if let Err(source) = std::io::Write::write_all(writer, &buf[..n]) {
            return Some(Error::Io { path: writer.path().to_path_buf(), source });
        }
        let written = writer.written();
        if written > desc.size {
            return Some(Error::DigestMismatch {
                what: format!("blob {}", desc.digest),
                expected: format!("{} bytes", desc.size),
                actual: format!("more than {} bytes", desc.size),
            });
        }
        if let Some(file) = sync.as_ref().filter(|_| written - sent >= layer::WRITEBACK_CHUNK) {
            // Up to the end of the file: what the writer still buffers follows next time.
            layer::start_writeback(file.as_fd(), sent, 0);
            sent = written.saturating_sub(WRITER_BUFFER);
        }
        if last.elapsed() > Duration::from_millis(100) {
            last = Instant::now();
            report(LayerStatus::Downloading(written, desc.size));
        }
        buf.truncate(n);
        // The unpacking thread stops taking pieces when the layer is broken; the blob is
        // still read to its end, so that its digest can say whether the registry sent
        // something else.
        if to_unpack.as_ref().is_some_and(|tx| tx.send(buf).is_err()) {
            to_unpack = None;
        }
    }
    report(LayerStatus::Downloading(writer.written(), desc.size));
    None
}

/// A fresh download, unpacked as it arrives into `tmp/unpack-<blob hex>` (a name the partial
/// file's lock guards: what an interrupted pull left there goes first). The blob lands only
/// after its size and digest are checked, the layer directory only after that and the diff
/// ID's check. `None`: the registry answered with a part only, so the blob was downloaded and
/// must be unpacked from the store.
fn stream_layer(
    client: &Client,
    path: &str,
    layer: &LayerJob,
    root: &Path,
    mut writer: BlobWriter,
    report: &mut dyn FnMut(LayerStatus),
) -> Result<Option<LayerRow>> {
    let desc = layer.desc;
    let (status, resp) = get_blob(client, path, desc, 0)?;
    if status != 200 {
        // A 206 to a request without a range: take it as a download to continue later.
        if let Some(failure) = pump(resp.into_body().into_reader(), &mut writer, desc, client.host(), report, None) {
            return Err(failure);
        }
        commit_blob(desc, writer, report)?;
        return Ok(None);
    }
    let tmp = unpack_dir(root, &desc.digest);
    std::fs::create_dir(&tmp).map_err(|source| Error::Io { path: tmp.clone(), source })?;
    // Two threads per layer: this one downloads, stores and hashes the blob; the other
    // decompresses, hashes and applies it. Each has about half the work, so even a single
    // layer keeps two cores busy.
    let (failure, applied) = std::thread::scope(|scope| {
        let (to_unpack, rx) = mpsc::sync_channel::<Vec<u8>>(CHUNKS_IN_FLIGHT);
        let (spent_tx, spent) = mpsc::channel::<Vec<u8>>();
        let tmp = &tmp;
        let unpacker =
            scope.spawn(move || unpack_from(Chunks { rx, spent: spent_tx, current: Vec::new(), pos: 0 }, tmp));
        let failure =
            pump(resp.into_body().into_reader(), &mut writer, desc, client.host(), report, Some((to_unpack, spent)));
        let applied = unpacker.join().unwrap_or_else(|_| {
            Err(Error::Layer(layer::LayerError::Tar(std::io::Error::other("the unpacking thread failed"))))
        });
        (failure, applied)
    });
    let outcome = match failure {
        // The download's own failure explains any broken stream.
        Some(failure) => Err(failure),
        // Size and digest first: a blob that is not what the manifest names explains a
        // broken layer too.
        None => commit_blob(desc, writer, report).and(applied),
    };
    let (size, actual) = match outcome {
        Ok(r) => r,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(e);
        }
    };
    report(LayerStatus::DownloadComplete);
    if actual != *layer.diff_id {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(Error::DigestMismatch {
            what: format!("layer {}", desc.digest),
            expected: layer.diff_id.to_string(),
            actual: actual.to_string(),
        });
    }
    report(LayerStatus::Extracting);
    ingest::land_layer(&tmp, &ingest::layer_dir_at(root, layer.chain))?;
    Ok(Some(LayerRow {
        chain_id: layer.chain.clone(),
        diff_id: layer.diff_id.clone(),
        parent: layer.parent.cloned(),
        blob: desc.digest.clone(),
        media_type: desc.media_type.clone(),
        size,
    }))
}

/// Decompresses and applies a layer stream into `<tmp>/diff`; returns the size of its files
/// and the digest of its uncompressed bytes.
fn unpack_from(stream: impl BufRead, tmp: &Path) -> Result<(u64, Digest)> {
    let broken = |e| Error::Layer(layer::LayerError::Tar(e));
    let (_, reader) = layer::decompress(stream).map_err(broken)?;
    let (size, actual) = ingest::apply_checked(reader, tmp, false)?;
    let actual = actual.ok_or_else(|| broken(std::io::Error::other("the layer's digest was not computed")))?;
    Ok((size, actual))
}

/// Streams one blob (the config) into the store: checks size and digest, then commits it.
fn download(
    client: &Client,
    path: &str,
    desc: &Descriptor,
    root: &Path,
    report: &mut dyn FnMut(LayerStatus),
) -> Result<()> {
    let (writer, _) = BlobWriter::partial(root, &desc.digest)?;
    if crate::store::blob_path_at(root, &desc.digest).is_file() {
        // Another pull stored it while this one waited for the partial file's lock.
        writer.discard();
        return Ok(());
    }
    download_into(client, path, desc, root, writer, report)
}

/// Fills the partial blob `writer` (continuing what it holds with a Range request), checks
/// size and digest, and commits it into the store.
fn download_into(
    client: &Client,
    path: &str,
    desc: &Descriptor,
    root: &Path,
    mut writer: BlobWriter,
    report: &mut dyn FnMut(LayerStatus),
) -> Result<()> {
    if writer.written() > desc.size {
        writer.discard();
        writer = BlobWriter::partial(root, &desc.digest)?.0;
    }
    let held = writer.written();
    if held < desc.size || desc.size == 0 {
        let (status, resp) = get_blob(client, path, desc, held)?;
        if status == 200 && held > 0 {
            // The server sends the whole blob again: start over.
            writer.discard();
            writer = BlobWriter::partial(root, &desc.digest)?.0;
        }
        if let Some(failure) = pump(resp.into_body().into_reader(), &mut writer, desc, client.host(), report, None) {
            return Err(failure);
        }
    }
    commit_blob(desc, writer, report)
}

/// Checks a downloaded blob's size and digest and lands it in the store.
fn commit_blob(desc: &Descriptor, writer: BlobWriter, report: &mut dyn FnMut(LayerStatus)) -> Result<()> {
    report(LayerStatus::Verifying);
    if writer.written() != desc.size {
        let got = writer.written();
        writer.discard();
        return Err(Error::DigestMismatch {
            what: format!("blob {}", desc.digest),
            expected: format!("{} bytes", desc.size),
            actual: format!("{got} bytes"),
        });
    }
    writer.commit(Some(&desc.digest))?;
    Ok(())
}

//! Registries, end to end: the real binary against Debian's `docker-registry` (the CNCF
//! distribution server) started on 127.0.0.1 by each test, on a free port, with its own
//! storage, killed on drop. Every berth command here gets its own `DOCKER_CONFIG`, so the
//! host's ~/.docker is never read or written.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest as _, Sha256};

use crate::common::{require, sh, Env, Run};

/// A distribution registry on 127.0.0.1, killed when dropped.
struct Registry {
    child: Child,
    dir: tempfile::TempDir,
    /// `127.0.0.1:<port>`
    addr: String,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

impl Registry {
    fn start() -> Registry {
        Registry::start_with("")
    }

    /// `extra` is appended to the configuration (an `auth:` section, say).
    fn start_with(extra: &str) -> Registry {
        Registry::start_on("127.0.0.1", extra)
    }

    /// A registry on `host` (an address of this machine), with extra config lines.
    fn start_on(host: &str, extra: &str) -> Registry {
        require("docker-registry");
        let dir = tempfile::Builder::new().prefix("berth-registry-").tempdir().expect("temp dir");
        let port = free_port();
        let addr = format!("{host}:{port}");
        let config = format!(
            "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: false\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n{extra}",
            dir.path().join("data").display()
        );
        std::fs::write(dir.path().join("config.yml"), config).unwrap();
        let log = std::fs::File::create(dir.path().join("log")).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(dir.path().join("config.yml"))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start docker-registry");
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(&addr).is_err() {
            assert!(
                Instant::now() < deadline,
                "registry did not start: {}",
                std::fs::read_to_string(dir.path().join("log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Registry { child, dir, addr }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }

    /// Access-log lines for GETs of one blob, with their status.
    fn blob_gets(&self, digest: &str) -> Vec<String> {
        self.log()
            .lines()
            .filter(|l| l.contains("\"GET ") && l.contains(&format!("/blobs/{digest} ")))
            .map(String::from)
            .collect()
    }

    fn blob_get_count(&self) -> usize {
        self.log().lines().filter(|l| l.contains("\"GET ") && l.contains("/blobs/sha256:")).count()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A berth command with a private `DOCKER_CONFIG` (under the test's temp dir).
fn berth(env: &Env, args: &[&str]) -> Command {
    let mut cmd = env.cmd(args);
    cmd.env("DOCKER_CONFIG", env.path("docker-config"));
    cmd
}

fn run(env: &Env, args: &[&str]) -> Run {
    run_input(env, args, None)
}

fn run_input(env: &Env, args: &[&str], input: Option<&str>) -> Run {
    let mut cmd = berth(env, args);
    if input.is_some() {
        cmd.stdin(Stdio::piped());
    }
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("run berth");
    if let Some(text) = input {
        child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn ok(env: &Env, args: &[&str]) -> Run {
    let r = run(env, args);
    assert_eq!(r.code, 0, "berth {args:?} failed:\nstdout: {}\nstderr: {}", r.stdout, r.stderr);
    r
}

fn fails(env: &Env, args: &[&str], code: i32) -> Run {
    let r = run(env, args);
    assert_eq!(r.code, code, "berth {args:?}: expected exit {code}:\nstdout: {}\nstderr: {}", r.stdout, r.stderr);
    r
}

fn image_id(env: &Env, name: &str) -> String {
    ok(env, &["image", "inspect", "--format", "{{.Id}}", name]).stdout.trim().to_string()
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Deterministic incompressible bytes.
fn noise(len: usize, mut seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        out.extend_from_slice(&seed.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// An uncompressed layer tar holding these files.
fn layer_tar(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o755);
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, path, *data).unwrap();
    }
    b.into_inner().unwrap()
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    None,
    Zstd,
    DockerGzip,
}

/// An OCI image layout under construction: blobs, then `finish` writes index.json.
struct Layout {
    dir: PathBuf,
    index: Vec<serde_json::Value>,
}

impl Layout {
    fn new(dir: PathBuf) -> Layout {
        std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
        std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
        Layout { dir, index: Vec::new() }
    }

    fn blob(&self, bytes: &[u8]) -> (String, usize) {
        let d = sha256(bytes);
        std::fs::write(self.dir.join("blobs/sha256").join(&d[7..]), bytes).unwrap();
        (d, bytes.len())
    }

    /// One image (its config and manifest); returns the manifest's descriptor. Layers are
    /// stored as given (`None`), zstd-compressed (OCI media types), or gzipped with Docker
    /// schema 2 media types throughout.
    fn image(&self, arch: &str, layers: &[Vec<u8>], kind: Kind) -> serde_json::Value {
        let docker = kind == Kind::DockerGzip;
        let mut diff_ids = Vec::new();
        let mut descs = Vec::new();
        for tar in layers {
            diff_ids.push(sha256(tar));
            let (bytes, media) = match kind {
                Kind::None => (tar.clone(), "application/vnd.oci.image.layer.v1.tar"),
                Kind::Zstd | Kind::DockerGzip => {
                    let dir = tempfile::tempdir().unwrap();
                    std::fs::write(dir.path().join("l.tar"), tar).unwrap();
                    if docker {
                        sh(&format!("gzip -n {}", dir.path().join("l.tar").display()));
                        (
                            std::fs::read(dir.path().join("l.tar.gz")).unwrap(),
                            "application/vnd.docker.image.rootfs.diff.tar.gzip",
                        )
                    } else {
                        sh(&format!("zstd -q {}", dir.path().join("l.tar").display()));
                        (
                            std::fs::read(dir.path().join("l.tar.zst")).unwrap(),
                            "application/vnd.oci.image.layer.v1.tar+zstd",
                        )
                    }
                }
            };
            let (d, size) = self.blob(&bytes);
            descs.push(serde_json::json!({"mediaType": media, "digest": d, "size": size}));
        }
        let config = serde_json::json!({
            "architecture": arch, "os": "linux", "created": "2024-01-01T00:00:00Z",
            "config": {"Cmd": ["/hello"]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        });
        let (cd, cs) = self.blob(config.to_string().as_bytes());
        let (manifest_type, config_type) = if docker {
            ("application/vnd.docker.distribution.manifest.v2+json", "application/vnd.docker.container.image.v1+json")
        } else {
            ("application/vnd.oci.image.manifest.v1+json", "application/vnd.oci.image.config.v1+json")
        };
        let manifest = serde_json::json!({
            "schemaVersion": 2, "mediaType": manifest_type,
            "config": {"mediaType": config_type, "digest": cd, "size": cs},
            "layers": descs,
        });
        let (md, ms) = self.blob(manifest.to_string().as_bytes());
        serde_json::json!({"mediaType": manifest_type, "digest": md, "size": ms,
            "platform": {"architecture": arch, "os": "linux"}})
    }

    /// Lists a descriptor in index.json under a tag and a full name.
    fn add(&mut self, mut desc: serde_json::Value, tag: &str, name: &str) {
        desc["annotations"] =
            serde_json::json!({"org.opencontainers.image.ref.name": tag, "io.containerd.image.name": name});
        self.index.push(desc);
    }

    /// A nested index of several platform manifests; returns its descriptor.
    fn multi(&self, manifests: Vec<serde_json::Value>) -> serde_json::Value {
        let index = serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": manifests});
        let (d, s) = self.blob(index.to_string().as_bytes());
        serde_json::json!({"mediaType": "application/vnd.oci.image.index.v1+json", "digest": d, "size": s})
    }

    fn finish(&self) {
        let index = serde_json::json!({"schemaVersion": 2, "manifests": self.index});
        std::fs::write(self.dir.join("index.json"), index.to_string()).unwrap();
    }

    /// The layout as a tar for `berth load`.
    fn tar(&self) -> PathBuf {
        let out = self.dir.with_extension("tar");
        sh(&format!("tar -C {} -cf {} .", self.dir.display(), out.display()));
        out
    }
}

#[test]
fn registry_push_pull_round_trip() {
    let reg = Registry::start();
    let a = Env::new();
    let name = format!("{}/bb:1", reg.addr);
    a.busybox(&name);
    let pushed = ok(&a, &["push", &name]);
    assert!(pushed.stdout.contains(&format!("The push refers to repository [{}/bb]", reg.addr)), "{}", pushed.stdout);
    assert!(pushed.stdout.contains(": Pushed"), "{}", pushed.stdout);
    assert!(pushed.stdout.contains("1: digest: sha256:"), "{}", pushed.stdout);

    let b = Env::new();
    let pulled = ok(&b, &["pull", &name]);
    assert!(pulled.stdout.contains("Pull complete"), "{}", pulled.stdout);
    assert!(pulled.stdout.contains(&format!("Status: Downloaded newer image for {name}")), "{}", pulled.stdout);
    assert!(pulled.stdout.trim_end().ends_with(&name), "{}", pulled.stdout);
    // Plain lines when stdout is not a terminal: no byte counts.
    assert!(!pulled.stdout.contains("Downloading"), "{}", pulled.stdout);
    assert_eq!(image_id(&a, &name), image_id(&b, &name));
    // The image runs, and the repo digest is the one pushed.
    assert_eq!(ok(&b, &["run", "--rm", &name, "echo", "pulled"]).stdout, "pulled\n");
    let digest = pulled.stdout.lines().find_map(|l| l.strip_prefix("Digest: ")).unwrap().to_string();
    assert!(pushed.stdout.contains(&digest));
    let digests = ok(&b, &["images", "--digests", "--format", "{{.Digest}}"]).stdout;
    assert_eq!(digests.trim(), digest);
    b.assert_store_clean();

    // By digest, quietly: only the reference is printed.
    let c = Env::new();
    let by_digest = format!("{}/bb@{digest}", reg.addr);
    let q = ok(&c, &["pull", "-q", &by_digest]);
    assert_eq!(q.stdout.trim(), by_digest);
    assert_eq!(image_id(&c, &by_digest), image_id(&a, &name));

    // Pushing again sends nothing; another repository of the registry mounts the layer.
    let again = ok(&a, &["push", &name]);
    assert!(again.stdout.contains("Layer already exists"), "{}", again.stdout);
    let other = format!("{}/other:2", reg.addr);
    ok(&a, &["tag", &name, &other]);
    let mounted = ok(&a, &["push", &other]);
    assert!(mounted.stdout.contains("Mounted from bb"), "{}", mounted.stdout);
    // -q prints only the reference.
    assert_eq!(ok(&a, &["push", "-q", &other]).stdout.trim(), other);
}

#[test]
fn registry_second_pull_fetches_nothing() {
    let reg = Registry::start();
    let a = Env::new();
    let name = format!("{}/bb:1", reg.addr);
    a.busybox(&name);
    ok(&a, &["push", &name]);
    let b = Env::new();
    ok(&b, &["pull", &name]);
    let before = reg.blob_get_count();
    assert!(before >= 2, "the first pull fetched the config and the layer:\n{}", reg.log());
    let second = ok(&b, &["pull", &name]);
    assert_eq!(reg.blob_get_count(), before, "the second pull fetched blobs:\n{}", reg.log());
    assert!(second.stdout.contains("Already exists"), "{}", second.stdout);
    assert!(second.stdout.contains(&format!("Status: Image is up to date for {name}")), "{}", second.stdout);
    // `run --pull always` checks the registry and still fetches nothing.
    ok(&b, &["run", "--rm", "--pull", "always", &name, "true"]);
    assert_eq!(reg.blob_get_count(), before);
}

#[test]
fn registry_run_pulls_missing_image() {
    let reg = Registry::start();
    let a = Env::new();
    let name = format!("{}/bb:1", reg.addr);
    a.busybox(&name);
    ok(&a, &["push", &name]);
    let b = Env::new();
    let never = run(&b, &["run", "--rm", "--pull", "never", &name, "true"]);
    assert_eq!(never.code, 125, "{}", never.stderr);
    assert!(never.stderr.contains("No such image"), "{}", never.stderr);
    let r = ok(&b, &["run", "--rm", &name, "echo", "hi"]);
    assert_eq!(r.stdout, "hi\n");
    assert!(r.stderr.contains(&format!("Unable to find image '{name}' locally")), "{}", r.stderr);
    assert!(r.stderr.contains("Pull complete"), "{}", r.stderr);
    let created = ok(&Env::new(), &["create", "-q", &name]);
    assert_eq!(created.stdout.trim().len(), 64, "{}", created.stdout);
    // A missing image on an unreachable registry: berth's own failure, 125.
    let dead = format!("127.0.0.1:{}/x:1", free_port());
    let e = run(&b, &["run", "--rm", &dead, "true"]);
    assert_eq!(e.code, 125, "{}", e.stderr);
    assert!(e.stderr.contains("is unreachable"), "{}", e.stderr);
}

#[test]
fn registry_errors() {
    let reg = Registry::start();
    let a = Env::new();
    let name = format!("{}/bb:1", reg.addr);
    a.busybox(&name);
    ok(&a, &["push", &name]);
    let b = Env::new();

    let e = fails(&b, &["pull", &format!("{}/bb:nope", reg.addr)], 1);
    assert!(e.stderr.contains(&format!("Error: manifest for {}/bb:nope not found", reg.addr)), "{}", e.stderr);
    let e = fails(&b, &["pull", &format!("{}/nothing-here", reg.addr)], 1);
    assert!(e.stderr.contains(&format!("{}/nothing-here", reg.addr)), "{}", e.stderr);
    let dead = format!("127.0.0.1:{}", free_port());
    let e = fails(&b, &["pull", &format!("{dead}/x:1")], 1);
    assert!(e.stderr.contains(&format!("registry {dead} is unreachable")), "{}", e.stderr);
    assert!(e.stderr.contains("refused"), "{}", e.stderr);
    let e = fails(&b, &["pull", "bad:tag:x"], 1);
    assert!(e.stderr.contains("invalid reference format"), "{}", e.stderr);
    let e = fails(&b, &["push", &format!("{}/absent:1", reg.addr)], 1);
    assert!(e.stderr.contains("An image does not exist locally"), "{}", e.stderr);

    // A registry that serves a blob whose content is not its digest: the pull names the blob
    // and leaves no image.
    let blobs = reg.dir.path().join("data/docker/registry/v2/blobs/sha256");
    let mut layer = None;
    for prefix in std::fs::read_dir(&blobs).unwrap().flatten() {
        for entry in std::fs::read_dir(prefix.path()).unwrap().flatten() {
            let data = entry.path().join("data");
            let len = std::fs::metadata(&data).unwrap().len();
            if len > 100_000 {
                layer = Some((entry.file_name().to_string_lossy().into_owned(), data, len));
            }
        }
    }
    let (hex, data, len) = layer.expect("the layer blob is in the registry's storage");
    std::fs::write(&data, noise(len as usize, 7)).unwrap();
    let e = fails(&b, &["pull", &name], 1);
    assert!(e.stderr.contains(&format!("blob sha256:{hex}")) && e.stderr.contains("digest mismatch"), "{}", e.stderr);
    assert_eq!(ok(&b, &["images", "-q"]).stdout, "", "a failed pull left an image");
    // The layer was unpacked as it streamed in: nothing of it stays, neither the blob nor
    // the half-unpacked directory.
    let tmp: Vec<String> = std::fs::read_dir(b.root().join("tmp"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(tmp.is_empty(), "a failed pull left {tmp:?}");
    assert!(!b.root().join("blobs/sha256").join(&hex).exists(), "a blob with the wrong digest landed");
}

#[test]
fn registry_basic_auth_login_logout() {
    require("htpasswd");
    let dir = tempfile::tempdir().unwrap();
    let htpasswd = dir.path().join("htpasswd");
    sh(&format!("htpasswd -Bbc {} alice s3cret 2>/dev/null", htpasswd.display()));
    let reg =
        Registry::start_with(&format!("auth:\n  htpasswd:\n    realm: berth-test\n    path: {}\n", htpasswd.display()));
    let a = Env::new();
    let name = format!("{}/private:1", reg.addr);
    a.busybox(&name);
    let e = fails(&a, &["push", &name], 1);
    assert!(e.stderr.contains("unauthorized"), "{}", e.stderr);

    let e = run_input(&a, &["login", "-u", "alice", "--password-stdin", &reg.addr], Some("wrong\n"));
    assert_eq!(e.code, 1, "{}{}", e.stdout, e.stderr);
    assert!(e.stderr.contains("unauthorized"), "{}", e.stderr);
    assert!(!a.path("docker-config/config.json").exists());

    let l = run_input(&a, &["login", "-u", "alice", "--password-stdin", &reg.addr], Some("s3cret\n"));
    assert_eq!(l.code, 0, "{}{}", l.stdout, l.stderr);
    assert!(l.stdout.contains("Login Succeeded"), "{}", l.stdout);
    // docker's format: base64("user:password") under the registry's host.
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(a.path("docker-config/config.json")).unwrap()).unwrap();
    assert_eq!(config["auths"][&reg.addr]["auth"], "YWxpY2U6czNjcmV0");
    ok(&a, &["push", &name]);

    // Another state root with the same credentials (written as docker would) pulls.
    let b = Env::new();
    std::fs::create_dir_all(b.path("docker-config")).unwrap();
    std::fs::write(
        b.path("docker-config/config.json"),
        format!(r#"{{"auths":{{"{}":{{"auth":"YWxpY2U6czNjcmV0"}}}},"detachKeys":"ctrl-e"}}"#, reg.addr),
    )
    .unwrap();
    ok(&b, &["pull", &name]);
    assert_eq!(image_id(&a, &name), image_id(&b, &name));
    let out = ok(&b, &["logout", &reg.addr]);
    assert_eq!(out.stdout.trim(), format!("Removing login credentials for {}", reg.addr));
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(b.path("docker-config/config.json")).unwrap()).unwrap();
    assert!(config["auths"].get(&reg.addr).is_none(), "{config}");
    assert_eq!(config["detachKeys"], "ctrl-e", "other keys are kept");
    assert_eq!(ok(&b, &["logout", &reg.addr]).stdout.trim(), format!("Not logged in to {}", reg.addr));
    ok(&b, &["rmi", &name]);
    let e = fails(&b, &["pull", &name], 1);
    assert!(e.stderr.contains("unauthorized"), "{}", e.stderr);
}

#[test]
fn registry_zstd_and_docker_gzip_push_pull() {
    require("zstd");
    let reg = Registry::start();
    // zstd layers in an OCI manifest; gzip layers in a Docker schema 2 manifest.
    for (tag, kind) in [("zstd", Kind::Zstd), ("gzip", Kind::DockerGzip)] {
        let a = Env::new();
        let name = format!("{}/layers:{tag}", reg.addr);
        let mut layout = Layout::new(a.path("layout"));
        let hello = std::fs::read("/bin/busybox").unwrap();
        let layers = vec![
            layer_tar(&[("cat", &hello)]),
            layer_tar(&[("a.txt", b"first\n")]),
            layer_tar(&[("b.txt", b"second\n"), ("big", &noise(300_000, 3))]),
        ];
        let desc = layout.image("amd64", &layers, kind);
        layout.add(desc, tag, &name);
        layout.finish();
        ok(&a, &["load", "-i", layout.tar().to_str().unwrap()]);
        ok(&a, &["push", &name]);

        let b = Env::new();
        let pulled = ok(&b, &["pull", &name]);
        assert_eq!(pulled.stdout.matches("Pull complete").count(), 3, "{}", pulled.stdout);
        assert_eq!(image_id(&a, &name), image_id(&b, &name));
        let digest = pulled.stdout.lines().find_map(|l| l.strip_prefix("Digest: ")).unwrap().to_string();
        assert_eq!(digest, desc_digest(&layout), "the manifest went up and came back byte for byte");
        let out = ok(&b, &["run", "--rm", "--entrypoint", "/cat", &name, "/a.txt", "/b.txt"]);
        assert_eq!(out.stdout, "first\nsecond\n");
        b.assert_store_clean();
    }
}

/// The digest of the one manifest a layout's index.json lists.
fn desc_digest(layout: &Layout) -> String {
    layout.index[0]["digest"].as_str().unwrap().to_string()
}

#[test]
fn registry_multi_platform_index() {
    require("skopeo");
    let reg = Registry::start();
    let a = Env::new();
    let mut layout = Layout::new(a.path("layout"));
    let amd = layout.image("amd64", &[layer_tar(&[("arch", b"amd64\n")])], Kind::None);
    let arm = layout.image("arm64", &[layer_tar(&[("arch", b"arm64\n")])], Kind::None);
    let index = layout.multi(vec![arm, amd]);
    layout.add(index, "multi", "unused");
    layout.finish();
    sh(&format!(
        "skopeo copy --all --dest-tls-verify=false oci:{}:multi docker://{}/multi:1",
        layout.dir.display(),
        reg.addr
    ));
    let name = format!("{}/multi:1", reg.addr);
    let host_arch = if cfg!(target_arch = "aarch64") { "arm64" } else { "amd64" };
    ok(&a, &["pull", &name]);
    assert_eq!(ok(&a, &["image", "inspect", "--format", "{{.Architecture}}", &name]).stdout.trim(), host_arch);
    let b = Env::new();
    ok(&b, &["pull", "--platform", "linux/arm64", &name]);
    assert_eq!(ok(&b, &["image", "inspect", "--format", "{{.Architecture}}", &name]).stdout.trim(), "arm64");
    let e = fails(&b, &["pull", "--platform", "linux/s390x", &name], 1);
    assert!(e.stderr.contains("no matching manifest for linux/s390x"), "{}", e.stderr);
}

#[test]
fn registry_mirror_fallback_warns() {
    let reg = Registry::start();
    let a = Env::new();
    a.busybox(&format!("{}/library/bb:1", reg.addr));
    ok(&a, &["push", &format!("{}/library/bb:1", reg.addr)]);

    let b = Env::new();
    let dead = format!("http://127.0.0.1:{}", free_port());
    std::fs::write(b.path("daemon.json"), format!(r#"{{"registry-mirrors": ["{dead}", "http://{}"]}}"#, reg.addr))
        .unwrap();
    let info = ok(&b, &["info"]).stdout;
    assert!(info.contains(&dead), "{info}");
    // `bb:1` is docker.io/library/bb:1: the dead mirror is named, the second one serves it.
    let r = ok(&b, &["pull", "bb:1"]);
    assert!(r.stderr.contains(&format!("WARNING: failed to pull from mirror {dead}")), "{}", r.stderr);
    assert!(r.stdout.contains("Status: Downloaded newer image for bb:1"), "{}", r.stdout);
    assert_eq!(ok(&b, &["images", "--format", "{{.Repository}}:{{.Tag}}"]).stdout.trim(), "bb:1");
}

#[test]
fn registry_search_catalog() {
    let reg = Registry::start();
    let a = Env::new();
    for repo in ["tools/busy", "other"] {
        let name = format!("{}/{repo}:1", reg.addr);
        a.busybox(&name);
        ok(&a, &["push", &name]);
    }
    let out = ok(&a, &["search", &format!("{}/bus", reg.addr)]).stdout;
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("NAME") && lines[0].contains("DESCRIPTION"), "{out}");
    assert_eq!(lines.len(), 2, "{out}");
    assert!(lines[1].starts_with(&format!("{}/tools/busy", reg.addr)), "{out}");
    let out = ok(&a, &["search", "--limit", "1", &format!("{}/o", reg.addr)]).stdout;
    assert_eq!(out.lines().count(), 2, "{out}");
}

/// Forwards 127.0.0.1:<port> to `target`, sending the answers back slowly (about 2 MB/s),
/// so a test can interrupt a download half-way.
fn slow_proxy(target: String) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let target = target.clone();
            std::thread::spawn(move || {
                let Ok(server) = TcpStream::connect(&target) else { return };
                let (mut c_read, mut s_write) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut c_read, &mut s_write);
                });
                let (mut s_read, mut c_write) = (server, client);
                let mut buf = [0u8; 32 * 1024];
                while let Ok(n) = s_read.read(&mut buf) {
                    if n == 0 || c_write.write_all(&buf[..n]).is_err() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(15));
                }
            });
        }
    });
    port
}

#[test]
fn registry_interrupted_pull_resumes() {
    let reg = Registry::start();
    let a = Env::new();
    let name = format!("{}/big:1", reg.addr);
    let mut layout = Layout::new(a.path("layout"));
    let hello = noise(10_000, 5);
    // Over push's chunk size (16 MiB): the push goes up in PATCHed chunks.
    let big = noise(20 << 20, 11);
    let desc = layout.image("amd64", &[layer_tar(&[("hello", &hello)]), layer_tar(&[("big", &big)])], Kind::None);
    layout.add(desc, "1", &name);
    layout.finish();
    ok(&a, &["load", "-i", layout.tar().to_str().unwrap()]);
    ok(&a, &["push", &name]);
    assert!(reg.log().contains("\"PATCH /v2/big/blobs/uploads/"), "no chunked upload:\n{}", reg.log());
    let small_blob = sha256(&layer_tar(&[("hello", &hello)]));
    let big_blob = sha256(&layer_tar(&[("big", &big)]));

    // Pull through the slow proxy and kill berth once part of the big layer is on disk.
    let port = slow_proxy(reg.addr.clone());
    let slow_name = format!("127.0.0.1:{port}/big:1");
    let b = Env::new();
    let mut child = berth(&b, &["pull", &slow_name]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let partial = b.root().join("tmp").join(format!("partial-{}", &big_blob[7..]));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let held = std::fs::metadata(&partial).map(|m| m.len()).unwrap_or(0);
        if held > 2 << 20 {
            break;
        }
        assert!(Instant::now() < deadline, "the download never got going");
        assert!(child.try_wait().unwrap().is_none(), "the pull finished before it could be interrupted");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(ok(&b, &["images", "-q"]).stdout, "", "an interrupted pull left an image");
    let held = std::fs::metadata(&partial).unwrap().len();
    assert!(held > 0 && held < big.len() as u64);

    // The second pull (straight to the registry) fetches neither the complete small layer
    // nor the part of the big one it already has.
    let r = ok(&b, &["pull", &name]);
    assert!(r.stdout.contains("Pull complete"), "{}", r.stdout);
    assert_eq!(reg.blob_gets(&small_blob).len(), 1, "small layer fetched again:\n{}", reg.log());
    let big_gets = reg.blob_gets(&big_blob);
    assert!(big_gets.iter().any(|l| l.contains("HTTP/1.1\" 206 ")), "no ranged request:\n{}", big_gets.join("\n"));
    assert_eq!(image_id(&a, &name), image_id(&b, &name));
    assert!(!partial.exists());
    b.assert_store_clean();
}

/// base64url without padding (JWT's encoding).
fn b64url(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | (*b as u32) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

/// The OAuth2 refresh token (docker's `identitytoken`) the token service accepts.
const REFRESH_TOKEN: &str = "refresh-alice-0123";

/// A token service in the distribution registry's own scheme: answers `GET /token` for
/// alice:s3cret, and OAuth2's `POST /token` with the refresh token `REFRESH_TOKEN`, with an RS256 JWT (signed by `openssl`, its certificate in the token's `x5c`,
/// trusted by the registry's `rootcertbundle`) granting the scopes asked for. Records each
/// request's query (a POST's form, after `POST `) and whether it carried credentials.
struct TokenServer {
    port: u16,
    requests: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    cert: PathBuf,
    _dir: tempfile::TempDir,
}

fn token_server() -> TokenServer {
    require("openssl");
    let dir = tempfile::tempdir().unwrap();
    let (key, cert) = (dir.path().join("key.pem"), dir.path().join("cert.pem"));
    sh(&format!(
        "openssl req -x509 -newkey rsa:2048 -nodes -keyout {} -out {} -days 1 -subj /CN=berth-token 2>/dev/null",
        key.display(),
        cert.display()
    ));
    let der = Command::new("openssl").args(["x509", "-outform", "DER", "-in"]).arg(&cert).output().unwrap().stdout;
    let x5c: String = {
        // Standard base64 (with padding) for x5c.
        let url = b64url(&der).replace('-', "+").replace('_', "/");
        let pad = (4 - url.len() % 4) % 4;
        url + &"=".repeat(pad)
    };
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let requests = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = requests.clone();
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && conn.read(&mut byte).is_ok_and(|n| n == 1) {
                head.push(byte[0]);
            }
            let head = String::from_utf8_lossy(&head).into_owned();
            let post = head.starts_with("POST ");
            let target = head.split(' ').nth(1).unwrap_or("").to_string();
            let query = if post {
                // OAuth2's refresh-token grant: a form in the body.
                let len = head
                    .lines()
                    .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_string()))
                    .and_then(|v| v.parse::<usize>().ok())
                    .unwrap_or(0);
                let mut body = vec![0u8; len];
                let _ = conn.read_exact(&mut body);
                String::from_utf8_lossy(&body).into_owned()
            } else {
                target.split_once('?').map_or("", |(_, q)| q).to_string()
            };
            let form = |key: &str| query.split('&').find_map(|kv| kv.strip_prefix(&format!("{key}=")[..]));
            let authorized = if post {
                form("grant_type") == Some("refresh_token")
                    && form("refresh_token") == Some(REFRESH_TOKEN)
                    && form("client_id").is_some_and(|c| !c.is_empty())
            } else {
                head.lines().any(|l| {
                    l.to_ascii_lowercase().starts_with("authorization: basic ") && l.ends_with("YWxpY2U6czNjcmV0")
                })
            };
            let method = if post { "POST " } else { "" };
            seen.lock().unwrap().push(format!("{method}{query} authorized={authorized}"));
            if !authorized && post {
                let body = r#"{"error":"invalid_grant","error_description":"unknown refresh token"}"#;
                let _ = conn.write_all(
                    format!("HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len())
                        .as_bytes(),
                );
                continue;
            }
            if !authorized {
                let _ = conn.write_all(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                continue;
            }
            let access: Vec<serde_json::Value> = query
                .split('&')
                .filter_map(|kv| kv.strip_prefix("scope="))
                .flat_map(|s| s.split("%20").map(String::from).collect::<Vec<_>>())
                .map(|s| s.replace("%3A", ":").replace("%2F", "/").replace("%2C", ","))
                .filter_map(|s| {
                    let mut parts = s.splitn(3, ':');
                    let (kind, name, actions) = (parts.next()?, parts.next()?, parts.next()?);
                    Some(serde_json::json!({"type": kind, "name": name, "actions": actions.split(',').collect::<Vec<_>>()}))
                })
                .collect();
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
            let header = serde_json::json!({"typ": "JWT", "alg": "RS256", "x5c": [x5c]});
            let claims = serde_json::json!({"iss": "berth-issuer", "sub": "alice", "aud": "berth-test",
                "exp": now + 300, "nbf": now - 10, "iat": now - 10, "jti": format!("{now}-{}", access.len()), "access": access});
            let input = format!("{}.{}", b64url(header.to_string().as_bytes()), b64url(claims.to_string().as_bytes()));
            let mut openssl = Command::new("openssl")
                .args(["dgst", "-sha256", "-sign"])
                .arg(&key)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .unwrap();
            openssl.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
            let sig = openssl.wait_with_output().unwrap().stdout;
            let token = format!("{input}.{}", b64url(&sig));
            let body = if post {
                serde_json::json!({"access_token": token, "refresh_token": REFRESH_TOKEN, "expires_in": 300})
            } else {
                serde_json::json!({"token": token})
            }
            .to_string();
            let _ = conn.write_all(
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )
                .as_bytes(),
            );
        }
    });
    TokenServer { port, requests, cert, _dir: dir }
}

/// A registry that sends clients to `tokens` for bearer tokens.
fn token_registry(tokens: &TokenServer) -> Registry {
    Registry::start_with(&format!(
        "auth:\n  token:\n    realm: http://127.0.0.1:{}/token\n    service: berth-test\n    issuer: berth-issuer\n    rootcertbundle: {}\n",
        tokens.port,
        tokens.cert.display()
    ))
}

#[test]
fn registry_token_auth() {
    let tokens = token_server();
    let reg = token_registry(&tokens);
    let a = Env::new();
    let name = format!("{}/tok/bb:1", reg.addr);
    a.busybox(&name);
    // No credentials: the token service refuses, and the push says so.
    let e = fails(&a, &["push", &name], 1);
    assert!(e.stderr.contains("unauthorized"), "{}", e.stderr);
    let l = run_input(&a, &["login", "-u", "alice", "--password-stdin", &reg.addr], Some("s3cret\n"));
    assert_eq!(l.code, 0, "{}{}", l.stdout, l.stderr);
    ok(&a, &["push", &name]);
    let requests = tokens.requests.lock().unwrap().clone();
    assert!(
        requests.iter().any(|r| r.contains("service=berth-test")
            && r.contains("scope=repository:tok/bb:pull,push")
            && r.ends_with("authorized=true")),
        "{requests:#?}"
    );
    // Another store with the same credentials pulls with a pull-scoped token.
    let b = Env::new();
    std::fs::create_dir_all(b.path("docker-config")).unwrap();
    std::fs::copy(a.path("docker-config/config.json"), b.path("docker-config/config.json")).unwrap();
    ok(&b, &["pull", &name]);
    assert_eq!(image_id(&a, &name), image_id(&b, &name));
    let requests = tokens.requests.lock().unwrap().clone();
    assert!(requests.iter().any(|r| r.contains("scope=repository:tok/bb:pull ")), "{requests:#?}");
}

/// docker's `identitytoken` (an OAuth2 refresh token in `auths.<host>`): berth trades it for
/// an access token with a POSTed form, as docker does, and says so when it is refused.
#[test]
fn registry_identity_token() {
    let tokens = token_server();
    let reg = token_registry(&tokens);
    let a = Env::new();
    let name = format!("{}/oauth/bb:1", reg.addr);
    a.busybox(&name);
    let config = |token: &str| {
        std::fs::create_dir_all(a.path("docker-config")).unwrap();
        let json = serde_json::json!({"auths": {reg.addr.clone(): {"identitytoken": token}}});
        std::fs::write(a.path("docker-config/config.json"), json.to_string()).unwrap();
    };
    config(REFRESH_TOKEN);
    ok(&a, &["push", &name]);
    let requests = tokens.requests.lock().unwrap().clone();
    let post = requests.iter().find(|r| r.starts_with("POST ")).unwrap_or_else(|| panic!("no POST: {requests:#?}"));
    for field in [
        "grant_type=refresh_token",
        &format!("refresh_token={REFRESH_TOKEN}"),
        "client_id=berth",
        "service=berth-test",
        "scope=repository:oauth/bb:pull,push",
    ] {
        assert!(post.contains(field), "{field} missing: {post}");
    }
    assert!(post.ends_with("authorized=true"), "{post}");
    assert!(!requests.iter().any(|r| !r.starts_with("POST ") && r.ends_with("authorized=true")), "{requests:#?}");
    let b = Env::new();
    std::fs::create_dir_all(b.path("docker-config")).unwrap();
    std::fs::copy(a.path("docker-config/config.json"), b.path("docker-config/config.json")).unwrap();
    ok(&b, &["pull", &name]);
    assert_eq!(image_id(&a, &name), image_id(&b, &name));

    // A refresh token the service does not know: the OAuth2 error, in one line.
    config("stale-token");
    let e = fails(&a, &["pull", &name], 1);
    assert!(
        e.stderr.contains("unauthorized") && e.stderr.contains("invalid_grant: unknown refresh token"),
        "{}",
        e.stderr
    );
}

fn run_env(env: &Env, args: &[&str], input: Option<&str>, vars: &[(&str, String)]) -> Run {
    let mut cmd = berth(env, args);
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd.stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("run berth");
    if let Some(text) = input {
        child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn registry_credential_helper() {
    require("htpasswd");
    let dir = tempfile::tempdir().unwrap();
    let htpasswd = dir.path().join("htpasswd");
    sh(&format!("htpasswd -Bbc {} alice s3cret 2>/dev/null", htpasswd.display()));
    let reg =
        Registry::start_with(&format!("auth:\n  htpasswd:\n    realm: berth-test\n    path: {}\n", htpasswd.display()));
    // A helper in docker's protocol that keeps one credential in a file.
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let stored = dir.path().join("stored.json");
    let helper = bin.join("docker-credential-berthtest");
    std::fs::write(
        &helper,
        format!(
            "#!/bin/sh\ncase \"$1\" in\n  store) cat > {s} ;;\n  get) cat >/dev/null; [ -f {s} ] && cat {s} || {{ echo 'credentials not found in native keychain'; exit 1; }} ;;\n  erase) cat >/dev/null; rm -f {s} ;;\nesac\n",
            s = stored.display()
        ),
    )
    .unwrap();
    sh(&format!("chmod +x {}", helper.display()));
    let path = vec![("PATH", format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default()))];

    let a = Env::new();
    std::fs::create_dir_all(a.path("docker-config")).unwrap();
    std::fs::write(a.path("docker-config/config.json"), r#"{"credsStore":"berthtest"}"#).unwrap();
    let name = format!("{}/helped:1", reg.addr);
    a.busybox(&name);
    let l = run_env(&a, &["login", "-u", "alice", "--password-stdin", &reg.addr], Some("s3cret"), &path);
    assert_eq!(l.code, 0, "{}{}", l.stdout, l.stderr);
    assert!(!l.stderr.contains("unencrypted"), "{}", l.stderr);
    let kept: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&stored).unwrap()).unwrap();
    assert_eq!(kept["Username"], "alice");
    assert_eq!(kept["Secret"], "s3cret");
    assert_eq!(kept["ServerURL"], reg.addr);
    let config = std::fs::read_to_string(a.path("docker-config/config.json")).unwrap();
    assert!(!config.contains("s3cret") && !config.contains("YWxpY2U6czNjcmV0"), "{config}");
    let p = run_env(&a, &["push", &name], None, &path);
    assert_eq!(p.code, 0, "{}{}", p.stdout, p.stderr);
    let o = run_env(&a, &["logout", &reg.addr], None, &path);
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    assert!(!stored.exists());
}

#[test]
fn registry_over_tls() {
    require("openssl");
    let dir = tempfile::tempdir().unwrap();
    let (key, cert) = (dir.path().join("key.pem"), dir.path().join("cert.pem"));
    sh(&format!(
        "openssl req -x509 -newkey rsa:2048 -nodes -keyout {} -out {} -days 1 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 2>/dev/null",
        key.display(),
        cert.display()
    ));
    let reg =
        Registry::start_with(&format!("  tls:\n    certificate: {}\n    key: {}\n", cert.display(), key.display()));
    // 127.0.0.1 is an insecure registry (as Docker's 127.0.0.0/8): HTTPS without verification.
    let a = Env::new();
    let name = format!("{}/tls:1", reg.addr);
    a.busybox(&name);
    ok(&a, &["push", &name]);
    let b = Env::new();
    ok(&b, &["pull", &name]);
    assert_eq!(image_id(&a, &name), image_id(&b, &name));
    assert!(!reg.log().contains("HTTP request to an HTTPS server"), "{}", reg.log());
}

#[test]
fn registry_all_tags() {
    let reg = Registry::start();
    let a = Env::new();
    let repo = format!("{}/many", reg.addr);
    a.busybox(&format!("{repo}:1"));
    ok(&a, &["tag", &format!("{repo}:1"), &format!("{repo}:2")]);
    let e = fails(&a, &["push", "-a", &format!("{repo}:1")], 1);
    assert!(e.stderr.contains("tag can't be used with --all-tags/-a"), "{}", e.stderr);
    let pushed = ok(&a, &["push", "-a", &repo]);
    assert!(pushed.stdout.contains("1: digest:") && pushed.stdout.contains("2: digest:"), "{}", pushed.stdout);
    let b = Env::new();
    ok(&b, &["pull", "-a", &repo]);
    let tags = ok(&b, &["images", "--format", "{{.Tag}}"]).stdout;
    let mut tags: Vec<&str> = tags.lines().collect();
    tags.sort();
    assert_eq!(tags, ["1", "2"]);
}

/// A one-trick HTTP server: answers every request with `answer(head)` and records each
/// request head (lowercased).
fn stub_server(
    answer: impl Fn(&str) -> String + Send + 'static,
) -> (u16, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = seen.clone();
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n")
                && head.first() != Some(&0x16)
                && conn.read(&mut byte).is_ok_and(|n| n == 1)
            {
                head.push(byte[0]);
            }
            if head.first() == Some(&0x16) {
                // A TLS handshake (berth tries HTTPS first): not spoken here.
                continue;
            }
            let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
            record.lock().unwrap().push(head.clone());
            let _ = conn.write_all(answer(&head).as_bytes());
        }
    });
    (port, seen)
}

#[test]
fn registry_credentials_stay_with_their_host() {
    // "elsewhere" records what it gets; the registry wants basic auth, then redirects the
    // manifest there (as registries redirect blobs to storage).
    let (other, other_seen) =
        stub_server(|_| "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_string());
    let (port, seen) = stub_server(move |head| {
        if !head.contains("authorization: basic ") {
            "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"x\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_string()
        } else {
            format!("HTTP/1.1 307 Temporary Redirect\r\nLocation: http://127.0.0.1:{other}/elsewhere\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        }
    });
    let a = Env::new();
    std::fs::create_dir_all(a.path("docker-config")).unwrap();
    std::fs::write(
        a.path("docker-config/config.json"),
        format!(r#"{{"auths":{{"127.0.0.1:{port}":{{"auth":"YWxpY2U6czNjcmV0"}}}}}}"#),
    )
    .unwrap();
    let e = fails(&a, &["pull", &format!("127.0.0.1:{port}/r:1")], 1);
    assert!(e.stderr.contains("not found"), "{}", e.stderr);
    assert!(seen.lock().unwrap().iter().any(|h| h.contains("authorization: basic ywxpy2u6cznjcmv0")));
    let other_seen = other_seen.lock().unwrap().clone();
    assert!(!other_seen.is_empty(), "the redirect was not followed");
    assert!(other_seen.iter().all(|h| !h.contains("authorization")), "{other_seen:#?}");
}

#[test]
fn registry_build_and_compose_pull_missing_base_images() {
    let reg = Registry::start();
    let a = Env::new();
    let name = format!("{}/base:1", reg.addr);
    a.busybox(&name);
    ok(&a, &["push", &name]);
    // `build` pulls a FROM image it does not have.
    let b = Env::new();
    let dir = b.path("ctx");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("Dockerfile"), format!("FROM {name}\nRUN echo built > /f\nCMD [\"cat\", \"/f\"]\n"))
        .unwrap();
    ok(&b, &["build", "-q", "-t", "child:1", dir.to_str().unwrap()]);
    assert_eq!(ok(&b, &["run", "--rm", "child:1"]).stdout, "built\n");
    // `compose up` pulls a service's missing image; `compose pull` fetches it again.
    let c = Env::new();
    let proj = c.path("proj");
    std::fs::create_dir_all(&proj).unwrap();
    std::fs::write(
        proj.join("compose.yaml"),
        format!("services:\n  app:\n    image: {name}\n    command: [\"echo\", \"pulled\"]\n"),
    )
    .unwrap();
    let up = c.compose(&proj, &["up"]);
    assert_eq!(up.code, 0, "{}{}", up.stdout, up.stderr);
    assert!(up.stdout.contains("app-1  | pulled"), "{}", up.stdout);
    let pull = c.compose(&proj, &["pull"]);
    assert_eq!(pull.code, 0, "{}", pull.stderr);
    assert!(pull.stderr.contains(&format!(" Image {name}  Pulled")), "{}", pull.stderr);
    c.compose(&proj, &["down"]);
}

/// TLS verified against a CA: a registry on this machine's own (non-loopback) address is not
/// an insecure one, so its certificate must chain to the system's roots or to a CA in the
/// certs.d directory for that host (Docker's /etc/docker/certs.d; here the test's own, through
/// BERTH_CERTS_D).
#[test]
fn registry_tls_verified_with_a_certs_d_ca() {
    require("openssl");
    let host = sh("ip -4 -o addr show scope global | awk '{print $4}' | cut -d/ -f1 | head -1").trim().to_string();
    assert!(!host.is_empty(), "no global IPv4 address on this machine");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    // A CA, and a server certificate it signed for the host's address.
    sh(&format!(
        "cd {d} && openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 1 -subj /CN=berth-test-ca 2>/dev/null \
         && openssl req -newkey rsa:2048 -nodes -keyout key.pem -out req.csr -subj /CN={host} 2>/dev/null \
         && printf 'subjectAltName=IP:{host}\\n' > ext.cnf \
         && openssl x509 -req -in req.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out cert.pem -days 1 -extfile ext.cnf 2>/dev/null"
    ));
    let reg = Registry::start_on(&host, &format!("  tls:\n    certificate: {d}/cert.pem\n    key: {d}/key.pem\n"));
    let name = format!("{}/verified:1", reg.addr);
    let certs = dir.path().join("certs.d");
    let with_certs = |env: &Env, args: &[&str]| {
        let out = env.cmd(args).env("BERTH_CERTS_D", &certs).output().unwrap();
        (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let a = Env::new();
    a.busybox(&name);
    // No CA for it yet: the certificate is refused, naming the host.
    let (code, err) = with_certs(&a, &["push", &name]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains(&host) && err.to_lowercase().contains("certificate"), "{err}");
    // With the CA in certs.d/<host:port>/ca.crt: push and pull work.
    std::fs::create_dir_all(certs.join(&reg.addr)).unwrap();
    std::fs::copy(dir.path().join("ca.crt"), certs.join(&reg.addr).join("ca.crt")).unwrap();
    let (code, err) = with_certs(&a, &["push", &name]);
    assert_eq!(code, 0, "{err}");
    let b = Env::new();
    let (code, err) = with_certs(&b, &["pull", &name]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(image_id(&a, &name), image_id(&b, &name));
}

/// Other tools read what berth pushes, and berth pulls what they push.
#[test]
fn registry_round_trips_with_skopeo() {
    require("skopeo");
    let reg = Registry::start();
    let a = Env::new();
    let name = format!("{}/mine:1", reg.addr);
    a.busybox(&name);
    ok(&a, &["push", &name]);
    let inspect = sh(&format!("skopeo inspect --tls-verify=false docker://{name}"));
    assert!(inspect.contains("\"Digest\": \"sha256:"), "{inspect}");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    sh(&format!("skopeo copy -q --src-tls-verify=false docker://{name} oci:{d}/copied:1"));
    assert!(std::path::Path::new(&format!("{d}/copied/index.json")).exists());
    // An OCI layout made by another tool (berth save's, unpacked), pushed by skopeo, pulled and run by berth.
    ok(&a, &["save", "-o", &format!("{d}/saved.tar"), &name]);
    sh(&format!("mkdir {d}/layout && tar -C {d}/layout -xf {d}/saved.tar"));
    let theirs = format!("{}/theirs:1", reg.addr);
    sh(&format!("skopeo copy -q --dest-tls-verify=false oci:{d}/layout docker://{theirs}"));
    let b = Env::new();
    ok(&b, &["pull", &theirs]);
    assert_eq!(ok(&b, &["run", "--rm", &theirs, "echo", "from skopeo"]).stdout, "from skopeo\n");
}

/// A config whose diff ID does not match its (compressed) layer: the pull, which unpacks the
/// layer as it streams in, refuses it, and neither the layer nor its half-unpacked directory
/// stays.
#[test]
fn registry_pull_checks_diff_ids() {
    require("skopeo");
    let reg = Registry::start();
    let a = Env::new();
    let mut layout = Layout::new(a.path("layout"));
    let tar = layer_tar(&[("hello", &noise(300_000, 3))]);
    // OCI media types: skopeo's OCI layouts list no others.
    let honest = layout.image("amd64", &[tar], Kind::Zstd);
    let read = |digest: &str| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(layout.dir.join("blobs/sha256").join(&digest[7..])).unwrap()).unwrap()
    };
    let mut manifest = read(honest["digest"].as_str().unwrap());
    let mut config = read(manifest["config"]["digest"].as_str().unwrap());
    config["rootfs"]["diff_ids"][0] = sha256(b"some other layer").into();
    let (cd, cs) = layout.blob(config.to_string().as_bytes());
    manifest["config"]["digest"] = cd.into();
    manifest["config"]["size"] = cs.into();
    let (md, ms) = layout.blob(manifest.to_string().as_bytes());
    let name = format!("{}/lying:1", reg.addr);
    layout.add(serde_json::json!({"mediaType": manifest["mediaType"], "digest": md, "size": ms}), "1", &name);
    layout.finish();
    sh(&format!("skopeo copy -q --dest-tls-verify=false oci:{}:1 docker://{name}", layout.dir.display()));

    let b = Env::new();
    let e = fails(&b, &["pull", &name], 1);
    let blob = manifest["layers"][0]["digest"].as_str().unwrap();
    assert!(e.stderr.contains(&format!("layer {blob}")) && e.stderr.contains("digest mismatch"), "{}", e.stderr);
    assert_eq!(ok(&b, &["images", "-q"]).stdout, "", "a refused pull left an image");
    let left = |dir: &str| std::fs::read_dir(b.root().join(dir)).unwrap().count();
    assert_eq!(left("tmp"), 0, "a refused pull left temporary files");
    assert_eq!(left("layers"), 0, "a refused layer landed");
}

//! Image commands through the binary: import, images, tag, inspect, history, save, rmi, load,
//! prune, filters and formats; archives made by other tools; berth archives read by podman.

use crate::common::{busybox_tar, require, sh, Env};

#[test]
fn import_tag_inspect_history_save_rmi_load_round_trip() {
    let env = Env::new();
    let tar = busybox_tar().to_str().unwrap();
    let id = env
        .ok(&[
            "import",
            "-c",
            "CMD [\"sh\"]",
            "-c",
            "ENV A=1",
            "-c",
            "WORKDIR /srv",
            "-c",
            "EXPOSE 8080",
            "-c",
            "LABEL team=core",
            "-c",
            "USER nobody",
            "-m",
            "first",
            tar,
            "bb:1",
        ])
        .stdout
        .trim()
        .to_string();
    assert!(id.starts_with("sha256:") && id.len() == 71, "import prints the full image ID: {id}");
    let short = &id[7..19];

    let images = env.ok(&["images"]).stdout;
    let lines: Vec<&str> = images.lines().collect();
    assert!(lines[0].starts_with("REPOSITORY   TAG       IMAGE ID       CREATED"), "{images}");
    assert!(lines[1].starts_with(&format!("bb           1         {short}")), "{images}");
    assert!(lines[1].ends_with("MB"), "size column: {images}");

    env.ok(&["tag", "bb:1", "example.com:5000/team/bb:2"]);
    env.ok(&["tag", short, "bb"]);
    let q = env.ok(&["images", "-q"]).stdout;
    assert_eq!(q.lines().collect::<Vec<_>>(), vec![short; 3], "one ID per tag");

    let inspect: serde_json::Value = serde_json::from_str(&env.ok(&["inspect", "bb:1"]).stdout).unwrap();
    let image = &inspect[0];
    assert_eq!(image["Id"], id.as_str());
    let mut tags: Vec<String> =
        image["RepoTags"].as_array().unwrap().iter().map(|t| t.as_str().unwrap().to_string()).collect();
    tags.sort();
    assert_eq!(tags, ["bb:1", "bb:latest", "example.com:5000/team/bb:2"]);
    assert_eq!(image["Config"]["Cmd"], serde_json::json!(["sh"]));
    assert_eq!(image["Config"]["Env"], serde_json::json!(["A=1"]));
    assert_eq!(image["Config"]["WorkingDir"], "/srv");
    assert_eq!(image["Config"]["User"], "nobody");
    assert_eq!(image["Config"]["Labels"]["team"], "core");
    assert!(image["Config"]["ExposedPorts"]["8080/tcp"].is_object());
    assert_eq!(image["Comment"], "first");
    assert_eq!(image["RootFS"]["Type"], "layers");
    assert_eq!(image["RootFS"]["Layers"].as_array().unwrap().len(), 1);
    assert_eq!(image["Os"], "linux");
    assert_eq!(
        env.ok(&["inspect", "-f", "{{.Config.WorkingDir}} {{index .Config.Labels \"team\"}}", short]).stdout,
        "/srv core\n"
    );
    assert_eq!(env.ok(&["image", "inspect", "--format", "{{json .Config.Cmd}}", "bb"]).stdout, "[\"sh\"]\n");

    let history = env.ok(&["history", "bb:1"]).stdout;
    assert!(history.starts_with("IMAGE          CREATED"), "{history}");
    assert!(history.lines().nth(1).unwrap().starts_with(short) && history.contains("first"), "{history}");
    assert_eq!(env.ok(&["history", "-q", "--no-trunc", "bb:1"]).stdout.trim(), id);

    let archive = env.path("two.tar");
    env.ok(&["save", "-o", archive.to_str().unwrap(), "bb:1", "example.com:5000/team/bb:2"]);
    let listing = sh(&format!("tar -tf {}", archive.display()));
    for entry in ["manifest.json", "index.json", "oci-layout"] {
        assert!(listing.lines().any(|l| l == entry), "{entry} in {listing}");
    }

    // Untag while other names remain, then delete with the last one.
    assert_eq!(env.ok(&["rmi", "bb:latest"]).stdout, "Untagged: bb:latest\n");
    let conflict = env.fails(&["rmi", short], 125);
    assert!(
        conflict.contains(&format!(
            "conflict: unable to delete {short} (must be forced) - image is referenced in multiple repositories"
        )),
        "{conflict}"
    );
    let removed = env.ok(&["rmi", "-f", short]).stdout;
    assert!(
        removed.contains("Untagged: bb:1")
            && removed.contains("Untagged: example.com:5000/team/bb:2")
            && removed.contains(&format!("Deleted: {id}")),
        "{removed}"
    );
    assert_eq!(env.ok(&["images", "-q"]).stdout, "");
    env.assert_store_clean();
    assert_eq!(std::fs::read_dir(env.root().join("blobs/sha256")).unwrap().count(), 0, "no blob outlives its image");

    let loaded = env.ok(&["load", "-i", archive.to_str().unwrap()]).stdout;
    assert_eq!(loaded, "Loaded image: bb:1\nLoaded image: example.com:5000/team/bb:2\n");
    assert_eq!(
        env.ok(&["inspect", "-f", "{{.Id}}", "bb:1"]).stdout.trim(),
        id,
        "the same image ID after the round trip"
    );
    // From stdin too, into a fresh root: same ID.
    let other = Env::new();
    let out = other.cmd(&["load"]).stdin(std::fs::File::open(&archive).unwrap()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(other.ok(&["images", "-q", "--no-trunc"]).stdout.lines().next().unwrap(), id);
    env.assert_store_clean();
}

#[test]
fn errors_name_the_problem_and_exit_125() {
    let env = Env::new();
    let err = env.fails(&["inspect", "nope"], 1);
    assert!(err.contains("No such object: nope"), "{err}");
    let err = env.fails(&["rmi", "nope"], 125);
    assert!(err.contains("No such image: nope:latest"), "{err}");
    let err = env.fails(&["tag", "nope", "x"], 125);
    assert!(err.contains("No such image: nope:latest"), "{err}");
    env.busybox("bb");
    let err = env.fails(&["tag", "bb", "Bad:Name"], 125);
    assert!(err.contains("invalid reference format"), "{err}");
    let err = env.fails(&["import", "-c", "RUN echo", busybox_tar().to_str().unwrap()], 125);
    assert!(err.contains("RUN is not a valid change command"), "{err}");
    let err = env.fails(&["load", "-i", "/nonexistent.tar"], 125);
    assert!(err.contains("/nonexistent.tar"), "{err}");
    let err = env.fails(&["images", "--bogus"], 125);
    assert!(err.contains("--bogus"), "{err}");
    std::fs::write(env.path("daemon.json"), "{\n  \"registry-mirrors\": [],\n  \"storage-driver\": \"vfs\"\n}")
        .unwrap();
    let err = env.fails(&["images"], 125);
    assert!(err.contains("daemon.json: line 3: unknown field `storage-driver`"), "{err}");
}

#[test]
fn filters_and_formats() {
    let env = Env::new();
    let tar = busybox_tar().to_str().unwrap();
    env.ok(&["import", tar, "old:1"]);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    env.ok(&["import", "-c", "LABEL tier=web", "-c", "CMD [\"true\"]", tar, "web:1"]);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let dangling = env.ok(&["import", "-c", "CMD [\"false\"]", tar]).stdout.trim().to_string();

    let names = |args: &[&str]| -> Vec<String> {
        let mut all = vec!["images", "--format", "{{.Repository}}:{{.Tag}}"];
        all.extend_from_slice(args);
        env.ok(&all).stdout.lines().map(str::to_string).collect()
    };
    assert_eq!(names(&[]), ["<none>:<none>", "web:1", "old:1"], "newest first, dangling shown");
    assert_eq!(names(&["-f", "dangling=true"]), ["<none>:<none>"]);
    assert_eq!(names(&["-f", "dangling=false"]), ["web:1", "old:1"]);
    assert_eq!(names(&["-f", "label=tier"]), ["web:1"]);
    assert_eq!(names(&["-f", "label=tier=db"]), Vec::<String>::new());
    assert_eq!(names(&["-f", "before=web:1"]), ["old:1"]);
    assert_eq!(names(&["-f", "since=old:1", "-f", "dangling=false"]), ["web:1"]);
    assert_eq!(names(&["web"]), ["web:1"]);
    assert_eq!(names(&["web:2"]), Vec::<String>::new());
    assert_eq!(names(&["-f", "reference=o*"]), ["old:1"]);

    let json = env.ok(&["images", "--format", "json", "web"]).stdout;
    let row: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(row["Repository"], "web");
    assert_eq!(row["Tag"], "1");
    assert_eq!(row["ID"].as_str().unwrap().len(), 12);
    let table = env.ok(&["images", "--format", "table {{.Repository}}\\t{{.ID}}", "old"]).stdout;
    assert!(table.starts_with("REPOSITORY   IMAGE ID\nold          "), "{table}");
    let full = env.ok(&["images", "--no-trunc", "-q", "-f", "dangling=true"]).stdout;
    assert_eq!(full.trim(), dangling);
    let digests = env.ok(&["images", "--digests", "old"]).stdout;
    assert!(digests.starts_with("REPOSITORY   TAG       DIGEST    IMAGE ID"), "{digests}");

    // prune: dangling only, then everything unused with -a.
    let pruned = env.ok(&["image", "prune", "-f"]).stdout;
    assert!(pruned.contains(&format!("Deleted: {dangling}")) && pruned.contains("Total reclaimed space:"), "{pruned}");
    assert_eq!(names(&[]), ["web:1", "old:1"]);
    let pruned = env.ok(&["image", "prune", "-a", "-f", "--filter", "label=tier=web"]).stdout;
    assert!(pruned.contains("Untagged: web:1"), "{pruned}");
    assert_eq!(names(&[]), ["old:1"]);
    env.assert_store_clean();
}

#[test]
fn compressed_tarballs_and_stdin_import() {
    let env = Env::new();
    let tar = busybox_tar();
    let plain = env.busybox("plain");
    for (tool, name) in [("gzip", "gz"), ("zstd", "zst"), ("bzip2", "bz2"), ("xz", "xz")] {
        crate::common::require(tool);
        let file = env.path(&format!("rootfs.tar.{name}"));
        sh(&format!("{tool} -c {} > {}", tar.display(), file.display()));
        let out = env
            .cmd(&["import", "-c", "CMD [\"sh\"]", "-", &format!("from:{name}")])
            .stdin(std::fs::File::open(&file).unwrap())
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let layers = |n: &str| env.ok(&["inspect", "-f", "{{json .RootFS.Layers}}", n]).stdout;
        assert_eq!(layers(&format!("from:{name}")), layers("plain"), "the layer is stored uncompressed: same diff ID");
    }
    assert!(plain.starts_with("sha256:"));
    let history = env.ok(&["history", "--format", "{{.Comment}}", "from:gz"]).stdout;
    assert_eq!(history, "Imported from -\n");
}

#[test]
fn loads_a_legacy_docker_save_archive() {
    // The layout of `docker save` before Docker 25: <id>/layer.tar, <id>.json, manifest.json,
    // and a repeated layer stored once with a symlink.
    let env = Env::new();
    let dir = env.path("legacy");
    std::fs::create_dir_all(dir.join("aaa")).unwrap();
    std::fs::create_dir_all(dir.join("bbb")).unwrap();
    std::fs::copy(busybox_tar(), dir.join("aaa/layer.tar")).unwrap();
    sh(&format!("mkdir -p {d}/extra/etc && echo hi > {d}/extra/etc/motd && tar -C {d}/extra -cf {d}/bbb/layer.tar . && rm -r {d}/extra", d = dir.display()));
    std::os::unix::fs::symlink("../aaa/layer.tar", dir.join("ccc")).unwrap();
    let digest = |p: &str| {
        format!("sha256:{}", sh(&format!("sha256sum {}/{p}", dir.display())).split_whitespace().next().unwrap())
    };
    let (a, b) = (digest("aaa/layer.tar"), digest("bbb/layer.tar"));
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux", "created": "2024-01-02T03:04:05Z",
        "config": {"Cmd": ["cat", "/etc/motd"]},
        "rootfs": {"type": "layers", "diff_ids": [a, b, a]},
        "history": [{"created": "2024-01-02T03:04:05Z", "created_by": "ADD rootfs"}, {"created_by": "ADD motd"}, {"created_by": "ADD rootfs again"}]
    });
    let config_bytes = serde_json::to_vec(&config).unwrap();
    let config_hex = sh(&format!("printf '%s' '{}' | sha256sum", String::from_utf8_lossy(&config_bytes)))
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    std::fs::write(dir.join(format!("{config_hex}.json")), &config_bytes).unwrap();
    let manifest = serde_json::json!([{"Config": format!("{config_hex}.json"), "RepoTags": ["legacy/app:v1"], "Layers": ["aaa/layer.tar", "bbb/layer.tar", "ccc"]}]);
    std::fs::write(dir.join("manifest.json"), serde_json::to_vec(&manifest).unwrap()).unwrap();
    std::fs::write(dir.join("repositories"), "{}").unwrap();
    let archive = env.path("legacy.tar");
    sh(&format!("tar -C {} -cf {} .", dir.display(), archive.display()));

    assert_eq!(env.ok(&["load", "-i", archive.to_str().unwrap()]).stdout, "Loaded image: legacy/app:v1\n");
    assert_eq!(env.ok(&["inspect", "-f", "{{.Id}}", "legacy/app:v1"]).stdout.trim(), format!("sha256:{config_hex}"));
    let history = env.ok(&["history", "--format", "{{.CreatedBy}}|{{.Size}}", "legacy/app:v1"]).stdout;
    assert_eq!(
        history.lines().collect::<Vec<_>>(),
        ["ADD rootfs again|1.98MB", "ADD motd|3B", "ADD rootfs|1.98MB"].map(|s| s.replace("1.98MB", &busybox_size()))
    );
    env.assert_store_clean();
}

fn busybox_size() -> String {
    // The size column of the busybox layer, as this machine's busybox makes it.
    let env = Env::new();
    env.busybox("bb");
    env.ok(&["images", "--format", "{{.Size}}", "bb"]).stdout.trim().to_string()
}

#[test]
fn loads_an_oci_layout_made_by_skopeo() {
    require("skopeo");
    let env = Env::new();
    env.busybox("bb:1");
    let id = env.ok(&["inspect", "-f", "{{.Id}}", "bb:1"]).stdout.trim().to_string();
    let saved = env.path("saved.tar");
    env.ok(&["save", "-o", saved.to_str().unwrap(), "bb:1"]);
    // skopeo reads berth's docker-archive and writes an OCI layout archive, gzipping the layer.
    let oci = env.path("oci.tar");
    sh(&format!(
        "skopeo copy --quiet docker-archive:{} oci-archive:{}:example.com/skopeo/bb:2",
        saved.display(),
        oci.display()
    ));
    let fresh = Env::new();
    let out = fresh.ok(&["load", "-i", oci.to_str().unwrap()]).stdout;
    assert_eq!(out, "Loaded image: example.com/skopeo/bb:2\n");
    // skopeo re-serializes the config while converting (it drops Docker's top-level `comment`),
    // so the ID may change; the layers and the runtime config must not.
    let what = "{{json .RootFS.Layers}} {{json .Config.Cmd}} {{.Created}}";
    assert_eq!(
        fresh.ok(&["inspect", "-f", what, "example.com/skopeo/bb:2"]).stdout,
        env.ok(&["inspect", "-f", what, "bb:1"]).stdout
    );
    fresh.assert_store_clean();
    // And an OCI layout directory, tarred, named only by its ref tag: loaded without a name.
    let layout = env.path("layout");
    sh(&format!(
        "skopeo copy --quiet docker-archive:{} oci:{}:v1 && tar -C {} -cf {}/layout.tar .",
        saved.display(),
        layout.display(),
        layout.display(),
        env.dir.path().display()
    ));
    let other = Env::new();
    let out = other.ok(&["load", "-i", env.path("layout.tar").to_str().unwrap()]).stdout;
    assert!(out.starts_with("Loaded image ID: sha256:"), "{out}");
    assert_eq!(other.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]).stdout, "<none>:<none>\n");
    assert!(id.starts_with("sha256:"));
}

#[test]
fn podman_loads_what_berth_saves() {
    require("podman");
    let env = Env::new();
    env.busybox("bb:1");
    env.ok(&["tag", "bb:1", "localhost/extra:2"]);
    let layers = env.ok(&["inspect", "-f", "{{json .RootFS.Layers}}", "bb:1"]).stdout;
    let saved = env.path("saved.tar");
    env.ok(&["save", "-o", saved.to_str().unwrap(), "bb:1", "localhost/extra:2"]);
    let podman = format!(
        "podman --root {d}/podman --runroot {d}/podman-run --storage-driver vfs --cgroup-manager cgroupfs --events-backend none",
        d = env.dir.path().display()
    );
    let out = sh(&format!("{podman} load -i {}", saved.display()));
    // podman names a short docker-archive tag `localhost/...`, for Docker's archives too.
    assert!(out.contains("Loaded image: localhost/bb:1") && out.contains("localhost/extra:2"), "{out}");
    let podman_layers = sh(&format!("{podman} image inspect --format '{{{{json .RootFS.Layers}}}}' localhost/bb:1"));
    assert_eq!(podman_layers.trim(), layers.trim(), "podman lists the same layers");
    let _ = sh(&format!("{podman} rmi -a -f >/dev/null 2>&1; true"));
}

//! The store under attack and under kill -9: hostile layers are refused, name the entry and
//! leave nothing; interrupted loads leave only garbage that `system check` reclaims.

use std::process::Stdio;
use std::time::Duration;

use crate::common::{busybox_tar, sh, Env};

/// One tar entry, with its name and link target written raw (the tar crate refuses `..`).
enum Item<'a> {
    File(&'a str, &'a [u8]),
    Symlink(&'a str, &'a str),
    Hardlink(&'a str, &'a str),
}

fn raw_tar(items: &[Item]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for item in items {
        let mut header = tar::Header::new_gnu();
        let (name, link, kind, data): (&str, Option<&str>, tar::EntryType, &[u8]) = match item {
            Item::File(n, d) => (n, None, tar::EntryType::Regular, d),
            Item::Symlink(n, t) => (n, Some(t), tar::EntryType::Symlink, b""),
            Item::Hardlink(n, t) => (n, Some(t), tar::EntryType::Link, b""),
        };
        header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        if let Some(link) = link {
            header.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
        }
        header.set_entry_type(kind);
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        header.set_cksum();
        builder.append(&header, data).unwrap();
    }
    builder.into_inner().unwrap()
}

/// A docker-save archive holding one image with `layer` as its only layer.
fn archive_with_layer(layer: &[u8]) -> Vec<u8> {
    use sha2::Digest as _;
    let diff_id = format!("sha256:{}", hex::encode(sha2::Sha256::digest(layer)));
    let config = serde_json::to_vec(&serde_json::json!({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [diff_id]}})).unwrap();
    let manifest = serde_json::to_vec(
        &serde_json::json!([{"Config": "config.json", "RepoTags": ["hostile:1"], "Layers": ["layer.tar"]}]),
    )
    .unwrap();
    let mut builder = tar::Builder::new(Vec::new());
    for (name, data) in [("layer.tar", layer), ("config.json", &config[..]), ("manifest.json", &manifest[..])] {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append_data(&mut header, name, data).unwrap();
    }
    builder.into_inner().unwrap()
}

/// Every file under the state root that is data (not the database or the lock).
fn stored_files(env: &Env) -> String {
    sh(&format!("cd {} && find blobs layers tmp -mindepth 1 | sort", env.root().display()))
}

#[test]
fn hostile_layers_are_refused_and_leave_nothing() {
    let passwd_before = std::fs::read("/etc/passwd").unwrap();
    let cases: Vec<(&str, Vec<Item>, &str)> = vec![
        ("parent path", vec![Item::File("../escaped", b"x")], "../escaped"),
        ("absolute path", vec![Item::File("/etc/berth-escaped", b"x")], "/etc/berth-escaped"),
        (
            "file through symlink",
            vec![Item::Symlink("link", "/etc"), Item::File("link/passwd", b"owned")],
            "link/passwd",
        ),
        (
            "file through relative symlink",
            vec![Item::Symlink("up", "../../../../../.."), Item::File("up/tmp/berth-escaped", b"x")],
            "up/tmp/berth-escaped",
        ),
        ("hardlink to /etc/passwd", vec![Item::Hardlink("pw", "/etc/passwd")], "pw"),
        ("hardlink outside", vec![Item::Hardlink("pw", "../../../../etc/passwd")], "pw"),
        ("whiteout outside", vec![Item::File("../.wh.victim", b"")], "../.wh.victim"),
    ];
    for (what, items, entry) in cases {
        let env = Env::new();
        let layer = raw_tar(&items);
        // Through import...
        let path = env.path("hostile.tar");
        std::fs::write(&path, &layer).unwrap();
        env.ok(&["images"]); // the state root exists before the attempt
        let before = stored_files(&env);
        let err = env.fails(&["import", path.to_str().unwrap(), "hostile:1"], 125);
        assert!(err.contains(&format!("layer entry {entry:?} refused")), "{what}: {err}");
        assert_eq!(err.lines().count(), 1, "{what}: one line: {err}");
        assert_eq!(stored_files(&env), before, "{what}: import left something in the store");
        // ...and through load.
        let archive = env.path("hostile-archive.tar");
        std::fs::write(&archive, archive_with_layer(&layer)).unwrap();
        let err = env.fails(&["load", "-i", archive.to_str().unwrap()], 125);
        assert!(err.contains(&format!("layer entry {entry:?} refused")), "{what}: {err}");
        assert_eq!(stored_files(&env), before, "{what}: load left something in the store");
        assert_eq!(env.ok(&["images", "-q"]).stdout, "");
        env.assert_store_clean();
    }
    assert_eq!(std::fs::read("/etc/passwd").unwrap(), passwd_before);
    for escaped in ["/etc/berth-escaped", "/tmp/berth-escaped"] {
        assert!(!std::path::Path::new(escaped).exists(), "{escaped} was written");
    }
}

#[test]
fn a_tampered_archive_blob_is_refused() {
    let env = Env::new();
    env.busybox("bb:1");
    let archive = env.path("saved.tar");
    env.ok(&["save", "-o", archive.to_str().unwrap(), "bb:1"]);
    let fresh = Env::new();
    // Flip one byte inside the layer blob (the first and largest file of the archive).
    let mut bytes = std::fs::read(&archive).unwrap();
    bytes[512 + 4096] ^= 0xff;
    std::fs::write(&archive, &bytes).unwrap();
    let err = fresh.fails(&["load", "-i", archive.to_str().unwrap()], 125);
    assert!(err.contains("digest mismatch"), "{err}");
    assert_eq!(fresh.ok(&["images", "-q"]).stdout, "");
    fresh.assert_store_clean();
}

#[test]
fn kill_9_during_load_leaves_a_store_that_check_repairs() {
    let env = Env::new();
    // A 64 MiB image: busybox plus a layer of random data.
    let data = env.path("data");
    sh(&format!(
        "mkdir -p {d}/blob && head -c 64M /dev/urandom > {d}/blob/random && tar -C {d} -cf {d}.tar blob && rm -r {d}",
        d = data.display()
    ));
    env.ok(&["import", data.with_extension("tar").to_str().unwrap(), "big:1"]);
    let archive = env.path("big-archive.tar");
    env.ok(&["save", "-o", archive.to_str().unwrap(), "big:1"]);
    let id = env.ok(&["inspect", "-f", "{{.Id}}", "big:1"]).stdout;

    let target = Env::new();
    for delay_ms in [5, 30, 80, 150, 250, 400, 700] {
        let mut child = target
            .cmd(&["load", "-i", archive.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        let check = target.run(&["system", "check"]);
        assert_eq!(check.code, 0, "after kill at {delay_ms} ms: {}{}", check.stdout, check.stderr);
        assert!(check.stdout.contains(" 0 errors"), "{}", check.stdout);
        target.assert_store_clean();
        // Whatever was committed is whole: a listed image inspects and its blobs verify.
        if !target.ok(&["images", "-q"]).stdout.is_empty() {
            assert_eq!(target.ok(&["inspect", "-f", "{{.Id}}", "big:1"]).stdout, id);
            target.ok(&["rmi", "big:1"]);
        }
    }
    assert_eq!(target.ok(&["load", "-i", archive.to_str().unwrap()]).stdout, "Loaded image: big:1\n");
    assert_eq!(target.ok(&["inspect", "-f", "{{.Id}}", "big:1"]).stdout, id);
    target.assert_store_clean();
    let _ = busybox_tar();
}

#[test]
fn a_container_row_or_directory_that_a_crash_left_alone_is_mended() {
    let env = Env::new();
    env.busybox("bb");
    // A `--rm` container's row is not synced: a crash can lose it and keep its directory. Such
    // a directory is made here by copying a created container's under an ID with no row.
    let id = env.ok(&["create", "--rm", "bb", "true"]).stdout.trim().to_string();
    let orphan = format!("{}{}", &id[..60], "beef");
    let containers = env.root().join("containers");
    sh(&format!("cp -a {0}/{id} {0}/{orphan}", containers.display()));
    let check = env.ok(&["system", "check", "--no-repair"]).stdout;
    assert!(check.contains(&format!("garbage found: directory of container {orphan}, which has no row")), "{check}");
    assert!(!check.contains(&format!("container {id},")), "{check}");
    let check = env.ok(&["system", "check"]).stdout;
    assert!(check.contains(&format!("garbage removed: directory of container {orphan}")), "{check}");
    assert!(!containers.join(&orphan).exists() && containers.join(&id).exists());

    // The other way round: a row whose directory is gone (a `--rm` container's unsynced
    // removal lost). Listings leave it out, `rm` removes it, and so would `system check`.
    sh(&format!("rm -rf {}/{id}", containers.display()));
    assert_eq!(env.ok(&["ps", "-aq"]).stdout, "");
    let check = env.ok(&["system", "check", "--no-repair"]).stdout;
    assert!(check.contains(&format!("garbage found: container {id}, which has no directory")), "{check}");
    env.ok(&["rm", &id]);
    env.assert_store_clean();
    let gone = env.ok(&["create", "--rm", "bb", "true"]).stdout.trim().to_string();
    sh(&format!("rm -rf {}/{gone}", containers.display()));
    let check = env.ok(&["system", "check"]).stdout;
    assert!(check.contains(&format!("garbage removed: container {gone}")), "{check}");
    assert!(env.fails(&["rm", &gone], 125).contains("No such container"));
    env.assert_store_clean();
}

//! `-u user[:group]` resolved as Docker resolves it: names from the container's own
//! /etc/passwd and /etc/group (read inside its root, never the host's), numbers as they are.

use std::io::Read;
use std::path::Path;

use rustix::fs::{openat2, Mode, OFlags, ResolveFlags};

/// The process identity: uid, gid and supplementary groups.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Identity {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    pub home: String,
}

/// Reads a file of the container's root filesystem, resolved inside it; "" when absent.
fn read_in_root(rootfs: &Path, path: &str) -> String {
    let Ok(root) = rustix::fs::open(rootfs, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty()) else {
        return String::new();
    };
    let flags = ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS;
    let Ok(fd) = openat2(&root, path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty(), flags) else {
        return String::new();
    };
    let mut text = String::new();
    // A hostile image could make this huge: a passwd file past 4 MiB is not read further.
    let _ = std::fs::File::from(fd).take(4 << 20).read_to_string(&mut text);
    text
}

/// Resolves `spec` (empty: root). Errors are Docker's messages.
pub fn resolve_user(rootfs: &Path, spec: &str) -> Result<Identity, String> {
    let passwd = read_in_root(rootfs, "/etc/passwd");
    let group = read_in_root(rootfs, "/etc/group");
    let (user, grp) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let user = if user.is_empty() { "0" } else { user };
    let entry = passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() >= 4 && (f[0] == user || f[2] == user));
    let (uid, mut gid, name, home) = match (&entry, user.parse::<u32>()) {
        (Some(f), _) => (
            f[2].parse::<u32>().map_err(|_| format!("invalid uid in passwd file for {user}"))?,
            f[3].parse::<u32>().unwrap_or(0),
            f[0].to_string(),
            f.get(5).map_or("/", |h| h).to_string(),
        ),
        (None, Ok(uid)) => (uid, 0, String::new(), "/".to_string()),
        (None, Err(_)) => return Err(format!("unable to find user {user}: no matching entries in passwd file")),
    };
    if let Some(g) = grp {
        gid = match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => group
                .lines()
                .map(|l| l.split(':').collect::<Vec<_>>())
                .find(|f| f.len() >= 3 && f[0] == g)
                .and_then(|f| f[2].parse().ok())
                .ok_or_else(|| format!("unable to find group {g}: no matching entries in group file"))?,
        };
    }
    // Supplementary groups: every group that lists the user by name.
    let additional_gids = if name.is_empty() {
        Vec::new()
    } else {
        group
            .lines()
            .map(|l| l.split(':').collect::<Vec<_>>())
            .filter(|f| f.len() >= 4 && f[3].split(',').any(|m| m == name))
            .filter_map(|f| f[2].parse::<u32>().ok())
            .filter(|g| *g != gid)
            .collect()
    };
    Ok(Identity { uid, gid, additional_gids, home })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_the_containers_files() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("etc")).unwrap();
        std::fs::write(
            root.path().join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(root.path().join("etc/group"), "root:x:0:\napp:x:1000:\nwheel:x:10:app,other\n").unwrap();
        let id = resolve_user(root.path(), "app").unwrap();
        assert_eq!((id.uid, id.gid, id.additional_gids, id.home.as_str()), (1000, 1000, vec![10], "/home/app"));
        assert_eq!(resolve_user(root.path(), "").unwrap().uid, 0);
        let id = resolve_user(root.path(), "1234:wheel").unwrap();
        assert_eq!((id.uid, id.gid), (1234, 10));
        assert_eq!(
            resolve_user(root.path(), "ghost").unwrap_err(),
            "unable to find user ghost: no matching entries in passwd file"
        );
        assert!(resolve_user(root.path(), "app:nogroup").is_err());
    }
}

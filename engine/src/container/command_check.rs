//! Finds the container's command in its root filesystem before starting it, so a missing or
//! non-executable command gets Docker's message and exit status (127, 126) from the CLI.

use std::path::Path;

use rustix::fs::{openat2, Mode, OFlags, ResolveFlags};

/// Why the command cannot run: (exit status, message).
pub type Refusal = (i32, String);

/// Resolves `command` as `execvp` would inside `rootfs` (with the container's PATH), every
/// lookup confined to the rootfs. A candidate under one of `mounted` (bind, volume and tmpfs
/// targets, not visible in the bare rootfs) is taken as found: the runtime has the last word.
pub fn check_command(
    rootfs: &Path,
    command: &str,
    env: &[String],
    workdir: &str,
    mounted: &[&str],
) -> Result<(), Refusal> {
    let root = rustix::fs::open(rootfs, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
        .map_err(|e| (126, format!("cannot open the container's root filesystem: {e}")))?;
    let candidates: Vec<String> = if command.contains('/') {
        if command.starts_with('/') {
            vec![command.to_string()]
        } else {
            vec![format!("{}/{command}", workdir.trim_end_matches('/'))]
        }
    } else {
        let path = env
            .iter()
            .find_map(|e| e.strip_prefix("PATH="))
            .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
        path.split(':').filter(|d| !d.is_empty()).map(|d| format!("{}/{command}", d.trim_end_matches('/'))).collect()
    };
    let under_mount = |c: &str| {
        mounted.iter().any(|m| {
            let m = m.trim_end_matches('/');
            c == m || c.starts_with(&format!("{m}/"))
        })
    };
    if candidates.iter().any(|c| under_mount(c)) {
        return Ok(());
    }
    let mut denied = None;
    for candidate in &candidates {
        let resolve = ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS;
        let Ok(fd) = openat2(&root, candidate.as_str(), OFlags::PATH | OFlags::CLOEXEC, Mode::empty(), resolve) else {
            continue;
        };
        match rustix::fs::fstat(&fd) {
            Ok(st)
                if rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::RegularFile
                    && st.st_mode & 0o111 != 0 =>
            {
                return Ok(())
            }
            _ => denied = Some(candidate.clone()),
        }
    }
    match denied {
        Some(_) => Err((126, format!("exec: \"{command}\": permission denied"))),
        None if command.contains('/') => {
            Err((127, format!("exec: \"{command}\": stat {command}: no such file or directory")))
        }
        None => Err((127, format!("exec: \"{command}\": executable file not found in $PATH"))),
    }
}

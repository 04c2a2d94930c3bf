//! The container's seccomp program, compiled ahead of the start and kept for the next one.
//!
//! libseccomp takes about 0.4 ms of CPU to compile Docker's default profile to BPF, and the
//! monitor's thread that does it (`Launcher::prepare`) is joined before the runtime clones. The
//! program depends on the profile alone, so it is kept in the run root, one file per profile
//! (`seccomp/<sha256 of berth's version and the profile>.bpf`), and the next start with the
//! same profile reads it instead. The init process loads whichever with one `seccomp()` call
//! (vendor/README.md).

use std::fs;
use std::path::Path;

use libcontainer::oci_spec::runtime::LinuxSeccomp;
use sha2::{Digest, Sha256};

/// Makes the program of `profile` (the spec's `linux.seccomp`) ready for the next start in
/// this process and its forks. Best effort: without it, the init process compiles the profile
/// itself.
pub fn prepare(dir: &Path, profile: serde_json::Value) {
    let text = profile.to_string();
    let Ok(parsed) = serde_json::from_str::<LinuxSeccomp>(&text) else { return };
    let key = Sha256::digest(format!("{}\n{text}", env!("CARGO_PKG_VERSION")));
    let path = dir.join(format!("{}.bpf", hex::encode(key)));
    if let Ok(program) = fs::read(&path) {
        libcontainer::seccomp::use_precompiled(&parsed, program);
        return;
    }
    if let Ok(Some(program)) = libcontainer::seccomp::precompile(&parsed) {
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let written = fs::create_dir_all(dir).and_then(|()| fs::write(&tmp, &program));
        if written.and_then(|()| fs::rename(&tmp, &path)).is_err() {
            let _ = fs::remove_file(&tmp);
        }
    }
}

//! Whole-file replacement for the small files berth rewrites at every start or exit: readers
//! see the old file or the new one, never a part of either.

use std::path::Path;

/// Writes `bytes` to a new file beside `path` and swaps it in (`renameat2` with
/// `RENAME_EXCHANGE`), then removes the old one; with nothing to swap with, renames.
///
/// Why not a rename over the old file, or a write in place: on ext4 both start the writeback
/// of the new data at once (`auto_da_alloc`: on a rename over a file, and on the close of a
/// file truncated to zero), about 0.12-0.17 ms per write on this project's machine against
/// 0.04-0.05 ms for the exchange (bench/README.md), plus a disk write of data that is often
/// gone again a few milliseconds later. The price: after a crash the file may be empty, its
/// data never written. So this is only for files that are written again before anything
/// needs them (the /etc files, at each start) or that a reboot makes pointless (the state of
/// a `--rm` container).
pub fn replace_volatile(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use rustix::fs::{renameat_with, RenameFlags, CWD};
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let new = path.with_file_name(format!(".{name}.new{}", std::process::id()));
    std::fs::write(&new, bytes)?;
    let swapped = match renameat_with(CWD, &new, CWD, path, RenameFlags::EXCHANGE) {
        // `new` has the old file now.
        Ok(()) => std::fs::remove_file(&new),
        // Nothing there yet (ENOENT), or a filesystem without the exchange (EINVAL).
        Err(_) => std::fs::rename(&new, path),
    };
    if swapped.is_err() {
        let _ = std::fs::remove_file(&new);
    }
    swapped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_or_creates_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hosts");
        replace_volatile(&path, b"first\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "first\n");
        replace_volatile(&path, b"second\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "second\n");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("hosts")]);
    }
}

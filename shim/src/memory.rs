//! Keeping a long-running process small: what it mapped in while starting is not needed
//! while it waits.

/// Drops the file pages mapped in so far (the runtime's code: most of a monitor's
/// resident memory) and turns off fault-around for them, so the long wait that follows keeps
/// only the few pages its loop uses; then returns freed heap to the kernel. Only read-only
/// file mappings with no anonymous (copied-on-write) page: their contents are the file's, so
/// dropping them loses nothing. Relocated RELRO data is anonymous and stays. (Not "no private
/// dirty page": while a just-forked child still shares them, relocated pages count as
/// shared dirty, and dropping those crashes.)
pub fn release_file_pages() {
    let Ok(smaps) = std::fs::read_to_string("/proc/self/smaps") else { return };
    let mut current: Option<(usize, usize)> = None;
    for line in smaps.lines() {
        let mut fields = line.split_whitespace();
        let Some(first) = fields.next() else { continue };
        if let Some((start, end)) = first.split_once('-').filter(|_| !first.ends_with(':')) {
            let perms = fields.next().unwrap_or("");
            let file_backed = line.contains(" /");
            current = match (usize::from_str_radix(start, 16), usize::from_str_radix(end, 16)) {
                (Ok(s), Ok(e)) if file_backed && !perms.contains('w') => Some((s, e)),
                _ => None,
            };
        } else if first == "Anonymous:" {
            let copied = fields.next().and_then(|n| n.parse::<u64>().ok()).unwrap_or(1);
            if let (Some((start, end)), 0) = (current.take(), copied) {
                // SAFETY: a read-only file mapping with no anonymous page: its pages are the file's,
                // so MADV_DONTNEED only changes which pages are resident, never the contents.
                unsafe {
                    let addr = start as *mut libc::c_void;
                    libc::madvise(addr, end - start, libc::MADV_RANDOM);
                    libc::madvise(addr, end - start, libc::MADV_DONTNEED);
                }
            }
        }
    }
    // SAFETY: malloc_trim only returns free memory at the top of the heap to the kernel.
    unsafe {
        libc::malloc_trim(0);
    }
}

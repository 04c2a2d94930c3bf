//! The container log, in Docker's `json-file` format: one JSON object per line with `log`
//! (the line, with its newline), `stream` (`stdout`/`stderr`) and `time` (RFC 3339, ns).
//! Reading it; the shim's `LogWriter` writes it.

use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::Path;

use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct Entry {
    pub log: String,
    pub stream: String,
    pub time: String,
}

/// The writer lives with the shim, which writes the log while a container runs.
pub use shim::logfile::LogWriter;

/// Reads the entries of a log file (a torn last line, from a kill, is skipped).
pub fn read_entries(path: &Path) -> io::Result<Vec<Entry>> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    Ok(BufReader::new(file).lines().map_while(Result::ok).filter_map(|l| serde_json::from_str(&l).ok()).collect())
}

/// Reads a log as it grows: each call returns the entries appended since the last one.
pub struct Follower {
    path: std::path::PathBuf,
    offset: u64,
    partial: Vec<u8>,
}

impl Follower {
    /// From the start of the log (`from_end`: from its current end).
    pub fn new(path: &Path, from_end: bool) -> Follower {
        let offset = if from_end { std::fs::metadata(path).map_or(0, |m| m.len()) } else { 0 };
        Follower { path: path.to_path_buf(), offset, partial: Vec::new() }
    }

    pub fn read_new(&mut self) -> io::Result<Vec<Entry>> {
        use std::io::{Read, Seek, SeekFrom};
        let mut file = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        file.seek(SeekFrom::Start(self.offset))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        self.offset += bytes.len() as u64;
        self.partial.extend_from_slice(&bytes);
        // Only whole lines: the monitor may be mid-write.
        let Some(end) = self.partial.iter().rposition(|&b| b == b'\n') else { return Ok(Vec::new()) };
        let whole: Vec<u8> = self.partial.drain(..=end).collect();
        Ok(whole.split(|&b| b == b'\n').filter_map(|l| serde_json::from_slice(l).ok()).collect())
    }
}

//! The container log, in Docker's `json-file` format: one JSON object per line with `log`
//! (the line, with its newline), `stream` (`stdout`/`stderr`) and `time` (RFC 3339, ns).

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct Entry {
    pub log: String,
    pub stream: String,
    pub time: String,
}

/// Longest line kept whole; a longer one is split into several entries, as Docker does.
const MAX_LINE: usize = 16 * 1024;

/// Writes one stream's output as log entries, holding back a partial last line.
pub struct LogWriter {
    file: File,
    partial: [Vec<u8>; 2],
}

impl LogWriter {
    pub fn open(path: &Path) -> io::Result<LogWriter> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(LogWriter { file, partial: [Vec::new(), Vec::new()] })
    }

    /// Appends output of `stream` (1 = stdout, 2 = stderr).
    pub fn write(&mut self, stream: u8, mut data: &[u8]) -> io::Result<()> {
        let i = usize::from(stream == 2);
        while !data.is_empty() {
            let end = data.iter().position(|&b| b == b'\n').map(|p| p + 1);
            let take = end.unwrap_or(data.len());
            self.partial[i].extend_from_slice(&data[..take]);
            data = &data[take..];
            if end.is_some() || self.partial[i].len() >= MAX_LINE {
                let line = std::mem::take(&mut self.partial[i]);
                self.emit(stream, &line)?;
            }
        }
        Ok(())
    }

    /// Writes out what is held back (at exit).
    pub fn flush_partial(&mut self) -> io::Result<()> {
        for stream in [1u8, 2] {
            let line = std::mem::take(&mut self.partial[usize::from(stream == 2)]);
            if !line.is_empty() {
                self.emit(stream, &line)?;
            }
        }
        Ok(())
    }

    fn emit(&mut self, stream: u8, line: &[u8]) -> io::Result<()> {
        let entry = Entry {
            log: String::from_utf8_lossy(line).into_owned(),
            stream: if stream == 2 { "stderr" } else { "stdout" }.into(),
            time: crate::time::now(),
        };
        let mut bytes = serde_json::to_vec(&entry).map_err(io::Error::other)?;
        bytes.push(b'\n');
        self.file.write_all(&bytes)
    }
}

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

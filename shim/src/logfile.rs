//! The container log, in Docker's `json-file` format: one JSON object per line with `log`
//! (the line, with its newline), `stream` (`stdout`/`stderr`) and `time` (RFC 3339, ns).
//! Written here by hand (no serde): the shim that writes it stays small.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

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
        let mut entry = String::with_capacity(line.len() + 80);
        entry.push_str("{\"log\":");
        json_string(&mut entry, &String::from_utf8_lossy(line));
        entry.push_str(if stream == 2 {
            ",\"stream\":\"stderr\",\"time\":\""
        } else {
            ",\"stream\":\"stdout\",\"time\":\""
        });
        entry.push_str(&crate::time::now());
        entry.push_str("\"}\n");
        self.file.write_all(entry.as_bytes())
    }
}

/// `text` as a JSON string literal.
fn json_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_json_needs() {
        let mut out = String::new();
        json_string(&mut out, "a\"b\\c\n\t\u{1}é");
        assert_eq!(out, r#""a\"b\\c\n\t\u0001é""#);
    }

    #[test]
    fn lines_become_entries_and_partials_wait() {
        let dir = std::env::temp_dir().join(format!("shim-log-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("log");
        let mut log = LogWriter::open(&path).unwrap();
        log.write(1, b"one\ntw").unwrap();
        log.write(2, b"err\n").unwrap();
        log.write(1, b"o\n").unwrap();
        log.write(1, b"tail").unwrap();
        log.flush_partial().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4);
        assert!(lines[0].starts_with(r#"{"log":"one\n","stream":"stdout","time":""#), "{}", lines[0]);
        assert!(lines[1].starts_with(r#"{"log":"err\n","stream":"stderr""#));
        assert!(lines[2].starts_with(r#"{"log":"two\n","stream":"stdout""#));
        assert!(lines[3].starts_with(r#"{"log":"tail","stream":"stdout""#));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

//! One printer owns stdout and stderr (uv's way): every command writes through it, so output
//! format, quiet mode and error lines look the same everywhere.

use std::io::{self, Write};

/// Prints Docker-style tables: Go tabwriter semantics with the settings Docker's formatter uses
/// (minimum cell width 10, padding 3, spaces).
pub fn table(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0usize; columns];
    for row in rows {
        // The last cell of a row is not padded, so it does not widen its column.
        for (i, cell) in row.iter().enumerate().take(row.len().saturating_sub(1)) {
            widths[i] = widths[i].max(cell.chars().count() + 3).max(10);
        }
    }
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            line.push_str(cell);
            if i + 1 < row.len() {
                let pad = widths[i] - cell.chars().count();
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Writes to stdout, ignoring a closed pipe (`berth images | head` must not panic).
pub fn out(text: &str) {
    let mut stdout = io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes());
    let _ = stdout.flush();
}

/// Writes one line to stdout.
pub fn line(text: &str) {
    out(&format!("{text}\n"));
}

/// Writes one line to stderr.
pub fn err_line(text: &str) {
    let mut stderr = io::stderr().lock();
    let _ = writeln!(stderr, "{text}");
}

#[cfg(test)]
mod tests {
    use super::table;

    #[test]
    fn pads_like_go_tabwriter() {
        let rows = vec![
            vec!["REPOSITORY".into(), "TAG".into(), "SIZE".into()],
            vec!["busybox".into(), "latest".into(), "4.3MB".into()],
        ];
        assert_eq!(table(&rows), "REPOSITORY   TAG       SIZE\nbusybox      latest    4.3MB\n");
    }
}

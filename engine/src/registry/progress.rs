//! What pull and push report as they go, in Docker's words. The engine only says what
//! happened; the CLI decides how to show it (rewritten lines on a terminal, plain lines
//! otherwise, nothing with `-q`).

use std::fmt;

/// The state of one layer (or config blob), keyed by its 12-character short digest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LayerStatus {
    Waiting,
    PullingFsLayer,
    AlreadyExists,
    /// Bytes so far, of the total.
    Downloading(u64, u64),
    Verifying,
    DownloadComplete,
    Extracting,
    PullComplete,
    Preparing,
    Pushing(u64, u64),
    Pushed,
    LayerAlreadyExists,
    /// Mounted from another repository of the same registry.
    MountedFrom(String),
}

impl LayerStatus {
    /// A progress update (bytes moving) rather than a change of state: shown only on a
    /// terminal, as Docker does.
    pub fn is_progress(&self) -> bool {
        matches!(self, LayerStatus::Downloading(..) | LayerStatus::Pushing(..))
    }
}

impl fmt::Display for LayerStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LayerStatus::Waiting => f.write_str("Waiting"),
            LayerStatus::PullingFsLayer => f.write_str("Pulling fs layer"),
            LayerStatus::AlreadyExists => f.write_str("Already exists"),
            LayerStatus::Downloading(done, total) => write!(f, "Downloading {}", bytes_of(*done, *total)),
            LayerStatus::Verifying => f.write_str("Verifying Checksum"),
            LayerStatus::DownloadComplete => f.write_str("Download complete"),
            LayerStatus::Extracting => f.write_str("Extracting"),
            LayerStatus::PullComplete => f.write_str("Pull complete"),
            LayerStatus::Preparing => f.write_str("Preparing"),
            LayerStatus::Pushing(done, total) => write!(f, "Pushing {}", bytes_of(*done, *total)),
            LayerStatus::Pushed => f.write_str("Pushed"),
            LayerStatus::LayerAlreadyExists => f.write_str("Layer already exists"),
            LayerStatus::MountedFrom(repo) => write!(f, "Mounted from {repo}"),
        }
    }
}

/// `1.2MB/3.4MB`, in Docker's decimal units.
fn bytes_of(done: u64, total: u64) -> String {
    format!("{}/{}", human(done), human(total))
}

pub fn human(n: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1000.0 && u < units.len() - 1 {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{n}B")
    } else {
        // Go's %.4g, as Docker's HumanSize: four significant digits, no trailing zeros.
        let int_digits = (v.trunc() as u64).to_string().len();
        let text = format!("{v:.*}", 4usize.saturating_sub(int_digits));
        let text = if text.contains('.') { text.trim_end_matches('0').trim_end_matches('.') } else { &text };
        format!("{text}{}", units[u])
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A line of its own: `latest: Pulling from library/busybox`, `Digest: ...`, `Status: ...`.
    Line(String),
    Layer {
        id: String,
        status: LayerStatus,
    },
    /// Something went wrong but the operation goes on (a mirror failed).
    Warning(String),
}

/// Where events go.
pub trait Progress {
    fn event(&mut self, event: Event);
}

/// Reports nothing.
pub struct Silent;

impl Progress for Silent {
    fn event(&mut self, _: Event) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_words() {
        assert_eq!(LayerStatus::Downloading(1_500_000, 3_000_000).to_string(), "Downloading 1.5MB/3MB");
        assert_eq!(LayerStatus::MountedFrom("library/a".into()).to_string(), "Mounted from library/a");
        assert_eq!(human(999), "999B");
    }
}

//! Load errors: each names the file, line and column and, where there is one, the field path.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

/// Where a node came from: the file as the user named it, 1-based line and column.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Pos {
    pub file: Arc<str>,
    pub line: u32,
    pub col: u32,
}

impl Pos {
    pub fn new(file: &Arc<str>, line: usize, col: usize) -> Pos {
        let clamp = |v: usize| u32::try_from(v).unwrap_or(u32::MAX);
        Pos { file: file.clone(), line: clamp(line), col: clamp(col) }
    }

    /// A position for values berth made up itself (defaults, command-line input).
    pub fn synthetic(what: &str) -> Pos {
        Pos { file: Arc::from(what), line: 0, col: 0 }
    }
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}", self.file)
        } else {
            write!(f, "{}:{}:{}", self.file, self.line, self.col)
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The YAML itself is malformed (or too deep, or an alias bomb).
    #[error("{pos}: {msg}")]
    Yaml { pos: Pos, msg: String },
    /// A field has the wrong shape or value.
    #[error("{pos}: {path}: {msg}")]
    Invalid { pos: Pos, path: String, msg: String },
    /// A file could not be read.
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    /// No compose file was given and none was found.
    #[error("no configuration file provided: not found")]
    NoConfigFile,
    /// `-p`, `COMPOSE_PROJECT_NAME` or `name:` is not a valid project name.
    #[error(
        "{0:?} is not a valid project name: it must contain only characters from [a-z0-9_-] and start with [a-z0-9]"
    )]
    ProjectName(String),
    /// The service graph has a cycle; every service on it, in order.
    #[error("dependency cycle detected: {}", .0.join(" -> "))]
    Cycle(Vec<String>),
    /// A file includes (or extends) itself, directly or not.
    #[error("{pos}: include cycle detected: {}", chain.join(" -> "))]
    IncludeCycle { pos: Pos, chain: Vec<String> },
    /// A dotenv file is malformed.
    #[error("{}:{line}: {msg}", path.display())]
    Dotenv { path: PathBuf, line: usize, msg: String },
    /// A problem with the command line (an unknown service, a bad flag value).
    #[error("{0}")]
    Usage(String),
}

impl LoadError {
    pub fn invalid(pos: &Pos, path: impl Into<String>, msg: impl Into<String>) -> LoadError {
        LoadError::Invalid { pos: pos.clone(), path: path.into(), msg: msg.into() }
    }
}

//! The engine's error type. Messages are what the user reads after `Error: `, so they follow
//! Docker's wording where Docker has one.

use std::io;
use std::path::PathBuf;

use crate::layer::LayerError;

#[derive(thiserror::Error, Debug)]
pub enum Error {
    /// An image reference, ID or ID prefix that matches nothing.
    #[error("No such image: {0}")]
    NoSuchImage(String),
    /// A container name, ID or ID prefix that matches nothing.
    #[error("No such container: {0}")]
    NoSuchContainer(String),
    /// A name that matches nothing of any kind (`inspect`).
    #[error("No such object: {0}")]
    NoSuchObject(String),
    /// A malformed image reference.
    #[error("invalid reference format: {0}")]
    InvalidReference(String),
    /// An ID prefix that matches more than one image.
    #[error("{0}: ambiguous image ID prefix")]
    Ambiguous(String),
    /// A removal that would break something; the message is Docker's.
    #[error("{0}")]
    Conflict(String),
    /// Bad user input that is not a reference (a flag value, an archive's contents).
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Layer(#[from] LayerError),
    /// Stored content that does not match its digest.
    #[error("{what}: digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch { what: String, expected: String, actual: String },
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("state database: {0}")]
    Db(#[from] rusqlite::Error),
    #[error("{what}: {source}")]
    Json { what: String, source: serde_json::Error },
    #[error(transparent)]
    Registry(#[from] crate::registry::RegistryError),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Attaches a path to an io::Error.
pub trait IoContext<T> {
    fn at(self, path: impl Into<PathBuf>) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn at(self, path: impl Into<PathBuf>) -> Result<T> {
        self.map_err(|source| Error::Io { path: path.into(), source })
    }
}

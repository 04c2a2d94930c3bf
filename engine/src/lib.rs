//! berth's embedded engine: the content store, layers, image commands and (later) the
//! container lifecycle. Knows nothing of compose or of the CLI.

pub mod archive;
pub mod build;
pub mod changes;
pub mod check;
pub mod config;
pub mod container;
pub mod db;
pub mod digest;
pub mod error;
pub mod files;
pub mod images;
pub mod import;
pub mod ingest;
pub mod layer;
pub mod monitor;
pub mod oci;
pub mod reference;
pub mod registry;
pub mod store;
pub mod time;
pub mod volumes;

pub use digest::Digest;
pub use error::{Error, Result};
pub use store::{Access, Store};

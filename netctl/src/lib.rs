//! berth's networking: bridge networks and their address management, a network namespace and
//! veth pair per container, and outbound NAT in berth's own nftables table (`inet berth`).
//! Knows nothing of containers beyond their IDs, nor of compose.
//!
//! Links, addresses and namespaces are made over rtnetlink directly (`link.rs`, no command
//! run); rules with `nft`, each change one batch (`nft -f -`).

mod command;
pub mod dns;
pub mod ipam;
pub mod link;
pub mod nat;
pub mod ports;
pub mod store;

pub use store::{Endpoint, Network, Networks};

/// What went wrong, with the name or address it concerns.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("network {0} not found")]
    NotFound(String),
    #[error("network with name {0} already exists")]
    Exists(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{path}: {source}")]
    Io { path: std::path::PathBuf, source: std::io::Error },
    #[error("{command}: {message}")]
    Command { command: String, message: String },
    /// A netlink request (or the namespace work around it) the kernel refused: the operation,
    /// in `ip`'s words, and the kernel's message.
    #[error("{op}: {message}")]
    Netlink { op: String, message: String },
}

pub type Result<T> = std::result::Result<T, Error>;

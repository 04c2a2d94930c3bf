//! berth's networking: bridge networks and their address management, a network namespace and
//! veth pair per container, and outbound NAT in berth's own nftables table (`inet berth`).
//! Knows nothing of containers beyond their IDs, nor of compose.
//!
//! Links and addresses are made with iproute2's `ip` (netlink underneath) and rules with `nft`,
//! batched so a container's whole network costs three commands. DESIGN.md names rtnetlink for
//! the links: the seam is `link.rs` alone.

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
}

pub type Result<T> = std::result::Result<T, Error>;

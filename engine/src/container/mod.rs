//! Containers: their stored configuration and state, create, and the lifecycle operations
//! that the CLI and the per-container monitor share.

/// The attach protocol (shared with the shim).
pub use shim::frames as attach;
pub mod cgroup;
pub mod command_check;
pub mod commit;
pub mod console;
pub mod copy;
pub mod create;
pub mod etc;
pub mod health;
pub mod launch;
pub mod lifecycle;
pub mod logs;
pub mod model;
pub mod names;
pub mod rootfs;
pub mod seccomp;
pub mod spec;
pub mod store;
pub mod user;

pub use create::CreateOptions;
pub use model::{Record, State, Status};

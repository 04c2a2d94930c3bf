//! The compose-file loader: finds the project, parses YAML with positions, interpolates,
//! merges, normalizes and checks it, and gives the reconciler one typed [`Project`].
//!
//! ```no_run
//! let project = compose::load(&compose::LoadOptions::from_process())?;
//! for (name, service) in &project.services {
//!     println!("{name}: {:?}", service.image);
//! }
//! # Ok::<(), compose::LoadError>(())
//! ```

#[cfg(feature = "runtime")]
pub mod convert;
pub mod de;
pub mod dotenv;
pub mod emit;
pub mod error;
mod extends;
pub mod graph;
pub mod hash;
mod include;
pub mod interpolate;
pub mod labels;
mod loader;
pub mod merge;
pub mod model;
pub mod normalize;
pub mod paths;
pub mod plan;
pub mod ports;
pub mod profiles;
pub mod project;
mod resolve;
pub mod units;
mod unsupported;
pub mod volumes;
#[cfg(feature = "runtime")]
pub mod watch;
pub mod yaml;

pub use error::{LoadError, Pos};
pub use model::{Network, Project, Service, Volume};
pub use project::{load, LoadOptions};

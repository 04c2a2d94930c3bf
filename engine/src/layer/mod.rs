//! Layer tarballs: compression detection, our own applier (overlay whiteout format) and the
//! reverse, turning a container's upper dir back into a layer tar.

mod apply;
mod compression;
mod diff;

pub(crate) use apply::remove_at;
pub use apply::{apply_layer, start_writeback, ApplyStats, LayerError, WRITEBACK_CHUNK};
pub use compression::{decompress, Compression};
pub use diff::{write_item_tar, write_layer_tar};

//! End-to-end tests: each drives the real `berth` binary, as root, in its own state root.

mod common;
mod compose_config;
mod containers;
mod images;
mod lifecycle;
mod networks;
mod registry;
mod store_safety;

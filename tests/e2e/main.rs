//! End-to-end tests: each drives the real `berth` binary, as root, in its own state root.

mod build;
mod common;
mod compose_config;
mod compose_up;
mod compose_watch;
mod containers;
mod images;
mod lifecycle;
mod networks;
mod registry;
mod store_safety;

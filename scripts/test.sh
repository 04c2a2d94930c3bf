#!/usr/bin/env bash
# The test command README gives: installs what the tests need, then runs every test
# (unit tests and the end-to-end tests that drive the real `berth` binary). Run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
cargo build --workspace --all-targets
cargo test --workspace -- --test-threads="${BERTH_TEST_THREADS:-4}"

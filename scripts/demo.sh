#!/usr/bin/env bash
# The demo README gives, offline: builds a busybox image from this machine's busybox-static,
# and walks it through berth's image commands in a private state root.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
cargo build --release -q
exec ./examples/images-demo/run.sh ./target/release/berth

#!/usr/bin/env bash
# The demo README gives, offline: builds a busybox image from this machine's busybox-static,
# walks it through berth's image commands, then runs a web server and a backend on a user
# network (DNS by name, a published port), each in a private state root.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
cargo build --release -q
./examples/images-demo/run.sh ./target/release/berth
exec ./examples/web-demo/run.sh ./target/release/berth

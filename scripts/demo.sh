#!/usr/bin/env bash
# The demo README gives, offline: builds a busybox image from this machine's busybox-static,
# walks it through berth's image commands, then runs a web server and a backend on a user
# network (DNS by name, a published port), and last the compose getting-started project
# (`berth compose up` builds the web image from its Dockerfile; the counter it reaches by name),
# each in a private state root.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
cargo build --release -q
# Built for the host's target named explicitly (.cargo/config.toml): target/<host triple>/.
berth=./target/$(rustc -vV | sed -n 's/^host: //p')/release/berth
./examples/images-demo/run.sh "$berth"
./examples/web-demo/run.sh "$berth"
exec ./examples/compose-demo/run.sh "$berth"

#!/usr/bin/env bash
# Fuzzes the compose loader for SECONDS (default 30) with cargo-fuzz on the nightly toolchain.
# CI runs it briefly after the tests; a crash fails the run and leaves its input in
# compose/fuzz/artifacts/loader/. Usage: compose/fuzz/run.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-30}
if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "fuzz: skipped, no nightly toolchain on this machine (cargo-fuzz needs one)"
  exit 0
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install --locked cargo-fuzz
fi
mkdir -p corpus/loader
# Seed with the project's own compose fixtures.
find ../tests/fixtures -name '*.yaml' -exec cp {} corpus/loader/ \;
cargo +nightly fuzz run loader corpus/loader -- -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10
echo "fuzz: loader ran ${seconds}s without a crash"

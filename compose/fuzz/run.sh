#!/usr/bin/env bash
# Fuzzes the compose loader with cargo-fuzz on the nightly toolchain: RUNS inputs (default
# 100000, about 25 s) from a fixed seed, so a run is repeatable and CI's verdict does not depend
# on luck; SEED=random for a fresh exploration. A crash fails the run and leaves its input in
# compose/fuzz/artifacts/loader/. Usage: compose/fuzz/run.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")"
runs=${1:-100000}
seed=${SEED:-1}
[ "$seed" = random ] && seed=0   # libFuzzer: 0 picks a seed
if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "fuzz: skipped, no nightly toolchain on this machine (cargo-fuzz needs one)"
  exit 0
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install --locked cargo-fuzz
fi
# A fresh corpus each time (seeded with the fixtures): what earlier runs found is not replayed,
# which keeps the run repeatable.
rm -rf corpus/loader && mkdir -p corpus/loader
find ../tests/fixtures -name '*.yaml' -exec cp {} corpus/loader/ \;
cargo +nightly fuzz run loader corpus/loader -- -seed="$seed" -runs="$runs" -rss_limit_mb=2048 -timeout=10
echo "fuzz: loader ran $runs inputs (seed $seed) without a crash"

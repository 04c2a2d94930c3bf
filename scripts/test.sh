#!/usr/bin/env bash
# The test command README gives: installs what the tests need, then runs every test
# (unit tests and the end-to-end tests that drive the real `berth` binary). Run as root.
# Ends with one line that sums every test binary's results: "tests: N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
cargo build --workspace --all-targets
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --workspace -- --test-threads="${BERTH_TEST_THREADS:-4}" 2>&1 | tee "$log" || status=$?
sum() { grep -E '^test result:' "$log" | grep -oE "[0-9]+ $1" | awk '{n += $1} END {print n + 0}'; }
echo "tests: $(sum passed) passed, $(sum failed) failed"
exit "$status"

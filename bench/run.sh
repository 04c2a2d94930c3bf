#!/usr/bin/env bash
# `run --rm bb true` (no network, then the default bridge) with berth, docker and podman on one
# busybox image, in one run; then the monitor's memory while 10 `sleep` containers run.
# Usage: bench/run.sh   (as root)
source "$(dirname "$0")/common.sh"
setup_bench
bb_everywhere run

hyperfine --warmup 3 --runs 30 --export-markdown "$work/run.md" \
  -n "berth run --rm --network none" "$berth run --rm --network none bb true" \
  -n "docker run --rm --network none" "docker run --rm --network none bb true" \
  -n "podman run --rm --network none" "$podman run --rm --network none localhost/bb true"
cat "$work/run.md"

# The same with each engine's default bridge network (berth's stays up between runs, as docker0).
hyperfine --warmup 3 --runs 30 --export-markdown "$work/run-bridge.md" \
  -n "berth run --rm (default bridge)" "$berth run --rm bb true" \
  -n "docker run --rm (default bridge)" "docker run --rm bb true" \
  -n "podman run --rm (default bridge)" "$podman run --rm localhost/bb true"
cat "$work/run-bridge.md"
"$berth" network prune -f >/dev/null

# Monitor RSS: 10 sleeping containers, then the monitors' resident memory (PSS and RSS).
for i in $(seq 10); do "$berth" run -d --name "sleep$i" bb sleep 1000 >/dev/null; done
echo "berth monitors (10 containers):"
for pid in $(pgrep -f '__monitor'); do
  awk '/^Rss:/ {rss=$2} /^Pss:/ {pss=$2} END {printf "  pid %s: RSS %d KiB, PSS %d KiB\n", '"$pid"', rss, pss}' "/proc/$pid/smaps_rollup"
done
"$berth" rm -f $(seq -f 'sleep%g' 10) >/dev/null

#!/usr/bin/env bash
# `run --rm bb true` (no network, then the default bridge) with berth, docker and podman on one
# busybox image, in one run; then the monitor's memory while 10 `sleep` containers run.
# Usage: bench/run.sh   (as root)
source "$(dirname "$0")/common.sh"
setup_bench
bb_everywhere run
# A pause for the daemons just started and the images just imported to settle.
sleep 10

hyperfine --warmup 3 --runs 30 --export-markdown "$work/run.md" \
  -n "berth run --rm --network none" "$berth run --rm --network none bb true" \
  -n "docker run --rm --network none" "docker run --rm --network none bb true" \
  -n "podman run --rm --network none" "$podman run --rm --network none localhost/bb true"
cat "$work/run.md"
# The same commands in interleaved rounds (bench/interleaved.py): the ratios under one
# machine's moment.
python3 "$here/interleaved.py" 30 \
  "berth run --rm --network none=$berth run --rm --network none bb true" \
  "docker run --rm --network none=docker run --rm --network none bb true" \
  "podman run --rm --network none=$podman run --rm --network none localhost/bb true"

# The same with each engine's default bridge network (berth's stays up between runs, as docker0).
# First a pause: the kernel tears down the network namespaces of the runs above in the
# background (RCU grace periods under the RTNL lock, which a veth's creation waits for).
sleep 10
hyperfine --warmup 3 --runs 30 --export-markdown "$work/run-bridge.md" \
  -n "berth run --rm (default bridge)" "$berth run --rm bb true" \
  -n "docker run --rm (default bridge)" "docker run --rm bb true" \
  -n "podman run --rm (default bridge)" "$podman run --rm localhost/bb true"
cat "$work/run-bridge.md"
python3 "$here/interleaved.py" 30 \
  "berth run --rm (default bridge)=$berth run --rm bb true" \
  "docker run --rm (default bridge)=docker run --rm bb true" \
  "podman run --rm (default bridge)=$podman run --rm localhost/bb true"
"$berth" network prune -f >/dev/null

memory() {
  awk '/^Rss:/ {rss=$2} /^Pss:/ {pss=$2} END {printf "  %s (pid %s): RSS %d KiB, PSS %d KiB\n", "'"$1"'", '"$2"', rss, pss}' "/proc/$2/smaps_rollup"
}

# Monitor RSS: 10 sleeping containers, then what watches each one (the monitor, or the shim
# it became) and its resident memory (RSS and PSS).
for i in $(seq 10); do "$berth" run -d --name "sleep$i" bb sleep 1000 >/dev/null; done
sleep 1
echo "berth, per container (10 containers):"
for i in $(seq 10); do
  pid=$("$berth" inspect -f '{{.State.Pid}}' "sleep$i")
  watcher=$(ps -o ppid= -p "$pid" | tr -d ' ')
  memory "$(ps -o comm= -p "$watcher")" "$watcher"
done
"$berth" rm -f $(seq -f 'sleep%g' 10) >/dev/null
# The same with podman: its conmon per container.
for i in $(seq 10); do $podman run -d --name "sleep$i" localhost/bb sleep 1000 >/dev/null; done
echo "podman, per container (10 containers):"
for pid in $(pgrep -f 'conmon .*-n sleep[0-9]'); do memory conmon "$pid"; done
$podman rm -f -t 0 $(seq -f 'sleep%g' 10) >/dev/null
"$berth" network prune -f >/dev/null

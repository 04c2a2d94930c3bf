#!/usr/bin/env bash
# `compose watch` latency: from a file write on the host to the change visible inside the
# container (sync, 100 edits: p50 and p99, debounce included), and from a write to the
# rebuilt container serving the change (rebuild, 5 edits). No docker comparison: Debian's
# docker-compose is v1, which has no `watch`.
# Usage: bench/watch.sh  (BERTH_BIN=target/x86_64-unknown-linux-gnu/debug/berth to measure a debug build)
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
[ -n "${BERTH_BIN:-}" ] || (cd "$top" && cargo build --profile release-lto -q)
need python3 python3
busybox_rootfs
dir=$(mktemp -d "$work/watch.XXXXXX")
export BERTH_ROOT="$dir/state" BERTH_RUNROOT="$dir/run" BERTH_CONFIG="$dir/daemon.json"
echo '{}' >"$BERTH_CONFIG"
"$berth" import -c 'CMD ["sh"]' "$work/busybox.tar" bb >/dev/null
mkdir -p "$dir/p/src" "$dir/p/api"
cat >"$dir/p/compose.yaml" <<'YAML'
name: watchbench
services:
  web:
    image: bb
    command: ["sleep", "3600"]
    stop_signal: SIGKILL
    develop:
      watch:
        - {path: ./src, target: /app/src, action: sync}
  api:
    build: ./api
    command: ["sleep", "3600"]
    stop_signal: SIGKILL
    develop:
      watch:
        - {path: ./api, action: rebuild}
YAML
echo 0 >"$dir/p/src/v"
printf 'FROM bb\nCOPY version /version\n' >"$dir/p/api/Dockerfile"
echo 0 >"$dir/p/api/version"
cd "$dir/p"
"$berth" compose watch >"$dir/watch.log" 2>&1 &
pid=$!
trap 'kill -INT $pid 2>/dev/null; wait $pid 2>/dev/null; "$berth" compose down -t 0 >/dev/null 2>&1; rm -rf "$dir"' EXIT
for _ in $(seq 600); do grep -q "Watch enabled" "$dir/watch.log" && break; sleep 0.1; done
web=$("$berth" compose ps -q web)
# What the container sees: its root filesystem, mounted while it runs.
merged=$(ls -d "$BERTH_ROOT"/containers/"$web"*/merged)
python3 - "$dir/p" "$merged" "$berth" <<'PY'
import os, subprocess, sys, time
proj, merged, berth = sys.argv[1:4]
def wait_for(read, want, limit=60):
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        try:
            if read() == want:
                return time.monotonic() - t0
        except OSError:
            pass
        time.sleep(0.001)
    raise SystemExit(f"timed out waiting for {want!r}")
lat = []
for i in range(1, 101):
    want = f"{i}\n"
    t0 = time.monotonic()
    with open(f"{proj}/src/v", "w") as f:
        f.write(want)
    wait_for(lambda: open(f"{merged}/app/src/v").read(), want)
    lat.append((time.monotonic() - t0) * 1000)
    time.sleep(0.05)
lat.sort()
print(f"sync: p50 {lat[49]:.0f} ms, p99 {lat[98]:.0f} ms, max {lat[99]:.0f} ms (100 edits)")
def api_version():
    r = subprocess.run([berth, "compose", "exec", "-T", "api", "cat", "/version"], cwd=proj, capture_output=True, text=True)
    return r.stdout
reb = []
for i in range(1, 6):
    want = f"r{i}\n"
    t0 = time.monotonic()
    with open(f"{proj}/api/version", "w") as f:
        f.write(want)
    wait_for(api_version, want, 120)
    reb.append((time.monotonic() - t0) * 1000)
print("rebuild: " + ", ".join(f"{x:.0f}" for x in reb) + f" ms (median {sorted(reb)[2]:.0f} ms)")
PY

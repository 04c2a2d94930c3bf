#!/usr/bin/env bash
# The compose demo, offline: `berth compose up` builds the web image from its Dockerfile,
# starts the counter service, waits for it to be healthy, starts web on a published port;
# then two requests from the host, and `down -v` removes everything.
# Usage: run.sh BERTH_BINARY   (as root)
set -euo pipefail
berth=$(realpath "${1:-berth}")
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
export BERTH_ROOT="$work/state" BERTH_RUNROOT="$work/run"
export WEB_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cleanup() {
  (cd "$here" && "$berth" compose down -v -t 1 >/dev/null 2>&1) || true
  "$berth" network prune -f >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# The base image: the host's static busybox.
source "$(dirname "$0")/../busybox-rootfs.sh"
busybox_rootfs "$work"
tar -C "$work/rootfs" -cf "$work/busybox.tar" .
"$berth" import -c 'CMD ["sh"]' "$work/busybox.tar" demo/busybox >/dev/null

cd "$here"
step() { printf '\n$ berth %s\n' "$*"; "$berth" "$@"; }
step compose up -d
step compose ps
for _ in 1 2; do
  printf '\n$ wget -q -O - http://127.0.0.1:%s/\n' "$WEB_PORT"
  busybox wget -q -O - "http://127.0.0.1:$WEB_PORT/"
done
step compose logs counter
step compose down -v

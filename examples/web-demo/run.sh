#!/usr/bin/env bash
# Several containers working together, offline: a web server and an API-style backend on a
# user network, found by name through berth's DNS, the web server published on a host port.
# Usage: run.sh BERTH_BINARY   (as root)
set -euo pipefail
berth=$(realpath "${1:-berth}")
work=$(mktemp -d)
export BERTH_ROOT="$work/state" BERTH_RUNROOT="$work/run"
net="demo$$"
cleanup() {
  "$berth" rm -f web backend >/dev/null 2>&1 || true
  "$berth" network rm "$net" >/dev/null 2>&1 || true
  "$berth" network prune -f >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# The image: the host's static busybox (as every berth example).
source "$(dirname "$0")/../busybox-rootfs.sh"
busybox_rootfs "$work"
mkdir -p "$work/site"
tar -C "$work/rootfs" -cf "$work/busybox.tar" .
echo '<h1>served by berth</h1>' >"$work/site/index.html"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

step() { printf '\n$ berth %s\n' "$*"; "$berth" "$@"; }
step import -c 'CMD ["sh"]' "$work/busybox.tar" demo/busybox
step network create "$net"
step run -d --name backend --network "$net" demo/busybox sh -c 'mkdir /api && echo "{\"status\": \"ok\"}" > /api/health && exec httpd -f -p 8080 -h /'
step run -d --name web --network "$net" -p "$port:80" -v "$work/site:/www:ro" demo/busybox httpd -f -p 80 -h /www
step ps --format 'table {{.Names}}\t{{.Status}}\t{{.Ports}}'
sleep 0.3
printf '\n$ wget -q -O - http://127.0.0.1:%s/   (from the host, through the published port)\n' "$port"
busybox wget -q -O - "http://127.0.0.1:$port/"
step exec web wget -q -O - http://backend:8080/api/health
step exec web nslookup backend
step run --rm --network "$net" demo/busybox wget -q -O - http://web/
step rm -f web backend
step network rm "$net"

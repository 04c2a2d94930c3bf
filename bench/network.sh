#!/usr/bin/env bash
# Networking, side by side in one run: `run --rm bb true` on a bridge network (berth: a user
# network; docker and podman: their default bridge), and HTTP throughput to a busybox httpd
# through a published port against its own IP. Usage: bench/network.sh   (as root; wrk needed)
source "$(dirname "$0")/common.sh"
setup_bench
need wrk wrk
bb_everywhere net
"$berth" network create benchnet >/dev/null 2>&1 || true

hyperfine --warmup 3 --runs 30 --export-markdown "$work/run-bridge.md" \
  -n "berth run --rm --network benchnet" "$berth run --rm --network benchnet bb true" \
  -n "docker run --rm (bridge)" "docker run --rm bb true" \
  -n "podman run --rm (bridge)" "$podman run --rm localhost/bb true"
cat "$work/run-bridge.md"

# Throughput: a 1 KiB page, 4 connections, 10 s, through the published port and direct.
mkdir -p "$work/www" && head -c 1024 /dev/zero | tr '\0' x >"$work/www/index.html"
"$berth" rm -f webbench >/dev/null 2>&1 || true
"$berth" run -d --name webbench --network benchnet -p 18555:80 -v "$work/www:/www:ro" bb httpd -f -p 80 -h /www >/dev/null
ip=$("$berth" inspect -f '{{.NetworkSettings.IPAddress}}' webbench)
docker rm -f webbench >/dev/null 2>&1 || true
docker run -d --name webbench -p 18556:80 -v "$work/www:/www:ro" bb httpd -f -p 80 -h /www >/dev/null
sleep 1
for target in "berth container IP|http://$ip/" "berth published port|http://127.0.0.1:18555/" "docker published port|http://127.0.0.1:18556/"; do
  printf '%s: ' "${target%%|*}"
  wrk -t2 -c4 -d10s "${target#*|}" | awk '/Requests\/sec/ {print $2 " req/s"}'
done
"$berth" rm -f webbench >/dev/null; docker rm -f webbench >/dev/null
"$berth" network rm benchnet >/dev/null

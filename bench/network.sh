#!/usr/bin/env bash
# Networking, side by side in one run: `run --rm bb true` on a bridge network (berth: a user
# network; docker and podman: their default bridge), and HTTP throughput to a busybox httpd
# (1 KiB page; it closes every connection, so each request is a new TCP connection through the
# NAT) from the host: to the container's own IP, through the published port via 127.0.0.1 and
# via the host's own non-loopback address, for berth and docker.
# Usage: bench/network.sh [throughput]   (as root; wrk needed; `throughput` skips the hyperfine
# part). ROUNDS=N repeats the throughput passes (median); BERTH_BEFORE=/path/to/an/older/berth
# adds that binary's container, published port and all, to the same run.
source "$(dirname "$0")/common.sh"
setup_bench
need wrk wrk
need nstat iproute2
bb_everywhere net
"$berth" network create benchnet >/dev/null 2>&1 || true

if [ "${1:-}" != throughput ]; then
  hyperfine --warmup 3 --runs 30 --export-markdown "$work/run-bridge.md" \
    -n "berth run --rm --network benchnet" "$berth run --rm --network benchnet bb true" \
    -n "docker run --rm (bridge)" "docker run --rm bb true" \
    -n "podman run --rm (bridge)" "$podman run --rm localhost/bb true"
  cat "$work/run-bridge.md"
fi

# The host's own address: the first global IPv4 address not on a container bridge.
host_ip=$(ip -4 -o addr show scope global | awk '$2 !~ /^(br-|docker|podman|cni|veth|vb)/ {print $4}' | cut -d/ -f1 | head -1)
[ -n "$host_ip" ] || { echo "bench: the host has no global IPv4 address" >&2; exit 1; }

mkdir -p "$work/www" && head -c 1024 /dev/zero | tr '\0' x >"$work/www/index.html"
web() { # web BERTH_BINARY HOST_PORT: a busybox httpd on benchnet, published on HOST_PORT; prints its IP
  "$1" rm -f webbench >/dev/null 2>&1 || true
  "$1" run -d --name webbench --network benchnet -p "$2:80" -v "$work/www:/www:ro" bb httpd -f -p 80 -h /www >/dev/null
  "$1" inspect -f '{{.NetworkSettings.IPAddress}}' webbench
}
ip=$(web "$berth" 18555)
targets=("berth, the container's IP|http://$ip/" "berth, published port via 127.0.0.1|http://127.0.0.1:18555/"
  "berth, published port via $host_ip|http://$host_ip:18555/")
if [ -n "${BERTH_BEFORE:-}" ]; then
  # The older binary in a state root of its own (its own network and container).
  before_ip=$(BERTH_ROOT="$BERTH_ROOT-before" BERTH_RUNROOT="$BERTH_RUNROOT-before" bash -c '
    "$1" images -q bb | grep -q . || "$1" import "$2" bb >/dev/null
    "$1" network create benchnet >/dev/null 2>&1 || true
    "$1" rm -f webbench >/dev/null 2>&1 || true
    "$1" run -d --name webbench --network benchnet -p 18557:80 -v "$3:/www:ro" bb httpd -f -p 80 -h /www >/dev/null
    "$1" inspect -f "{{.NetworkSettings.IPAddress}}" webbench' _ "$BERTH_BEFORE" "$work/busybox.tar" "$work/www")
  targets+=("berth before, the container's IP|http://$before_ip/" "berth before, published port via 127.0.0.1|http://127.0.0.1:18557/"
    "berth before, published port via $host_ip|http://$host_ip:18557/")
fi
docker rm -f webbench >/dev/null 2>&1 || true
docker run -d --name webbench -p 18556:80 -v "$work/www:/www:ro" bb httpd -f -p 80 -h /www >/dev/null
docker_ip=$(docker inspect -f '{{.NetworkSettings.IPAddress}}' webbench)
targets+=("docker, the container's IP|http://$docker_ip/" "docker, published port via 127.0.0.1|http://127.0.0.1:18556/"
  "docker, published port via $host_ip|http://$host_ip:18556/")
sleep 1

# 4 connections, 2 threads, 10 s each (DURATION); ROUNDS (default 1) passes over all the targets, one after
# the other, and the median of the passes (the machine is shared: say what its load was). SYN
# retransmits are the host's, all sockets (nstat), summed over the passes. Each figure is also
# given as a share of berth's direct figure of the same pass (a minute apart at most).
export NSTAT_HISTORY="$work/nstat.history"
rounds=${ROUNDS:-1} duration=${DURATION:-10s}
echo "load before: $(uptime)"
declare -A rate ratio p99 syn
for round in $(seq "$rounds"); do
  for target in "${targets[@]}"; do
    nstat -n
    out=$(wrk -t2 -c4 -d"$duration" --latency "${target#*|}")
    r=$(awk '/Requests\/sec/ {printf "%d", $2}' <<<"$out")
    rate[$target]+="$r "
    [ "$target" = "${targets[0]}" ] && first=$r
    ratio[$target]+="$(awk -v r="$r" -v f="$first" 'BEGIN {printf "%d", 100 * r / f}') "
    p99[$target]+="$(awk '$1 == "99%" {print $2}' <<<"$out") "
    syn[$target]=$(( ${syn[$target]:-0} + $(nstat -z TcpExtTCPSynRetrans 2>/dev/null | awk '/TcpExtTCPSynRetrans/ {print $2}') ))
  done
done
median() { tr ' ' '\n' | grep . | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
printf '| %s | %s | %s | %s | %s |\n|---|---|---|---|---|\n' "wrk -t2 -c4 -d$duration, 1 KiB page ($rounds passes)" \
  "requests/s, median (each pass)" "% of berth direct in the same pass, median (each)" "p99 latency (each pass)" "SYN retransmits"
for target in "${targets[@]}"; do
  printf '| %s | %s (%s) | %s%% (%s) | %s | %s |\n' "${target%%|*}" "$(median <<<"${rate[$target]}")" "${rate[$target]% }" \
    "$(median <<<"${ratio[$target]}")" "${ratio[$target]% }" "${p99[$target]% }" "${syn[$target]}"
done
echo "load after: $(uptime)"

"$berth" rm -f webbench >/dev/null; docker rm -f webbench >/dev/null
"$berth" network rm benchnet >/dev/null
if [ -n "${BERTH_BEFORE:-}" ]; then
  BERTH_ROOT="$BERTH_ROOT-before" BERTH_RUNROOT="$BERTH_RUNROOT-before" "$BERTH_BEFORE" rm -f webbench >/dev/null
  BERTH_ROOT="$BERTH_ROOT-before" BERTH_RUNROOT="$BERTH_RUNROOT-before" "$BERTH_BEFORE" network rm benchnet >/dev/null
fi

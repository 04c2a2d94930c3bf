#!/usr/bin/env bash
# The embedded DNS server against aardvark-dns (Debian's, as podman runs it), side by side in one
# run, with one load client (dnsperf) on the host asking each server, on its network's gateway,
# for the A record of a container's name:
#   berth: a container on a user network starts `berth __dns`, listening on the gateway's port 53;
#   podman: a container on a podman network makes netavark start aardvark-dns the same way.
# Two measures: throughput (dnsperf's default 100 queries outstanding, 10 s: queries/s, and the
# latency at that load, mostly queueing) and latency at a fixed 2,000 queries/s (10 s, each
# query's latency from dnsperf -v: p50, p99). ROUNDS=N passes (default 1), the servers taking
# turns. Usage: bench/dns.sh   (as root; dnsperf needed)
source "$(dirname "$0")/common.sh"
setup_bench
need dnsperf dnsperf
bb_everywhere dns
[ -x /usr/lib/podman/aardvark-dns ] || { echo "bench: aardvark-dns is missing (apt-get install aardvark-dns)" >&2; exit 1; }

cleanup() {
  "$berth" rm -f dnsweb >/dev/null 2>&1 || true
  "$berth" network rm dnsnet >/dev/null 2>&1 || true
  $podman rm -f -t 0 dnsweb >/dev/null 2>&1 || true
  $podman network rm -f benchdns >/dev/null 2>&1 || true
}
trap cleanup EXIT
cleanup
"$berth" network create dnsnet >/dev/null
"$berth" run -d --name dnsweb --network dnsnet bb sleep 1000 >/dev/null
berth_gw=$("$berth" inspect -f '{{.NetworkSettings.Networks.dnsnet.Gateway}}' dnsweb)
$podman network create benchdns >/dev/null
$podman run -d --name dnsweb --network benchdns localhost/bb sleep 1000 >/dev/null
podman_gw=$($podman inspect -f '{{.NetworkSettings.Networks.benchdns.Gateway}}' dnsweb)
echo 'dnsweb A' >"$work/dns-queries.txt"

# One answer each, checked before measuring: NOERROR and the container's address.
for gw in "$berth_gw" "$podman_gw"; do
  dnsperf -s "$gw" -d "$work/dns-queries.txt" -n 1 -v 2>&1 | grep -q '^> NOERROR dnsweb A' ||
    { echo "bench: no answer for dnsweb from $gw" >&2; exit 1; }
done
echo "servers: berth $(pgrep -af "__dns" | grep -c "$BERTH_RUNROOT") process on $berth_gw; aardvark-dns $(/usr/lib/podman/aardvark-dns --version | awk '{print $2}') on $podman_gw"

percentile() { sort -n | awk -v p="$1" '{v[NR]=$1} END {i=int(NR*p/100); if (i<1) i=1; printf "%.3f", v[i]*1000}'; }
median() { tr ' ' '\n' | grep . | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
declare -A qps avg p50 p99 lost
rounds=${ROUNDS:-1}
echo "load before: $(uptime)"
for round in $(seq "$rounds"); do
  for server in "berth|$berth_gw" "aardvark-dns|$podman_gw"; do
    name=${server%%|*} gw=${server#*|}
    out=$(dnsperf -s "$gw" -d "$work/dns-queries.txt" -l 10 2>&1)
    qps[$name]+="$(awk '/Queries per second/ {printf "%d", $4}' <<<"$out") "
    avg[$name]+="$(awk '/Average Latency/ {printf "%.2f", $4 * 1000}' <<<"$out") "
    lost[$name]+="$(awk '/Queries lost/ {print $3}' <<<"$out") "
    dnsperf -s "$gw" -d "$work/dns-queries.txt" -l 10 -Q 2000 -v 2>/dev/null | awk '/^> / {print $NF}' >"$work/dns-latency.txt"
    p50[$name]+="$(percentile 50 <"$work/dns-latency.txt") "
    p99[$name]+="$(percentile 99 <"$work/dns-latency.txt") "
  done
done
echo "load after: $(uptime)"
printf '| %s | %s | %s | %s | %s |\n|---|---|---|---|---|\n' "A query of a container's name ($rounds passes)" \
  "queries/s, 100 outstanding: median (each)" "mean latency at that load, ms (each)" "p50 at 2,000 q/s, ms: median (each)" \
  "p99 at 2,000 q/s, ms: median (each)"
for name in berth aardvark-dns; do
  printf '| %s | %s (%s) | %s | %s (%s) | %s (%s) |\n' "$name" "$(median <<<"${qps[$name]}")" "${qps[$name]% }" "${avg[$name]% }" \
    "$(median <<<"${p50[$name]}")" "${p50[$name]% }" "$(median <<<"${p99[$name]}")" "${p99[$name]% }"
done
echo "queries lost (each pass): berth ${lost[berth]% }; aardvark-dns ${lost[aardvark-dns]% }"

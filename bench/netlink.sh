#!/usr/bin/env bash
# A container's network plumbing alone, as the monitor does it around a container's life:
# namespace, veth pair on a bridge (hairpin on), eth0's address, eth0 and lo up, default route,
# then removal. Before: the `ip` commands netctl/src/link.rs ran until it spoke netlink (two
# `ip -batch` at start, `ip netns del` and, if the veth outlived it, `ip link del` at stop).
# After: netctl::link through netctl/examples/sandbox_cycle.rs. Usage: bench/netlink.sh (root)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
work=${BENCH_WORK:-/tmp/berth-bench}
mkdir -p "$work"
command -v hyperfine >/dev/null || { echo "bench: hyperfine is missing (apt-get install hyperfine)" >&2; exit 1; }
(cd "$top" && cargo build --release -q -p berth-netctl --example sandbox_cycle)
cycle="$top/target/release/examples/sandbox_cycle"

bridge=br-nlbench
ip link del "$bridge" 2>/dev/null || true
ip link add "$bridge" type bridge
ip addr add 10.123.0.1/24 dev "$bridge"
ip link set "$bridge" up
trap 'ip link del "$bridge" 2>/dev/null || true' EXIT

cat >"$work/ip-cycle.sh" <<SH
#!/bin/sh
set -e
ns=berth-5ca1ab1e0000 veth=vb5ca1ab1e0000
printf 'netns add %s\nlink add %s type veth peer name eth0 netns %s\nlink set %s master $bridge up\nlink set %s type bridge_slave hairpin on\n' \
  \$ns \$veth \$ns \$veth \$veth | ip -batch -
printf 'addr add 10.123.0.2/24 dev eth0\nlink set eth0 up\nlink set lo up\nroute add default via 10.123.0.1\n' | ip -n \$ns -batch -
ip netns del \$ns
if [ -e /sys/class/net/\$veth ]; then ip link del \$veth 2>/dev/null || true; fi
SH
chmod +x "$work/ip-cycle.sh"

hyperfine -N --warmup 5 --runs "${RUNS:-100}" --export-markdown "$work/netlink.md" \
  -n "ip (before)" "$work/ip-cycle.sh" \
  -n "netlink (after)" "$cycle $bridge 10.123.0.2/24 10.123.0.1"
cat "$work/netlink.md"

#!/usr/bin/env bash
# A container's network plumbing alone, as the monitor does it around a container's life:
# namespace, veth pair on a bridge (hairpin on), eth0's address, eth0 and lo up, default route
# (up), then removal (down). Before: the `ip` commands netctl/src/link.rs ran until it spoke
# netlink (two `ip -batch` up; `ip netns del` and, if the veth outlived it, `ip link del` down),
# from a /bin/sh script. After: netctl::link, through netctl/examples/sandbox_cycle.rs.
# Up and down are timed apart, each run prepared by the other and then 100 ms for the kernel's
# background work (a dead namespace's teardown holds the RTNL lock that every link change
# takes). Usage: bench/netlink.sh (as root)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
work=${BENCH_WORK:-/tmp/berth-bench}
mkdir -p "$work"
command -v hyperfine >/dev/null || { echo "bench: hyperfine is missing (apt-get install hyperfine)" >&2; exit 1; }
(cd "$top" && cargo build --release -q -p berth-netctl --example sandbox_cycle)

bridge=br-nlbench
ip link del "$bridge" 2>/dev/null || true
ip link add "$bridge" type bridge
ip addr add 10.123.0.1/24 dev "$bridge"
ip link set "$bridge" up
trap 'ip netns del berth-5ca1ab1e0000 2>/dev/null || true; ip link del "$bridge" 2>/dev/null || true' EXIT

cat >"$work/ip-up.sh" <<SH
#!/bin/sh
set -e
ns=berth-5ca1ab1e0000 veth=vb5ca1ab1e0000
printf 'netns add %s\nlink add %s type veth peer name eth0 netns %s\nlink set %s master $bridge up\nlink set %s type bridge_slave hairpin on\n' \
  \$ns \$veth \$ns \$veth \$veth | ip -batch -
printf 'addr add 10.123.0.2/24 dev eth0\nlink set eth0 up\nlink set lo up\nroute add default via 10.123.0.1\n' | ip -n \$ns -batch -
SH
cat >"$work/ip-down.sh" <<SH
#!/bin/sh
ns=berth-5ca1ab1e0000 veth=vb5ca1ab1e0000
[ -e /var/run/netns/\$ns ] && ip netns del \$ns
if [ -e /sys/class/net/\$veth ]; then ip link del \$veth 2>/dev/null; fi
exit 0
SH
chmod +x "$work/ip-up.sh" "$work/ip-down.sh"
new="$top/target/$(rustc -vV | sed -n 's/^host: //p')/release/examples/sandbox_cycle"
args="$bridge 10.123.0.2/24 10.123.0.1"

hyperfine -N --warmup 5 --runs "${RUNS:-100}" --export-markdown "$work/netlink.md" \
  --prepare "sh -c '$new down $args && sleep 0.1'" -n "up, ip (before)" "$work/ip-up.sh" \
  --prepare "sh -c '$work/ip-down.sh && sleep 0.1'" -n "up, netlink (after)" "$new up $args" \
  --prepare "sh -c '$new down $args && $work/ip-up.sh && sleep 0.1'" -n "down, ip (before)" "$work/ip-down.sh" \
  --prepare "sh -c '$work/ip-down.sh && $new up $args && sleep 0.1'" -n "down, netlink (after)" "$new down $args" \
  --prepare "sh -c '$new down $args && sleep 0.1'" -n "up and down, ip (before)" "sh -c '$work/ip-up.sh && $work/ip-down.sh'" \
  --prepare "sh -c '$new down $args && sleep 0.1'" -n "up and down, netlink (after)" "$new cycle $args"
"$new" down $args
cat "$work/netlink.md"

#!/usr/bin/env bash
# `compose up -d` then `down -t 0` of N busybox services on one network: berth against Debian's
# docker-compose (v1) and podman-compose, in one run (N=10); then berth alone at 10, 50 and 100
# services, to show how its time grows. Usage: bench/compose_up.sh   (as root)
source "$(dirname "$0")/common.sh"
setup_bench
need docker-compose docker-compose
need podman-compose podman-compose
bb_everywhere compose

project() { # DIR N: a project of N services on the default network
  rm -rf "$1" && mkdir -p "$1"
  {
    echo "services:"
    for i in $(seq "$2"); do
      printf '  s%d:\n    image: bb\n    command: ["sleep", "3600"]\n' "$i"
    done
  } >"$1/compose.yaml"
}

dir="$work/up10" && project "$dir" 10
cd "$dir"
export PODMAN_COMPOSE_PODMAN="$podman"
hyperfine --warmup 1 --runs 5 --export-markdown "$work/compose_up.md" \
  -n "berth compose up -d + down" "$berth compose up -d 2>/dev/null && $berth compose down -t 0 2>/dev/null" \
  -n "docker-compose up -d + down" "docker-compose up -d 2>/dev/null && docker-compose down -t 0 2>/dev/null" \
  -n "podman-compose up -d + down" "podman-compose --podman-path /usr/bin/podman --podman-args='--root $work/podman-root --runroot $work/podman-run --storage-driver overlay --events-backend none --cgroup-manager cgroupfs' up -d >/dev/null 2>&1 && podman-compose --podman-path /usr/bin/podman --podman-args='--root $work/podman-root --runroot $work/podman-run --storage-driver overlay --events-backend none --cgroup-manager cgroupfs' down -t 0 >/dev/null 2>&1"
cat "$work/compose_up.md"

# berth alone: 10, 50, 100 services.
for n in 10 50 100; do
  d="$work/up$n-scale" && project "$d" "$n"
  cd "$d"
  hyperfine --warmup 1 --runs 3 --export-markdown "$work/compose_up_$n.md" \
    -n "berth up+down, $n services" "$berth compose up -d 2>/dev/null && $berth compose down -t 0 2>/dev/null"
  tail -1 "$work/compose_up_$n.md"
done

#!/usr/bin/env bash
# load and save of a 64 MiB image: berth against docker and podman, in one run.
# Usage: bench/images.sh   (as root; results as hyperfine tables, markdown in $work/*.md)
source "$(dirname "$0")/common.sh"
setup_bench
busybox_rootfs

# The image: busybox plus 64 MiB of random data, saved once by berth; every tool loads that
# same archive (docker and podman read berth's archives).
if [ ! -f "$work/big.tar" ]; then
  rm -rf "$work/big" && mkdir -p "$work/big" && tar -C "$work/big" -xf "$work/busybox.tar"
  head -c 64M /dev/urandom >"$work/big/random.bin"
  tar -C "$work/big" -cf "$work/big-rootfs.tar" . && rm -rf "$work/big"
  BERTH_ROOT="$work/berth-seed" "$berth" import "$work/big-rootfs.tar" bench/big:1 >/dev/null
  BERTH_ROOT="$work/berth-seed" "$berth" save -o "$work/big.tar" bench/big:1
fi
export BERTH_ROOT="$work/berth-root"
podman="podman --root $work/podman-root --runroot $work/podman-run --storage-driver overlay --events-backend none"

hyperfine --warmup 1 --runs 10 --export-markdown "$work/load.md" \
  --prepare "$berth rmi -f bench/big:1 >/dev/null 2>&1; sync; true" -n "berth load" "$berth load -i $work/big.tar" \
  --prepare "docker rmi -f bench/big:1 >/dev/null 2>&1; sync; true" -n "docker load" "docker load -i $work/big.tar" \
  --prepare "$podman rmi -f bench/big:1 >/dev/null 2>&1; sync; true" -n "podman load" "$podman load -q -i $work/big.tar"

"$berth" load -q -i "$work/big.tar"; docker load -q -i "$work/big.tar" >/dev/null; $podman load -q -i "$work/big.tar" >/dev/null
hyperfine --warmup 1 --runs 10 --export-markdown "$work/save.md" \
  --prepare "rm -f $work/out.tar; sync" -n "berth save" "$berth save -o $work/out.tar bench/big:1" \
  --prepare "rm -f $work/out.tar; sync" -n "docker save" "docker save -o $work/out.tar bench/big:1" \
  --prepare "rm -f $work/out.tar; sync" -n "podman save" "$podman save -o $work/out.tar docker.io/bench/big:1"

cat "$work/load.md" "$work/save.md"

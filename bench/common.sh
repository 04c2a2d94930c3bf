# Shared by the bench scripts: a berth as shipped (release-lto), a busybox rootfs, running docker and podman.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(dirname "$here")
work=${BENCH_WORK:-/tmp/berth-bench}
mkdir -p "$work"
# Cargo builds for the host's target named explicitly (.cargo/config.toml), so its output is
# under target/<host triple>/.
out="$top/target/$(rustc -vV | sed -n 's/^host: //p')"
# BERTH_BIN: a berth binary to measure instead of a fresh build of the shipped profile
# (`release-lto`, Cargo.toml).
berth="${BERTH_BIN:-$out/release-lto/berth}"

need() { command -v "$1" >/dev/null || { echo "bench: $1 is missing (apt-get install $2)" >&2; exit 1; }; }

setup_bench() {
  need hyperfine hyperfine
  need podman podman
  need dockerd docker.io
  [ -n "${BERTH_BIN:-}" ] || (cd "$top" && cargo build --profile release-lto -q)
  # Docker's daemon, started here if none runs (Debian's docker.io).
  if ! docker info >/dev/null 2>&1; then
    (dockerd >"$work/dockerd.log" 2>&1 &)
    for _ in $(seq 50); do docker info >/dev/null 2>&1 && break; sleep 0.2; done
  fi
  # podman with runc and the rlimits this machine allows (DESIGN.md section 6).
  mkdir -p /etc/containers
  if ! grep -q berth-bench /etc/containers/containers.conf 2>/dev/null; then
    cat >>/etc/containers/containers.conf <<'CONF'
# berth-bench
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]
[engine]
runtime = "runc"
CONF
  fi
}

# A busybox root filesystem tarball at $work/busybox.tar.
busybox_rootfs() {
  [ -f "$work/busybox.tar" ] && return
  rm -rf "$work/rootfs" && mkdir -p "$work/rootfs/bin" "$work/rootfs/etc"
  cp /bin/busybox "$work/rootfs/bin/"
  chroot "$work/rootfs" /bin/busybox --install -s /bin
  echo 'root:x:0:0:root:/root:/bin/sh' >"$work/rootfs/etc/passwd"
  echo 'root:x:0:' >"$work/rootfs/etc/group"
  tar -C "$work/rootfs" -cf "$work/busybox.tar" .
}

# The busybox image as `bb` in berth (state root $work/berth-NAME-root), docker and podman;
# sets $podman to the podman command line the benches use.
bb_everywhere() {
  busybox_rootfs
  export BERTH_ROOT="$work/berth-$1-root" BERTH_RUNROOT="$work/berth-$1-runroot"
  "$berth" images -q bb | grep -q . || "$berth" import "$work/busybox.tar" bb >/dev/null
  docker image inspect bb >/dev/null 2>&1 || docker import "$work/busybox.tar" bb >/dev/null
  podman="podman --root $work/podman-root --runroot $work/podman-run --storage-driver overlay --events-backend none --cgroup-manager cgroupfs"
  $podman image exists localhost/bb || $podman import "$work/busybox.tar" bb >/dev/null
}

#!/usr/bin/env bash
# Installs what berth's tests, demo and benchmarks need on Debian 12 (run as root).
# Idempotent: packages already present are skipped quickly.
set -euo pipefail

packages=(
  busybox-static   # test images are made offline from it
  tini             # `--init` runs its static build as /sbin/docker-init, as Docker does
  libseccomp-dev   # libcontainer's seccomp support (containers)
  skopeo umoci     # OCI layouts made by other tools, in the tests
  podman           # a berth `save` must load into podman
  python3          # hostile-archive fixtures
  gzip zstd bzip2 xz-utils  # compressed tarballs for import/load tests
  iproute2 nftables
  docker-registry  # the CNCF distribution server the registry tests push to and pull from
  apache2-utils    # htpasswd (bcrypt) for the registry's basic-auth test
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: cargo not found; install a Rust toolchain (rustup, Rust 1.85 or newer) first" >&2
  exit 1
fi

#!/usr/bin/env bash
# A tour of berth's image commands on a busybox image made offline. Usage: run.sh BERTH_BINARY
set -euo pipefail
berth=$(realpath "${1:-berth}")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export BERTH_ROOT="$work/state"

# A root filesystem from the host's static busybox: the image every berth example starts from.
source "$(dirname "$0")/../busybox-rootfs.sh"
busybox_rootfs "$work"
tar -C "$work/rootfs" -czf "$work/busybox.tar.gz" .

step() { printf '\n$ berth %s\n' "$*"; "$berth" "$@"; }
step import -c 'CMD ["sh"]' -c 'ENV GREETING=hello' "$work/busybox.tar.gz" demo/busybox:1.0
step tag demo/busybox:1.0 demo/busybox:latest
step images
step history demo/busybox:1.0
step inspect --format '{{.Id}} {{.Config.Cmd}} {{.Config.Env}}' demo/busybox
step save -o "$work/demo.tar" demo/busybox:1.0 demo/busybox:latest
step rmi demo/busybox:1.0 demo/busybox:latest
step load -i "$work/demo.tar"
step images --format '{{.Repository}}:{{.Tag}} {{.ID}} {{.Size}}'
step system check

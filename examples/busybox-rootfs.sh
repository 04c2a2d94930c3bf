# Sourced by the examples: busybox_rootfs DIR writes DIR/rootfs (the host's static busybox,
# its applet links, passwd and group), the image every berth example starts from.
busybox_rootfs() {
  mkdir -p "$1/rootfs/bin" "$1/rootfs/etc"
  cp /bin/busybox "$1/rootfs/bin/"
  chroot "$1/rootfs" /bin/busybox --install -s /bin
  echo 'root:x:0:0:root:/root:/bin/sh' >"$1/rootfs/etc/passwd"
  echo 'root:x:0:' >"$1/rootfs/etc/group"
}

#!/usr/bin/env bash
# push and pull of a multi-layer image (busybox plus four 16 MiB layers of random data)
# against a local distribution registry: berth against docker and podman, in one run.
# Usage: bench/registry.sh   (as root; BERTH_BIN=path uses that berth binary instead of a
# release build; results as hyperfine tables, markdown in $work/push.md and $work/pull.md)
source "$(dirname "$0")/common.sh"
need docker-registry docker-registry
need skopeo skopeo
setup_bench
busybox_rootfs

# The registry: a free port, its own storage, no blob-descriptor cache (each push's
# --prepare empties the storage, and a cache would remember blobs that are gone).
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
reg="127.0.0.1:$port"
rm -rf "$work/registry" && mkdir -p "$work/registry/data"
cat >"$work/registry/config.yml" <<CONF
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $work/registry/data}, delete: {enabled: true}}
http: {addr: $reg}
CONF
docker-registry serve "$work/registry/config.yml" >"$work/registry/log" 2>&1 &
registry_pid=$!
trap 'kill $registry_pid 2>/dev/null' EXIT
for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done

# The image, once: an OCI layout with five uncompressed layers, loaded by every tool.
if [ ! -f "$work/layers.tar" ]; then
  rm -rf "$work/layers" && mkdir -p "$work/layers"
  python3 - "$work" <<'PY'
import hashlib, io, json, os, sys, tarfile
work = sys.argv[1]
out = os.path.join(work, "layers-oci")
os.makedirs(os.path.join(out, "blobs/sha256"), exist_ok=True)
def blob(b):
    d = hashlib.sha256(b).hexdigest()
    open(os.path.join(out, "blobs/sha256", d), "wb").write(b)
    return "sha256:" + d, len(b)
def layer_from_tar(path):
    return open(path, "rb").read()
def layer_of(name, data):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as t:
        info = tarfile.TarInfo(name); info.size = len(data); info.mode = 0o644
        t.addfile(info, io.BytesIO(data))
    return buf.getvalue()
layers = [layer_from_tar(os.path.join(work, "busybox.tar"))]
layers += [layer_of(f"data{i}.bin", os.urandom(16 << 20)) for i in range(4)]
descs, diffs = [], []
for l in layers:
    d, s = blob(l)
    descs.append({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d, "size": s})
    diffs.append(d)
cfg = {"architecture": "amd64", "os": "linux", "created": "2024-01-01T00:00:00Z",
       "config": {"Cmd": ["sh"]}, "rootfs": {"type": "layers", "diff_ids": diffs}}
cd, cs = blob(json.dumps(cfg).encode())
man = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
       "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cs},
       "layers": descs}
md, ms = blob(json.dumps(man).encode())
open(os.path.join(out, "oci-layout"), "w").write('{"imageLayoutVersion":"1.0.0"}')
json.dump({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
    "digest": md, "size": ms, "annotations": {"org.opencontainers.image.ref.name": "1",
    "io.containerd.image.name": "bench/layers:1"}}]}, open(os.path.join(out, "index.json"), "w"))
PY
  BERTH_ROOT="$work/berth-seed" "$berth" load -q -i <(tar -C "$work/layers-oci" -cf - .) >/dev/null
  BERTH_ROOT="$work/berth-seed" "$berth" save -o "$work/layers.tar" bench/layers:1
fi

export BERTH_ROOT="$work/berth-reg-root" BERTH_RUNROOT="$work/berth-reg-run"
podman="podman --root $work/podman-root --runroot $work/podman-run --storage-driver overlay --events-backend none"
# Every tool starts from the loaded image alone: whatever an earlier run left (tags on other
# ports) goes by image ID, which all three agree on (the config digest). Only this image is
# removed: docker's daemon may hold other people's images.
id=$(BERTH_ROOT="$work/berth-seed" "$berth" image inspect --format '{{.Id}}' bench/layers:1)
"$berth" rmi -f "$id" >/dev/null 2>&1 || true
docker rmi -f "$id" >/dev/null 2>&1 || true
$podman rmi -f "$id" >/dev/null 2>&1 || true
"$berth" load -q -i "$work/layers.tar" >/dev/null
docker load -q -i "$work/layers.tar" >/dev/null
$podman load -q -i "$work/layers.tar" >/dev/null
"$berth" tag bench/layers:1 "$reg/bench/berth:1"
docker tag bench/layers:1 "$reg/bench/docker:1"
$podman tag docker.io/bench/layers:1 "$reg/bench/podman:1"

# Push: each tool sends its own copy into an empty registry (docker and podman gzip the
# layers as they push; berth sends them as stored). podman's blob-info cache would remember
# blobs the emptied registry no longer has: it goes too.
empty="rm -rf $work/registry/data/docker; sync"
hyperfine --warmup 1 --runs 10 --export-markdown "$work/push.md" \
  --prepare "$empty" -n "berth push" "$berth push -q $reg/bench/berth:1" \
  --prepare "$empty" -n "docker push" "docker push -q $reg/bench/docker:1" \
  --prepare "$empty; rm -f /var/lib/containers/cache/blob-info-cache-v1.boltdb" -n "podman push" "$podman push -q --tls-verify=false $reg/bench/podman:1"

# Pull: all three fetch the same gzip-compressed image (as a registry usually serves),
# into a store that lacks it and its layers (the loaded images share them: they go first).
"$berth" rmi -f "$id" >/dev/null
docker rmi -f "$id" >/dev/null
$podman rmi -f "$id" >/dev/null
skopeo copy -q --dest-tls-verify=false --dest-compress --dest-compress-format gzip \
  "oci:$work/layers-oci:1" "docker://$reg/bench/gz:1"
hyperfine --warmup 1 --runs 10 --export-markdown "$work/pull.md" \
  --prepare "$berth rmi -f $id >/dev/null 2>&1; sync; true" -n "berth pull" "$berth pull -q $reg/bench/gz:1" \
  --prepare "docker rmi -f $id >/dev/null 2>&1; sync; true" -n "docker pull" "docker pull -q $reg/bench/gz:1" \
  --prepare "$podman rmi -f $id >/dev/null 2>&1; sync; true" -n "podman pull" "$podman pull -q --tls-verify=false $reg/bench/gz:1" \
  --prepare "rm -rf $work/skopeo-out; sync" -n "skopeo copy to an OCI layout (no unpack)" \
  "skopeo copy -q --src-tls-verify=false docker://$reg/bench/gz:1 oci:$work/skopeo-out:1"

cat "$work/push.md" "$work/pull.md"

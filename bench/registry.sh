#!/usr/bin/env bash
# Issue #5's bench: push and pull of a 64 MiB image of two layers (32 MiB of random data
# each) against a local distribution registry (Debian's docker-registry on 127.0.0.1): berth
# against docker and podman, and for the pull skopeo's copy to an OCI layout (which unpacks
# nothing), all in one hyperfine run. Every pull starts from an empty store: berth's and
# podman's state roots (private to this bench) are wiped before each run, docker's image is
# removed (its daemon may hold other people's images), skopeo's layout directory is wiped.
# Usage: bench/registry.sh   (as root; BERTH_BIN=path uses that berth binary instead of a
# release build; BERTH_BEFORE=path adds another berth binary to the pull's run; RUNS=n changes
# the 10 runs; PUSH=0 skips the push; results as hyperfine tables, markdown in $work/push.md
# and $work/pull.md)
source "$(dirname "$0")/common.sh"
need docker-registry docker-registry
need skopeo skopeo
setup_bench

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

runs=${RUNS:-10}
# The image, once: an OCI layout with two uncompressed layers, loaded by every tool.
if [ ! -f "$work/layers2.tar" ]; then
  python3 - "$work" <<'PY'
import hashlib, io, json, os, sys, tarfile
work = sys.argv[1]
out = os.path.join(work, "layers2-oci")
os.makedirs(os.path.join(out, "blobs/sha256"), exist_ok=True)
def blob(b):
    d = hashlib.sha256(b).hexdigest()
    open(os.path.join(out, "blobs/sha256", d), "wb").write(b)
    return "sha256:" + d, len(b)
def layer_of(name, data):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as t:
        info = tarfile.TarInfo(name); info.size = len(data); info.mode = 0o644
        t.addfile(info, io.BytesIO(data))
    return buf.getvalue()
layers = [layer_of(f"data{i}.bin", os.urandom(32 << 20)) for i in range(2)]
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
    "io.containerd.image.name": "bench/layers2:1"}}]}, open(os.path.join(out, "index.json"), "w"))
PY
  rm -rf "$work/berth-seed2"
  BERTH_ROOT="$work/berth-seed2" "$berth" load -q -i <(tar -C "$work/layers2-oci" -cf - .) >/dev/null
  BERTH_ROOT="$work/berth-seed2" "$berth" save -o "$work/layers2.tar" bench/layers2:1
fi

export BERTH_ROOT="$work/berth-reg-root" BERTH_RUNROOT="$work/berth-reg-run"
podman="podman --root $work/podman-root --runroot $work/podman-run --storage-driver overlay --events-backend none"
# Every tool starts from the loaded image alone: whatever an earlier run left (tags on other
# ports) goes by image ID, which all three agree on (the config digest). Only this image is
# removed: docker's daemon may hold other people's images.
id=$(BERTH_ROOT="$work/berth-seed2" "$berth" image inspect --format '{{.Id}}' bench/layers2:1)
"$berth" rmi -f "$id" >/dev/null 2>&1 || true
docker rmi -f "$id" >/dev/null 2>&1 || true
$podman rmi -f "$id" >/dev/null 2>&1 || true
"$berth" load -q -i "$work/layers2.tar" >/dev/null
docker load -q -i "$work/layers2.tar" >/dev/null
$podman load -q -i "$work/layers2.tar" >/dev/null
"$berth" tag bench/layers2:1 "$reg/bench/berth:1"
docker tag bench/layers2:1 "$reg/bench/docker:1"
$podman tag docker.io/bench/layers2:1 "$reg/bench/podman:1"

# Push: each tool sends its own copy into an empty registry (docker and podman gzip the
# layers as they push; berth sends them as stored). podman's blob-info cache would remember
# blobs the emptied registry no longer has: it goes too.
if [ "${PUSH:-1}" != 0 ]; then
  empty="rm -rf $work/registry/data/docker; sync"
  hyperfine --warmup 1 --runs "$runs" --export-markdown "$work/push.md" \
    --prepare "$empty" -n "berth push" "$berth push -q $reg/bench/berth:1" \
    --prepare "$empty" -n "docker push" "docker push -q $reg/bench/docker:1" \
    --prepare "$empty; rm -f /var/lib/containers/cache/blob-info-cache-v1.boltdb" -n "podman push" "$podman push -q --tls-verify=false $reg/bench/podman:1"
fi

# Pull: all four fetch the same image, its two layers gzip-compressed at gzip's default level
# (as docker pushes them; skopeo compresses them here), into an empty store each run: berth
# and podman into state roots of their own, wiped by --prepare (so they create their store
# and database each time, as on a first pull); docker after `rmi` of the image (the loaded
# copies share its layers: they go first); skopeo into a wiped OCI layout directory.
"$berth" rmi -f "$id" >/dev/null
docker rmi -f "$id" >/dev/null
$podman rmi -f "$id" >/dev/null
skopeo copy -q --dest-tls-verify=false --dest-compress --dest-compress-format gzip \
  "oci:$work/layers2-oci:1" "docker://$reg/bench/gz:1"
pull_root="$work/berth-pull-root" pull_run="$work/berth-pull-run"
podman_pull="podman --root $work/podman-pull-root --runroot $work/podman-pull-run --storage-driver overlay --events-backend none"
# BERTH_BEFORE=path: another berth binary (an earlier build) pulls in the same run.
before=()
if [ -n "${BERTH_BEFORE:-}" ]; then
  before=(--prepare "rm -rf $pull_root $pull_run; sync" -n "berth pull ($BERTH_BEFORE)"
    "BERTH_ROOT=$pull_root BERTH_RUNROOT=$pull_run $BERTH_BEFORE pull -q $reg/bench/gz:1")
fi
hyperfine --warmup 1 --runs "$runs" --export-markdown "$work/pull.md" \
  --prepare "rm -rf $pull_root $pull_run; sync" -n "berth pull" \
  "BERTH_ROOT=$pull_root BERTH_RUNROOT=$pull_run $berth pull -q $reg/bench/gz:1" "${before[@]}" \
  --prepare "docker rmi -f $id >/dev/null 2>&1; sync; true" -n "docker pull" "docker pull -q $reg/bench/gz:1" \
  --prepare "rm -rf $work/podman-pull-root $work/podman-pull-run; sync" -n "podman pull" \
  "$podman_pull pull -q --tls-verify=false $reg/bench/gz:1" \
  --prepare "rm -rf $work/skopeo-out; sync" -n "skopeo copy to an OCI layout (no unpack)" \
  "skopeo copy -q --src-tls-verify=false docker://$reg/bench/gz:1 oci:$work/skopeo-out:1"

[ "${PUSH:-1}" = 0 ] || cat "$work/push.md"
cat "$work/pull.md"

#!/usr/bin/env bash
# `build` of a ten-step Dockerfile (FROM, WORKDIR, ENV, COPY of a 50-file context, two RUNs,
# LABEL, EXPOSE, USER, CMD) with berth, docker (the classic builder: Debian's dockerd 20.10 has no BuildKit
# frontend here) and podman (buildah), in one run: a cold build (--no-cache) and a fully
# cached rebuild.
# Usage: bench/build.sh   (as root; BERTH_BIN=path uses that berth binary instead of a
# release build)
source "$(dirname "$0")/common.sh"
setup_bench
bb_everywhere build

ctx="$work/build-ctx"
rm -rf "$ctx" && mkdir -p "$ctx/src"
for i in $(seq 50); do head -c 2048 /dev/urandom | base64 >"$ctx/src/file$i.txt"; done
cat >"$ctx/Dockerfile" <<'DOCKERFILE'
FROM bb
WORKDIR /app
ENV MODE=bench
COPY src/ ./src/
RUN ls src | wc -l > /count
RUN echo "$MODE" > /mode
LABEL org.example.bench=build
EXPOSE 8080
USER nobody
CMD ["cat", "/count", "/mode"]
DOCKERFILE
# docker's CLI here defaults to BuildKit, which this daemon lacks: ask for the classic builder.
export DOCKER_BUILDKIT=0

hyperfine --warmup 2 --runs 10 --export-markdown "$work/build-cold.md" \
  -n "berth build --no-cache" "$berth build -q --no-cache --label berth-bench=build -t bench-build $ctx" \
  -n "docker build --no-cache" "docker build -q --no-cache --label berth-bench=build -t bench-build $ctx" \
  -n "podman build --no-cache" "$podman build -q --no-cache --label berth-bench=build -t bench-build $ctx"
hyperfine --warmup 2 --runs 10 --export-markdown "$work/build-cached.md" \
  -n "berth build (cached)" "$berth build -q --label berth-bench=build -t bench-build $ctx" \
  -n "docker build (cached)" "docker build -q --label berth-bench=build -t bench-build $ctx" \
  -n "podman build (cached)" "$podman build -q --label berth-bench=build -t bench-build $ctx"
cat "$work/build-cold.md" "$work/build-cached.md"

"$berth" run --rm bench-build
# What the builds left in docker (shared with others: only this script's images, by label)
# and in podman's private store.
docker rmi bench-build >/dev/null
docker image prune -f --filter label=berth-bench=build >/dev/null
$podman image prune -f >/dev/null
"$berth" network prune -f >/dev/null

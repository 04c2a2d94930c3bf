#!/usr/bin/env bash
# `compose config` of an 80-service project: berth against Debian's docker-compose (v1), in one
# run. Usage: bench/compose_config.sh   (apt-get install docker-compose hyperfine first)
source "$(dirname "$0")/common.sh"
need hyperfine hyperfine
need docker-compose docker-compose
(cd "$top" && cargo build --profile release-lto -q)

# A large project in the shape of real ones: images, ports, environment, volumes, networks,
# depends_on with conditions, healthchecks, labels, interpolation from .env.
dir="$work/compose80"
rm -rf "$dir" && mkdir -p "$dir"
printf 'TAG=1.25\nDB_PASSWORD=secret\n' >"$dir/.env"
{
  echo "services:"
  for i in $(seq 80); do
    cat <<SVC
  svc$i:
    image: "registry.example.com/team/svc$i:\${TAG}"
    command: ["serve", "--port", "80$((i % 10))0"]
    environment:
      SERVICE_NAME: svc$i
      DB_URL: "postgres://app:\${DB_PASSWORD}@db:5432/app"
      LOG_LEVEL: \${LOG_LEVEL:-info}
    ports:
      - "$((20000 + i)):8080"
    volumes:
      - data$i:/var/lib/svc
      - ./config/svc$i:/etc/svc:ro
    networks: [front, back]
    labels:
      com.example.team: "team$((i % 7))"
    healthcheck:
      test: ["CMD", "wget", "-q", "-O-", "http://localhost:8080/health"]
      interval: 10s
      timeout: 3s
      retries: 3
    restart: unless-stopped
SVC
    if [ "$i" -gt 1 ]; then
      printf '    depends_on:\n      svc%d:\n        condition: service_healthy\n' $((i - 1))
    fi
  done
  echo "networks:"
  echo "  front: {}"
  echo "  back: {internal: true}"
  echo "volumes:"
  for i in $(seq 80); do echo "  data$i: {}"; done
} >"$dir/compose.yaml"

cd "$dir"
"$berth" compose config -q
docker-compose config -q
hyperfine --warmup 3 --runs 20 --export-markdown "$work/compose_config.md" \
  -n "berth compose config" "$berth compose config" \
  -n "docker-compose config" "docker-compose config"
cat "$work/compose_config.md"

#!/usr/bin/env bash
# docker-test: build the Dockerfile's image for real, run it, and drive it through its HTTP API
# (/healthz, the Docker HEALTHCHECK, a new lab, a command, packets), then remove what it made.
#
# Works on a machine without Docker Hub: it installs Debian's docker.io when dockerd is missing,
# starts dockerd when no engine answers (and stops it again at the end), and when python:3.11-slim
# cannot be pulled it builds a stand-in base with debootstrap from the host's own Debian mirror
# (kept as the image kube-proxy-lab-base:bookworm and as var/docker/base-bookworm.tar, so only
# the first run pays for it). Prints `SKIP: <reason>` and exits 0 only when no engine can run.
#
# Knobs: KPL_DOCKER_BASE (base image to try first), KPL_DOCKER_KEEP=1 (keep the image and the
# container for a look afterwards).
set -euo pipefail

cd "$(dirname "$0")/.."
STATE=var/docker
mkdir -p "$STATE"
WANTED_BASE=${KPL_DOCKER_BASE:-python:3.11-slim}
STANDIN=kube-proxy-lab-base:bookworm
STANDIN_TAR=$STATE/base-bookworm.tar
IMAGE=kube-proxy-lab:docker-test
BUILD_CACHE=kube-proxy-lab:docker-test-build
PRIVATE_INDEX=""
CONTAINER=kube-proxy-lab-docker-test-$$
STARTED_DOCKERD=""
PG_DATABASE=""
started=$SECONDS

say() { echo "==> $*"; }
skip() {
  echo "SKIP: $*"
  exit 0
}
fail() {
  echo "docker-test FAILED: $*" >&2
  exit 1
}

# Run by the EXIT trap below, on success, failure and skip alike.
# shellcheck disable=SC2329
cleanup() {
  local status=$?
  if [ "${KPL_DOCKER_KEEP:-0}" != 1 ] && docker info > /dev/null 2>&1; then
    docker rm -f -v "$CONTAINER" "$CONTAINER-a" "$CONTAINER-b" > /dev/null 2>&1 || true
    docker rmi "$IMAGE" > /dev/null 2>&1 || true
    # The build stage stays tagged as the next run's cache (its dependency layer takes a minute
    # to make), unless a private index was passed: build arguments live in its history.
    if [ -n "$PRIVATE_INDEX" ]; then docker rmi "$BUILD_CACHE" > /dev/null 2>&1 || true; fi
    # Build stages a newer one replaced.
    docker image prune -f --filter label=kube-proxy-lab.stage=build > /dev/null 2>&1 || true
  fi
  if [ -n "$PG_DATABASE" ]; then pg_admin drop "$PG_DATABASE" > /dev/null 2>&1 || true; fi
  if [ -n "$STARTED_DOCKERD" ]; then
    say "stopping the dockerd this run started (pid $STARTED_DOCKERD)"
    kill "$STARTED_DOCKERD" 2> /dev/null || true
    for _ in $(seq 30); do kill -0 "$STARTED_DOCKERD" 2> /dev/null || break; sleep 1; done
  fi
  exit "$status"
}
trap cleanup EXIT

apt_install() {
  if [ "$(id -u)" != 0 ] || ! command -v apt-get > /dev/null 2>&1; then
    return 1
  fi
  say "apt-get install $* (log: $STATE/apt.log)"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    -o DPkg::Lock::Timeout=300 --no-install-recommends "$@"; } > "$STATE/apt.log" 2>&1
}

# --- 1. an engine ------------------------------------------------------------------------------
ensure_engine() {
  if command -v docker > /dev/null 2>&1 && docker info > /dev/null 2>&1; then
    return
  fi
  if ! command -v dockerd > /dev/null 2>&1; then
    apt_install docker.io || skip "no Docker engine and docker.io cannot be installed (needs root and apt)"
  fi
  command -v docker > /dev/null 2>&1 || skip "the docker client is missing"
  [ "$(id -u)" = 0 ] || skip "no Docker engine answers and starting dockerd needs root"
  # No bridge and no iptables rules: this daemon must leave the host's netfilter alone (the
  # kernel tests use it) and the containers here need no network of their own.
  say "starting dockerd (log: $STATE/dockerd.log)"
  setsid dockerd --iptables=false --ip-masq=false --bridge=none \
    > "$STATE/dockerd.log" 2>&1 < /dev/null &
  STARTED_DOCKERD=$!
  for _ in $(seq 60); do
    docker info > /dev/null 2>&1 && return
    kill -0 "$STARTED_DOCKERD" 2> /dev/null || break
    sleep 1
  done
  tail -n 5 "$STATE/dockerd.log" >&2 || true
  STARTED_DOCKERD=""
  skip "dockerd does not start here (no cgroups or privileges?): see $STATE/dockerd.log"
}

# --- 2. a base image ---------------------------------------------------------------------------
# The host's Debian mirror: the first bookworm source in deb822 or one-line apt sources.
debian_mirror() {
  local mirror=""
  mirror=$(awk '
    /^URIs:/ { uri = $2 }
    /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == "bookworm") { print uri; exit } }
    /^$/ { uri = "" }' /etc/apt/sources.list.d/*.sources 2> /dev/null | head -n 1) || true
  if [ -z "$mirror" ] && [ -f /etc/apt/sources.list ]; then
    mirror=$(awk '$1 == "deb" && $0 ~ / bookworm / {
      for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' /etc/apt/sources.list)
  fi
  echo "${mirror:-http://deb.debian.org/debian}"
}

build_standin() {
  [ "$(id -u)" = 0 ] || fail "building the stand-in base with debootstrap needs root"
  command -v debootstrap > /dev/null 2>&1 || apt_install debootstrap \
    || fail "debootstrap is missing and cannot be installed"
  local mirror rootfs
  mirror=$(debian_mirror)
  rootfs=$(mktemp -d "$PWD/$STATE/rootfs.XXXXXX")
  say "debootstrap Debian bookworm from $mirror (log: $STATE/debootstrap.log; about 2 minutes)"
  if ! debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates \
    bookworm "$rootfs" "$mirror" > "$STATE/debootstrap.log" 2>&1; then
    tail -n 20 "$STATE/debootstrap.log" >&2
    rm -rf "$rootfs"
    fail "debootstrap failed"
  fi
  # The host's CA bundle: pip in the build then trusts whatever TLS proxy the host trusts.
  cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" --numeric-owner -cf "$STANDIN_TAR.part" .
  mv "$STANDIN_TAR.part" "$STANDIN_TAR"
  rm -rf "$rootfs"
}

choose_base() {
  if docker image inspect "$WANTED_BASE" > /dev/null 2>&1 \
    || timeout 120 docker pull -q "$WANTED_BASE" > /dev/null 2>&1; then
    BASE=$WANTED_BASE
    return
  fi
  say "$WANTED_BASE cannot be pulled here; using the stand-in base $STANDIN"
  BASE=$STANDIN
  docker image inspect "$STANDIN" > /dev/null 2>&1 && return
  [ -f "$STANDIN_TAR" ] || build_standin
  say "docker import $STANDIN_TAR as $STANDIN"
  docker import --change 'ENV LANG=C.UTF-8' --change 'CMD ["/bin/bash"]' \
    "$STANDIN_TAR" "$STANDIN" > /dev/null
}

# --- 3. pip settings for the build -------------------------------------------------------------
# The host's index, trusted hosts and CA file (environment first, then pip's config files), as
# build arguments; the Dockerfile declares them in the build stage only.
pip_build_args() {
  local pip_config="" name key value
  if command -v python3 > /dev/null 2>&1; then
    pip_config=$(python3 -m pip config list 2> /dev/null || true)
  fi
  for name in PIP_INDEX_URL PIP_EXTRA_INDEX_URL PIP_TRUSTED_HOST PIP_CERT; do
    value=${!name:-}
    if [ -z "$value" ]; then
      key=$(echo "${name#PIP_}" | tr 'A-Z_' 'a-z-')
      value=$(printf '%s\n' "$pip_config" | sed -n "s/^global\.$key='\(.*\)'$/\1/p" | head -n 1)
    fi
    if [ "$name" = PIP_INDEX_URL ] || [ "$name" = PIP_EXTRA_INDEX_URL ]; then
      # Only network indexes: a file:// one names a directory the build cannot see.
      value=$(printf '%s\n' "$value" | tr ' ' '\n' | grep -E '^https?://' | paste -sd ' ' -) || true
    fi
    if [ "$name" = PIP_CERT ] && [ -n "$value" ]; then
      # The file must exist inside the image: the system bundle does (the stand-in carries the
      # host's copy; python:*-slim ships ca-certificates).
      value=/etc/ssl/certs/ca-certificates.crt
    fi
    [ -z "$value" ] || BUILD_ARGS+=(--build-arg "$name=$value")
    case "$name:$value" in PIP_INDEX_URL:?* | PIP_EXTRA_INDEX_URL:?*) PRIVATE_INDEX=1 ;; esac
  done
}

# --- 3b. two replicas of the image on one PostgreSQL ---------------------------------------------
# The project's own Python (SQLAlchemy, psycopg) makes and drops a database of its own on the
# test cluster; prints the new database's URL.
pg_admin() {
  .venv/bin/python - "$1" "$2" << 'EOF_PY'
import sys
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
import os
verb, name = sys.argv[1], sys.argv[2]
base = make_url(os.environ["KPL_TEST_POSTGRES_URL"])
admin = create_engine(base, isolation_level="AUTOCOMMIT")
with admin.connect() as connection:
    if verb == "create":
        connection.execute(text(f'CREATE DATABASE "{name}"'))
        print(base.set(database=name).render_as_string(hide_password=False))
    else:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
EOF_PY
}

free_port() { .venv/bin/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# Two containers of the image, as docker-compose.yml and the Deployment run it, serve one learner
# from one PostgreSQL database: a lab made through one is edited and read through the other.
# Host network, each app listening on 127.0.0.1 only (the test cluster listens there).
postgres_replicas() {
  if [ -z "${KPL_TEST_POSTGRES_URL:-}" ] || [ ! -x .venv/bin/python ]; then
    say "no test PostgreSQL (KPL_TEST_POSTGRES_URL unset): the image ran on SQLite only"
    return
  fi
  local url port_a port_b name
  PG_DATABASE=kpl_docker_$$
  url=$(pg_admin create "$PG_DATABASE") || fail "could not create a database on $KPL_TEST_POSTGRES_URL"
  port_a=$(free_port)
  port_b=$(free_port)
  for name in a b; do
    local port=$port_a
    [ "$name" = b ] && port=$port_b
    docker run -d --name "$CONTAINER-$name" --network host --read-only --tmpfs /tmp \
      -e DATABASE_URL="$url" "$IMAGE" \
      kube-proxy-lab serve --host 127.0.0.1 --port "$port" > /dev/null
  done
  local a=http://127.0.0.1:$port_a b=http://127.0.0.1:$port_b ready=""
  for _ in $(seq 60); do
    if curl -fsS -o /dev/null "$a/readyz" 2> /dev/null && curl -fsS -o /dev/null "$b/readyz" 2> /dev/null; then
      ready=1
      break
    fi
    sleep 1
  done
  [ -n "$ready" ] || {
    docker logs "$CONTAINER-a" >&2 || true
    docker logs "$CONTAINER-b" >&2 || true
    fail "the two replicas on PostgreSQL did not become ready within 60 s"
  }
  local lab lab_id auth edit seen
  lab=$(curl -fsS --max-time 10 -X POST -H 'Content-Type: application/json' -d '{}' "$a/api/labs")
  lab_id=$(echo "$lab" | json "['id']")
  auth="Authorization: Bearer $(echo "$lab" | json "['token']")"
  edit=$(curl -fsS --max-time 10 -X POST -H 'Content-Type: application/json' -H "$auth" \
    -d '{"command": "kubectl scale deployment my-first-deploy --replicas=3"}' \
    "$b/api/labs/$lab_id/commands")
  [ "$(echo "$edit" | json "['ok']")" = True ] || fail "kubectl scale through replica b: $edit"
  seen=$(curl -fsS --max-time 10 -X POST -H 'Content-Type: application/json' -H "$auth" \
    -d '{"from": "external", "to": "10.97.139.74:8080", "proto": "tcp", "count": 60}' \
    "$a/api/labs/$lab_id/requests" | json "['endpoints'].__len__()")
  [ "$seen" = 3 ] || fail "replica a did not see the 3 endpoints scaled through replica b ($seen)"
  say "two replicas on PostgreSQL: a lab made on one, scaled to 3 on the other, 60 packets on the first reach all 3 endpoints"
}

# --- 4. build, run, probe ----------------------------------------------------------------------
# One function, read whole before it runs: editing this file during a run cannot derail it.
main() {
  command -v curl > /dev/null 2>&1 || apt_install curl || fail "curl is missing"
  ensure_engine
  choose_base
  BUILD_ARGS=(--build-arg "BASE=$BASE")
  pip_build_args
  say "docker build -t $IMAGE (base $BASE; log: $STATE/build.log)"
  # The classic builder: Debian's docker.io has no buildx, and it needs none here. Host network:
  # pip reaches PyPI the way the host does, without a bridge.
  if ! { DOCKER_BUILDKIT=0 docker build --network host "${BUILD_ARGS[@]}" --target build \
    -t "$BUILD_CACHE" . && DOCKER_BUILDKIT=0 docker build --network host "${BUILD_ARGS[@]}" \
    -t "$IMAGE" .; } > "$STATE/build.log" 2>&1; then
    tail -n 30 "$STATE/build.log" >&2
    fail "docker build failed (see $STATE/build.log)"
  fi
  say "built in $((SECONDS - started)) s"

  # The container gets a network namespace of its own with only a loopback (--network none); the
  # image's own CMD listens on 0.0.0.0:8000 there and curl runs inside that namespace through
  # nsenter, so no port is published and nothing leaves 127.0.0.1. The root filesystem is
  # read-only, as the Kubernetes manifests ask.
  docker run -d --name "$CONTAINER" --network none --read-only --tmpfs /tmp \
    --health-interval 2s "$IMAGE" > /dev/null
  pid=$(docker inspect -f '{{.State.Pid}}' "$CONTAINER")
  [ "$pid" != 0 ] || {
    docker logs "$CONTAINER" >&2 || true
    fail "the container exited at once"
  }
  call() { nsenter --net="/proc/$pid/ns/net" curl -fsS --max-time 10 "$@"; }

  up=""
  for _ in $(seq 60); do
    if call -o /dev/null http://127.0.0.1:8000/healthz 2> /dev/null; then
      up=1
      break
    fi
    sleep 1
  done
  [ -n "$up" ] || {
    docker logs "$CONTAINER" >&2 || true
    fail "/healthz did not answer within 60 s"
  }
  say "/healthz answers: $(call http://127.0.0.1:8000/healthz)"

  json() { python3 -c "import json, sys; print(json.load(sys.stdin)$1)"; }
  lab=$(call -X POST -H 'Content-Type: application/json' -d '{}' http://127.0.0.1:8000/api/labs)
  lab_id=$(echo "$lab" | json "['id']")
  token=$(echo "$lab" | json "['token']")
  auth="Authorization: Bearer $token"
  say "created lab $lab_id"
  svc=$(call -X POST -H 'Content-Type: application/json' -H "$auth" \
    -d '{"command": "kubectl get svc"}' "http://127.0.0.1:8000/api/labs/$lab_id/commands")
  [ "$(echo "$svc" | json "['ok']")" = True ] || fail "kubectl get svc: $svc"
  output=$(echo "$svc" | json "['output']")
  [[ $output == *10.97.139.74* ]] || fail "kubectl get svc lacks the ClusterIP: $output"
  say "kubectl get svc lists the ClusterIP 10.97.139.74"
  sent=$(call -X POST -H 'Content-Type: application/json' -H "$auth" \
    -d '{"from": "external", "to": "10.97.139.74:8080", "proto": "tcp", "count": 50}' \
    "http://127.0.0.1:8000/api/labs/$lab_id/requests")
  endpoints=$(echo "$sent" | json "['endpoints']")
  [ "$(echo "$sent" | json "['traces'][0]['final']['verdict']")" = ACCEPT ] \
    || fail "the first packet was not accepted: $sent"
  [ "$(echo "$sent" | json "['endpoints'].__len__()")" = 2 ] \
    || fail "50 packets did not reach both endpoints: $endpoints"
  say "50 packets to 10.97.139.74:8080 reached $endpoints"

  health=""
  for _ in $(seq 30); do
    health=$(docker inspect -f '{{.State.Health.Status}}' "$CONTAINER")
    [ "$health" = healthy ] && break
    sleep 1
  done
  [ "$health" = healthy ] || fail "the image's HEALTHCHECK says '$health'"
  uid=$(docker exec "$CONTAINER" id -u)
  [ "$uid" = 10001 ] || fail "the app runs as uid $uid, not 10001"
  say "HEALTHCHECK healthy, running as uid $uid on a read-only root filesystem"
  # A sizing figure for the manifests' memory requests: one worker after a lab and 50 packets.
  say "memory in use: $(docker stats --no-stream --format '{{.MemUsage}}' "$CONTAINER")"
  postgres_replicas
  say "docker-test passed in $((SECONDS - started)) s"
}

# exit on the same line: bash reads nothing of this file after main returns.
main "$@"; exit

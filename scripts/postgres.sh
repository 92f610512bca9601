#!/usr/bin/env bash
# A private PostgreSQL cluster on 127.0.0.1 for the tests and benchmarks (never for production).
#
#   scripts/postgres.sh start   install Debian's postgresql if absent, create the cluster once,
#                               start it, make role kpl/kpl (CREATEDB) and database kpl
#   scripts/postgres.sh stop    stop it (the data stays for the next start)
#   scripts/postgres.sh url     print the DATABASE_URL of the kpl database
#
# Environment: KPL_PG_PORT (default 55432), KPL_PG_DIR (default var/pg in the repository, or a
# directory under /var/tmp when the postgres user cannot reach the repository, e.g. under /root).
# Each command is idempotent; a second `start` only checks that the server runs. On failure the
# reason goes to stderr and the exit status is non-zero, so the Makefile can go on without it.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PORT="${KPL_PG_PORT:-55432}"
URL="postgresql+psycopg://kpl:kpl@127.0.0.1:${PORT}/kpl"

fail() {
  echo "postgres.sh: $*" >&2
  exit 1
}

# The newest installed server's binaries (Debian keeps them out of PATH).
find_bindir() {
  local dir
  dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
  [[ -n "$dir" && -x "$dir/postgres" ]] && echo "$dir"
}

install_server() {
  [[ "$(id -u)" == 0 ]] || fail "PostgreSQL is not installed and installing it needs root"
  command -v apt-get >/dev/null || fail "PostgreSQL is not installed and there is no apt-get"
  echo "postgres.sh: installing Debian's postgresql with apt-get" >&2
  local log
  log="$(mktemp)"
  if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    -o DPkg::Lock::Timeout=300 --no-install-recommends postgresql; } >"$log" 2>&1; then
    tail -n 20 "$log" >&2
    rm -f "$log"
    fail "apt-get install postgresql failed"
  fi
  rm -f "$log"
}

# Root may not run the server: run as the postgres OS user (made by Debian's package) instead.
as_owner() {
  if [[ "$(id -u)" == 0 ]]; then
    # From /: the caller's directory may be closed to the postgres user (paths are absolute).
    (cd / && runuser -u postgres -- "$@")
  else
    "$@"
  fi
}

choose_dir() {
  if [[ -n "${KPL_PG_DIR:-}" ]]; then
    echo "$KPL_PG_DIR"
  elif [[ "$(id -u)" != 0 ]] || (cd / && runuser -u postgres -- test -x "$ROOT"); then
    echo "$ROOT/var/pg"
  else
    # The repository sits where the postgres user cannot enter (e.g. /root): keep the cluster
    # elsewhere, one directory per checkout.
    echo "/var/tmp/kube-proxy-lab-pg-$(echo -n "$ROOT" | sha256sum | cut -c1-12)"
  fi
}

start() {
  local bindir dir data run log
  bindir="$(find_bindir || true)"
  if [[ -z "$bindir" ]]; then
    install_server
    bindir="$(find_bindir || true)"
    [[ -n "$bindir" ]] || fail "postgresql installed but no server under /usr/lib/postgresql"
  fi
  if [[ "$(id -u)" == 0 ]]; then
    id postgres >/dev/null 2>&1 || fail "no 'postgres' OS user to run the server as"
  fi
  dir="$(choose_dir)"
  data="$dir/data"
  run="$dir/run"
  log="$dir/server.log"
  mkdir -p "$dir"
  if [[ "$(id -u)" == 0 ]]; then chown postgres:postgres "$dir"; fi
  as_owner mkdir -p "$run"
  chmod 700 "$dir" 2>/dev/null || true

  if [[ ! -s "$data/PG_VERSION" ]]; then
    # Local socket: the owner only (peer), inside a 0700 directory; TCP: passwords.
    as_owner "$bindir/initdb" -D "$data" -U postgres --auth-local=peer \
      --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
      { tail -n 20 "$dir/initdb.log" >&2; fail "initdb failed in $data"; }
  fi

  if ! as_owner "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    # Loopback only, the socket in our own directory (no /run/postgresql needed); fsync off
    # because this cluster holds throw-away test data and must be quick on a shared machine.
    as_owner "$bindir/pg_ctl" -D "$data" -l "$log" -w -t 30 \
      -o "-c listen_addresses=127.0.0.1 -p $PORT -c unix_socket_directories=$run \
          -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
          -c max_connections=200" start >/dev/null 2>&1 ||
      { tail -n 20 "$log" >&2 2>/dev/null || true; fail "the server did not start on 127.0.0.1:$PORT (log: $log)"; }
  fi

  # A cluster started earlier with another KPL_PG_PORT keeps its port until it is restarted.
  "$bindir/pg_isready" -q -h 127.0.0.1 -p "$PORT" -t 10 ||
    fail "the cluster in $data runs but does not answer on 127.0.0.1:$PORT (another KPL_PG_PORT? run '$0 stop' first)"

  local psql=("$bindir/psql" -h "$run" -p "$PORT" -U postgres -d postgres -X -q -tA -v ON_ERROR_STOP=1)
  if [[ "$(as_owner "${psql[@]}" -c "SELECT 1 FROM pg_roles WHERE rolname = 'kpl'")" != 1 ]]; then
    as_owner "${psql[@]}" -c "CREATE ROLE kpl LOGIN CREATEDB PASSWORD 'kpl'" ||
      fail "could not create role kpl"
  fi
  if [[ "$(as_owner "${psql[@]}" -c "SELECT 1 FROM pg_database WHERE datname = 'kpl'")" != 1 ]]; then
    as_owner "${psql[@]}" -c "CREATE DATABASE kpl OWNER kpl" || fail "could not create database kpl"
  fi
}

stop() {
  local bindir dir
  bindir="$(find_bindir || true)"
  dir="$(choose_dir)"
  [[ -n "$bindir" && -s "$dir/data/PG_VERSION" ]] || return 0
  if as_owner "$bindir/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
    as_owner "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null ||
      fail "pg_ctl stop failed"
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  url) echo "$URL" ;;
  *)
    echo "usage: $0 start|stop|url" >&2
    exit 2
    ;;
esac

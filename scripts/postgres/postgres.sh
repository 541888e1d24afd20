#!/usr/bin/env bash
# A private PostgreSQL cluster on loopback for carwatch tests and CI: Debian's `postgresql` package
# (.ci/run installs it), no Docker. It holds the Iceberg JDBC catalog that scripts/trino/trino.sh
# gives its Trino; the catalog's tables (deploy/postgres/iceberg-catalog.sql) are made at start.
#
# Usage:
#   postgres.sh start <workdir>   initdb (once) and start on a free 127.0.0.1 port; starting again reuses
#                                 the port and the data. Last stdout line: 127.0.0.1:PORT
#   postgres.sh stop  <workdir>   fast shutdown (open transactions roll back), wait
#
# Files in <workdir>: data/ (the cluster, its postgresql.log), port.
#
# Environment:
#   PG_USER, PG_PASSWORD    the superuser, password login over TCP (default carwatch / carwatch-test)
#   PG_DATABASE             the database made at start, with the catalog's tables (default iceberg)
#   PG_BIN                  folder of initdb and pg_ctl (default: the newest /usr/lib/postgresql/*/bin)
#   PG_START_TIMEOUT        seconds to wait for the server (default 30)
set -euo pipefail

PG_USER="${PG_USER:-carwatch}"
PG_PASSWORD="${PG_PASSWORD:-carwatch-test}"
PG_DATABASE="${PG_DATABASE:-iceberg}"
SCHEMA="$(dirname "${BASH_SOURCE[0]}")/../../deploy/postgres/iceberg-catalog.sql"

die() { echo "postgres.sh: $*" >&2; exit 1; }
log() { echo "postgres.sh: $*" >&2; }   # progress to stderr so stdout's last line stays the address

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2; exit 2; }

# free_port, port_open
source "$(dirname "${BASH_SOURCE[0]}")/../lib/ports.sh"

# Debian keeps the server programs off PATH, one folder per major version.
find_bin() {
  if [[ -n "${PG_BIN:-}" ]]; then [[ -x "$PG_BIN/pg_ctl" ]] || die "no pg_ctl in PG_BIN=$PG_BIN"; echo "$PG_BIN"; return; fi
  local c
  c="$(compgen -G '/usr/lib/postgresql/*/bin/pg_ctl' | sort -V | tail -n1 || true)"
  [[ -n "$c" ]] && { dirname "$c"; return; }
  c="$(command -v pg_ctl 2>/dev/null || true)"
  [[ -n "$c" ]] && { dirname "$c"; return; }
  die "PostgreSQL not found (apt-get install postgresql)"
}

# PostgreSQL refuses to run as root: as root the cluster belongs to Debian's postgres user.
as_owner() {
  if [[ $EUID -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

cmd_start() {
  local wd="${1:-}"; [[ -n "$wd" ]] || usage
  local bin; bin="$(find_bin)"
  mkdir -p "$wd"; wd="$(cd "$wd" && pwd)"
  if [[ $EUID -eq 0 ]]; then
    id postgres >/dev/null 2>&1 || die "running as root needs the postgres user (apt-get install postgresql)"
    chown postgres: "$wd"
    runuser -u postgres -- test -x "$wd" || die "the postgres user cannot reach $wd (use a workdir whose parents others may enter, e.g. under /tmp)"
  fi
  local data="$wd/data"

  if [[ ! -f "$data/PG_VERSION" ]]; then
    log "initdb $data"
    local pw="$wd/.pw"
    (umask 077; printf '%s\n' "$PG_PASSWORD" > "$pw")
    [[ $EUID -eq 0 ]] && chown postgres: "$pw"
    as_owner "$bin/initdb" -D "$data" -U "$PG_USER" --pwfile="$pw" --auth=scram-sha-256 -E UTF8 --locale=C >> "$wd/initdb.log" 2>&1 \
      || { rm -f "$pw"; tail -n 20 "$wd/initdb.log" >&2; die "initdb failed"; }
    rm -f "$pw"
    echo "include_if_exists = 'carwatch.conf'" | as_owner tee -a "$data/postgresql.conf" >/dev/null
  fi

  local port
  if [[ -f "$wd/port" ]]; then port="$(cat "$wd/port")"; else port="$(free_port)"; echo "$port" > "$wd/port"; fi
  if ! as_owner "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    port_open "$port" && die "port $port (from $wd/port) is taken by another process; stop it or delete $wd/port"
    # TCP on loopback only, no Unix socket (nothing to clash with the system's cluster); small, for a test box.
    as_owner tee "$data/carwatch.conf" >/dev/null <<CONF
# Written by scripts/postgres/postgres.sh on every start.
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = ''
shared_buffers = 32MB
max_connections = 50
CONF
    log "starting on 127.0.0.1:$port (log $data/postgresql.log)"
    # setsid: the server survives the caller's process group (a test runner's ^C handling).
    as_owner setsid "$bin/pg_ctl" -D "$data" -l "$data/postgresql.log" -w -t "${PG_START_TIMEOUT:-30}" start >&2 < /dev/null \
      || { tail -n 20 "$data/postgresql.log" >&2; die "the server did not start"; }
  fi

  export PGPASSWORD="$PG_PASSWORD" PGOPTIONS="-c client_min_messages=warning"
  local psql=("$bin/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U "$PG_USER")
  if [[ -z "$("${psql[@]}" -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$PG_DATABASE'")" ]]; then
    "${psql[@]}" -d postgres -c "CREATE DATABASE \"$PG_DATABASE\"" >&2
  fi
  "${psql[@]}" -d "$PG_DATABASE" -f "$SCHEMA" >&2
  echo "127.0.0.1:$port"
}

cmd_stop() {
  local wd="${1:-}"; [[ -n "$wd" ]] || usage
  [[ -f "$wd/data/PG_VERSION" ]] || { log "no cluster in $wd"; return 0; }
  local bin; bin="$(find_bin)"
  if ! as_owner "$bin/pg_ctl" -D "$wd/data" status >/dev/null 2>&1; then log "not running"; return 0; fi
  as_owner "$bin/pg_ctl" -D "$wd/data" -m fast -w -t 30 stop >&2
}

case "${1:-}" in
  start) shift; cmd_start "$@" ;;
  stop) shift; cmd_stop "$@" ;;
  *) usage ;;
esac

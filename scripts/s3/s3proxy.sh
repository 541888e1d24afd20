#!/usr/bin/env bash
# S3Proxy (org.gaul:s3proxy from Maven Central): a real S3 API server, here over jclouds' filesystem
# backend, for carwatch tests and CI. scripts/trino/trino.sh keeps the Iceberg tables' files in its bucket.
#
# Usage:
#   s3proxy.sh fetch              the jar (with its dependencies) into the cache, once
#   s3proxy.sh start <workdir>    start on a free 127.0.0.1 port with the bucket S3_BUCKET; starting again
#                                 reuses the port and the objects. Last stdout line: http://127.0.0.1:PORT
#   s3proxy.sh stop  <workdir>    SIGTERM, wait, SIGKILL after 20 s
#
# Files in <workdir>: s3proxy.conf (rewritten on every start), blobs/<bucket>/ (the objects), port,
# s3proxy.pid, s3proxy.log.
#
# Environment:
#   S3PROXY_VERSION           release from Maven Central (default below)
#   CARWATCH_CACHE            cache root (default $HOME/.cache/carwatch); the jar goes to s3proxy/<version>/
#   S3_ACCESS_KEY, S3_SECRET_KEY  the one identity it accepts, AWS signature v2 or v4
#                             (default carwatch / carwatch-test-secret)
#   S3_BUCKET                 the bucket made at start (default carwatch)
#   JAVA_HOME                 JVM to use (default: java on PATH; S3Proxy 4 needs Java 17+)
#   S3PROXY_START_TIMEOUT     seconds to wait for the server (default 30)
set -euo pipefail

S3PROXY_VERSION="${S3PROXY_VERSION:-4.1.0}"
CACHE_DIR="${CARWATCH_CACHE:-$HOME/.cache/carwatch}/s3proxy/$S3PROXY_VERSION"
JAR="$CACHE_DIR/s3proxy-$S3PROXY_VERSION-jar-with-dependencies.jar"
S3_ACCESS_KEY="${S3_ACCESS_KEY:-carwatch}"
S3_SECRET_KEY="${S3_SECRET_KEY:-carwatch-test-secret}"
S3_BUCKET="${S3_BUCKET:-carwatch}"
if [[ -n "${JAVA_HOME:-}" ]]; then JAVA="$JAVA_HOME/bin/java"; else JAVA="java"; fi

die() { echo "s3proxy.sh: $*" >&2; exit 1; }
log() { echo "s3proxy.sh: $*" >&2; }   # progress to stderr so stdout's last line stays the address

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2; exit 2; }

# free_port, port_open
source "$(dirname "${BASH_SOURCE[0]}")/../lib/ports.sh"

cmd_fetch() {
  [[ -f "$JAR" ]] && { log "S3Proxy $S3PROXY_VERSION already in $CACHE_DIR"; return 0; }
  command -v mvn >/dev/null || die "mvn not found (needed once to fetch S3Proxy)"
  mkdir -p "$CACHE_DIR"
  exec 9> "$CACHE_DIR/.lock"
  flock 9
  [[ -f "$JAR" ]] && { exec 9>&-; return 0; }
  local repo="${MAVEN_REPO_LOCAL:-$HOME/.m2/repository}" tmp
  tmp="$(mktemp -d "$CACHE_DIR/.tmp.XXXXXX")"
  log "fetching org.gaul:s3proxy:$S3PROXY_VERSION (jar-with-dependencies) from Maven Central"
  if ! mvn -B -q -Dstyle.color=never org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy \
      -Dmaven.repo.local="$repo" -Dartifact="org.gaul:s3proxy:$S3PROXY_VERSION:jar:jar-with-dependencies" \
      -DoutputDirectory="$tmp" > "$CACHE_DIR/mvn.log" 2>&1; then
    rm -rf "$tmp"
    tail -n 20 "$CACHE_DIR/mvn.log" >&2
    die "mvn could not fetch org.gaul:s3proxy:$S3PROXY_VERSION"
  fi
  # Rename last, so an interrupted fetch never looks complete; the cache is the copy we keep.
  mv "$tmp/$(basename "$JAR")" "$JAR"
  rm -rf "$tmp" "$repo/org/gaul/s3proxy/$S3PROXY_VERSION/s3proxy-$S3PROXY_VERSION-jar-with-dependencies.jar"
  exec 9>&-
  log "S3Proxy $S3PROXY_VERSION in $CACHE_DIR ($(du -sh "$JAR" | cut -f1))"
}

# Alive = exists, not a zombie, and the S3Proxy of this workdir (never signal a process that reused the pid).
pid_alive() { # pid workdir
  local pid="${1:-}" state
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 1
  state="$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || true)"
  [[ -n "$state" && "$state" != Z ]] || return 1
  tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$2/s3proxy.conf"
}

read_pid() { [[ -f "$1/s3proxy.pid" ]] && cat "$1/s3proxy.pid" || true; }

cmd_start() {
  local wd="${1:-}"; [[ -n "$wd" ]] || usage
  [[ -f "$JAR" ]] || cmd_fetch
  mkdir -p "$wd"; wd="$(cd "$wd" && pwd)"
  local pid; pid="$(read_pid "$wd")"
  if pid_alive "$pid" "$wd"; then log "already running (pid $pid)"; echo "http://127.0.0.1:$(cat "$wd/port")"; return 0; fi

  local port
  if [[ -f "$wd/port" ]]; then port="$(cat "$wd/port")"; else port="$(free_port)"; echo "$port" > "$wd/port"; fi
  port_open "$port" && die "port $port (from $wd/port) is taken by another process; stop it or delete $wd/port"
  # The filesystem backend's buckets are the folders under its base directory.
  mkdir -p "$wd/blobs/$S3_BUCKET"
  (umask 077; cat > "$wd/s3proxy.conf" <<CONF
# Written by scripts/s3/s3proxy.sh on every start.
s3proxy.endpoint=http://127.0.0.1:$port
s3proxy.authorization=aws-v2-or-v4
s3proxy.identity=$S3_ACCESS_KEY
s3proxy.credential=$S3_SECRET_KEY
# Newer AWS SDKs (Trino's) send headers S3Proxy does not know, e.g. x-amz-optional-object-attributes on listings.
s3proxy.ignore-unknown-headers=true
jclouds.provider=filesystem-nio2
jclouds.filesystem.basedir=$wd/blobs
CONF
  )
  log "starting S3Proxy $S3PROXY_VERSION on 127.0.0.1:$port (log $wd/s3proxy.log)"
  echo "===== start $(date -Is) =====" >> "$wd/s3proxy.log"
  setsid "$JAVA" -Xmx256m -XX:+ExitOnOutOfMemoryError -jar "$JAR" --properties "$wd/s3proxy.conf" \
    < /dev/null >> "$wd/s3proxy.log" 2>&1 &
  pid=$!
  echo "$pid" > "$wd/s3proxy.pid"
  local start=$SECONDS
  # Ready = an answer over HTTP (403 to an unsigned request).
  until curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$port/"; do
    pid_alive "$pid" "$wd" || { tail -n 20 "$wd/s3proxy.log" >&2; die "S3Proxy exited during startup"; }
    (( SECONDS - start < ${S3PROXY_START_TIMEOUT:-30} )) || { tail -n 20 "$wd/s3proxy.log" >&2; die "S3Proxy not ready after ${S3PROXY_START_TIMEOUT:-30}s"; }
    sleep 0.2
  done
  log "ready in $((SECONDS - start)) s"
  echo "http://127.0.0.1:$port"
}

cmd_stop() {
  local wd="${1:-}"; [[ -n "$wd" ]] || usage
  local pid; pid="$(read_pid "$wd")"
  if ! pid_alive "$pid" "$wd"; then rm -f "$wd/s3proxy.pid"; log "not running"; return 0; fi
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 200); do pid_alive "$pid" "$wd" || break; sleep 0.1; done
  if pid_alive "$pid" "$wd"; then kill -KILL "$pid" 2>/dev/null || true; fi
  rm -f "$wd/s3proxy.pid"
  log "stopped (pid $pid)"
}

case "${1:-}" in
  fetch) cmd_fetch ;;
  start) shift; cmd_start "$@" ;;
  stop) shift; cmd_stop "$@" ;;
  *) usage ;;
esac

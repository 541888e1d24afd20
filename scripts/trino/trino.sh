#!/usr/bin/env bash
# trino.sh — a real single-node Trino with an Iceberg catalog as users run it, for
# carwatch tests and CI (no Docker here, only package registries): the JDBC catalog
# on a PostgreSQL (scripts/postgres) and the files in an S3 bucket (S3Proxy,
# scripts/s3), both started beside Trino under <workdir>. The catalog and access
# control files are deploy/trino/'s, the ones docker-compose.yml mounts.
#
#   trino.sh fetch             download + unpack server and plugins (and S3Proxy) into the cache
#   trino.sh start  <workdir>  start (or reuse) PostgreSQL, S3Proxy and Trino for <workdir>; last stdout line = URL
#   trino.sh stop   <workdir>  graceful stop of all three, kill -9 fallback
#   trino.sh status <workdir>  exit 0 and print the URL if the server answers
#
# Env: TRINO_VERSION (default below), CARWATCH_CACHE (default ~/.cache/carwatch),
#      TRINO_JAVA_HOME (Java >= 24), TRINO_HEAP_MB (default 2048),
#      TRINO_DIST (tarball|assemble), TRINO_PLUGINS (default "iceberg memory"),
#      TRINO_START_TIMEOUT (s, default 180), TRINO_ACCESS_CONTROL=off to disable
#      the file-based access control (deploy/trino/rules.json: users carwatch = all,
#      reader = read-only on iceberg; any other user sees no catalog but system);
#      PG_* for postgres.sh, S3_* and S3PROXY_VERSION for s3proxy.sh.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DEPLOY="$(cd "$HERE/../../deploy/trino" && pwd)"

# 476 is the newest release whose server tarball is on Maven Central: from 477 on
# Trino publishes neither trino-server(-core) tar.gz nor the plugin zips there.
# Newer versions (checked: 483) are assembled from their jars (TRINO_DIST=assemble,
# the default above 476): same classes, slower cold fetch (~5 min vs ~1.5 min).
TRINO_VERSION="${TRINO_VERSION:-476}"
[[ "$TRINO_VERSION" =~ ^[0-9]+$ ]] || { echo "trino.sh: TRINO_VERSION must be a release number" >&2; exit 1; }
# Plugins installed from io.trino:trino-<name>:<ver>:zip. blackhole is not on
# Maven Central at all; memory is the cheap in-JVM write target instead.
TRINO_PLUGINS="${TRINO_PLUGINS:-iceberg memory}"
CACHE_DIR="${CARWATCH_CACHE:-$HOME/.cache/carwatch}/trino/$TRINO_VERSION"
SERVER_DIR="$CACHE_DIR/server"
MARKER="$CACHE_DIR/.installed"
HEAP_MB="${TRINO_HEAP_MB:-2048}"
START_TIMEOUT="${TRINO_START_TIMEOUT:-180}"

die() { echo "trino.sh: $*" >&2; exit 1; }
log() { echo "trino.sh: $*" >&2; }

# Trino >= 447 refuses to run on Java < 22 (>= 472 needs 24), the default here is 17.
find_java() {
  local c
  for c in "${TRINO_JAVA_HOME:-}" /usr/lib/jvm/temurin-25-jdk-amd64 "${JAVA_HOME:-}"; do
    [[ -n "$c" && -x "$c/bin/java" ]] || continue
    local major
    major=$("$c/bin/java" -XshowSettings:properties -version 2>&1 \
      | sed -n 's/^ *java.specification.version = \([0-9]*\).*/\1/p')
    if [[ -n "$major" && "$major" -ge 24 ]]; then echo "$c/bin/java"; return; fi
  done
  die "no Java >= 24 found (set TRINO_JAVA_HOME; e.g. /usr/lib/jvm/temurin-25-jdk-amd64)"
}

# mvn with the dependency plugin; Maven itself runs fine on the default Java.
# Its chatter goes to a log that is shown only when it fails.
mvn_dep() {
  local goal=$1 log="$CACHE_DIR/mvn.log"
  shift
  if ! mvn -B -q "org.apache.maven.plugins:maven-dependency-plugin:3.8.1:$goal" "$@" >"$log" 2>&1; then
    grep -E 'ERROR|BUILD' "$log" | head -n 20 >&2
    return 1
  fi
}

# <= 476: the official server tarball + plugin zips from Maven Central.
fetch_dist() {
  local tmp=$1 a p
  # Normal local repo (the dependency plugin stays cached there); the ~550 MB of
  # archives are deleted from it afterwards: the unpacked cache is what we keep.
  local repo="${MAVEN_REPO_LOCAL:-$HOME/.m2/repository}"
  local -a arts=("io.trino:trino-server-core:$TRINO_VERSION:tar.gz")
  for p in $TRINO_PLUGINS; do arts+=("io.trino:trino-$p:$TRINO_VERSION:zip"); done
  for a in "${arts[@]}"; do
    log "fetching $a"
    mvn_dep copy -Dmaven.repo.local="$repo" -Dartifact="$a" -DoutputDirectory="$tmp/dl" \
      || die "mvn could not fetch $a (not on Maven Central? try TRINO_DIST=assemble)"
  done
  log "unpacking"
  tar -xzf "$tmp/dl/trino-server-core-$TRINO_VERSION.tar.gz" -C "$tmp"
  mv "$tmp/trino-server-core-$TRINO_VERSION" "$tmp/server"
  for p in $TRINO_PLUGINS; do
    unzip -q "$tmp/dl/trino-$p-$TRINO_VERSION.zip" -d "$tmp/plugin-$p"
    mv "$tmp/plugin-$p/trino-$p-$TRINO_VERSION" "$tmp/server/plugin/$p"
  done
  # Plugins we never use only slow down startup (each gets its own classloader).
  rm -rf "$tmp/server/plugin/"{exchange-filesystem,spooling-filesystem,functions-python}
  for a in "${arts[@]}"; do
    IFS=: read -r _ art ver ext <<<"$a"
    rm -f "$repo/io/trino/$art/$ver/$art-$ver.$ext"{,.sha1}
  done
}

# >= 477: Trino no longer puts the server tarball or plugin zips on Maven Central,
# but every jar is there. Rebuild the same layout: lib/ = runtime closure of
# trino-main, plugin/<p>/ = runtime closure of trino-<p>, plus the two small
# pieces that only the (unpublished) packaging adds: the main class and the
# plugin's META-INF/services entry.
fetch_assembled() {
  local tmp=$1 p jdk
  jdk=$(dirname "$(dirname "$(find_java)")")
  [[ -x "$jdk/bin/javac" && -x "$jdk/bin/jar" ]] || die "need a JDK (javac, jar) >= 24 at $jdk"
  # Throw-away local repo: ~500 MB of jars shared with nothing else.
  local repo="$tmp/m2"
  resolve() { # <artifactId> <dir>: runtime closure of io.trino:<artifactId> into <dir>
    log "resolving io.trino:$1:$TRINO_VERSION"
    mkdir -p "$tmp/pom-$1"
    cat >"$tmp/pom-$1/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>carwatch.trino</groupId><artifactId>$1</artifactId><version>1</version><packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>io.trino</groupId><artifactId>$1</artifactId><version>$TRINO_VERSION</version></dependency>
  </dependencies>
</project>
EOF
    (cd "$tmp/pom-$1" && mvn_dep copy-dependencies -Dmaven.repo.local="$repo" \
      -DincludeScope=runtime -Dmdep.prependGroupId=true -DoutputDirectory="$2") \
      || die "mvn could not resolve io.trino:$1:$TRINO_VERSION"
  }
  resolve trino-main "$tmp/server/lib"
  for p in $TRINO_PLUGINS; do
    resolve "trino-$p" "$tmp/server/plugin/$p"
    local cls
    cls=$(unzip -Z1 "$tmp/server/plugin/$p/io.trino.trino-$p-$TRINO_VERSION.jar" \
      | grep -E '^io/trino/plugin/[^/]+/[A-Za-z]*Plugin\.class$' | head -n1)
    [[ -n "$cls" ]] || die "no Plugin class found in trino-$p"
    mkdir -p "$tmp/svc-$p/META-INF/services"
    cls=${cls%.class}
    echo "${cls//\//.}" >"$tmp/svc-$p/META-INF/services/io.trino.spi.Plugin"
    "$jdk/bin/jar" cf "$tmp/server/plugin/$p/carwatch-trino-$p-services.jar" -C "$tmp/svc-$p" .
  done
  # Same as trino-server-main's TrinoServer, minus its Java version check.
  mkdir -p "$tmp/src/io/trino/server" "$tmp/classes"
  cat >"$tmp/src/io/trino/server/TrinoServer.java" <<'EOF'
package io.trino.server;

public final class TrinoServer
{
    private TrinoServer() {}

    public static void main(String[] args)
    {
        new Server().start(System.getProperty("trino.version", "unknown"));
    }
}
EOF
  "$jdk/bin/javac" -d "$tmp/classes" -cp "$tmp/server/lib/*" "$tmp/src/io/trino/server/TrinoServer.java"
  "$jdk/bin/jar" cf "$tmp/server/lib/carwatch-trino-server-main.jar" -C "$tmp/classes" .
}

cmd_fetch() {
  bash "$HERE/../s3/s3proxy.sh" fetch
  [[ -f "$MARKER" ]] && { log "Trino $TRINO_VERSION already in $SERVER_DIR"; return 0; }
  command -v mvn >/dev/null || die "mvn not found (needed to fetch from Maven Central)"
  mkdir -p "$CACHE_DIR"
  # Serialize concurrent fetches (parallel CI jobs share the cache).
  exec 9>"$CACHE_DIR/.lock"
  flock 9
  # (fd 9 is closed again below: a server started after us must not inherit the lock)
  [[ -f "$MARKER" ]] && { exec 9>&-; log "Trino $TRINO_VERSION already in $SERVER_DIR"; return 0; }

  local t0=$SECONDS tmp dist
  tmp=$(mktemp -d "$CACHE_DIR/.tmp.XXXXXX")
  # shellcheck disable=SC2064  # expand $tmp now
  trap "rm -rf '$tmp'" EXIT
  dist=${TRINO_DIST:-}
  [[ -n "$dist" ]] || { ((TRINO_VERSION <= 476)) && dist=tarball || dist=assemble; }
  case "$dist" in
    tarball) fetch_dist "$tmp" ;;
    assemble) fetch_assembled "$tmp" ;;
    *) die "TRINO_DIST must be tarball or assemble" ;;
  esac

  rm -rf "$SERVER_DIR"
  mv "$tmp/server" "$SERVER_DIR"
  echo "version=$TRINO_VERSION dist=$dist plugins=$TRINO_PLUGINS fetched=$(date -u +%FT%TZ)" >"$MARKER"
  exec 9>&-
  log "Trino $TRINO_VERSION ($dist) installed in $SERVER_DIR ($((SECONDS - t0)) s)"
}

# free_port
source "$(dirname "${BASH_SOURCE[0]}")/../lib/ports.sh"

pid_alive() { [[ -n "${1:-}" ]] && kill -0 "$1" 2>/dev/null; }

# Is <pid> our Trino for <workdir>? (guards against pid reuse after a reboot)
is_our_server() {
  local pid=$1 work=$2
  pid_alive "$pid" || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "-Dconfig=$work/etc/config.properties"
}

# Run one statement over the REST protocol; succeed iff it finishes without error.
run_sql() {
  local url=$1 sql=$2 user=${3:-carwatch} body next
  body=$(curl -sS --max-time 30 -X POST -H "X-Trino-User: $user" --data "$sql" "$url/v1/statement") || return 1
  for _ in $(seq 1 300); do
    grep -q '"error"' <<<"$body" && { echo "$body" >&2; return 1; }
    next=$(sed -n 's/.*"nextUri":"\([^"]*\)".*/\1/p' <<<"$body")
    [[ -z "$next" ]] && return 0
    sleep 0.1
    body=$(curl -sS --max-time 30 -H "X-Trino-User: $user" "$next") || return 1
  done
  return 1
}

write_config() {
  local work=$1 port=$2
  mkdir -p "$work/etc/catalog" "$work/data"
  # Same node id on every restart of this workdir.
  [[ -f "$work/node.id" ]] || echo "carwatch-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')" >"$work/node.id"

  local qmem=$((HEAP_MB / 2)) headroom=$((HEAP_MB / 4))
  cat >"$work/etc/config.properties" <<EOF
# Generated by scripts/trino/trino.sh — rewritten on every start.
node.environment=carwatch
node.id=$(cat "$work/node.id")
# Loopback only.
node.bind-ip=127.0.0.1
node.internal-address=127.0.0.1
coordinator=true
node-scheduler.include-coordinator=true
http-server.http.port=$port
discovery.uri=http://127.0.0.1:$port
# Sized for -Xmx${HEAP_MB}M: per-node query memory + headroom must fit the heap.
query.max-memory=${qmem}MB
query.max-memory-per-node=${qmem}MB
memory.heap-headroom-per-node=${headroom}MB
plugin.dir=$SERVER_DIR/plugin
catalog.config-dir=$work/etc/catalog
catalog.management=static
EOF
  if [[ "${TRINO_ACCESS_CONTROL:-on}" != off ]]; then
    echo "access-control.config-files=$DEPLOY/access-control.properties" >>"$work/etc/config.properties"
  fi

  # The catalogs whose plugin is installed (memory is only bench:trino's write target).
  rm -f "$work/etc/catalog/"*.properties
  local f
  for f in "$DEPLOY"/catalog/*.properties; do
    [[ -d "$SERVER_DIR/plugin/$(sed -n 's/^connector\.name=//p' "$f")" ]] && cp "$f" "$work/etc/catalog/"
  done
  [[ -f "$work/etc/catalog/iceberg.properties" ]] || die "the iceberg plugin is not installed in $SERVER_DIR"
}

# PostgreSQL (the catalog) and S3Proxy (the files) for <workdir>; sets what deploy/trino's ${ENV:…} name.
start_catalog() {
  local work=$1 pg s3
  pg=$(bash "$HERE/../postgres/postgres.sh" start "$work/postgres" | tail -n1) || die "PostgreSQL did not start"
  s3=$(bash "$HERE/../s3/s3proxy.sh" start "$work/s3" | tail -n1) || die "S3Proxy did not start"
  export ICEBERG_JDBC_URL="jdbc:postgresql://$pg/${PG_DATABASE:-iceberg}"
  export ICEBERG_JDBC_USER="${PG_USER:-carwatch}" ICEBERG_JDBC_PASSWORD="${PG_PASSWORD:-carwatch-test}"
  export ICEBERG_WAREHOUSE="s3://${S3_BUCKET:-carwatch}/warehouse"
  export S3_ENDPOINT="$s3" S3_ACCESS_KEY="${S3_ACCESS_KEY:-carwatch}" S3_SECRET_KEY="${S3_SECRET_KEY:-carwatch-test-secret}"
  export TRINO_RULES_FILE="$DEPLOY/rules.json"
}

cmd_start() {
  local work=${1:-}
  [[ -n "$work" ]] || die "usage: trino.sh start <workdir>"
  mkdir -p "$work"
  work=$(cd "$work" && pwd)
  [[ -f "$MARKER" ]] || cmd_fetch
  local java
  java=$(find_java)
  # PostgreSQL runs as its own user when we are root: it must be able to enter <workdir> (not list it).
  [[ $EUID -eq 0 ]] && chmod o+x "$work"
  start_catalog "$work"

  # Already running for this workdir? Reuse it.
  local pid=""
  [[ -f "$work/trino.pid" ]] && pid=$(cat "$work/trino.pid")
  if is_our_server "$pid" "$work" && [[ -f "$work/url" ]] && run_sql "$(cat "$work/url")" "SELECT 1" 2>/dev/null; then
    log "already running (pid $pid)"
    cat "$work/url"
    return 0
  fi
  is_our_server "$pid" "$work" && cmd_stop "$work"

  # Keep the port across restarts so clients' saved URLs stay valid.
  local port
  if [[ -f "$work/port" ]]; then
    port=$(cat "$work/port")
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      die "port $port (from $work/port) is taken by another process; stop it or delete $work/port"
    fi
  else
    port=$(free_port)
    echo "$port" >"$work/port"
  fi
  local url="http://127.0.0.1:$port"
  write_config "$work" "$port"

  # JVM flags follow Trino's recommended jvm.config, with a small heap.
  local -a jvm=(
    -server "-Xmx${HEAP_MB}M"
    -XX:+UseG1GC -XX:G1HeapRegionSize=32M
    -XX:+ExplicitGCInvokesConcurrent -XX:+ExitOnOutOfMemoryError
    -XX:-OmitStackTraceInFastThrow -XX:ReservedCodeCacheSize=256M
    -XX:PerMethodRecompilationCutoff=10000 -XX:PerBytecodeRecompilationCutoff=10000
    -Djdk.attach.allowAttachSelf=true -Djdk.nio.maxCachedBufferSize=2000000
    -XX:+EnableDynamicAgentLoading -Dfile.encoding=UTF-8
    # Java 25 warns on Unsafe/native access by the bundled libraries otherwise.
    --enable-native-access=ALL-UNNAMED --sun-misc-unsafe-memory-access=allow
    # Newer Trino (>= ~480) refuses to start without the Vector API module.
    --add-modules=jdk.incubator.vector
    "-Dconfig=$work/etc/config.properties" "-Dtrino.version=$TRINO_VERSION"
  )
  jvm+=(-cp "$SERVER_DIR/lib/*" io.trino.server.TrinoServer)
  log "starting Trino $TRINO_VERSION on $url (log: $work/server.log)"
  echo "=== start $(date -u +%FT%TZ) ===" >>"$work/server.log"
  rm -f "$work/trino.pid"   # a stale one (crash) must not be mistaken for the new pid
  # Working dir = <workdir>/data (what the launcher's node.data-dir means: var/ goes there).
  # setsid: own session, so the caller's Ctrl-C / job exit does not kill it;
  # the inner shell records its own pid, then becomes java via exec.
  # All fds redirected on the subshell, which execs away: nothing keeps the
  # caller's stdout pipe open (URL=$(trino.sh start ...) must return).
  # shellcheck disable=SC2016  # $$ and $@ belong to the inner shell
  (cd "$work/data" && exec setsid bash -c 'echo $$ >"$1"; shift; exec "$@"' _ \
    "$work/trino.pid" "$java" "${jvm[@]}") >>"$work/server.log" 2>&1 </dev/null &
  for _ in $(seq 1 50); do [[ -s "$work/trino.pid" ]] && break; sleep 0.1; done
  [[ -s "$work/trino.pid" ]] || { tail -n 20 "$work/server.log" >&2; die "could not launch $java"; }
  pid=$(cat "$work/trino.pid")
  echo "$url" >"$work/url"

  # Ready = /v1/info says starting=false AND a query runs end to end.
  local t0=$SECONDS
  while :; do
    pid_alive "$pid" || { tail -n 40 "$work/server.log" >&2; die "Trino exited during startup (see $work/server.log)"; }
    if curl -sf --max-time 5 "$url/v1/info" 2>/dev/null | grep -q '"starting":false' \
      && run_sql "$url" "SELECT 1" 2>/dev/null; then
      break
    fi
    if ((SECONDS - t0 > START_TIMEOUT)); then
      tail -n 40 "$work/server.log" >&2
      cmd_stop "$work" || true
      die "Trino not ready after ${START_TIMEOUT}s (see $work/server.log)"
    fi
    sleep 1
  done
  log "ready in $((SECONDS - t0)) s (pid $pid)"
  echo "$url"
}

cmd_stop() {
  local work=${1:-}
  [[ -n "$work" ]] || die "usage: trino.sh stop <workdir>"
  [[ -d "$work" ]] || { log "no workdir $work"; return 0; }
  work=$(cd "$work" && pwd)
  local pid=""
  [[ -f "$work/trino.pid" ]] && pid=$(cat "$work/trino.pid")
  if ! is_our_server "$pid" "$work"; then
    rm -f "$work/trino.pid"
    log "not running"
    stop_catalog "$work"
    return 0
  fi
  # SIGTERM runs the JVM shutdown hooks (airlift lifecycle stop) — quick and clean.
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 300); do pid_alive "$pid" || break; sleep 0.1; done
  if pid_alive "$pid"; then
    log "still alive after 30 s, kill -9"
    kill -KILL "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do pid_alive "$pid" || break; sleep 0.1; done
  fi
  rm -f "$work/trino.pid"
  log "stopped (pid $pid)"
  stop_catalog "$work"
}

stop_catalog() {
  bash "$HERE/../s3/s3proxy.sh" stop "$1/s3" || true
  bash "$HERE/../postgres/postgres.sh" stop "$1/postgres" || true
}

cmd_status() {
  local work=${1:-}
  [[ -n "$work" && -f "$work/url" && -f "$work/trino.pid" ]] || { log "not running"; return 1; }
  work=$(cd "$work" && pwd)
  is_our_server "$(cat "$work/trino.pid")" "$work" && run_sql "$(cat "$work/url")" "SELECT 1" \
    && { cat "$work/url"; return 0; }
  log "not running"
  return 1
}

case "${1:-}" in
  fetch) cmd_fetch ;;
  start) shift; cmd_start "$@" ;;
  stop) shift; cmd_stop "$@" ;;
  status) shift; cmd_status "$@" ;;
  *) die "usage: trino.sh fetch | start <workdir> | stop <workdir> | status <workdir>" ;;
esac

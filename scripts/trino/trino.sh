#!/usr/bin/env bash
# trino.sh — a real single-node Trino with an Iceberg catalog on the local file
# system, for carwatch tests and CI (no Docker here, only package registries).
#
#   trino.sh fetch             download + unpack server and plugins into the cache
#   trino.sh start  <workdir>  start (or reuse) a server for <workdir>; last stdout line = URL
#   trino.sh stop   <workdir>  graceful stop, kill -9 fallback
#   trino.sh status <workdir>  exit 0 and print the URL if the server answers
#
# Env: TRINO_VERSION (default below), CARWATCH_CACHE (default ~/.cache/carwatch),
#      TRINO_JAVA_HOME (Java >= 24), TRINO_HEAP_MB (default 2048),
#      TRINO_START_TIMEOUT (s, default 180), TRINO_ACCESS_CONTROL=off to disable
#      the file-based access control (users: carwatch = all, reader = read-only).
set -euo pipefail

# 476 is the newest release whose server tarball is on Maven Central: from 477 on
# Trino publishes neither trino-server(-core) tar.gz nor the plugin zips there.
TRINO_VERSION="${TRINO_VERSION:-476}"
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

cmd_fetch() {
  [[ -f "$MARKER" ]] && { log "Trino $TRINO_VERSION already in $SERVER_DIR"; return 0; }
  command -v mvn >/dev/null || die "mvn not found (needed to fetch from Maven Central)"
  mkdir -p "$CACHE_DIR"
  # Serialize concurrent fetches (parallel CI jobs share the cache).
  exec 9>"$CACHE_DIR/.lock"
  flock 9
  [[ -f "$MARKER" ]] && { log "Trino $TRINO_VERSION already in $SERVER_DIR"; return 0; }

  local t0=$SECONDS tmp repo
  tmp=$(mktemp -d "$CACHE_DIR/.tmp.XXXXXX")
  # shellcheck disable=SC2064  # expand $tmp now
  trap "rm -rf '$tmp'" EXIT
  # Use the normal local repo (so the dependency plugin is cached), but delete the
  # ~550 MB of archives from it afterwards: the unpacked cache is what we keep.
  repo="${MAVEN_REPO_LOCAL:-$HOME/.m2/repository}"
  local -a arts=("io.trino:trino-server-core:$TRINO_VERSION:tar.gz")
  local p
  for p in $TRINO_PLUGINS; do arts+=("io.trino:trino-$p:$TRINO_VERSION:zip"); done
  local a
  for a in "${arts[@]}"; do
    log "fetching $a"
    # Maven itself runs fine on the default Java; the artifacts are just files.
    mvn -B -q -Dstyle.color=never -Dmaven.repo.local="$repo" \
      org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy \
      -Dartifact="$a" -DoutputDirectory="$tmp/dl" -Dmdep.overWriteReleases=true >&2 \
      || die "mvn could not fetch $a (is version $TRINO_VERSION on Maven Central? 477+ is not)"
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

  rm -rf "$SERVER_DIR"
  mv "$tmp/server" "$SERVER_DIR"
  for a in "${arts[@]}"; do
    IFS=: read -r _ art ver ext <<<"$a"
    rm -f "$repo/io/trino/$art/$ver/$art-$ver.$ext"{,.sha1}
  done
  echo "version=$TRINO_VERSION plugins=$TRINO_PLUGINS fetched=$(date -u +%FT%TZ)" >"$MARKER"
  log "Trino $TRINO_VERSION installed in $SERVER_DIR ($((SECONDS - t0)) s)"
}

# A free loopback port: nothing answers a connect on it.
free_port() {
  local p i
  for i in $(seq 1 50); do
    p=$((20000 + RANDOM % 30000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
  done
  die "no free port found"
}

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
  mkdir -p "$work/etc/catalog" "$work/data" "$work/warehouse"
  # Stable node id across restarts (Trino keys some state in data-dir by it).
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
# Small machine (2 cores): no need for many parallel writers per query.
task.concurrency=2
EOF
  if [[ "${TRINO_ACCESS_CONTROL:-on}" != off ]]; then
    echo "access-control.config-files=$work/etc/access-control.properties" >>"$work/etc/config.properties"
    cat >"$work/etc/access-control.properties" <<EOF
access-control.name=file
security.config-file=$work/etc/rules.json
EOF
    # Login user = X-Trino-User header (no auth on plain http).
    # carwatch: everything; reader: read-only on iceberg (+ system for metadata);
    # any other user: no catalog access.
    cat >"$work/etc/rules.json" <<'EOF'
{
  "catalogs": [
    { "user": "carwatch", "catalog": ".*", "allow": "all" },
    { "user": "reader", "catalog": "(iceberg|system)", "allow": "read-only" },
    { "catalog": "system", "allow": "read-only" }
  ]
}
EOF
  else
    rm -f "$work/etc/access-control.properties" "$work/etc/rules.json"
  fi

  # Iceberg on the local disk: file-based metastore + native local file system.
  # min-retention=0s lets tests run expire_snapshots/remove_orphan_files('0s').
  cat >"$work/etc/catalog/iceberg.properties" <<EOF
connector.name=iceberg
iceberg.catalog.type=TESTING_FILE_METASTORE
hive.metastore.catalog.dir=local:///
fs.native-local.enabled=true
local.location=$work/warehouse
iceberg.file-format=PARQUET
iceberg.expire-snapshots.min-retention=0s
iceberg.remove-orphan-files.min-retention=0s
EOF
  if [[ -d "$SERVER_DIR/plugin/memory" ]]; then
    cat >"$work/etc/catalog/memory.properties" <<EOF
connector.name=memory
memory.max-data-per-node=256MB
EOF
  fi
}

cmd_start() {
  local work=${1:-}
  [[ -n "$work" ]] || die "usage: trino.sh start <workdir>"
  mkdir -p "$work"
  work=$(cd "$work" && pwd)
  [[ -f "$MARKER" ]] || cmd_fetch
  local java
  java=$(find_java)

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
    "-Dconfig=$work/etc/config.properties"
  )
  # AppCDS: the first run dumps the loaded classes at exit, later starts map them
  # (startup is mostly class loading). An explicit, sorted classpath keeps the
  # archive valid; the JVM silently re-creates it if it does not match.
  if [[ "${TRINO_CDS:-on}" != off ]]; then
    jvm+=(-XX:+AutoCreateSharedArchive "-XX:SharedArchiveFile=$CACHE_DIR/trino-cds.jsa" -Xlog:cds=off -Xlog:cds+dynamic=off)
  fi
  local cp
  cp=$(printf '%s:' "$SERVER_DIR"/lib/*.jar)
  jvm+=(-cp "${cp%:}" io.trino.server.TrinoServer)
  log "starting Trino $TRINO_VERSION on $url (log: $work/server.log)"
  echo "=== start $(date -u +%FT%TZ) ===" >>"$work/server.log"
  # Working dir = <workdir>/data (what the launcher's node.data-dir means: var/ goes there).
  # setsid: own session, so the caller's Ctrl-C / job exit does not kill it;
  # the inner shell records its own pid, then becomes java via exec.
  (cd "$work/data" && setsid bash -c 'echo $$ >"$1"; shift; exec "$@"' _ \
    "$work/trino.pid" "$java" "${jvm[@]}" >>"$work/server.log" 2>&1 </dev/null &)
  for _ in $(seq 1 50); do [[ -s "$work/trino.pid" ]] && break; sleep 0.1; done
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

#!/usr/bin/env bash
# Real single-node Apache Kafka (KRaft, combined broker+controller) for carwatch tests and CI.
# Jars come from Maven Central into a cache outside the repo; no Docker, no tarball download.
#
# Usage:
#   kafka.sh fetch                      download broker + tools jars into the cache (idempotent)
#   kafka.sh start <workdir>            start a broker; prints 127.0.0.1:PORT as the last stdout line
#   kafka.sh stop  <workdir>            SIGTERM, wait, SIGKILL after KAFKA_STOP_TIMEOUT (20 s)
#   kafka.sh kill  <workdir>            SIGKILL right away (crash simulation)
#   kafka.sh perf  <bootstrap> <topic> <num-records> <record-size>
#                                       org.apache.kafka.tools.ProducerPerformance, prints summary
#   kafka.sh classpath                  print the cached classpath (for ad-hoc java tools)
#
# Environment:
#   KAFKA_VERSION        Kafka release from Maven Central (default below)
#   CARWATCH_CACHE       cache root (default $HOME/.cache/carwatch); jars go to $CARWATCH_CACHE/kafka/<version>/
#   JAVA_HOME            JVM to use (default: java on PATH; Kafka 4.x needs Java 17+)
#   KAFKA_HEAP_OPTS      default "-Xms256m -Xmx512m"
#   KAFKA_START_TIMEOUT  seconds to wait for the broker (default 60)
#   KAFKA_STOP_TIMEOUT   seconds before stop falls back to SIGKILL (default 20)
#   KAFKA_EXTRA_PROPS    extra broker properties, newline separated k=v (appended, later wins)
#   KAFKA_PERF_PARTITIONS partitions of the topic perf creates when it does not exist (default 1)
#   KAFKA_SECURE_USER    "name:password": also open a SASL_SSL listener (PLAIN and SCRAM-SHA-256/512 for
#                        that user) with a self-signed certificate made by openssl; its address goes to
#                        <workdir>/secure.bootstrap and the certificate to trust to <workdir>/tls/ca.pem
set -euo pipefail

# Newest release on Maven Central; verified with kafkajs 2.2.4 (the project's client): topic admin,
# keyed produce (acks=all, idempotent or not), group consume with manual commits, restart without
# re-delivery, two-member rebalance. kafkajs negotiates Produce v7, Fetch v11, JoinGroup v5,
# OffsetCommit v5, OffsetFetch v4, ListOffsets v3, Metadata v6: all above what Kafka 4 removed
# (KIP-896), so no 3.9 fallback is needed. KAFKA_VERSION=3.9.x still works with this script.
KAFKA_VERSION="${KAFKA_VERSION:-4.4.0}"
SCALA_VERSION="2.13"
# Kafka 4.x logs through slf4j 1.7 -> log4j2; this binding/backend is not a dependency of the broker pom.
LOG4J2_VERSION="${LOG4J2_VERSION:-2.25.3}"
# Kafka 3.x logs through slf4j 1.7 -> reload4j (log4j 1 API).
SLF4J_VERSION="1.7.36"

CACHE_DIR="${CARWATCH_CACHE:-$HOME/.cache/carwatch}/kafka/${KAFKA_VERSION}"
LIB_DIR="$CACHE_DIR/libs"
MARKER="$CACHE_DIR/.complete"
MAJOR="${KAFKA_VERSION%%.*}"
KAFKA_SETTINGS="$(dirname "${BASH_SOURCE[0]}")/../../deploy/kafka/server.properties"

if [[ -n "${JAVA_HOME:-}" ]]; then JAVA="$JAVA_HOME/bin/java"; else JAVA="java"; fi

die() { echo "kafka.sh: $*" >&2; exit 1; }
log() { echo "kafka.sh: $*" >&2; }   # progress to stderr so stdout's last line stays the bootstrap

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2; exit 2; }

write_pom() {
  local logging_deps
  if [[ "$MAJOR" -ge 4 ]]; then
    logging_deps="
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId><version>${LOG4J2_VERSION}</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId><version>${LOG4J2_VERSION}</version></dependency>"
  else
    logging_deps="
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-reload4j</artifactId><version>${SLF4J_VERSION}</version></dependency>"
  fi
  # connect-runtime (jetty, jersey, ~25 MB) is only needed by the connect plugin-path tool, not by
  # ProducerPerformance / TopicCommand, so it is excluded from kafka-tools.
  cat > "$CACHE_DIR/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>carwatch.local</groupId>
  <artifactId>kafka-jars</artifactId>
  <version>${KAFKA_VERSION}</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_${SCALA_VERSION}</artifactId><version>${KAFKA_VERSION}</version></dependency>
    <dependency>
      <groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>${KAFKA_VERSION}</version>
      <exclusions><exclusion><groupId>org.apache.kafka</groupId><artifactId>connect-runtime</artifactId></exclusion></exclusions>
    </dependency>${logging_deps}
  </dependencies>
</project>
POM
}

cmd_fetch() {
  if [[ -f "$MARKER" ]]; then
    log "kafka ${KAFKA_VERSION} already cached in $CACHE_DIR"
    return 0
  fi
  command -v mvn >/dev/null || die "mvn not found (needed once to fetch the Kafka jars)"
  mkdir -p "$CACHE_DIR"
  # Parallel callers (test workers, CI steps) must not run mvn into the same dir at once.
  exec 9> "$CACHE_DIR/.lock"
  flock 9
  if [[ -f "$MARKER" ]]; then exec 9>&-; return 0; fi
  write_pom
  # Copy into a temp dir and rename, so an interrupted fetch never looks complete.
  rm -rf "$LIB_DIR.tmp"
  log "fetching kafka_${SCALA_VERSION}:${KAFKA_VERSION} + kafka-tools from Maven Central into $CACHE_DIR"
  # mvn output goes to a log (its -q still emits colour codes); shown only when it fails.
  if ! mvn -B -q -Dstyle.color=never -f "$CACHE_DIR/pom.xml" dependency:copy-dependencies \
      -DincludeScope=runtime -DoutputDirectory="$LIB_DIR.tmp" > "$CACHE_DIR/mvn.log" 2>&1; then
    tail -n 40 "$CACHE_DIR/mvn.log" >&2
    die "mvn dependency:copy-dependencies failed for kafka ${KAFKA_VERSION} (full log $CACHE_DIR/mvn.log)"
  fi
  [[ -f "$LIB_DIR.tmp/kafka_${SCALA_VERSION}-${KAFKA_VERSION}.jar" ]] || die "broker jar missing after fetch"
  rm -rf "$LIB_DIR"
  mv "$LIB_DIR.tmp" "$LIB_DIR"
  write_log_config
  touch "$MARKER"
  exec 9>&-
  log "cached $(ls "$LIB_DIR" | wc -l) jars ($(du -sh "$CACHE_DIR" | cut -f1))"
}

write_log_config() {
  # Console only: start redirects stdout to <workdir>/server.log. Quiet the chatty request/state loggers.
  cat > "$CACHE_DIR/log4j2.properties" <<'L2'
status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.statechange.name = state.change.logger
logger.statechange.level = WARN
logger.authorizer.name = kafka.authorizer.logger
logger.authorizer.level = WARN
L2
  cat > "$CACHE_DIR/log4j.properties" <<'L1'
log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.state.change.logger=WARN
log4j.logger.kafka.authorizer.logger=WARN
L1
  # Tools (perf, topic creation) only print warnings.
  sed 's/^rootLogger.level = INFO/rootLogger.level = WARN/' "$CACHE_DIR/log4j2.properties" > "$CACHE_DIR/tools-log4j2.properties"
  sed 's/^log4j.rootLogger=INFO/log4j.rootLogger=WARN/' "$CACHE_DIR/log4j.properties" > "$CACHE_DIR/tools-log4j.properties"
}

# JVM flags selecting the logging config of this Kafka major version.
log_opts() { # $1 = "" for broker, "tools-" for CLI tools
  if [[ "$MAJOR" -ge 4 ]]; then
    echo "-Dlog4j2.configurationFile=$CACHE_DIR/${1}log4j2.properties"
  else
    echo "-Dlog4j.configuration=file:$CACHE_DIR/${1}log4j.properties"
  fi
}

ensure_fetched() { [[ -f "$MARKER" ]] || cmd_fetch; }

# free_port, port_open
source "$(dirname "${BASH_SOURCE[0]}")/../lib/ports.sh"
source "$(dirname "${BASH_SOURCE[0]}")/../lib/pids.sh"

# Alive and really a Kafka JVM (scripts/lib/pids.sh).
pid_alive() { pid_is "${1:-}" 'kafka\.Kafka'; }

read_pid() { [[ -f "$1/kafka.pid" ]] && cat "$1/kafka.pid" || true; }

random_cluster_id() {
  # Kafka cluster ids are 16 random bytes, base64url without padding (what `random-uuid` prints).
  head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n'
}

# A self-signed certificate for 127.0.0.1 (its own CA), once per workdir.
make_tls() { # workdir
  local tls="$1/tls"
  [[ -f "$tls/broker.pem" ]] && return 0
  command -v openssl >/dev/null || die "KAFKA_SECURE_USER needs openssl"
  mkdir -p "$tls"
  openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=127.0.0.1" \
      -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" -keyout "$tls/key.pem" -out "$tls/ca.pem" 2>/dev/null \
    || die "openssl could not make the test certificate"
  cat "$tls/key.pem" "$tls/ca.pem" > "$tls/broker.pem"
}

write_server_properties() { # workdir port controller_port [secure_port]
  local wd="$1" port="$2" cport="$3" sport="${4:-}"
  local listeners="PLAINTEXT://127.0.0.1:${port}" map="PLAINTEXT:PLAINTEXT"
  if [[ -n "$sport" ]]; then listeners+=",SASL_SSL://127.0.0.1:${sport}"; map+=",SASL_SSL:SASL_SSL"; fi
  cat > "$wd/server.properties" <<PROPS
# Generated by scripts/kafka/kafka.sh; rewritten on every start.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:${cport}
listeners=${listeners},CONTROLLER://127.0.0.1:${cport}
advertised.listeners=${listeners}
listener.security.protocol.map=${map},CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=${wd}/data
PROPS
  # The rest is the broker settings docker-compose.yml's kafka service uses too.
  cat "$KAFKA_SETTINGS" >> "$wd/server.properties"
  if [[ -n "$sport" ]]; then
    local user="${KAFKA_SECURE_USER%%:*}" password="${KAFKA_SECURE_USER#*:}"
    cat >> "$wd/server.properties" <<PROPS
# KAFKA_SECURE_USER: SASL over TLS, the way hosted clusters are reached.
sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512
listener.name.sasl_ssl.ssl.keystore.type=PEM
listener.name.sasl_ssl.ssl.keystore.location=${wd}/tls/broker.pem
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_${user}="${password}";
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
PROPS
  fi
  if [[ -n "${KAFKA_EXTRA_PROPS:-}" ]]; then
    printf '%s\n' "# KAFKA_EXTRA_PROPS" "$KAFKA_EXTRA_PROPS" >> "$wd/server.properties"
  fi
}

cmd_start() {
  local wd="${1:-}"; [[ -n "$wd" ]] || usage
  ensure_fetched
  mkdir -p "$wd"; wd="$(cd "$wd" && pwd)"
  local pid; pid="$(read_pid "$wd")"
  if pid_alive "$pid"; then die "broker already running in $wd (pid $pid)"; fi

  # Restart keeps the same address and data so clients and a restart test can reconnect.
  local port cport sport=""
  if [[ -f "$wd/bootstrap" && -f "$wd/controller.port" ]]; then
    port="$(cut -d: -f2 < "$wd/bootstrap")"; cport="$(cat "$wd/controller.port")"
  else
    port="$(free_port)"; cport="$(free_port)"
    while [[ "$cport" == "$port" ]]; do cport="$(free_port)"; done
  fi
  if [[ -n "${KAFKA_SECURE_USER:-}" ]]; then
    [[ "$KAFKA_SECURE_USER" == *:* ]] || die "KAFKA_SECURE_USER must be name:password"
    if [[ -f "$wd/secure.bootstrap" ]]; then sport="$(cut -d: -f2 < "$wd/secure.bootstrap")"; else
      sport="$(free_port)"
      while [[ "$sport" == "$port" || "$sport" == "$cport" ]]; do sport="$(free_port)"; done
    fi
    make_tls "$wd"
  fi
  write_server_properties "$wd" "$port" "$cport" "$sport"

  local cp="$LIB_DIR/*"
  if [[ ! -f "$wd/data/meta.properties" ]]; then
    local cid; cid="$(random_cluster_id)"
    log "formatting $wd/data (cluster id $cid)"
    local scram=()
    if [[ -n "$sport" ]]; then
      local user="${KAFKA_SECURE_USER%%:*}" password="${KAFKA_SECURE_USER#*:}"
      scram=(--add-scram "SCRAM-SHA-256=[name=${user},password=${password}]" --add-scram "SCRAM-SHA-512=[name=${user},password=${password}]")
    fi
    "$JAVA" $(log_opts tools-) -cp "$cp" kafka.tools.StorageTool format \
        -t "$cid" -c "$wd/server.properties" --ignore-formatted "${scram[@]}" >> "$wd/server.log" 2>&1 \
      || { tail -n 30 "$wd/server.log" >&2; die "storage format failed"; }
  fi

  log "starting kafka ${KAFKA_VERSION} on 127.0.0.1:${port} (controller ${cport}), log $wd/server.log"
  echo "===== start $(date -Is) kafka ${KAFKA_VERSION} =====" >> "$wd/server.log"
  # Only look for the readiness line in this run's part of the log.
  local marker_line; marker_line="$(wc -l < "$wd/server.log")"
  # setsid: the broker survives the caller's process group (e.g. a test runner's ^C handling).
  # shellcheck disable=SC2086
  setsid "$JAVA" ${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m} \
      -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
      $(log_opts "") -cp "$cp" kafka.Kafka "$wd/server.properties" \
      < /dev/null >> "$wd/server.log" 2>&1 &
  pid=$!
  echo "$pid" > "$wd/kafka.pid"
  echo "127.0.0.1:${port}" > "$wd/bootstrap"
  echo "$cport" > "$wd/controller.port"
  if [[ -n "$sport" ]]; then echo "127.0.0.1:${sport}" > "$wd/secure.bootstrap"; fi

  # Ready = JVM alive, startup finished (log line), and the client port accepts TCP.
  local timeout="${KAFKA_START_TIMEOUT:-60}" start=$SECONDS
  while :; do
    if ! pid_alive "$pid"; then
      show_failure "$wd" "$marker_line"
      rm -f "$wd/kafka.pid"
      die "broker exited during startup (log above, full log $wd/server.log)"
    fi
    if tail -n +"$marker_line" "$wd/server.log" | grep -q 'Kafka Server started' && port_open "$port" && { [[ -z "$sport" ]] || port_open "$sport"; }; then
      break
    fi
    if (( SECONDS - start >= timeout )); then
      show_failure "$wd" "$marker_line"
      die "broker not ready after ${timeout}s (pid $pid still running; log above, full log $wd/server.log)"
    fi
    sleep 0.2
  done
  log "ready in $((SECONDS - start))s"
  echo "127.0.0.1:${port}"
}

# The root cause (e.g. "Address already in use") is usually far above the shutdown noise at the end.
show_failure() { # workdir first-line-of-this-run
  echo "----- first errors of this run -----" >&2
  tail -n +"$2" "$1/server.log" | grep -E '\] (ERROR|FATAL) |Exception:' | head -n 8 >&2 || true
  echo "----- last lines of $1/server.log -----" >&2
  tail -n 25 "$1/server.log" >&2
}

cmd_stop() {
  local wd="${1:-}"; [[ -n "$wd" ]] || usage
  stop_pidfile "$wd/kafka.pid" 'kafka\.Kafka' broker "${KAFKA_STOP_TIMEOUT:-20}"
}

cmd_kill() {
  local wd="${1:-}"; [[ -n "$wd" ]] || usage
  local pid; pid="$(read_pid "$wd")"
  if ! pid_alive "$pid"; then rm -f "$wd/kafka.pid"; log "no broker running in $wd"; return 0; fi
  kill -KILL "$pid" 2>/dev/null || true
  wait_gone "$pid" 'kafka\.Kafka' 10 || die "broker $pid did not die"
  rm -f "$wd/kafka.pid"
  log "killed broker $pid"
}

cmd_perf() {
  [[ $# -eq 4 ]] || usage
  local bootstrap="$1" topic="$2" num="$3" size="$4"
  ensure_fetched
  local cp="$LIB_DIR/*"
  # Auto topic creation is off on our broker, so make sure the topic exists first.
  "$JAVA" $(log_opts tools-) -cp "$cp" org.apache.kafka.tools.TopicCommand \
      --bootstrap-server "$bootstrap" --create --if-not-exists --topic "$topic" \
      --partitions "${KAFKA_PERF_PARTITIONS:-1}" --replication-factor 1 >&2
  local out
  out="$("$JAVA" -Xmx512m $(log_opts tools-) -cp "$cp" org.apache.kafka.tools.ProducerPerformance \
      --topic "$topic" --num-records "$num" --record-size "$size" --throughput -1 \
      --producer-props bootstrap.servers="$bootstrap" acks=all)"
  # Intermediate 5 s reports go to stderr; the final summary is the last line.
  sed '$d' <<<"$out" >&2
  tail -n 1 <<<"$out"
}

main() {
  local cmd="${1:-}"; shift || true
  case "$cmd" in
    fetch) cmd_fetch ;;
    start) cmd_start "$@" ;;
    stop) cmd_stop "$@" ;;
    kill) cmd_kill "$@" ;;
    perf) cmd_perf "$@" ;;
    classpath) ensure_fetched; echo "$LIB_DIR/*" ;;
    *) usage ;;
  esac
}
main "$@"

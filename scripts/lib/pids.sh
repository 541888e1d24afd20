# shellcheck shell=bash
# Processes a script started and keeps in a pid file. Sourced; the script defines log and die.

# pid_is PID PATTERN: alive, not a zombie (containers whose pid 1 does not reap), and its command line
# matches PATTERN (a stale pid file must never make us signal an unrelated process that reused the pid).
pid_is() {
  local pid="${1:-}" state
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 1
  state="$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || true)"
  [[ -n "$state" && "$state" != Z ]] || return 1
  tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q "$2"
}

# wait_gone PID PATTERN SECONDS: false if it still runs after SECONDS.
wait_gone() {
  local i=0
  while pid_is "$1" "$2"; do
    (( i >= $3 * 10 )) && return 1
    sleep 0.1; i=$((i + 1))
  done
}

# stop_pidfile PIDFILE PATTERN WHAT SECONDS: SIGTERM, SIGKILL after SECONDS, then the pid file goes.
stop_pidfile() {
  local file=$1 pattern=$2 what=$3 timeout=$4 pid=""
  [[ -f "$file" ]] && pid="$(cat "$file")"
  if ! pid_is "$pid" "$pattern"; then rm -f "$file"; log "no $what running"; return 0; fi
  kill -TERM "$pid" 2>/dev/null || true
  if ! wait_gone "$pid" "$pattern" "$timeout"; then
    log "$what $pid ignored SIGTERM for ${timeout}s, sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    wait_gone "$pid" "$pattern" 10 || die "$what $pid did not die"
  fi
  rm -f "$file"
  log "stopped $what $pid"
}

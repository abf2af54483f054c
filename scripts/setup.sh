#!/usr/bin/env bash
# Create (or reuse) .venv and install Conveyor with its dev tools. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-}"
if [ -z "$PYTHON" ]; then
  for candidate in python3.12 python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
      PYTHON="$candidate"; break
    fi
  done
fi
[ -n "$PYTHON" ] || { echo "Python 3.11 or newer is required" >&2; exit 1; }

if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.conveyor-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e ".[dev]"
  touch "$stamp"
fi

# The dashboard's browser tests drive Debian's Chromium; Playwright never downloads
# one. Best effort: without it those tests skip (and fail in CI), the rest still runs.
install_chromium() {
  local run=()
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
      run=(sudo -n)
    else
      echo "note: /usr/bin/chromium is missing; installing it needs root (apt-get install chromium)" >&2
      return 0
    fi
  fi
  export DEBIAN_FRONTEND=noninteractive
  # An image's package lists are often empty or stale: update only when needed.
  if "${run[@]}" apt-get install -y -qq chromium >/dev/null 2>&1 ||
     { "${run[@]}" apt-get update -qq >/dev/null 2>&1 &&
       "${run[@]}" apt-get install -y -qq chromium >/dev/null 2>&1; }; then
    return 0
  fi
  echo "note: apt-get could not install chromium; the dashboard browser tests will skip" >&2
}
if [ ! -x /usr/bin/chromium ]; then
  if command -v apt-get >/dev/null 2>&1; then
    install_chromium
  else
    echo "note: /usr/bin/chromium is missing and apt-get is not available; install Chromium there for the dashboard browser tests" >&2
  fi
fi

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
  .venv/bin/python -m pip install --quiet -e ".[server,dev]"
  touch "$stamp"
fi

# apt packages some features need, installed best effort: without them those features
# (and their tests) are unavailable, the rest still runs.
apt_install() {
  local package="$1" why="$2" run=()
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
      run=(sudo -n)
    else
      echo "note: $package is missing; installing it needs root (apt-get install $package): $why" >&2
      return 0
    fi
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "note: $package is missing and apt-get is not available: $why" >&2
    return 0
  fi
  export DEBIAN_FRONTEND=noninteractive
  # An image's package lists are often empty or stale: update only when needed.
  if "${run[@]}" apt-get install -y -qq "$package" >/dev/null 2>&1 ||
     { "${run[@]}" apt-get update -qq >/dev/null 2>&1 &&
       "${run[@]}" apt-get install -y -qq "$package" >/dev/null 2>&1; }; then
    return 0
  fi
  echo "note: apt-get could not install $package: $why" >&2
}

# The dashboard's browser tests drive Debian's Chromium; Playwright never downloads one.
if [ ! -x /usr/bin/chromium ]; then
  apt_install chromium "the dashboard browser tests will skip"
fi
# Customer code runs under bubblewrap (docs/sandbox.md); without it a worker refuses
# such tasks unless CONVEYOR_SANDBOX_MODE=rlimit.
if ! command -v bwrap >/dev/null 2>&1; then
  apt_install bubblewrap "workers cannot sandbox customer code"
fi
# tests/deploy runs deploy/nginx.conf (the compose proxy) in a real nginx, and checks
# the systemd units with systemd-analyze.
if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then
  apt_install nginx-light "the compose proxy test skips"
fi
if ! command -v systemd-analyze >/dev/null 2>&1; then
  apt_install systemd "systemd-analyze verify of deploy/systemd skips"
fi

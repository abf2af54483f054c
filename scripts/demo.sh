#!/usr/bin/env bash
# Set up, then start the server on the embedded SQLite database with a demo.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
exec .venv/bin/conveyor demo "$@"

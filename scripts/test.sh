#!/usr/bin/env bash
# Set up, then run everything CI runs: ruff, mypy and the whole test suite.
# PostgreSQL and Redis cases skip (with the reason) when those servers are absent,
# unless CI=true or CONVEYOR_REQUIRE_SERVICES=1, where their absence fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
.venv/bin/pytest "$@"

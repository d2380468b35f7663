#!/usr/bin/env bash
# One command from a fresh clone to the whole test suite: system packages (Chromium, chromedriver,
# PostgreSQL), ./.venv with the test tools, then every test: SQLite and PostgreSQL backends, browser tests
# in headless Chromium, the follower's crash and rotation scenarios.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
exec .venv/bin/python -m pytest --headless "$@"

#!/usr/bin/env bash
# One command from a fresh clone to a running dashboard: set up ./.venv, build a demo database when there is
# no data yet, and serve on http://127.0.0.1:8050 (CLUSTERDASH_HOST / CLUSTERDASH_PORT to change).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/clusterdash serve --demo "$@"

#!/usr/bin/env bash
# Run schemathesis against the live API: a 10-day demo database, the real app on a loopback port, a
# bounded number of examples per operation. Fails on any server error or response that breaks the OpenAPI
# document. Needs `pip install schemathesis` (in setup.cfg's test extra). About a minute.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python}
SCHEMATHESIS=${SCHEMATHESIS:-$(dirname "$(command -v "$PYTHON")")/schemathesis}
EXAMPLES=${EXAMPLES:-30}
WORK=$(mktemp -d)
trap 'kill "$SERVER" 2>/dev/null || true; rm -rf "$WORK"' EXIT

"$PYTHON" -m clusterdash --db "sqlite:///$WORK/demo.db" demo --days 10 --seed 3 --out "$WORK/io_usage.log" >/dev/null
PORT=$("$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$PYTHON" - "$WORK/demo.db" "$PORT" >"$WORK/server.log" 2>&1 <<'PY' &
import sys
from clusterdash.web.app import create_app
app = create_app({"db": f"sqlite:///{sys.argv[1]}", "tz": "Europe/Zurich", "refresh": 3600})
app.server.run(host="127.0.0.1", port=int(sys.argv[2]), threaded=True)
PY
SERVER=$!
for _ in $(seq 100); do
  if "$PYTHON" -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$PORT/api/openapi.json')" 2>/dev/null; then break; fi
  kill -0 "$SERVER" 2>/dev/null || { cat "$WORK/server.log"; exit 1; }
  sleep 0.2
done
"$SCHEMATHESIS" run "http://127.0.0.1:$PORT/api/openapi.json" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
  --max-examples "$EXAMPLES" --generation-deterministic --workers 2

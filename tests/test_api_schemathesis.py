"""schemathesis against the live API: the app served by a real process on loopback over a small demo database,
schemathesis run as a real process against /api/openapi.json with a bounded number of examples per operation
(deterministic generation). It must find no server error and no response that breaks the document.
(scripts/schemathesis.sh runs the same by hand, with more examples.)"""

from __future__ import annotations

import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.dbtools import DEMO_ZONE, build_demo_database

EXAMPLES = 15  # per operation and phase: about 30 s on a 2-core machine
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"

# The server process: the real app factory (the dashboard and the API, rollups prepared at start-up), on a port
# the kernel picks; it prints the port once it listens.
SERVER = r"""
import sys
from werkzeug.serving import make_server
from clusterdash.web.app import create_app

app = create_app({"db": sys.argv[1], "tz": sys.argv[2], "refresh": 3600})
server = make_server("127.0.0.1", 0, app.server, threaded=True)
print(server.server_port, flush=True)
server.serve_forever()
"""


def _schemathesis() -> str:
    beside = Path(sys.executable).with_name("schemathesis")
    found = str(beside) if beside.exists() else shutil.which("schemathesis")
    if found is None:
        pytest.fail("schemathesis is not installed (it is in the test extra: pip install -e '.[test]')", pytrace=False)
    return found


def _port(server: subprocess.Popen, log: Path, timeout: float = 60.0) -> int:
    """The port the server prints once it listens; fails with its log if it dies or stays silent."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([server.stdout], [], [], deadline - time.monotonic())
        if ready:
            line = server.stdout.readline().strip()
            if line.isdigit():
                return int(line)
            break
    server.kill()
    server.wait()
    pytest.fail(f"the API server did not start: {log.read_text()[-3000:]}", pytrace=False)


def test_schemathesis_finds_no_server_error_and_no_schema_violation(tmp_path):
    tool = _schemathesis()
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    build_demo_database(url, tmp_path, days=4)
    log = tmp_path / "server.log"  # one line per request: a pipe nobody reads would fill and stall the server
    with open(log, "w") as log_file:
        server = subprocess.Popen(
            [sys.executable, "-c", SERVER, url, DEMO_ZONE], stdout=subprocess.PIPE, stderr=log_file, text=True
        )
    try:
        port = _port(server, log)
        result = subprocess.run(
            [
                tool,
                "run",
                f"http://127.0.0.1:{port}/api/openapi.json",
                "--checks",
                CHECKS,
                "--max-examples",
                str(EXAMPLES),
                "--generation-deterministic",
                "--workers",
                "1",
                "--no-color",
                "--request-timeout",
                "30",
            ],
            capture_output=True,
            text=True,
            timeout=600,
            cwd=tmp_path,
        )
    finally:
        server.terminate()
        server.wait(timeout=30)
    report = result.stdout[-8000:] + result.stderr[-2000:]
    assert result.returncode == 0, report
    assert "passed" in result.stdout and " failed" not in result.stdout.split("SUMMARY")[-1], report

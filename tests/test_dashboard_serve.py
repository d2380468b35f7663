"""`clusterdash serve` and the Procfile's gunicorn command, as real processes on a free port."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.followtools import wait_until
from tests.waiting import POLL_SECONDS

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status, response.read().decode().replace("\\u002f", "/")  # Dash escapes / in JSON


def wait_for(url: str, process: subprocess.Popen, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the server exited with {process.returncode}: {process.stdout.read()}")
        try:
            return get(url)[1]
        except OSError:
            time.sleep(POLL_SECONDS)
    raise AssertionError(f"{url} did not answer within {timeout} s")


def start(command: list[str], **options) -> subprocess.Popen:
    """A server process in a process group of its own (so that stop() reaches its workers too), output piped."""
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True, **options
    )


def stop(process: subprocess.Popen, sig: int = signal.SIGINT, timeout: float = 30) -> str:
    """Send `sig` to the server's process group and return its output once all of it has exited. Whatever is
    still running after `timeout` is killed, workers included: a hung process fails the test instead of hanging
    the run (its output is returned, and its return code says it was killed)."""
    _signal_group(process, sig)
    try:
        out, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _signal_group(process, signal.SIGKILL)
        out, _ = process.communicate(timeout=10)
    return out


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # every process of the group has exited already
        os.killpg(process.pid, sig)


def test_serve_with_an_empty_database_says_what_to_run_and_demo_fills_it(tmp_path):
    port = free_port()
    db = f"sqlite:///{tmp_path / 'dash.db'}"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    # A database that exists but is empty (serve without --demo refuses a file that does not exist: test_cli).
    subprocess.run([sys.executable, "-m", "clusterdash", "--db", db, "init"], check=True, capture_output=True)
    plain = start(
        [sys.executable, "-m", "clusterdash", "--db", db, "serve", "--port", str(port)], cwd=tmp_path, env=env
    )
    try:
        page = wait_for(f"http://127.0.0.1:{port}/_dash-layout", plain)
        assert "No data yet" in page and f"clusterdash --db {db} ingest" in page
    finally:
        out = stop(plain)
    assert f"clusterdash --db {db} ingest /var/log/io_usage.log" in out and "serve --demo" in out

    # In another zone than the first start: the database is prepared in it before the demo is ingested, so the
    # demo's rollups are made in that zone, not rebuilt after it.
    demo = start(
        [sys.executable, "-m", "clusterdash", "--db", db, "serve", "--port", str(port), "--demo", "--tz", "Asia/Tokyo"],
        cwd=tmp_path,
        env=env,
    )
    try:
        page = wait_for(f"http://127.0.0.1:{port}/_dash-layout", demo, timeout=120)
        assert "users-graph" in page and "No data yet" not in page
        assert get(f"http://127.0.0.1:{port}/user/someone")[0] == 200  # profile paths serve the app
    finally:
        out = stop(demo)
    assert "demo log" in out and (tmp_path / "data" / "demo" / "io_usage.log").exists()
    assert "rebuilding the rollups" not in out


def procfile_command(port: int) -> list[str]:
    gunicorn = shutil.which("gunicorn", path=str(Path(sys.executable).parent)) or shutil.which("gunicorn")
    if gunicorn is None:
        pytest.fail("gunicorn is not installed (it is an install requirement)")
    procfile = (ROOT / "Procfile").read_text()
    assert "'clusterdash.web.app:create_server()'" in procfile
    command = procfile.split("web:", 1)[1].strip().replace("gunicorn", gunicorn, 1).replace("${PORT:-8050}", str(port))
    return ["bash", "-c", "exec " + command]


def test_the_procfile_command_refuses_to_serve_everyone_without_sign_in(tmp_path):
    env = {**os.environ, "CLUSTERDASH_DB": f"sqlite:///{tmp_path / 'g.db'}", "PORT": str(free_port())}
    env.pop("CLUSTERDASH_AUTH", None)
    server = start(procfile_command(int(env["PORT"])), cwd=ROOT, env=env)
    out = server.communicate(timeout=120)[0]
    assert server.returncode != 0
    reason = [line for line in out.splitlines() if line.startswith("clusterdash: refusing to serve without sign-in")]
    assert reason and "CLUSTERDASH_PUBLIC_WITHOUT_AUTH=1" in reason[0]
    assert f'File "{ROOT / "clusterdash"}' not in out  # one line from clusterdash, no traceback of its own


def test_the_procfile_command_serves_the_same_app_under_gunicorn_with_sign_in(tmp_path):
    """Production sets CLUSTERDASH_AUTH (here local, with an account made by the CLI): the sign-in page answers,
    everything else waits for a sign-in."""
    port = free_port()
    db = f"sqlite:///{tmp_path / 'g.db'}"
    add = [sys.executable, "-m", "clusterdash", "--db", db, "user", "add", "ops", "--role", "admin", "--password-stdin"]
    subprocess.run(add, input="ops-password-123\n", check=True, capture_output=True, text=True)
    env = {**os.environ, "CLUSTERDASH_DB": db, "PORT": str(port), "CLUSTERDASH_AUTH": "local"}
    server = start(procfile_command(port), cwd=ROOT, env=env)
    try:
        page = wait_for(f"http://127.0.0.1:{port}/sign-in", server)
        assert 'name="password"' in page
        for path in ("/_dash-layout", "/api/stats"):
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5)
            assert refused.value.code == 401, path
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/assets/bootstrap.min.css", timeout=5) as redirected:
            assert redirected.url.endswith("/sign-in?next=/assets/bootstrap.min.css")
        assert "No data yet" in signed_in_get(port, "ops", "ops-password-123", "/_dash-layout")
    finally:
        # SIGTERM, as a Procfile runner or systemd stops it: a graceful shutdown of master and workers. (SIGINT, a
        # quick shutdown, sends the workers SIGQUIT, whose handler in gunicorn's threaded worker can deadlock
        # (python/cpython#121649); the master kills such a worker after its 30 s graceful timeout.)
        out = stop(server, signal.SIGTERM)
    assert server.returncode == 0, out


def signed_in_get(port: int, login: str, password: str, path: str) -> str:
    """Sign in through the form (a cookie jar keeps the session) and GET `path`."""
    import http.cookiejar
    import re
    from urllib.parse import urlencode

    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    form = opener.open(f"http://127.0.0.1:{port}/sign-in", timeout=10).read().decode()
    csrf = re.search(r'name="csrf" value="([^"]+)"', form)[1]
    data = urlencode({"login": login, "password": password, "csrf": csrf, "next": path}).encode()
    return opener.open(f"http://127.0.0.1:{port}/sign-in", data=data, timeout=10).read().decode()


def test_serve_demo_live_keeps_adding_hours_that_the_api_sees(tmp_path):
    """`serve --demo --live`: the demo ends at the current hour, then an hour is appended and ingested every
    --live-interval seconds; /api/stats (what the dashboard's live refresh reads) sees the blocks grow."""
    port = free_port()
    db = f"sqlite:///{tmp_path / 'live.db'}"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "clusterdash", "--db", db, "serve", "--port", str(port), "--demo", "--live"]
    server = start([*command, "--live-interval", "0.3"], cwd=tmp_path, env=env)
    url = f"http://127.0.0.1:{port}/api/stats"
    try:
        first = json.loads(wait_for(url, server, timeout=120))
        assert first["freshness"]["age_seconds"] <= 3600 + 60, "the demo ends at the current hour"

        def grown() -> dict | None:
            assert server.poll() is None, f"the server exited: {server.stdout.read()}"
            stats = json.loads(get(url)[1])
            return stats if stats["blocks"] >= first["blocks"] + 3 else None

        now = wait_until(grown, 60, "three more hours")
        # The appended hours run ahead of the clock: the freshness says 0, never a negative age.
        assert now["freshness"]["last_block_epoch"] >= first["freshness"]["last_block_epoch"] + 3 * 3600 - 60
        assert now["freshness"]["age_seconds"] == 0
    finally:
        out = stop(server)
    assert "demo log" in out

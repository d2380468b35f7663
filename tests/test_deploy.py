"""The deployment recipe in docs/deploy, run for real: the recipe's nginx (tests/nginxserver.py) in front of
gunicorn started by the unit's own command line (tests/gunicornserver.py) serving tests/echoapp.py, which
answers with the headers that reached it and what clusterdash's proxy rules make of them.

The point: a client can never choose its login. Whatever it sends as X-Forwarded-User (or groups, or its
address), clusterdash sees only what nginx established; and gunicorn's own door (a port a local user could
knock on) is not trusted at all.
"""

from __future__ import annotations

import base64
import http.client
import json
import shutil
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.gunicornserver import GunicornServer, unit_command
from tests.nginxserver import NginxServer, nginx_proxy  # noqa: F401 (the fixture)

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "docs" / "deploy"
USERS = {"alice": "alice-Secret-1", "carol": "carol-Secret-3"}
TOKEN = "cdt_0123456789ab_" + "A" * 43
# Everything a client might send to pick its own identity, address or scheme.
FORGED = [
    ("X-Forwarded-User", "carol"),
    ("X-Forwarded-Groups", "admins"),
    ("X-Real-IP", "203.0.113.66"),
    ("X-Forwarded-For", "203.0.113.66"),
    ("X-Forwarded-Proto", "http"),
]
UNDERSCORED = [("X_Forwarded_User", "carol"), ("X-Forwarded_User", "carol")]  # WSGI would map these to "-"


@pytest.fixture(scope="module")
def upstream() -> Iterator[GunicornServer]:
    server = GunicornServer(
        app="tests.echoapp:app",
        env={
            "CLUSTERDASH_TRUSTED_PROXIES": "unix",
            "CLUSTERDASH_AUTH_GROUPS_HEADER": "X-Forwarded-Groups",
            "CLUSTERDASH_AUTH_ADMIN_GROUPS": "admins",
        },
    ).start()
    yield server
    server.stop()


@pytest.fixture
def proxy(upstream, nginx_proxy) -> NginxServer:  # noqa: F811 (the fixture, imported)
    return nginx_proxy(upstream.upstream, USERS)


def fetch(server: NginxServer | None, url: str, headers: list[tuple[str, str]] = ()) -> tuple[int, dict, str]:
    """GET `url` with exactly these header lines (repeats and odd names included); status, headers, body."""
    parts = urlsplit(url)
    if parts.scheme == "https":
        assert server is not None
        context = ssl.create_default_context(cafile=str(server.ca_file))
        connection = http.client.HTTPSConnection(parts.hostname, parts.port, context=context, timeout=30)
    else:
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.putrequest("GET", (parts.path or "/") + (f"?{parts.query}" if parts.query else ""))
        for name, value in headers:
            connection.putheader(name, value)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read().decode()
    finally:
        connection.close()


def basic(login: str, password: str) -> tuple[str, str]:
    return "Authorization", "Basic " + base64.b64encode(f"{login}:{password}".encode()).decode()


def test_without_credentials_nginx_answers_and_clusterdash_is_not_reached(proxy):
    for headers in ([], FORGED, [basic("alice", "wrong-password"), *FORGED], [basic("mallory", "x")]):
        status, response_headers, body = fetch(proxy, proxy.url + "/api/usage", headers)
        assert status == 401 and "remote_addr" not in body
        assert response_headers["strict-transport-security"] == "max-age=31536000"  # on errors too


def test_a_signed_in_client_cannot_choose_its_login_groups_address_or_scheme(proxy):
    status, _, body = fetch(proxy, proxy.url + "/api/usage", [basic("alice", USERS["alice"]), *FORGED, *UNDERSCORED])
    assert status == 200
    seen = json.loads(body)
    assert seen["proxy"] == {"login": "alice", "role": "user", "groups": []}
    assert seen["headers"]["X-Forwarded-User"] == "alice"
    assert "X-Forwarded-Groups" not in seen["headers"]
    assert seen["headers"]["X-Real-Ip"] == "127.0.0.1" and seen["client_address"] == "127.0.0.1"
    assert seen["scheme"] == "https" and seen["remote_addr"] == ""  # gunicorn on its Unix socket
    assert "Authorization" not in seen["headers"]  # the password stops at nginx
    assert "carol" not in body and "203.0.113.66" not in body


def test_repeated_login_headers_do_not_get_through_either(proxy):
    forged = [("X-Forwarded-User", "carol"), ("X-Forwarded-User", "root"), ("x-forwarded-user", "bob")]
    status, _, body = fetch(proxy, proxy.url + "/", [*forged, basic("alice", USERS["alice"]), *forged])
    assert status == 200 and json.loads(body)["proxy"]["login"] == "alice"
    # Two Authorization lines (a Basic one and a Bearer one, say) are refused outright.
    status, _, _ = fetch(proxy, proxy.url + "/", [basic("alice", USERS["alice"]), ("Authorization", f"Bearer {TOKEN}")])
    assert status == 400


def test_a_token_request_passes_nginx_with_no_login_at_all(proxy):
    status, _, body = fetch(proxy, proxy.url + "/api/usage", [("Authorization", f"Bearer {TOKEN}"), *FORGED])
    assert status == 200
    seen = json.loads(body)
    assert seen["headers"]["Authorization"] == f"Bearer {TOKEN}"  # clusterdash checks the token itself
    assert "X-Forwarded-User" not in seen["headers"] and seen["proxy"] == {"refused": "no-login"}


def test_over_ipv6_and_plain_http(proxy):
    status, _, body = fetch(proxy, proxy.ipv6_url + "/", [basic("carol", USERS["carol"])])
    assert status == 200 and json.loads(body)["client_address"] == "::1"
    status, headers, _ = fetch(None, proxy.http_url + "/api/usage?x=1", [basic("carol", USERS["carol"])])
    assert status == 301 and headers["location"] == "https://127.0.0.1/api/usage?x=1"


def test_gunicorns_own_door_is_not_trusted(upstream):
    # The unit's --umask makes the socket rw for its owner and group (nginx's user joins the group), not others.
    assert upstream.socket_path.stat().st_mode & 0o777 == 0o770
    # A local user who reaches gunicorn's port directly, header and all, is refused: only the socket is trusted.
    status, _, body = fetch(None, f"http://127.0.0.1:{upstream.port}/", FORGED)
    assert status == 200 and json.loads(body)["proxy"] == {"refused": "untrusted-peer"}


def test_the_web_unit_runs_the_procfiles_gunicorn_settings():
    procfile = (ROOT / "Procfile").read_text().split("web:", 1)[1].split()
    command = unit_command()
    for option in ("--workers", "--threads"):
        assert command[command.index(option) + 1] == procfile[procfile.index(option) + 1], option
    assert command[-1] == procfile[-1].strip("'") == "clusterdash.web.app:create_server()"
    follow = unit_command(DEPLOY / "clusterdash-follow.service")
    assert follow[1:3] == ["ingest", "--follow"]


def test_the_units_are_valid_systemd_units(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.fail("systemd-analyze not found: apt-get install -y systemd (bash scripts/setup.sh --test does)")
    for unit in ("clusterdash-web.service", "clusterdash-follow.service"):
        text = (DEPLOY / unit).read_text().replace("/opt/clusterdash/.venv/bin", str(Path(sys.executable).parent))
        (tmp_path / unit).write_text(text)
    result = subprocess.run(
        [analyze, "verify", *(str(p) for p in sorted(tmp_path.glob("*.service")))],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr

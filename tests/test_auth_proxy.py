"""--auth proxy for real: the deployment recipe's nginx (tests/nginxserver.py: TLS, basic auth, the login header set
from the signed-in user) in front of the real app under gunicorn started by the unit's own command line
(tests/gunicornserver.py). A client-supplied login header never gets through; the header sent straight to
gunicorn's port (not from the trusted socket) is refused; an API token passes nginx and carries its owner's scope."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from clusterdash.db import accounts, query
from clusterdash.db.engine import make_engine
from clusterdash.db.filters import Filters
from tests.authtools import add_account, add_token
from tests.dbtools import build_demo_database
from tests.gunicornserver import GunicornServer
from tests.test_deploy import FORGED, basic, fetch

USERS = {"alice": "alice-Secret-1", "carol": "carol-Secret-3"}


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[tuple[GunicornServer, object, list[str]]]:
    """A week of demo data; alice sees two cluster usernames, carol is an admin; the real app under gunicorn."""
    folder = tmp_path_factory.mktemp("proxy-site")
    url = f"sqlite:///{folder / 'site.db'}"
    build_demo_database(url, folder, days=7)
    engine = make_engine(url)
    with engine.connect() as conn:
        everyone = [r["user"] for r in query.users_table(conn, Filters())]
    add_account(engine, "alice", "user", everyone[1:3], password=None)
    add_account(engine, "carol", "admin", password=None)
    server = GunicornServer(
        env={"CLUSTERDASH_DB": url, "CLUSTERDASH_AUTH": "proxy", "CLUSTERDASH_TRUSTED_PROXIES": "unix"}
    ).start()
    yield server, engine, everyone
    server.stop()
    engine.dispose()


@pytest.fixture
def proxy(site, nginx_proxy):
    return nginx_proxy(site[0].upstream, USERS)


def users_seen(body: str) -> list[str]:
    return sorted(u["user"] for u in json.loads(body)["users"])


def test_a_client_supplied_login_header_never_gets_through(site, proxy):
    _, _, everyone = site
    forged = [*FORGED, ("X-Forwarded-User", "carol"), ("x-forwarded-user", "carol")]
    status, headers, body = fetch(proxy, proxy.url + "/api/users", [basic("alice", USERS["alice"]), *forged])
    assert status == 200 and users_seen(body) == sorted(everyone[1:3])
    assert headers["strict-transport-security"] and headers["x-frame-options"] == "DENY"
    assert "content-security-policy" in headers
    status, _, body = fetch(proxy, proxy.url + "/api/users", [basic("carol", USERS["carol"])])
    assert status == 200 and users_seen(body) == sorted(everyone)
    status, _, body = fetch(proxy, proxy.url + "/_dash-layout", [basic("alice", USERS["alice"]), *forged])
    assert status == 200 and '"alice"' in body and "Sign out" not in body  # signing out is the proxy's
    for headers in ([], forged):  # no credentials: nginx answers, clusterdash is not reached
        assert fetch(proxy, proxy.url + "/api/users", headers)[0] == 401


def test_the_login_header_sent_straight_to_gunicorn_is_refused(site):
    server, engine, _ = site
    for path in ("/api/users", "/", "/_dash-layout"):
        status, _, body = fetch(None, f"http://127.0.0.1:{server.port}{path}", [("X-Forwarded-User", "carol"), *FORGED])
        assert status == 401 and "users" not in body, path
    with engine.connect() as conn:
        refusals = [e for e in accounts.recent_audit(conn) if e.kind == "refused"]
    assert any(e.detail.startswith("untrusted-peer") and e.address == "127.0.0.1" for e in refusals)


def test_an_api_token_passes_nginx_and_carries_its_owners_scope(site, proxy):
    _, engine, everyone = site
    token = add_token(engine, "alice")
    status, _, body = fetch(proxy, proxy.url + "/api/users", [("Authorization", f"Bearer {token}"), *FORGED])
    assert status == 200 and users_seen(body) == sorted(everyone[1:3])
    accounts.revoke_token(engine, token.split("_")[1], int(time.time()))
    assert fetch(proxy, proxy.url + "/api/users", [("Authorization", f"Bearer {token}")])[0] == 401

"""The gate on the real app, on SQLite and PostgreSQL (Flask's test client): every route refuses an anonymous request
in every mode but none, the session cookie and its end, API tokens, throttling, proxy trust, the headers, and the
refusal to serve everyone without sign-in."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from clusterdash.db import accounts, query
from clusterdash.db.filters import Filters
from clusterdash.db.schema import api_tokens
from clusterdash.web import auth
from tests.authtools import (
    PASSWORD,
    add_account,
    add_token,
    auth_app,
    every_route,
    forget_accounts,
    sign_in,
)

MODES = ("local", "ldap", "proxy")
PUBLIC = {"clusterdash_auth.sign_in"}
FORGED = {"X-Forwarded-User": "root", "X-Forwarded-Groups": "admins", "X-Real-IP": "10.1.1.1"}


@pytest.fixture
def demo(api_demo_url, api_demo_engine):
    """The demo database (shared by the session), with no accounts before and after the test."""
    forget_accounts(api_demo_engine)
    yield api_demo_url, api_demo_engine
    forget_accounts(api_demo_engine)


@pytest.fixture(scope="module")
def names(api_demo_engine):
    with api_demo_engine.connect() as conn:
        return [r["user"] for r in query.users_table(conn, Filters())]


def refused(response, mode: str) -> bool:
    if response.status_code == 401:
        return response.is_json or response.request.method == "HEAD"
    return mode != "proxy" and response.status_code == 303 and "/sign-in?next=" in response.headers["Location"]


@pytest.mark.parametrize("mode", MODES)
def test_every_route_refuses_an_anonymous_request(demo, mode):
    url, _ = demo
    server = auth_app(url, mode).server
    routes = list(every_route(server))
    assert {r.rule for r in routes} >= {"/_dash-update-component", "/_dash-layout", "/_dash-dependencies", "/api/stats"}
    client = server.test_client()
    for route in routes:
        if route.endpoint in PUBLIC:
            assert route.rule == "/sign-in" and mode != "proxy"
            continue
        body = {} if route.method == "POST" else None
        response = client.open(route.path, method=route.method, headers=FORGED, json=body)
        assert refused(response, mode), (route, response.status_code)
        assert response.headers["X-Frame-Options"] == "DENY"
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
        if route.path.startswith(("/api", "/_dash-")):
            assert response.status_code == 401, route
    # Paths that are no route are refused as well, not answered with a 404 that says what exists.
    for path in ("/api/nope", "/nope/deeper", "/_dash-nope"):
        assert client.get(path).status_code in (401, 303)


def test_without_sign_in_every_route_answers_as_before(api_demo_client):
    assert api_demo_client.get("/api/users").status_code == 200
    assert api_demo_client.get("/_dash-layout").status_code == 200
    response = api_demo_client.get("/assets/bootstrap.min.css")
    assert response.status_code == 200 and response.headers["X-Content-Type-Options"] == "nosniff"
    assert "Sign out" not in api_demo_client.get("/_dash-layout").get_data(as_text=True)


def test_signing_in_sets_a_hardened_cookie_and_names_the_user_in_the_header(demo, names):
    url, engine = demo
    add_account(engine, "reader", "user", [names[3]])
    app = auth_app(url, "local")
    client = app.server.test_client()
    done = sign_in(client, "reader", next_path="/api/users?sort=name")
    assert done.status_code == 303 and done.headers["Location"] == "/api/users?sort=name"
    cookie = done.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    assert [u["user"] for u in client.get("/api/users").get_json()["users"]] == [names[3]]
    layout = client.get("/_dash-layout").get_data(as_text=True).replace("\\u002f", "/")  # Dash escapes / in JSON
    assert "reader" in layout and "Sign out" in layout and "/sign-out" in layout
    # Over HTTPS, directly or through a trusted proxy that says so, the cookie is Secure; an untrusted peer's
    # X-Forwarded-Proto is not believed.
    assert "Secure" in sign_in(app.server.test_client(), "reader", base_url="https://localhost").headers["Set-Cookie"]
    for peer, secure in (("10.0.0.5", True), ("192.0.2.9", False)):
        proxied = auth_app(url, "local", trusted_proxies="10.0.0.0/8").server.test_client()
        proxied.environ_base.update({"REMOTE_ADDR": peer, "HTTP_X_FORWARDED_PROTO": "https"})
        assert ("Secure" in sign_in(proxied, "reader").headers["Set-Cookie"]) is secure, peer


def test_a_wrong_password_a_missing_form_token_and_a_foreign_next_are_refused(demo):
    url, engine = demo
    add_account(engine, "reader")
    client = auth_app(url, "local").server.test_client()
    wrong = sign_in(client, "reader", "not the password")
    assert wrong.status_code == 401 and "Wrong login or password" in wrong.get_data(as_text=True)
    unknown = sign_in(client, "nobody", "not the password")
    # An unknown login is told exactly what a wrong password is told.
    assert unknown.status_code == 401
    assert unknown.get_data(as_text=True) == wrong.get_data(as_text=True).replace('value="reader"', 'value="nobody"')
    no_token = client.post("/sign-in", data={"login": "reader", "password": PASSWORD})
    assert no_token.status_code == 400 and client.get("/api/users").status_code == 401
    assert sign_in(client, "reader").status_code == 303
    assert client.post("/sign-out", data={}).status_code == 400  # signing out needs the form's token too
    assert client.get("/api/users").status_code == 200
    for foreign in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        fresh = client.application.test_client()
        assert sign_in(fresh, "reader", next_path=foreign).headers["Location"] == "/"
        assert fresh.get(f"/sign-in?next={foreign}").headers["Location"] == "/"  # signed in: straight on


def test_throttled_after_failed_sign_ins_with_retry_after_and_audited(demo):
    url, engine = demo
    add_account(engine, "reader")
    client = auth_app(url, "local").server.test_client()
    client.environ_base["REMOTE_ADDR"] = "192.0.2.44"
    for _ in range(5):
        assert sign_in(client, "reader", "guess").status_code == 401
    throttled = sign_in(client, "reader")  # the right password, too soon: not even checked
    assert throttled.status_code == 429 and 1 <= int(throttled.headers["Retry-After"]) <= 2
    assert client.get("/api/users").status_code == 401
    with engine.connect() as conn:
        kinds = [e.kind for e in accounts.recent_audit(conn)]
    assert kinds[:6] == ["throttled"] + ["sign-in-failed"] * 5
    other = auth_app(url, "local").server.test_client()  # another worker: the counts are in the database
    other.environ_base["REMOTE_ADDR"] = "192.0.2.45"
    assert sign_in(other, "reader").status_code == 429  # the login's own count


def test_a_session_ends_when_its_account_changes_or_its_time_is_up(demo, monkeypatch):
    url, engine = demo
    add_account(engine, "reader")
    app = auth_app(url, "local", session_lifetime="1h")
    client = app.server.test_client()
    assert sign_in(client, "reader").status_code == 303 and client.get("/api/stats").status_code == 200
    monkeypatch.setattr(auth, "PRINCIPAL_TTL", 0.0)  # (else within 10 s)
    accounts.update_account(engine, "reader", int(time.time()), role="staff")
    assert client.get("/api/stats").status_code == 401
    assert sign_in(client, "reader").status_code == 303 and client.get("/api/stats").status_code == 200
    with client.session_transaction() as session:
        session["at"] -= 3601
    assert client.get("/api/stats").status_code == 401
    assert sign_in(client, "reader").status_code == 303
    with client.session_transaction() as session:
        csrf = session["csrf"]
    assert client.post("/sign-out", data={"csrf": csrf}).status_code == 303
    assert client.get("/api/stats").status_code == 401
    accounts.update_account(engine, "reader", int(time.time()), disabled=True)
    assert sign_in(client, "reader").status_code == 401  # a disabled local account cannot sign in
    with engine.connect() as conn:
        kinds = [e.kind for e in accounts.recent_audit(conn)]
    assert "sign-out" in kinds and "refused" in kinds


def test_tokens_carry_their_owners_scope_and_stop_when_expired_or_revoked(demo, names, monkeypatch):
    url, engine = demo
    add_account(engine, "script", "user", [names[1]], password=None)
    add_account(engine, "ops", "admin", password=None)
    client = auth_app(url, "local").server.test_client()
    good, admins = add_token(engine, "script"), add_token(engine, "ops")

    def users(token: str):
        return client.get("/api/users", headers={"Authorization": f"Bearer {token}"})

    assert [u["user"] for u in users(good).get_json()["users"]] == [names[1]]
    assert len(users(admins).get_json()["users"]) == len(names)
    with engine.connect() as conn:
        used = conn.execute(select(api_tokens.c.last_used_at).where(api_tokens.c.login == "script")).scalar_one()
    assert used is not None and abs(used - time.time()) < 60
    expired = add_token(engine, "script", lifetime=1)
    monkeypatch.setattr(time, "time", lambda real=time.time: real() + 5)
    assert users(expired).status_code == 401
    monkeypatch.undo()
    token_id = good.split("_")[1]
    accounts.revoke_token(engine, token_id, int(time.time()))
    for bad in (good, good[:-1] + ("A" if good[-1] != "A" else "B"), "not-a-token", "cdt_000000000000_" + "x" * 43):
        response = users(bad)
        assert response.status_code == 401 and response.headers["WWW-Authenticate"].startswith("Bearer"), bad
    monkeypatch.setattr(auth, "PRINCIPAL_TTL", 0.0)
    accounts.update_account(engine, "ops", int(time.time()), disabled=True)
    assert users(admins).status_code == 401
    with engine.connect() as conn:
        details = " ".join(e.detail for e in accounts.recent_audit(conn))
    assert "revoked" in details and "expired" in details and "disabled" in details


def test_proxy_mode_believes_the_header_from_trusted_proxies_only(demo, names):
    url, engine = demo
    add_account(engine, "alice", "user", [names[4]], password=None)
    app = auth_app(url, "proxy", auth_groups_header="X-Forwarded-Groups", auth_admin_groups="hpc-admins")
    client = app.server.test_client()
    client.environ_base["REMOTE_ADDR"] = "10.0.0.5"
    mine = client.get("/api/users", headers={"X-Forwarded-User": "alice"}).get_json()["users"]
    assert [u["user"] for u in mine] == [names[4]]
    admin = client.get("/api/users", headers={"X-Forwarded-User": "alice", "X-Forwarded-Groups": "hpc-admins"})
    assert len(admin.get_json()["users"]) == len(names)
    assert client.get("/api/users").status_code == 401  # the trusted proxy sent no login
    outsider = app.server.test_client()
    outsider.environ_base["REMOTE_ADDR"] = "192.0.2.8"
    for headers in ({"X-Forwarded-User": "alice"}, {"X-Forwarded-User": "alice", "X-Real-IP": "10.0.0.5"}):
        assert outsider.get("/api/users", headers=headers).status_code == 401
        assert outsider.get("/", headers=headers).status_code == 401
    with engine.connect() as conn:
        refusals = [e for e in accounts.recent_audit(conn) if e.kind == "refused"]
    assert any("untrusted-peer" in e.detail and e.address == "192.0.2.8" for e in refusals)


def test_refusals_are_recorded_at_most_once_a_minute_per_reason(demo):
    url, engine = demo
    client = auth_app(url, "local").server.test_client()
    for _ in range(50):
        client.get("/api/users", headers={"Authorization": "Bearer cdt_000000000000_" + "x" * 43})
    with engine.connect() as conn:
        assert [e.kind for e in accounts.recent_audit(conn)] == ["refused"]


def test_serving_everyone_without_sign_in_is_refused_in_one_line(monkeypatch, db_url, run_cli):
    from gunicorn.errors import AppImportError

    from clusterdash.web.app import create_server

    monkeypatch.setenv("CLUSTERDASH_DB", db_url)
    monkeypatch.delenv("CLUSTERDASH_AUTH", raising=False)
    with pytest.raises(AppImportError, match="^clusterdash: refusing to serve without sign-in") as caught:
        create_server()
    assert "\n" not in str(caught.value)
    monkeypatch.setenv("CLUSTERDASH_PUBLIC_WITHOUT_AUTH", "1")
    assert create_server().test_client().get("/api/stats").status_code == 200
    monkeypatch.setenv("CLUSTERDASH_PUBLIC_WITHOUT_AUTH", "perhaps")
    with pytest.raises(AppImportError, match="CLUSTERDASH_PUBLIC_WITHOUT_AUTH"):
        create_server()
    monkeypatch.setenv("CLUSTERDASH_AUTH", "proxy")  # without trusted proxies: named, one line
    monkeypatch.delenv("CLUSTERDASH_PUBLIC_WITHOUT_AUTH")
    with pytest.raises(AppImportError, match="CLUSTERDASH_TRUSTED_PROXIES"):
        create_server()
    monkeypatch.delenv("CLUSTERDASH_AUTH")
    for host in ("0.0.0.0", "::", "192.0.2.1"):
        result = run_cli("serve", "--host", host)
        assert result.exit_code == 1 and "refusing to serve without sign-in" in result.output, host
        assert "--i-know-this-is-public" in result.output and len(result.output.strip().splitlines()) == 1

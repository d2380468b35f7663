"""--auth ldap on the real app against a real slapd (tests/ldapserver.py): signing in through the form, roles from the
directory's groups, the cluster usernames from the accounts table, a directory that is down (503, not a failed
sign-in), and a disabled login."""

from __future__ import annotations

import time

import pytest

from clusterdash.db import accounts, query
from clusterdash.db.filters import Filters
from tests.authtools import add_account, auth_app, forget_accounts, sign_in
from tests.ldapserver import ALICE, BOB, CAROL, DAVE


@pytest.fixture
def ldap_demo(api_demo_url, api_demo_engine, ldap_server):
    forget_accounts(api_demo_engine)
    settings = {
        "ldap_url": ldap_server.url,
        "ldap_starttls": True,
        "ldap_ca_file": str(ldap_server.ca_file),
        "ldap_user_dn": ldap_server.user_dn_template,
        "ldap_admin_group": ldap_server.admin_group,
        "ldap_staff_group": ldap_server.staff_group,
    }
    yield api_demo_url, api_demo_engine, settings
    forget_accounts(api_demo_engine)


def test_people_sign_in_with_their_directory_password_and_see_what_their_role_allows(ldap_demo):
    url, engine, settings = ldap_demo
    with engine.connect() as conn:
        everyone = [r["user"] for r in query.users_table(conn, Filters())]
    add_account(engine, "alice", "user", [everyone[2], everyone[3]], password=None)
    app = auth_app(url, "ldap", **settings)
    seen = {}
    for person in (ALICE, CAROL, DAVE):
        client = app.server.test_client()
        done = sign_in(client, person.login.upper() if person is CAROL else person.login, person.password)
        assert done.status_code == 303, person.login
        seen[person.login] = [u["user"] for u in client.get("/api/users").get_json()["users"]]
        layout = client.get("/_dash-layout").get_data(as_text=True)
        assert person.display_name in layout and "Sign out" in layout
    assert sorted(seen["alice"]) == sorted(everyone[2:4])  # the mapped usernames only
    assert len(seen["carol"]) == len(everyone) and len(seen["dave"]) == len(everyone)  # admin, staff
    with engine.connect() as conn:
        signed = [(e.kind, e.login, e.method) for e in accounts.recent_audit(conn) if e.kind == "sign-in"]
    assert ("sign-in", "carol", "ldap") in signed  # the directory's spelling of the login


def test_a_wrong_password_counts_a_directory_that_is_down_does_not(ldap_demo):
    url, engine, settings = ldap_demo
    client = auth_app(url, "ldap", **settings).server.test_client()
    wrong = sign_in(client, ALICE.login, "not her password")
    assert wrong.status_code == 401
    down = auth_app(url, "ldap", **{**settings, "ldap_url": "ldap://127.0.0.1:9", "ldap_timeout": 1})
    started = time.monotonic()
    response = sign_in(down.server.test_client(), ALICE.login, ALICE.password)
    assert response.status_code == 503 and response.headers["Retry-After"] == "30"
    assert "cannot be reached" in response.get_data(as_text=True) and time.monotonic() - started < 10
    with engine.connect() as conn:
        events = [(e.kind, e.login) for e in accounts.recent_audit(conn)]
    assert events[:2] == [("directory-unavailable", "alice"), ("sign-in-failed", "alice")]
    assert accounts.ThrottleTable(engine).get("login:alice").failures == 1  # the outage was not counted


def test_a_disabled_login_cannot_sign_in_even_with_the_right_password(ldap_demo):
    url, engine, settings = ldap_demo
    add_account(engine, "bob", "user", password=None)
    accounts.update_account(engine, "bob", int(time.time()), disabled=True)
    client = auth_app(url, "ldap", **settings).server.test_client()
    refused = sign_in(client, BOB.login, BOB.password)
    assert refused.status_code == 403 and client.get("/api/users").status_code == 401

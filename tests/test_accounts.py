"""Access control's storage (db/accounts.py) on SQLite and PostgreSQL: accounts and their usernames, tokens, the
throttle's shared counts, the bounded audit trail, the generated session key."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from clusterdash.auth.throttle import Policy, Throttle
from clusterdash.db import accounts
from clusterdash.db.schema import auth_audit
from clusterdash.errors import UserError

NOW = 1_800_000_000


def test_an_account_round_trips_and_every_change_ends_its_sessions(engine):
    added = accounts.add_account(engine, "alice", "user", "$argon2id$x", "Alice", NOW)
    assert (added.login, added.role, added.usernames, added.session_version, added.disabled) == (
        "alice", "user", (), 1, False,
    )  # fmt: skip
    with pytest.raises(UserError, match="exists already"):
        accounts.add_account(engine, "alice", "admin", None, "", NOW)
    versions = [1]
    for change in ({"role": "staff"}, {"password_hash": "$argon2id$y"}, {"disabled": True}):
        assert accounts.update_account(engine, "alice", NOW + 1, **change)
        with engine.connect() as conn:
            versions.append(accounts.get_account(conn, "alice").session_version)
    assert accounts.set_usernames(engine, "alice", ["alice_gpu", "alice", "alice"], NOW + 2)
    with engine.connect() as conn:
        now = accounts.get_account(conn, "alice")
    versions.append(now.session_version)
    assert versions == [1, 2, 3, 4, 5] and now.usernames == ("alice", "alice_gpu")
    assert (now.role, now.password_hash, now.disabled) == ("staff", "$argon2id$y", True)
    accounts.replace_password_hash(engine, "alice", "$argon2id$z")  # a rehash keeps the sessions
    with engine.connect() as conn:
        assert accounts.get_account(conn, "alice").session_version == 5
    assert not accounts.update_account(engine, "nobody", NOW, role="user")
    assert not accounts.set_usernames(engine, "nobody", ["x"], NOW)


def test_removing_an_account_removes_its_usernames_and_tokens(engine):
    accounts.add_account(engine, "bob", "user", None, "", NOW)
    accounts.add_account(engine, "carol", "admin", None, "", NOW)
    accounts.set_usernames(engine, "bob", ["bob1", "bob2"], NOW)
    accounts.add_token(engine, "0123456789ab", "h" * 64, "bob", "nightly", "cli:root", NOW, None)
    accounts.add_token(engine, "ba9876543210", "k" * 64, "carol", "", "cli:root", NOW, NOW + 3600)
    assert accounts.remove_account(engine, "bob") and not accounts.remove_account(engine, "bob")
    with engine.connect() as conn:
        assert [a.login for a in accounts.list_accounts(conn)] == ["carol"]
        assert [t.token_id for t in accounts.list_tokens(conn)] == ["ba9876543210"]
        assert accounts.find_token(conn, "0123456789ab") is None


def test_a_token_is_revoked_once_and_its_use_is_written_at_most_once_a_minute(engine):
    accounts.add_account(engine, "dave", "staff", None, "", NOW)
    accounts.add_token(engine, "00000000000a", "h" * 64, "dave", "", "cli:root", NOW, None)
    assert accounts.touch_token(engine, "00000000000a", NOW)
    assert not accounts.touch_token(engine, "00000000000a", NOW + 59)
    assert accounts.touch_token(engine, "00000000000a", NOW + 60)
    assert accounts.revoke_token(engine, "00000000000a", NOW + 61)
    assert not accounts.revoke_token(engine, "00000000000a", NOW + 62)
    with engine.connect() as conn:
        token = accounts.find_token(conn, "00000000000a")
    assert (token.last_used_at, token.revoked_at) == (NOW + 60, NOW + 61)


def test_throttle_counts_are_shared_and_atomic(engine):
    """Several workers (threads here, each with its own connection) counting failures at once all count."""
    table = accounts.ThrottleTable(engine)
    threads = [threading.Thread(target=lambda: [table.add_failure("login:x", NOW) for _ in range(5)]) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert table.get("login:x") == accounts.Failures(20, float(NOW))
    table.clear("login:x")
    assert table.get("login:x") is None


def test_the_throttle_backs_off_on_the_table_and_forgets_old_records(engine):
    clock = [float(NOW)]
    throttle = Throttle(accounts.ThrottleTable(engine), Policy(), clock=lambda: clock[0])
    for _ in range(6):
        throttle.failed("mallory", "192.0.2.7")
    assert throttle.retry_after("mallory", "192.0.2.1") == pytest.approx(2.0)  # 6 failures: 1 s doubled once
    assert throttle.retry_after("someone", "192.0.2.7") == pytest.approx(2.0)  # the address too
    clock[0] += 4000  # past forget_after: a new failure starts from one, and clears the stale record
    accounts.ThrottleTable(engine).add_failure("login:other", clock[0])
    assert accounts.ThrottleTable(engine).get("login:mallory") is None
    assert throttle.retry_after("mallory", "192.0.2.7") == 0


def test_the_audit_trail_keeps_the_newest_rows_only(engine):
    for i in range(15):
        accounts.add_audit(engine, accounts.AuditRow(NOW + i, "refused", f"l{i}", "127.0.0.1", "token", ""), keep=10)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(auth_audit)).scalar_one() == 10
        assert [r.login for r in accounts.recent_audit(conn, 3)] == ["l14", "l13", "l12"]


def test_workers_starting_at_once_agree_on_one_generated_secret(engine):
    made: list[str] = []
    lock = threading.Lock()

    def make() -> str:
        with lock:
            made.append(f"secret-{len(made)}")
            return made[-1]

    found: list[str] = []
    threads = [
        threading.Thread(target=lambda: found.append(accounts.server_secret(engine, "k", make, NOW))) for _ in range(6)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(found)) == 1 and found[0] in made
    assert accounts.server_secret(engine, "k", lambda: "another", NOW) == found[0]

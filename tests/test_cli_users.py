"""`clusterdash user` and `clusterdash token` on SQLite and PostgreSQL: what they store, what they print, how they
refuse."""

from __future__ import annotations

import json

from click.testing import CliRunner

from clusterdash.auth import tokens
from clusterdash.auth.passwords import verify_password
from clusterdash.cli import cli
from clusterdash.db import accounts

PASSWORD = "a long enough passphrase"


def add(db_url: str, login: str, role: str = "user", password: str = PASSWORD):
    return CliRunner().invoke(
        cli, ["--db", db_url, "user", "add", login, "--role", role, "--password-stdin"], input=password + "\n"
    )


def test_user_add_list_passwd_role_map_disable_remove(db_url, run_cli, engine):
    assert add(db_url, "alice").exit_code == 0
    assert run_cli("user", "add", "bob", "--role", "staff", "--no-password").exit_code == 0
    listed = json.loads(run_cli("user", "list", "--json").output)
    assert [(a["login"], a["role"], a["sees"], a["local_password"]) for a in listed] == [
        ("alice", "user", ["alice"], True),
        ("bob", "staff", "everything", False),
    ]
    with engine.connect() as conn:
        stored = accounts.get_account(conn, "alice")
    assert verify_password(stored.password_hash, PASSWORD).ok and stored.password_hash.startswith("$argon2id$")

    changed = CliRunner().invoke(
        cli, ["--db", db_url, "user", "passwd", "alice", "--password-stdin"], input="another long passphrase\n"
    )
    assert changed.exit_code == 0 and "sessions have ended" in changed.output
    mapped = run_cli("user", "map", "alice", "alice", "alice_gpu")
    assert mapped.exit_code == 0 and "alice, alice_gpu" in mapped.output
    assert "no IO stored yet for alice, alice_gpu" in mapped.output  # an empty database: a typo is pointed out
    assert run_cli("user", "role", "alice", "staff").exit_code == 0
    assert run_cli("user", "disable", "alice").exit_code == 0
    with engine.connect() as conn:
        now = accounts.get_account(conn, "alice")
    assert (now.role, now.usernames, now.disabled) == ("staff", ("alice", "alice_gpu"), True)
    assert verify_password(now.password_hash, "another long passphrase").ok
    assert now.session_version == stored.session_version + 4
    assert run_cli("user", "disable", "alice", "--enable").exit_code == 0
    assert run_cli("user", "remove", "alice").exit_code == 0
    assert [a["login"] for a in json.loads(run_cli("user", "list", "--json").output)] == ["bob"]


def test_user_commands_refuse_with_one_line(db_url, run_cli, engine):
    assert add(db_url, "alice").exit_code == 0
    cases = [
        (add(db_url, "alice"), "exists already"),
        (add(db_url, "carol", password="short"), "too short"),
        (add(db_url, "bad login"), "not a login"),
        (run_cli("user", "add", "dora", "--role", "root", "--no-password"), "'root' is not one of"),
        (run_cli("user", "passwd", "nobody", "--password-stdin"), None),
        (run_cli("user", "map", "nobody", "x"), "no account 'nobody'"),
        (run_cli("user", "remove", "nobody"), "no account 'nobody'"),
        (run_cli("token", "create", "--user", "nobody"), "no account 'nobody'"),
        (run_cli("token", "create", "--user", "alice", "--expires", "soon"), "--expires: 'soon'"),
        (run_cli("token", "revoke", "0123456789ab"), "no valid token"),
    ]
    for result, message in cases:
        assert result.exit_code != 0 and "Traceback" not in result.output, result.output
        if message:
            assert message in result.output, result.output
    # Not at a terminal and no --password-stdin: it says how, instead of waiting for a prompt.
    assert "--password-stdin" in run_cli("user", "add", "erin", "--role", "user").output


def test_a_token_is_printed_once_stored_hashed_listed_and_revoked(db_url, run_cli, engine):
    assert run_cli("user", "add", "bot", "--role", "staff", "--no-password").exit_code == 0
    made = CliRunner().invoke(cli, ["--db", db_url, "token", "create", "--user", "bot", "--name", "nightly"])
    token = made.stdout.strip()
    presented = tokens.parse_token(token)
    assert made.exit_code == 0 and presented is not None and "shown once" in made.stderr
    with engine.connect() as conn:
        row = accounts.find_token(conn, presented.token_id)
    assert row.token_hash == tokens.hash_token(token) and token not in str(row)
    assert row.expires_at - row.created_at == 90 * 86400 and row.name == "nightly"
    listed = json.loads(run_cli("token", "list", "--json").output)
    assert [(t["id"], t["user"], t["state"]) for t in listed] == [(presented.token_id, "bot", "valid")]
    assert token not in run_cli("token", "list").output
    assert run_cli("token", "revoke", presented.token_id).exit_code == 0
    assert json.loads(run_cli("token", "list", "--user", "bot", "--json").output)[0]["state"] == "revoked"
    never = CliRunner().invoke(cli, ["--db", db_url, "token", "create", "--user", "bot", "--expires", "never"])
    assert "never expires" in never.stderr

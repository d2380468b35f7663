"""All SQL on access control's tables (db/schema/accounts.py), for both backends: accounts and their cluster
usernames, API tokens, the sign-in throttle's counts, the audit trail and generated server secrets.

Values in, plain values out; no hashing, no policy (clusterdash/auth/ decides, the CLI and the web tier call
here). Every write is one short transaction (engine.small_write). A change that must end an account's
sessions (its password, role, mapping, disabling) raises its session_version in the same statement.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

from sqlalchemy import Connection, Engine, delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from clusterdash.db.engine import small_write
from clusterdash.db.schema import (
    account_usernames,
    accounts,
    api_tokens,
    auth_audit,
    auth_throttle,
    server_secrets,
    users,
)
from clusterdash.errors import UserError

AUDIT_KEEP = 100_000  # audit rows kept: the newest; a flood of refusals cannot grow the table without bound
TOKEN_TOUCH_EVERY = 60  # seconds: a token's last-used time is written at most this often


class Account(NamedTuple):
    login: str
    role: str
    password_hash: str | None
    display_name: str
    disabled: bool
    session_version: int
    usernames: tuple[str, ...]  # mapped cluster usernames; () means the login itself
    created_at: int
    updated_at: int


class TokenRow(NamedTuple):
    token_id: str
    token_hash: str
    login: str
    name: str
    created_by: str
    created_at: int
    expires_at: int | None
    revoked_at: int | None
    last_used_at: int | None


class Failures(NamedTuple):
    failures: int
    last: float  # epoch of the last failure


class AuditRow(NamedTuple):
    at: float
    kind: str
    login: str
    address: str
    method: str
    detail: str


# -- accounts ----------------------------------------------------------------------------------------------------


def _usernames(conn: Connection, logins: Iterable[str]) -> dict[str, tuple[str, ...]]:
    found: dict[str, list[str]] = {}
    wanted = sorted(set(logins))
    if not wanted:
        return {}
    query = (
        select(account_usernames.c.login, account_usernames.c.cluster_username)
        .where(account_usernames.c.login.in_(wanted))
        .order_by(account_usernames.c.login, account_usernames.c.cluster_username)
    )
    for login, username in conn.execute(query):
        found.setdefault(login, []).append(username)
    return {login: tuple(names) for login, names in found.items()}


def _account(row: Any, usernames: dict[str, tuple[str, ...]]) -> Account:
    return Account(
        row.login,
        row.role,
        row.password_hash,
        row.display_name or "",
        bool(row.disabled),
        int(row.session_version),
        usernames.get(row.login, ()),
        int(row.created_at),
        int(row.updated_at),
    )


def get_account(conn: Connection, login: str) -> Account | None:
    row = conn.execute(select(accounts).where(accounts.c.login == login)).one_or_none()
    return None if row is None else _account(row, _usernames(conn, [login]))


def list_accounts(conn: Connection) -> list[Account]:
    rows = conn.execute(select(accounts).order_by(accounts.c.login)).all()
    mapped = _usernames(conn, [r.login for r in rows])
    return [_account(row, mapped) for row in rows]


def add_account(
    engine: Engine, login: str, role: str, password_hash: str | None, display_name: str, now: int
) -> Account:
    """A new account; UserError if the login has one already."""
    try:
        with small_write(engine) as conn:
            conn.execute(
                insert(accounts).values(
                    login=login,
                    role=role,
                    password_hash=password_hash,
                    display_name=display_name,
                    disabled=False,
                    session_version=1,
                    created_at=now,
                    updated_at=now,
                )
            )
    except IntegrityError:
        raise UserError(f"an account {login!r} exists already (change it with `clusterdash user passwd`)") from None
    with engine.connect() as conn:
        account = get_account(conn, login)
    assert account is not None
    return account


def _end_sessions(conn: Connection, login: str, now: int, **changes: Any) -> bool:
    """Apply `changes` to an account and end its sessions (its session version goes up) in the same statement;
    False when there is no such account."""
    done = conn.execute(
        update(accounts)
        .where(accounts.c.login == login)
        .values(**changes, updated_at=now, session_version=accounts.c.session_version + 1)
    )
    return done.rowcount == 1


_UNCHANGED: Any = object()


def update_account(
    engine: Engine,
    login: str,
    now: int,
    *,
    role: str = _UNCHANGED,
    password_hash: str | None = _UNCHANGED,
    disabled: bool = _UNCHANGED,
) -> bool:
    """Change an account and end its sessions (its session version goes up); False when there is no such account."""
    changes = {
        name: value
        for name, value in (("role", role), ("password_hash", password_hash), ("disabled", disabled))
        if value is not _UNCHANGED
    }
    with small_write(engine) as conn:
        return _end_sessions(conn, login, now, **changes)


def replace_password_hash(engine: Engine, login: str, password_hash: str) -> None:
    """A new hash of the same password (made with newer parameters): the account's sessions go on."""
    with small_write(engine) as conn:
        conn.execute(update(accounts).where(accounts.c.login == login).values(password_hash=password_hash))


def set_usernames(engine: Engine, login: str, usernames: Iterable[str], now: int) -> bool:
    """Replace the cluster usernames of an account (none: its login) and end its sessions; False if no account."""
    wanted = sorted(set(usernames))
    with small_write(engine) as conn:
        if not _end_sessions(conn, login, now):
            return False
        conn.execute(delete(account_usernames).where(account_usernames.c.login == login))
        if wanted:
            conn.execute(insert(account_usernames), [{"login": login, "cluster_username": u} for u in wanted])
    return True


def usernames_in_log(conn: Connection, names: Iterable[str]) -> set[str]:
    """Those of `names` that the log has IO of (to point out a mistyped mapping)."""
    wanted = sorted(set(names))
    return (
        set(conn.execute(select(users.c.username).where(users.c.username.in_(wanted))).scalars()) if wanted else set()
    )


def remove_account(engine: Engine, login: str) -> bool:
    """Delete an account with its usernames and tokens; False when there is no such account."""
    with small_write(engine) as conn:
        conn.execute(delete(account_usernames).where(account_usernames.c.login == login))
        conn.execute(delete(api_tokens).where(api_tokens.c.login == login))
        done = conn.execute(delete(accounts).where(accounts.c.login == login))
    return done.rowcount == 1


# -- API tokens --------------------------------------------------------------------------------------------------


def add_token(
    engine: Engine,
    token_id: str,
    token_hash: str,
    login: str,
    name: str,
    created_by: str,
    now: int,
    expires_at: int | None,
) -> None:
    with small_write(engine) as conn:
        conn.execute(
            insert(api_tokens).values(
                token_id=token_id,
                token_hash=token_hash,
                login=login,
                name=name,
                created_by=created_by,
                created_at=now,
                expires_at=expires_at,
            )
        )


def find_token(conn: Connection, token_id: str) -> TokenRow | None:
    row = conn.execute(select(api_tokens).where(api_tokens.c.token_id == token_id)).one_or_none()
    return None if row is None else TokenRow(*row)


def list_tokens(conn: Connection, login: str | None = None) -> list[TokenRow]:
    query = select(api_tokens).order_by(api_tokens.c.login, api_tokens.c.created_at, api_tokens.c.token_id)
    if login is not None:
        query = query.where(api_tokens.c.login == login)
    return [TokenRow(*row) for row in conn.execute(query)]


def revoke_token(engine: Engine, token_id: str, now: int) -> bool:
    """Revoke a token now; False when there is no such token or it was revoked already."""
    with small_write(engine) as conn:
        done = conn.execute(
            update(api_tokens)
            .where(api_tokens.c.token_id == token_id, api_tokens.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )
    return done.rowcount == 1


def touch_token(engine: Engine, token_id: str, now: int, every: int = TOKEN_TOUCH_EVERY) -> bool:
    """Record that a token was used now, unless that was recorded less than `every` seconds ago (a script polling
    every second writes once a minute, not every second). Whether it wrote."""
    t = api_tokens.c
    with small_write(engine) as conn:
        done = conn.execute(
            update(api_tokens)
            .where(t.token_id == token_id, (t.last_used_at.is_(None)) | (t.last_used_at <= now - every))
            .values(last_used_at=now)
        )
    return done.rowcount == 1


# -- sign-in throttling ------------------------------------------------------------------------------------------


def _upsert(conn: Connection, table: Any) -> Any:
    return (postgresql if conn.dialect.name == "postgresql" else sqlite).insert(table)


class ThrottleTable:
    """The throttle's failure counts in AuthThrottle, shared by every worker and host: auth.throttle's store.
    `add_failure` is one atomic statement (INSERT .. ON CONFLICT DO UPDATE .. RETURNING), so two workers
    counting at once both count. Records `forget_after` seconds old are deleted as new failures arrive."""

    def __init__(self, engine: Engine, forget_after: float = 3600.0) -> None:
        self.engine = engine
        self.forget_after = forget_after

    def get(self, key: str) -> Failures | None:
        t = auth_throttle.c
        with self.engine.connect() as conn:
            row = conn.execute(select(t.failures, t.last_failure).where(t.key == key)).one_or_none()
        return None if row is None else Failures(int(row.failures), float(row.last_failure))

    def add_failure(self, key: str, now: float) -> Failures:
        t = auth_throttle.c
        with small_write(self.engine) as conn:
            statement = _upsert(conn, auth_throttle).values(key=key, failures=1, last_failure=now)
            statement = statement.on_conflict_do_update(
                index_elements=[t.key],
                set_={"failures": auth_throttle.c.failures + 1, "last_failure": now},
            ).returning(t.failures, t.last_failure)
            failures, last = conn.execute(statement).one()
            conn.execute(delete(auth_throttle).where(t.last_failure < now - self.forget_after))
        return Failures(int(failures), float(last))

    def clear(self, key: str) -> None:
        with small_write(self.engine) as conn:
            conn.execute(delete(auth_throttle).where(auth_throttle.c.key == key))


# -- the audit trail ---------------------------------------------------------------------------------------------


def add_audit(engine: Engine, event: AuditRow, keep: int = AUDIT_KEEP) -> None:
    """Store one event; only the newest `keep` are kept."""
    with small_write(engine) as conn:
        new_id = conn.execute(insert(auth_audit).values(**event._asdict()).returning(auth_audit.c.id)).scalar_one()
        conn.execute(delete(auth_audit).where(auth_audit.c.id <= new_id - keep))


def recent_audit(conn: Connection, limit: int = 100) -> list[AuditRow]:
    """The newest events first."""
    t = auth_audit.c
    query = select(t.at, t.kind, t.login, t.address, t.method, t.detail).order_by(t.id.desc()).limit(limit)
    return [AuditRow(*row) for row in conn.execute(query)]


# -- generated secrets -------------------------------------------------------------------------------------------


def server_secret(engine: Engine, name: str, make: Callable[[], str], now: int) -> str:
    """The secret kept under `name`, made (by `make`) and stored the first time. Several workers starting at once
    agree: each tries to insert its own, the first one stays, and all read that one back."""
    with engine.connect() as conn:
        found = conn.execute(select(server_secrets.c.value).where(server_secrets.c.name == name)).scalar()
    if found is not None:
        return found
    with small_write(engine) as conn:
        conn.execute(
            _upsert(conn, server_secrets)
            .values(name=name, value=make(), created_at=now)
            .on_conflict_do_nothing(index_elements=[server_secrets.c.name])
        )
        return conn.execute(select(server_secrets.c.value).where(server_secrets.c.name == name)).scalar_one()

"""Engines for SQLite (the embedded default) and PostgreSQL, and the one way to open a write transaction."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, InterfaceError, NoSuchModuleError, OperationalError

from clusterdash.errors import DatabaseURLError

SQLITE_BUSY_TIMEOUT_MS = 30_000
# Any constant works: it only has to be the same for every clusterdash writer.
POSTGRES_WRITER_LOCK = 0x636C7573


def make_engine(url: str) -> Engine:
    """An Engine for `url`; a SQLite file's directory is created when missing.

    SQLite gets WAL (the dashboard reads while an ingest writes), foreign keys,
    a busy timeout, and explicit BEGIN statements so that writers can take the
    write lock up front (BEGIN IMMEDIATE) instead of failing on upgrade.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise DatabaseURLError(
            f"not a database URL: {url!r} (expected sqlite:///file.db or postgresql+psycopg://...)"
        ) from exc
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise DatabaseURLError(f"unsupported database {backend!r} in {url!r}: use sqlite or postgresql")
    if backend == "sqlite" and parsed.database and parsed.database != ":memory:":
        Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    try:
        if backend == "sqlite":
            engine = create_engine(parsed, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
            _configure_sqlite(engine)
        else:
            engine = create_engine(parsed, pool_pre_ping=True)
    except (NoSuchModuleError, ImportError) as exc:
        raise DatabaseURLError(f"no driver for {url!r}: {exc}") from exc
    return engine


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL (None for another backend or an in-memory database); for the commands that only
    read, which must not create it (make_engine would)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return None  # make_engine says what is wrong with it
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database).expanduser()


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection):
        writer = conn.get_execution_options().get("clusterdash_writer", False)
        # The ingest writes ids it assigned itself under the writer lock, so every reference it writes is to a
        # row it wrote or read in the same transaction; checking each of ~100k references per month of log
        # costs a third of the insert time. PostgreSQL still enforces the same foreign keys, and the shared
        # test suite runs there too. (The pragma only takes effect outside a transaction, hence here.)
        conn.exec_driver_sql(f"PRAGMA foreign_keys={'OFF' if writer else 'ON'}")
        # The page cache stays at SQLite's default (2 MiB) for the writer too: 8 MiB measured at most 5 % faster on a
        # year of log (within this machine's noise) and cost 7 MB of the ingest's 100 MB memory budget.
        conn.exec_driver_sql("BEGIN IMMEDIATE" if writer else "BEGIN")


@contextlib.contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction that holds the database's single writer lock until it commits.

    clusterdash assigns row ids itself (no round trip per row), which is safe
    because only one writer runs at a time: SQLite's BEGIN IMMEDIATE, and a
    transaction-scoped advisory lock on PostgreSQL.
    """
    with engine.connect().execution_options(clusterdash_writer=True) as conn, conn.begin():
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({POSTGRES_WRITER_LOCK})")
        yield conn


def database_unavailable(exc: BaseException) -> bool:
    """Whether `exc` is the database failing (locked, away, its disk full), which is worth retrying, rather than
    something wrong with what was asked of it (a value it refuses, a bug), which fails again every time."""
    return isinstance(exc, DBAPIError) and (
        isinstance(exc, (OperationalError, InterfaceError)) or bool(exc.connection_invalidated)
    )


@contextlib.contextmanager
def small_write(engine: Engine) -> Iterator[Connection]:
    """A short transaction that writes a few rows of its own (accounts, tokens, sign-in throttling, the audit
    trail). On SQLite it takes the write lock up front (BEGIN IMMEDIATE, waiting up to the busy timeout, where a
    deferred transaction that read first could fail at once); on PostgreSQL it is a plain transaction: it assigns
    no ids itself, so it needs no writer lock and never waits behind an ingest."""
    options = {"clusterdash_writer": True} if engine.dialect.name == "sqlite" else {}
    with engine.connect().execution_options(**options) as conn, conn.begin():
        yield conn

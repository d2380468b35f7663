"""Fixtures shared by the suite.

The backend ladder (after Dagster's storage tests): `db_url` is a fresh, empty
database on each backend, SQLite (a real file) and PostgreSQL (a real server
started once per session), so one test body runs on both. `engine` is that
database with the schema created.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.pgserver import PostgresServer, PostgresUnavailable

# The browser fixtures (dashboard, demo_db_url) live beside their helpers.
pytest_plugins = ["tests.browser"]

BACKENDS = ("sqlite", "postgresql")


@pytest.fixture(scope="session")
def postgres_server():
    try:
        server = PostgresServer().start()
    except PostgresUnavailable as exc:
        pytest.fail(f"PostgreSQL is needed for the postgresql backend tests: {exc}", pytrace=False)
    yield server
    server.stop()


def _new_database(backend: str, tmp_path: Path, request) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'clusterdash.db'}"
    return request.getfixturevalue("postgres_server").create_database()


@pytest.fixture(params=BACKENDS)
def db_url(request, tmp_path) -> str:
    """A fresh, empty database URL on each backend."""
    return _new_database(request.param, tmp_path, request)


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    """A fresh SQLite file, for tests about SQLite itself (files, locking, crashes)."""
    return f"sqlite:///{tmp_path / 'clusterdash.db'}"


@pytest.fixture
def engine(db_url):
    from clusterdash.db.engine import make_engine
    from clusterdash.db.setup import prepare_database

    engine = make_engine(db_url)
    prepare_database(engine, "UTC")
    yield engine
    engine.dispose()


@pytest.fixture
def sqlite_engine(sqlite_url):
    from clusterdash.db.engine import make_engine
    from clusterdash.db.setup import prepare_database

    engine = make_engine(sqlite_url)
    prepare_database(engine, "UTC")
    yield engine
    engine.dispose()


def pytest_setup_options():
    """Chrome options for dash[testing]'s browser tests (larger window, offline, headless=new): tests/browser.py."""
    from tests.browser import chrome_options

    return chrome_options()

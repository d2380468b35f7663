"""Fixtures shared by the suite: a ladder, after Flask's tutorial (flaskr), each rung built from the one before.

    db_url     a fresh, empty database on each backend: SQLite (a real file) and PostgreSQL (a real server
               started once per session), so one test body runs on both (after Dagster's storage tests)
    engine     that database prepared as every entry point prepares it (db.setup.prepare_database)
    app        the real app factory on it, create_app({"db": db_url, ...}): the dashboard and the API
    client     app.server.test_client()
    run_cli    the `clusterdash` command through click's runner, with --db db_url

The same ladder over a demo database that tests only read, built once per session on each backend:
api_demo_url -> api_demo_engine -> api_demo_app -> api_demo_client. `sqlite_url` and `sqlite_engine` are for
tests about SQLite itself; the browser fixtures (`dashboard`, and `demo_db_url`, the dashboard's two-week demo)
live beside their helpers in tests/browser.py; `smtp`, a real SMTP server in the test process, in tests/mailtools.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.dbtools import DEMO_ZONE, build_demo_database, cli_runner
from tests.pgserver import PostgresServer, PostgresUnavailable

pytest_plugins = ["tests.browser", "tests.ldapserver", "tests.nginxserver", "tests.mailtools"]

BACKENDS = ("sqlite", "postgresql")


@pytest.fixture(scope="session")
def postgres_server():
    try:
        server = PostgresServer().start()
    except PostgresUnavailable as exc:
        pytest.fail(f"PostgreSQL is needed for the postgresql backend tests: {exc}", pytrace=False)
    yield server
    server.stop()


def _new_database(backend: str, folder: Path, request) -> str:
    if backend == "sqlite":
        return f"sqlite:///{folder / 'clusterdash.db'}"
    return request.getfixturevalue("postgres_server").create_database()


# -- a fresh database ------------------------------------------------------------------------------------------


@pytest.fixture(params=BACKENDS)
def db_url(request, tmp_path) -> str:
    """A fresh, empty database URL on each backend."""
    return _new_database(request.param, tmp_path, request)


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    """A fresh SQLite file, for tests about SQLite itself (files, locking, crashes)."""
    return f"sqlite:///{tmp_path / 'clusterdash.db'}"


def _prepared_engine(url: str):
    from clusterdash.db.engine import make_engine
    from clusterdash.db.setup import prepare_database

    engine = make_engine(url)
    prepare_database(engine, "UTC")
    return engine


@pytest.fixture
def engine(db_url):
    engine = _prepared_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def sqlite_engine(sqlite_url):
    engine = _prepared_engine(sqlite_url)
    yield engine
    engine.dispose()


def _app(url: str, **settings):
    """The real app factory on `url`; settings override the CLUSTERDASH_* environment."""
    from clusterdash.web.app import create_app

    return create_app({"db": url, "refresh": 3600, **settings})


@pytest.fixture
def app(engine, db_url):
    """The dashboard and the API on the fresh database, in UTC."""
    return _app(db_url, tz="UTC")


@pytest.fixture
def client(app):
    return app.server.test_client()


@pytest.fixture
def run_cli(db_url):
    return cli_runner(db_url)


# -- a demo database that tests only read ------------------------------------------------------------------------


@pytest.fixture(scope="session", params=BACKENDS)
def api_demo_url(request, tmp_path_factory) -> str:
    """Forty days of demo data on each backend, built once per session: for tests that only read."""
    folder = tmp_path_factory.mktemp(f"api-demo-{request.param}")
    url = _new_database(request.param, folder, request)
    build_demo_database(url, folder)
    return url


@pytest.fixture(scope="session")
def api_demo_app(api_demo_url):
    """The real app on the demo database, showing DEMO_ZONE (its start-up builds the rollups in that zone)."""
    return _app(api_demo_url, tz=DEMO_ZONE)


@pytest.fixture(scope="session")
def api_demo_engine(api_demo_app, api_demo_url):
    """An engine on the demo database, once the app has prepared it."""
    from clusterdash.db.engine import make_engine

    engine = make_engine(api_demo_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def api_demo_client(api_demo_app):
    return api_demo_app.server.test_client()


def pytest_setup_options():
    """Chrome options for dash[testing]'s browser tests (larger window, offline, headless=new): tests/browser.py."""
    from tests.browser import chrome_options

    return chrome_options()

"""Shared by the API and query tests: a demo database per backend (built once per module) and a bare Flask app
with the API blueprint, as the dashboard's app factory mounts it."""

from __future__ import annotations

import flask
import pytest

from clusterdash.db.engine import make_engine, write_transaction
from clusterdash.db.setup import prepare_database
from clusterdash.ingest.demo import generate_lines
from clusterdash.ingest.store import write_blocks
from clusterdash.web.api import api_blueprint
from tests.logtools import FIXED_START, parse_lines

ROLLUP_ZONE = "Europe/Zurich"  # the DST change of 2025-03-30 is inside the demo's first month
DAYS = 40


def build_engine(url: str, days: int = DAYS, seed: int = 11):
    engine = make_engine(url)
    prepare_database(engine, ROLLUP_ZONE)
    blocks = list(parse_lines(list(generate_lines(days=days, seed=seed, start=FIXED_START))))
    for i in range(0, len(blocks), 200):
        with write_transaction(engine) as conn:
            write_blocks(conn, blocks[i : i + 200], "demo.log")
    return engine


@pytest.fixture(scope="module", params=("sqlite", "postgresql"))
def demo_engine(request, tmp_path_factory):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('api') / 'demo.db'}"
    else:
        url = request.getfixturevalue("postgres_server").create_database()
    engine = build_engine(url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def client(demo_engine):
    app = flask.Flask("test")
    app.register_blueprint(api_blueprint(lambda: demo_engine, default_tz=ROLLUP_ZONE))
    return app.test_client()

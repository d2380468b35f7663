"""The query functions the dashboard added to db.queries (data_version, data_health, user_machine_usage,
size_series), on both backends: their figures agree with the module's own answers."""

from __future__ import annotations

from bisect import bisect_right
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from clusterdash.db import queries
from clusterdash.db.filters import Filters


@pytest.fixture
def dst_engine(engine, tmp_path):
    """Five days around the spring-forward night in Zurich (2025-03-30): local days of 24 and 23 hours."""
    from clusterdash.db.setup import prepare_database
    from clusterdash.ingest.demo import write_demo_log
    from clusterdash.ingest.pipeline import ingest_paths

    log = tmp_path / "io_usage.log"
    write_demo_log(log, days=5, seed=5, start=datetime(2025, 3, 27, tzinfo=ZoneInfo("Europe/Zurich")))
    prepare_database(engine, "Europe/Zurich")
    ingest_paths(engine, [str(log)])
    return engine


def test_user_machine_usage_adds_up_to_the_users_table(dst_engine):
    with dst_engine.connect() as conn:
        pairs = queries.user_machine_usage(conn, Filters(direction="rd"))
        users = queries.users_table(conn, Filters(direction="rd"))
    per_user = {}
    for p in pairs:
        per_user[p["user"]] = per_user.get(p["user"], 0) + p["operations"]
    assert per_user == {u["user"]: u["operations"] for u in users}
    assert pairs == sorted(pairs, key=lambda p: -p["operations"]) and pairs[0]["machine_type"]


@pytest.mark.parametrize("tz", ["UTC", "Europe/Zurich", "America/New_York"])
def test_size_series_per_day_path_equals_the_hourly_rows(dst_engine, tz):
    """With a user filter, size_series sums raw rows per local day in SQL; it must equal the hourly rows
    re-bucketed in Python, in any zone (the demo month holds a DST change)."""
    with dst_engine.connect() as conn:
        top = [u["user"] for u in queries.users_table(conn, Filters(), limit=3)]
        latest = queries.latest_block_epoch(conn)
        filters = Filters(users=tuple(top), tz=tz, start=latest - 4 * 86400 + 5000, end=latest)
        fast = queries.size_series(conn, filters, bucket="day")
        scope = queries.resolve(conn, filters)
        bounds = queries._bucket_bounds("day", scope)
        expected = {}
        for when, bid, _rows, ops in queries._sizes(conn, scope, with_time=True, grains=()):
            i = bisect_right(bounds, queries.ceil_hour(when)) - 1
            if 0 <= i < len(bounds) - 1 and ops:
                expected[(bounds[i], bid)] = expected.get((bounds[i], bid), 0) + int(ops)
        labels = {b["id"]: b["label"] for b in queries.size_buckets(conn)}
    got = {(c["epoch"], c["label"]): c["operations"] for c in fast["cells"]}
    assert got == {(epoch, labels[bid]): ops for (epoch, bid), ops in expected.items()}
    assert sum(got.values()) > 0


def test_size_series_totals_equal_the_size_distribution(dst_engine):
    with dst_engine.connect() as conn:
        filters = Filters(tz="Europe/Zurich")
        series = queries.size_series(conn, filters)
        distribution = queries.size_distribution(conn, filters)
    per_label = {}
    for cell in series["cells"]:
        per_label[cell["label"]] = per_label.get(cell["label"], 0) + cell["operations"]
    assert per_label == {b["label"]: b["operations"] for b in distribution["buckets"] if b["operations"]}


def test_data_health_and_version(dst_engine):
    with dst_engine.connect() as conn:
        health = queries.data_health(conn, Filters())
        version = queries.data_version(conn)
        stats = queries.stats(conn, Filters())
    assert health["blocks"] == stats["blocks"] and health["gaps"] == stats["gaps"]
    assert health["hours_with_lost_events"] == stats["hours_with_lost_events"]
    assert health["freshness"]["last_block_epoch"] == version[0]

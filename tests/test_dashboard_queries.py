"""The query package on a real database, both backends: the functions the dashboard added (data_version,
data_health, user_machine_usage, size_series) agree with the package's own answers; the reads under them."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from clusterdash.db import query
from clusterdash.db.filters import Filters
from clusterdash.db.query.buckets import bucket_bounds, bucket_of
from clusterdash.db.query.by_size import size_rows
from clusterdash.db.query.scope import Reader, resolve
from clusterdash.db.query.sources import session_estimate
from clusterdash.errors import BadParameter


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
        pairs = query.user_machine_usage(conn, Filters(direction="rd"))
        users = query.users_table(conn, Filters(direction="rd"))
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
        top = [u["user"] for u in query.users_table(conn, Filters(), limit=3)]
        latest = query.latest_block_epoch(conn)
        filters = Filters(users=tuple(top), tz=tz, start=latest - 4 * 86400 + 5000, end=latest)
        fast = query.size_series(conn, filters, bucket="day")
        scope = resolve(conn, filters)
        bounds = bucket_bounds("day", scope)
        expected = {}
        for row in size_rows(Reader(conn), scope, with_time=True, grains=()):
            i = bucket_of(bounds, row.key[0])
            if i < len(bounds) - 1 and row.operations:
                expected[(bounds[i], row.size_id)] = expected.get((bounds[i], row.size_id), 0) + row.operations
        labels = {b["id"]: b["label"] for b in query.size_buckets(conn)}
    got = {(c["epoch"], c["label"]): c["operations"] for c in fast["cells"]}
    assert got == {(epoch, labels[bid]): ops for (epoch, bid), ops in expected.items()}
    assert sum(got.values()) > 0


def test_size_series_totals_equal_the_size_distribution(dst_engine):
    with dst_engine.connect() as conn:
        filters = Filters(tz="Europe/Zurich")
        series = query.size_series(conn, filters)
        distribution = query.size_distribution(conn, filters)
    per_label = {}
    for cell in series["cells"]:
        per_label[cell["label"]] = per_label.get(cell["label"], 0) + cell["operations"]
    assert per_label == {b["label"]: b["operations"] for b in distribution["buckets"] if b["operations"]}


def test_data_health_and_version(dst_engine):
    with dst_engine.connect() as conn:
        health = query.data_health(conn, Filters())
        version = query.data_version(conn)
        stats = query.stats(conn, Filters())
    assert health["blocks"] == stats["blocks"] and health["gaps"] == stats["gaps"]
    assert health["hours_with_lost_events"] == stats["hours_with_lost_events"]
    assert health["freshness"]["last_block_epoch"] == version[0]


def test_size_series_of_filters_that_match_nobody_has_no_cells(dst_engine):
    """A user filter that matches no user, over more than two weeks (where the monthly rollups choose the index
    for the raw rows): an answer without cells. It was a TypeError (an HTTP 500) when the ids were a list."""
    with dst_engine.connect() as conn:
        latest = query.latest_block_epoch(conn)
        for bucket in ("day", "week", "hour"):
            answer = query.size_series(conn, Filters(users=("nobody",), start=latest - 30 * 86400, end=latest), bucket)
            assert answer["cells"] == [] and answer["sizes"] == [] and len(answer["buckets"]) >= 4, bucket


def test_a_scope_derived_from_another_reads_its_own_sums(dst_engine):
    """A Reader remembers what one request read; a scope derived from another (another zone, fewer users, other
    hours, one direction, other sizes) is another key, so it never gets the other's sums. (The memo was shared
    by every copy of a Scope: a copy in another zone got the first one's session counts.)"""
    with dst_engine.connect() as conn:
        users = tuple(u["user"] for u in query.users_table(conn, Filters(), limit=3))
        machine_type = query.machines_table(conn, Filters(users=users), limit=1)[0]["machine_type"]
        sizes = tuple(b["label"] for b in query.size_buckets(conn))[:3]
        filters = Filters(users=users, machine_types=(machine_type,), sizes=sizes, tz="Europe/Zurich")
        scope = resolve(conn, filters)
        lo, hi = scope.end_hour - 40 * 86400, scope.end_hour  # over two weeks: the monthly rollups choose the index
        derived = [
            scope,
            scope.narrowed(zone="UTC"),
            scope.narrowed(user_ids=scope.user_ids[:1]),
            scope.narrowed(first_hour=scope.first_hour + 86400),
            scope.narrowed(filters=filters.with_(direction="rd")),
            scope.narrowed(size_ids=scope.size_ids[:1]),
        ]
        shared = Reader(conn)
        for s in derived:
            assert session_estimate(shared, s, lo, hi) == session_estimate(Reader(conn), s, lo, hi), s
            for by in ((), ("direction",), ("machine",)):
                assert size_rows(shared, s, by) == size_rows(Reader(conn), s, by), (s, by)
        assert session_estimate(shared, derived[0], lo, hi) != session_estimate(shared, derived[1], lo, hi)


@pytest.mark.parametrize(
    "ask, parameter",
    [
        (lambda conn: query.time_series(conn, Filters(), bucket="fortnight"), "bucket"),
        (lambda conn: query.time_series(conn, Filters(), group_by="planet"), "group_by"),
        (lambda conn: query.time_series(conn, Filters(), top=0), "top"),
        (lambda conn: query.time_series(conn, Filters(start=0), bucket="hour"), "bucket"),
        (lambda conn: query.size_series(conn, Filters(start=0), bucket="hour"), "bucket"),
        (lambda conn: query.size_series(conn, Filters(), bucket="fortnight"), "bucket"),
        (lambda conn: query.users_table(conn, Filters(), sort="shoe"), "sort"),
        (lambda conn: query.machines_table(conn, Filters(), order="up"), "order"),
        (lambda conn: query.users_table(conn, Filters(), limit=-1), "limit"),
    ],
)
def test_a_bad_parameter_is_named(dst_engine, ask, parameter):
    """A value the query layer cannot use raises BadParameter naming it (a 400 from the API), never a bare
    ValueError (a bug); hour buckets over more than 100,000 hours are refused before anything is read."""
    with dst_engine.connect() as conn, pytest.raises(BadParameter) as raised:
        ask(conn)
    assert raised.value.name == parameter

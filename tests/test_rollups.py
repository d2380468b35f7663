"""Rollups equal an aggregation of the raw rows, however the log is cut into batches and in whatever order the
batches arrive (including re-reads and half-written blocks completed later), on every backend."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from sqlalchemy import inspect, select, update

from clusterdash.db.engine import make_engine, write_transaction
from clusterdash.db.periods import hour_of
from clusterdash.db.rollups import GRAINS, PendingRollups, rebuild_rollups, rollup_zone, summarise
from clusterdash.db.schema import (
    ROLLUP_TABLES,
    io_operations,
    io_size_ranges,
    machines,
    rollup_machine_sizes,
    rollup_machine_usage,
    rollup_pair_sizes,
    rollup_sizes,
    rollup_state,
    rollup_usage,
    rollup_user_sizes,
    rollup_user_usage,
    user_sessions,
)
from clusterdash.db.setup import prepare_database
from clusterdash.ingest.demo import generate_lines
from clusterdash.ingest.store import write_blocks
from tests.dbtools import rounded, write_as_before_rollups
from tests.logtools import FIXED_START, parse_lines


def _blocks(days: int, seed: int):
    return [
        b for b in parse_lines(list(generate_lines(days=days, seed=seed, start=FIXED_START))) if b.epoch is not None
    ]


def _expected(conn, zone_name: str):
    """Straightforward oracle: every raw row, its hour, its local day/week/month, summed in Python into what each
    rollup table should hold (at the grains that table keeps)."""
    tz = ZoneInfo(zone_name)

    def starts(hour):
        day = datetime.fromtimestamp(hour, tz).date()
        week, month, year = day - timedelta(days=day.weekday()), day.replace(day=1), day.replace(month=1, day=1)
        return [
            (g, int(datetime(d.year, d.month, d.day, tzinfo=tz).timestamp()))
            for g, d in (("d", day), ("w", week), ("m", month), ("y", year))
        ]

    bounds = {r.id: (r.lower_bytes, r.upper_bytes) for r in conn.execute(select(io_size_ranges))}
    types = dict(conn.execute(select(machines.c.id, machines.c.machine_type)).all())  # per-user rollups: per type
    sessions = {r.id: r for r in conn.execute(select(user_sessions))}
    usage = defaultdict(lambda: [0, 0, 0, 0.0, 0])  # sessions, rows, operations, bytes_mid, bucket bits
    sizes = {
        name: defaultdict(lambda: [0, 0])
        for name in ("RollupSizes", "RollupUserSizes", "RollupMachineSizes", "RollupPairSizes")
    }
    for s in sessions.values():
        for grain, start in starts(hour_of(s.epoch)):
            usage[(grain, start, s.user_id, s.machine_id, s.direction)][0] += 1
    for session_id, bucket, count in conn.execute(select(io_operations)):
        s = sessions[session_id]
        lower, upper = bounds[bucket]
        mid = 0.0 if lower is None or lower < 0 else (lower if upper is None else (lower + upper) / 2)
        for grain, start in starts(hour_of(s.epoch)):
            u = usage[(grain, start, s.user_id, s.machine_id, s.direction)]
            u[1] += 1
            u[2] += count
            u[3] += count * mid
            u[4] |= 1 << bucket
            for name, key in (
                ("RollupSizes", (s.direction,)),
                ("RollupUserSizes", (s.user_id, types[s.machine_id], s.direction)),
                ("RollupMachineSizes", (s.machine_id, s.direction)),
                ("RollupPairSizes", (s.user_id, s.machine_id, s.direction)),
            ):
                if grain in GRAINS[name]:
                    z = sizes[name][(grain, start, *key, bucket)]
                    z[0] += 1
                    z[1] += count
    per_user, per_machine = defaultdict(lambda: [0, 0, 0, 0.0, 0]), defaultdict(lambda: [0, 0, 0, 0.0, 0])
    for (grain, start, user, machine, direction), values in usage.items():
        for side, key in (
            (per_user, (grain, start, user, types[machine], direction)),
            (per_machine, (grain, start, machine, direction)),
        ):
            acc = side[key]
            for i in range(4):
                acc[i] += values[i]
            acc[4] |= values[4]
    usage = {
        name: {k: v for k, v in table.items() if k[0] in GRAINS[name]}
        for name, table in (("RollupUsage", usage), ("RollupUserUsage", per_user), ("RollupMachineUsage", per_machine))
    }
    return usage, {name: dict(v) for name, v in sizes.items()}


def _actual(conn):
    usage = {}
    for table in (rollup_usage, rollup_user_usage, rollup_machine_usage):
        keys = [c.name for c in table.primary_key.columns]
        usage[table.name] = {
            tuple(r._mapping[k] for k in keys): [r.sessions, r.rows, r.operations, r.bytes_mid, r.buckets]
            for r in conn.execute(select(table))
        }
    sizes = {}
    for table in (rollup_sizes, rollup_user_sizes, rollup_machine_sizes, rollup_pair_sizes):
        keys = [c.name for c in table.primary_key.columns]
        sizes[table.name] = {
            tuple(r._mapping[k] for k in keys): [r.rows, r.operations] for r in conn.execute(select(table))
        }
    return usage, sizes


def _assert_rollups_match(engine, zone_name):
    with engine.connect() as conn:
        assert rollup_zone(conn) == zone_name
        usage, sizes = _actual(conn)
        want_usage, want_sizes = _expected(conn, zone_name)
    assert sizes == want_sizes
    for name, want in want_usage.items():
        assert usage[name].keys() == want.keys(), name
        for key, (sessions, rows, ops, mid, bits) in want.items():
            got = usage[name][key]
            assert got[:3] == [sessions, rows, ops] and got[4] == bits, (name, key)
            assert got[3] == pytest.approx(mid, rel=1e-9)


@pytest.mark.parametrize("seed, one_transaction", [(1, False), (2, False), (3, True), (4, True)])
def test_rollups_match_raw_rows_for_any_batching_and_order(engine, seed, one_transaction):
    rng = random.Random(seed)
    blocks = _blocks(days=9, seed=seed)
    # Cut into random chunks, shuffle the chunks, re-send some chunks, and send some blocks first half-written.
    chunks, i = [], 0
    while i < len(blocks):
        n = rng.randint(1, 40)
        chunks.append(blocks[i : i + n])
        i += n
    rng.shuffle(chunks)
    early = []
    for block in rng.sample(blocks, 12):
        partial = _blocks_copy(block)
        partial.entries = partial.entries[: len(partial.entries) // 2]
        for entry in partial.entries[:1]:
            entry.rows = dict(list(entry.rows.items())[: len(entry.rows) // 2])
        partial.digest = None
        early.append(partial)
    with write_transaction(engine) as conn:
        write_blocks(conn, early, "partial.log")
    if one_transaction:  # as a one-shot ingest does: the batches' rollups summed at commit (PendingRollups)
        with write_transaction(engine) as conn:
            pending = PendingRollups()
            for chunk in chunks + rng.sample(chunks, 3):
                write_blocks(conn, [_blocks_copy(b) for b in chunk], "io_usage.log", rollups=pending)
            assert pending.rows > 0
            pending.flush(conn)
    else:
        for chunk in chunks + rng.sample(chunks, 3):
            with write_transaction(engine) as conn:
                write_blocks(conn, [_blocks_copy(b) for b in chunk], "io_usage.log")
    _assert_rollups_match(engine, "UTC")


def test_zone_change_rebuilds_rollups(engine):
    with write_transaction(engine) as conn:
        write_blocks(conn, _blocks(days=4, seed=5), "io_usage.log")
    assert prepare_database(engine, "Europe/Zurich").zone == "Europe/Zurich"
    _assert_rollups_match(engine, "Europe/Zurich")
    with write_transaction(engine) as conn:
        rebuild_rollups(conn, "Europe/Zurich")
    _assert_rollups_match(engine, "Europe/Zurich")


def _blocks_copy(block):
    import copy

    return copy.deepcopy(block)


def test_a_new_database_is_prepared_with_empty_rollups_complete_and_the_first_ingest_adds_to_them(db_url):
    """prepare_database (`clusterdash init`) creates every rollup table and, the database being empty, records them
    as complete in the zone given: the first ingest adds to them."""
    engine = make_engine(db_url)
    prepared = prepare_database(engine, "America/New_York", keep_zone=True)
    assert prepared.zone == "America/New_York" and {t.name for t in ROLLUP_TABLES} <= set(prepared.created)
    with engine.connect() as conn:
        assert rollup_zone(conn) == "America/New_York"
        assert {t.name for t in ROLLUP_TABLES} <= set(inspect(conn).get_table_names())
    with write_transaction(engine) as conn:
        write_blocks(conn, _blocks(days=2, seed=3), "io_usage.log")
    _assert_rollups_match(engine, "America/New_York")
    engine.dispose()


def test_a_database_without_rollups_is_backfilled_at_start_up_and_answers_meanwhile(engine):
    from clusterdash.db import query
    from clusterdash.db.filters import Filters

    write_as_before_rollups(engine, _blocks(days=3, seed=4), "io_usage.log")
    filters = Filters(tz="Europe/Zurich")
    with engine.connect() as conn:
        assert rollup_zone(conn) is None
        before = (query.users_table(conn, filters), query.time_series(conn, filters, "day", "user"))
    assert before[0] and before[1]["points"]
    assert prepare_database(engine, "Europe/Zurich").zone == "Europe/Zurich"
    _assert_rollups_match(engine, "Europe/Zurich")
    with engine.connect() as conn:
        after = (query.users_table(conn, filters), query.time_series(conn, filters, "day", "user"))
    assert rounded(after) == rounded(before)


@pytest.mark.parametrize("one_transaction", [False, True])
def test_an_older_rollup_layout_gets_nothing_added_and_is_rebuilt_in_its_zone_at_the_next_start(
    engine, one_transaction
):
    """The ingest adds only to complete rollups of this layout; the next prepare_database (every command's start)
    rebuilds older ones, in their zone when asked to keep it (init, ingest, demo)."""
    blocks = _blocks(days=3, seed=6)
    prepare_database(engine, "Europe/Zurich")
    with write_transaction(engine) as conn:
        write_blocks(conn, blocks[:30], "io_usage.log")
        conn.execute(update(rollup_state).values(version=1))
    with engine.connect() as conn:
        assert rollup_zone(conn) is None
        before = _actual(conn)
    with write_transaction(engine) as conn:
        pending = PendingRollups() if one_transaction else None
        write_blocks(conn, blocks[30:], "io_usage.log", rollups=pending)
        if pending is not None:
            pending.flush(conn)
    with engine.connect() as conn:
        assert rollup_zone(conn) is None and _actual(conn) == before
    assert prepare_database(engine, "UTC", keep_zone=True).zone == "Europe/Zurich"
    _assert_rollups_match(engine, "Europe/Zurich")


def test_a_machine_whose_type_changes_moves_its_history_to_the_new_type(engine):
    """The loader keeps a machine's latest type; the rollups kept per machine type follow it."""
    blocks = _blocks(days=2, seed=8)
    with write_transaction(engine) as conn:
        write_blocks(conn, blocks[:-5], "io_usage.log")
    machine = blocks[-1].entries[0].machine
    for block in blocks[-5:]:
        for entry in block.entries:
            if entry.machine == machine:
                entry.machine_type = "renamed"
        block.digest = None
    with write_transaction(engine) as conn:
        write_blocks(conn, blocks[-5:], "io_usage.log")
    with engine.connect() as conn:
        assert conn.execute(select(machines.c.machine_type).where(machines.c.name == machine)).scalar() == "renamed"
    _assert_rollups_match(engine, "UTC")


@pytest.mark.parametrize("dense", [True, False])
def test_day_cell_sums_equal_a_plain_count_whether_summed_densely_or_by_sorting(dense, monkeypatch):
    """The sums behind every rollup row: (cell, bucket) -> rows and operations, against a dictionary count."""
    if not dense:
        monkeypatch.setattr(summarise, "DENSE_LIMIT", 1)
    rng = random.Random(5)
    n = 3000
    cells = [rng.randrange(200) for _ in range(n)]
    buckets = [rng.choice([1, 2, 3, 7, 20, 63]) for _ in range(n)]
    rows = [rng.randrange(1, 4) for _ in range(n)]
    operations = [rng.randrange(1, 10**12) for _ in range(n)]
    want = {}
    for cell, bucket, r, ops in zip(cells, buckets, rows, operations):
        have = want.get((cell, bucket), (0, 0))
        want[(cell, bucket)] = (have[0] + r, have[1] + ops)
    got = summarise.sum_entries(*(np.array(c, dtype=np.int64) for c in (cells, buckets, rows, operations)))
    assert {(c, b): (r, o) for c, b, r, o in got.tolist()} == want
    assert got[:, :2].tolist() == [list(key) for key in sorted(want)]

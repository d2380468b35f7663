"""Rollups equal an aggregation of the raw rows, however the log is cut into batches and in whatever order the
batches arrive (including re-reads and half-written blocks completed later), on every backend."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from clusterdash.db.engine import write_transaction
from clusterdash.db.filters import hour_of
from clusterdash.db.rollups import ensure_rollups, rebuild_rollups, rollup_sizes, rollup_usage
from clusterdash.db.schema import io_operations, io_size_ranges, user_sessions
from clusterdash.ingest.demo import generate_lines
from clusterdash.ingest.load import write_blocks
from clusterdash.ingest.parse import parse_lines


def _blocks(days: int, seed: int):
    return [b for b in parse_lines(list(generate_lines(days=days, seed=seed))) if b.epoch is not None]


def _expected(conn, zone_name: str):
    """Straightforward oracle: every raw row, its hour, its local day/week/month, summed in Python."""
    tz = ZoneInfo(zone_name)

    def starts(hour):
        day = datetime.fromtimestamp(hour, tz).date()
        week, month = day - timedelta(days=day.weekday()), day.replace(day=1)
        return [(g, int(datetime(d.year, d.month, d.day, tzinfo=tz).timestamp()))
                for g, d in (("d", day), ("w", week), ("m", month))]

    bounds = {r.id: (r.lower_bytes, r.upper_bytes) for r in conn.execute(select(io_size_ranges))}
    sessions = {r.id: r for r in conn.execute(select(user_sessions))}
    usage = defaultdict(lambda: [0, 0, 0, 0.0])  # sessions, rows, operations, bytes_mid
    sizes = defaultdict(lambda: [0, 0])
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
            z = sizes[(grain, start, s.direction, bucket)]
            z[0] += 1
            z[1] += count
    return dict(usage), dict(sizes)


def _actual(conn):
    u = rollup_usage.c
    usage = {(r.grain, r.start, r.user_id, r.machine_id, r.direction): [r.sessions, r.rows, r.operations, r.bytes_mid]
             for r in conn.execute(select(rollup_usage))}
    sizes = {(r.grain, r.start, r.direction, r.size_range_id): [r.rows, r.operations]
             for r in conn.execute(select(rollup_sizes))}
    assert all(k[0] in "dwm" for k in usage), u
    return usage, sizes


def _assert_rollups_match(engine, zone_name):
    with engine.connect() as conn:
        usage, sizes = _actual(conn)
        want_usage, want_sizes = _expected(conn, zone_name)
    assert sizes == want_sizes
    assert usage.keys() == want_usage.keys()
    for key, (sessions, rows, ops, mid) in want_usage.items():
        got = usage[key]
        assert got[:3] == [sessions, rows, ops], key
        assert got[3] == pytest.approx(mid, rel=1e-9)


@pytest.mark.parametrize("seed", [1, 2])
def test_rollups_match_raw_rows_for_any_batching_and_order(engine, seed):
    rng = random.Random(seed)
    blocks = _blocks(days=9, seed=seed)
    # Cut into random chunks, shuffle the chunks, re-send some chunks, and send some blocks first half-written.
    chunks, i = [], 0
    while i < len(blocks):
        n = rng.randint(1, 40)
        chunks.append(blocks[i:i + n])
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
    for chunk in chunks + rng.sample(chunks, 3):
        with write_transaction(engine) as conn:
            write_blocks(conn, [_blocks_copy(b) for b in chunk], "io_usage.log")
    _assert_rollups_match(engine, "UTC")


def test_zone_change_rebuilds_rollups(engine):
    with write_transaction(engine) as conn:
        write_blocks(conn, _blocks(days=4, seed=5), "io_usage.log")
    assert ensure_rollups(engine, "Europe/Zurich") == "Europe/Zurich"
    _assert_rollups_match(engine, "Europe/Zurich")
    with write_transaction(engine) as conn:
        rebuild_rollups(conn)
    _assert_rollups_match(engine, "Europe/Zurich")


def _blocks_copy(block):
    import copy

    return copy.deepcopy(block)

"""Rollups: the histogram rows summed per day, week and month, kept by the ingest in its own transaction.

Why these tables: SQLite aggregates about a million rows a second here, and a
year holds 1.5M histogram rows in 170k sessions, so a year-wide question must
touch tens of thousands of rows, not millions. Two tables answer every query
together with the raw tables (which serve the partial days at a range's edges):

* RollupUsage: per period x user x machine x direction: sessions, histogram
  rows, operations, small operations, bytes (low / midpoint / upper bound over
  bounded rows) and the number of rows in open buckets (no upper bound);
* RollupSizes: per period x direction x size bucket: rows and operations
  (the size distribution and the size-over-time heatmap without user filters).

A period is a day, an ISO week (from Monday) or a month of the *rollup zone*,
one IANA zone per database (RollupZone; UTC unless ensure_rollups set another,
e.g. the dashboard's display zone). Series drawn in that zone read whole
periods; series in any other zone are summed from hourly rows: correct, slower.
Every sum is additive, so the ingest adds the rows it has just inserted (it
inserts each histogram row once; see ingest.load) instead of recomputing.
"""

from __future__ import annotations

import weakref
from collections import defaultdict
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Iterable, Optional, Sequence

from sqlalchemy import BigInteger, Column, Connection, Engine, Float, Index, Integer, String, Table, delete, inspect, select
from sqlalchemy.dialects import postgresql, sqlite

from clusterdash.db.filters import hour_of, zone
from clusterdash.db.schema import io_operations, io_size_ranges, metadata, user_sessions

SMALL_IO_LIMIT = 4096  # bytes; the same rule as ingest.parse: a bucket wholly below this is small IO
GRAINS = ("d", "w", "m")

# Declared on the shared MetaData, so that init_schema creates them whenever this module is loaded (the ingest
# and the queries load it); ensure_rollups covers databases written before rollups existed.
rollup_zone_table = Table(
    "RollupZone", metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("zone", String(64), nullable=False),
)

USAGE_MEASURES = ("sessions", "rows", "operations", "small_operations", "bytes_low", "bytes_mid", "bytes_high",
                  "unbounded_rows")
rollup_usage = Table(
    "RollupUsage", metadata,
    Column("grain", String(1), primary_key=True),
    Column("start", BigInteger, primary_key=True),  # the period's first instant (local midnight), epoch seconds
    Column("user_id", Integer, primary_key=True),
    Column("machine_id", Integer, primary_key=True),
    Column("direction", String(2), primary_key=True),
    Column("sessions", BigInteger, nullable=False),
    Column("rows", BigInteger, nullable=False),
    Column("operations", BigInteger, nullable=False),
    Column("small_operations", BigInteger, nullable=False),
    Column("bytes_low", Float, nullable=False),
    Column("bytes_mid", Float, nullable=False),
    Column("bytes_high", Float, nullable=False),  # over rows with an upper bound; see unbounded_rows
    Column("unbounded_rows", BigInteger, nullable=False),
    sqlite_with_rowid=False,
)
Index("ix_rollup_usage_user", rollup_usage.c.user_id, rollup_usage.c.grain, rollup_usage.c.start)
Index("ix_rollup_usage_machine", rollup_usage.c.machine_id, rollup_usage.c.grain, rollup_usage.c.start)

SIZE_MEASURES = ("rows", "operations")
rollup_sizes = Table(
    "RollupSizes", metadata,
    Column("grain", String(1), primary_key=True),
    Column("start", BigInteger, primary_key=True),
    Column("direction", String(2), primary_key=True),
    Column("size_range_id", Integer, primary_key=True),
    Column("rows", BigInteger, nullable=False),
    Column("operations", BigInteger, nullable=False),
    sqlite_with_rowid=False,
)

ROLLUP_TABLES = (rollup_zone_table, rollup_usage, rollup_sizes)


# -- periods of a zone ----------------------------------------------------------------------------------------

def _midnight(day: date, zone_name: str) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=zone(zone_name)).timestamp())


def _first_day(grain: str, day: date) -> date:
    if grain == "w":
        return day - timedelta(days=day.weekday())
    if grain == "m":
        return day.replace(day=1)
    return day


def _next_day(grain: str, day: date) -> date:
    if grain == "w":
        return day + timedelta(days=7)
    if grain == "m":
        return date(day.year + (day.month == 12), day.month % 12 + 1, 1)
    return day + timedelta(days=1)


@lru_cache(maxsize=65536)
def period_start(grain: str, instant: int, zone_name: str) -> int:
    """The start (epoch) of the day/week/month of `zone_name` that contains `instant`."""
    day = datetime.fromtimestamp(instant, zone(zone_name)).date()
    return _midnight(_first_day(grain, day), zone_name)


def period_starts(grain: str, lo: int, hi: int, zone_name: str) -> list[int]:
    """Starts of the periods overlapping [lo, hi), in order, plus the start of the period after them."""
    day = _first_day(grain, datetime.fromtimestamp(lo, zone(zone_name)).date())
    starts = [_midnight(day, zone_name)]
    while starts[-1] < hi:
        day = _next_day(grain, day)
        if day.year > 9999 or (day.year == 9999 and day.month == 12 and grain != "d"):
            break
        starts.append(_midnight(day, zone_name))
    return starts


# -- the zone ---------------------------------------------------------------------------------------------------

def rollup_zone(conn: Connection) -> str:
    return conn.execute(select(rollup_zone_table.c.zone).where(rollup_zone_table.c.id == 1)).scalar() or "UTC"


_ready: "weakref.WeakKeyDictionary[Engine, str]" = weakref.WeakKeyDictionary()


def ensure_rollups(engine: Engine, zone_name: Optional[str] = None) -> str:
    """Make the rollup tables exist and be complete, in `zone_name` when given; returns the rollup zone.

    Cheap after the first call per engine. A database written before rollups existed is backfilled; a change
    of zone rebuilds the rollups (seconds per year of data). Call it when a server starts.
    """
    if zone_name is not None:
        zone(zone_name)
    known = _ready.get(engine)
    if known is not None and (zone_name is None or known == zone_name):
        return known
    from clusterdash.db.engine import write_transaction

    with write_transaction(engine) as conn:
        current = _ensure_tables(conn)
        if zone_name is not None and zone_name != current:
            _set_zone(conn, zone_name)
            rebuild_rollups(conn)
            current = zone_name
    _ready[engine] = current
    return current


def _ensure_tables(conn: Connection) -> str:
    """Create missing rollup tables (backfilling them from the raw tables); returns the zone."""
    existing = set(inspect(conn).get_table_names())
    missing = [t for t in ROLLUP_TABLES if t.name not in existing]
    if missing:
        metadata.create_all(conn, tables=list(ROLLUP_TABLES), checkfirst=True)
        if rollup_zone_table in missing:
            _set_zone(conn, "UTC")
        if user_sessions.name in existing:
            rebuild_rollups(conn)
    return rollup_zone(conn)


def _set_zone(conn: Connection, zone_name: str) -> None:
    conn.execute(delete(rollup_zone_table))
    conn.execute(rollup_zone_table.insert().values(id=1, zone=zone_name))


# -- maintenance -----------------------------------------------------------------------------------------------

def bucket_weights(conn: Connection) -> dict[int, tuple[float, float, float, bool, bool]]:
    """Per size bucket id: bytes per operation (low, midpoint, high), small IO?, open (no upper bound)?

    The same rules as the session totals in ingest.load: negative sizes move no bytes; an open bucket's
    midpoint is its lower bound and it has no upper bound.
    """
    weights = {}
    for bid, lower, upper in conn.execute(select(io_size_ranges.c.id, io_size_ranges.c.lower_bytes,
                                                 io_size_ranges.c.upper_bytes)):
        small = upper is not None and upper <= SMALL_IO_LIMIT
        if lower is None or lower < 0:
            weights[bid] = (0.0, 0.0, 0.0, small, False)
        elif upper is None:
            weights[bid] = (lower, lower, 0.0, small, True)
        else:
            weights[bid] = (lower, (lower + upper) / 2, upper, small, False)
    return weights


def add_to_rollups(conn: Connection, new_session_ids: Iterable[int], new_rows: Sequence[tuple[int, int, int]]) -> None:
    """Add to the rollups what the caller has just inserted: new sessions (by id) and new histogram rows
    (session_id, size_range_id, count), some of which may belong to sessions stored earlier.

    Called once at the end of ingest.load.write_blocks, in its transaction. Cost: one pass over the new rows in
    Python, then one upsert per touched rollup key (see scripts/bench_queries.py for the measured share).
    """
    session_ids = list(new_session_ids)
    if not session_ids and not new_rows:
        return
    if not inspect(conn).has_table(rollup_usage.name):
        _ensure_tables(conn)  # backfills from the raw tables, which already hold this batch
        return
    zone_name = rollup_zone(conn)
    keys = _session_keys(conn, session_ids, new_rows)
    _add(conn, zone_name, keys, session_ids, new_rows, bucket_weights(conn))


def _session_keys(conn, session_ids, new_rows) -> dict[int, tuple[int, int, int, str]]:
    """session id -> (hour, user_id, machine_id, direction) for every session the new data touches."""
    s = user_sessions.c
    columns = (s.id, s.epoch, s.user_id, s.machine_id, s.direction)
    keys = {}
    if session_ids:
        wanted = set(session_ids)
        for sid, epoch, uid, mid, direction in conn.execute(
                select(*columns).where(s.id >= min(session_ids), s.id <= max(session_ids))):
            if sid in wanted:
                keys[sid] = (hour_of(epoch), uid, mid, direction)
    others = sorted({row[0] for row in new_rows} - keys.keys())
    for i in range(0, len(others), 500):
        for sid, epoch, uid, mid, direction in conn.execute(select(*columns).where(s.id.in_(others[i:i + 500]))):
            keys[sid] = (hour_of(epoch), uid, mid, direction)
    return keys


def _add(conn, zone_name, keys, session_ids, new_rows, weights) -> None:
    # Everything is summed per day first: per row only two dict operations (rows outnumber day keys ~3 to 1),
    # then per (day key, bucket) the byte weights, then days fold into weeks and months.
    day_key = {sid: (period_start("d", hour, zone_name), uid, mid, direction)
               for sid, (hour, uid, mid, direction) in keys.items()}
    per_bucket: dict[tuple, list] = {}
    for sid, bid, count in new_rows:
        key = (day_key[sid], bid)
        acc = per_bucket.get(key)
        if acc is None:
            per_bucket[key] = [count, 1]
        else:
            acc[0] += count
            acc[1] += 1
    usage: dict[tuple, list] = {}
    sizes: dict[tuple, list] = {}
    for sid in session_ids:
        key = day_key[sid]
        row = usage.get(key)
        if row is None:
            row = usage[key] = [0, 0, 0, 0, 0.0, 0.0, 0.0, 0]
        row[0] += 1
    for (key, bid), (count, n) in per_bucket.items():
        low, midpoint, high, small, unbounded = weights[bid]
        row = usage.get(key)
        if row is None:
            row = usage[key] = [0, 0, 0, 0, 0.0, 0.0, 0.0, 0]
        row[1] += n
        row[2] += count
        if small:
            row[3] += count
        row[4] += count * low
        row[5] += count * midpoint
        row[6] += count * high
        if unbounded:
            row[7] += n
        size_key = (key[0], key[3], bid)
        size = sizes.get(size_key)
        if size is None:
            sizes[size_key] = [n, count]
        else:
            size[0] += n
            size[1] += count
    usage_rows = [("d",) + k + tuple(v) for k, v in usage.items()]
    size_rows = [("d",) + k + tuple(v) for k, v in sizes.items()]
    for grain in ("w", "m"):
        usage_rows += _fold(usage, grain, zone_name)
        size_rows += _fold(sizes, grain, zone_name)
    _upsert(conn, rollup_usage, usage_rows)
    _upsert(conn, rollup_sizes, size_rows)


def _fold(days: dict[tuple, list], grain: str, zone_name: str) -> list[tuple]:
    """Day sums (key starting with the day's start) summed into `grain` periods."""
    out: dict[tuple, list] = {}
    for key, values in days.items():
        folded = (period_start(grain, key[0], zone_name),) + key[1:]
        acc = out.get(folded)
        if acc is None:
            out[folded] = list(values)
        else:
            for i, v in enumerate(values):
                acc[i] += v
    return [(grain,) + k + tuple(v) for k, v in out.items()]


def _upsert(conn: Connection, table: Table, rows: list[tuple]) -> None:
    """INSERT rows (in table column order), adding the measures to an existing row with the same key."""
    if not rows:
        return
    keys = [c.name for c in table.primary_key.columns]
    measures = [c.name for c in table.columns if c.name not in keys]
    dialect = sqlite if conn.dialect.name == "sqlite" else postgresql
    statement = dialect.insert(table)
    statement = statement.on_conflict_do_update(
        index_elements=keys, set_={m: table.c[m] + statement.excluded[m] for m in measures})
    names = [c.name for c in table.columns]
    if conn.dialect.name == "sqlite":
        # As in db.bulk: compile once and hand the tuples to the driver; a dict per row costs more than the row.
        compiled = statement.compile(dialect=conn.dialect, column_keys=names)
        order = [names.index(n) for n in compiled.positiontup]
        conn.exec_driver_sql(str(compiled), [tuple(r[i] for i in order) for r in rows])
    else:
        conn.execute(statement, [dict(zip(names, r)) for r in rows])


def rebuild_rollups(conn: Connection, chunk: int = 20000) -> None:
    """Recompute every rollup from the raw tables (after a change of zone, or for a database written before
    rollups existed). Streams the sessions in id order, `chunk` at a time."""
    conn.execute(delete(rollup_usage))
    conn.execute(delete(rollup_sizes))
    zone_name = rollup_zone(conn)
    weights = bucket_weights(conn)
    s, o = user_sessions.c, io_operations.c
    last = 0
    while True:
        sessions = conn.execute(select(s.id, s.epoch, s.user_id, s.machine_id, s.direction)
                                .where(s.id > last).order_by(s.id).limit(chunk)).all()
        if not sessions:
            return
        keys = {sid: (hour_of(epoch), uid, mid, d) for sid, epoch, uid, mid, d in sessions}
        hi = sessions[-1][0]
        rows = conn.execute(select(o.session_id, o.size_range_id, o.count)
                            .where(o.session_id > last, o.session_id <= hi)).all()
        _add(conn, zone_name, keys, list(keys), rows, weights)
        last = hi

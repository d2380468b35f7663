"""The rollup tables: the histogram rows summed per period (db/rollups/ maintains them, the query layer reads them)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Float, Integer, String, Table

from clusterdash.db.schema.base import metadata

# -- Rollups: the histogram rows summed per period, maintained by db/rollups/ inside the ingest's transaction ----
#
# A period is a day ('d'), an ISO week from Monday ('w'), a month ('m') or a year ('y') of the rollup zone; `start`
# is its first instant (local midnight) as epoch seconds. Each table keeps the grains its queries need (see
# rollups.GRAINS).
# The primary keys start with (grain, start): queries name the periods they want, and the ids they filter on,
# so one key order serves them all and no secondary index slows the ingest down.

# One row (id 1) once the rollups are complete: in which zone, and in which layout (version). No row: the
# rollups are being (re)built or were never built, and the queries read the raw tables.
rollup_state = Table(
    "RollupState",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("zone", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("built_at", BigInteger, nullable=False),
)


def _key(name: str, type_) -> Column:
    return Column(name, type_, primary_key=True)


def _rollup(name: str, *keys: Column, measures: list[Column]) -> Table:
    """A rollup table: keyed by (grain, start) and `keys`, in that order; WITHOUT ROWID, since every read and
    every upsert reaches its rows by that key."""
    return Table(
        name, metadata, _key("grain", String(1)), _key("start", BigInteger), *keys, *measures, sqlite_with_rowid=False
    )


def _usage_measures() -> list[Column]:
    return [
        Column("sessions", BigInteger, nullable=False),
        Column("rows", BigInteger, nullable=False),  # IOOperations rows
        Column("operations", BigInteger, nullable=False),
        Column("small_operations", BigInteger, nullable=False),
        Column("bytes_low", Float, nullable=False),
        Column("bytes_mid", Float, nullable=False),
        Column("bytes_high", Float, nullable=False),  # over rows with an upper bound; see unbounded_rows
        Column("unbounded_rows", BigInteger, nullable=False),  # rows in an open bucket: bytes_high does not bound them
        # Bit i set: some row in size bucket i (IOSizeRanges.id, 1..62). Answers "who used these sizes" for any
        # user x machine filter, and tells which keys of a size rollup a size filter needs.
        Column("buckets", BigInteger, nullable=False),
    ]


def _size_measures() -> list[Column]:
    return [Column("rows", BigInteger, nullable=False), Column("operations", BigInteger, nullable=False)]


def _usage_rollup(name: str, *keys: Column) -> Table:
    """Per period x `keys` x direction: what UserSessions holds, summed, plus which size buckets occur."""
    return _rollup(name, *keys, _key("direction", String(2)), measures=_usage_measures())


def _size_rollup(name: str, *keys: Column) -> Table:
    """Per period x `keys` x direction x size bucket: IOOperations rows and operations."""
    return _rollup(name, *keys, _key("direction", String(2)), _key("size_range_id", Integer), measures=_size_measures())


# Per period x user x machine x direction.
rollup_usage = _usage_rollup("RollupUsage", _key("user_id", Integer), _key("machine_id", Integer))

# The same per period x user x machine type x direction and per period x machine x direction: a user has 1 to 4
# machines, mostly of one type, so these are several times smaller, and most questions group or filter by one
# side only (a machine type being a filter on the user side). The machine type is the machine's current one
# (rollups.add_to_rollups rebuilds them should a machine's type ever change).
rollup_user_usage = _usage_rollup("RollupUserUsage", _key("user_id", Integer), _key("machine_type", String(255)))
rollup_machine_usage = _usage_rollup("RollupMachineUsage", _key("machine_id", Integer))

# Per period x direction x size bucket.
rollup_sizes = _size_rollup("RollupSizes")

# Per period x user x machine type x direction x size bucket (weeks and months only: per day it would be a
# fifth of the raw rows).
rollup_user_sizes = _size_rollup("RollupUserSizes", _key("user_id", Integer), _key("machine_type", String(255)))

# Per period x machine x direction x size bucket (weeks and months).
rollup_machine_sizes = _size_rollup("RollupMachineSizes", _key("machine_id", Integer))

# Per month x user x machine x direction x size bucket (months only: ~12% of the raw rows, where weeks would add
# half as many again). Answers the size questions that need both sides, e.g. the user x machine table, the
# machines of some users or the users of a machine with a size filter, which otherwise read raw rows.
rollup_pair_sizes = _size_rollup("RollupPairSizes", _key("user_id", Integer), _key("machine_id", Integer))

# The machine type each machine's rows were filed under in the rollups keyed by machine type.
rollup_machine_types = Table(
    "RollupMachineTypes",
    metadata,
    Column("machine_id", Integer, primary_key=True, autoincrement=False),
    Column("machine_type", String(255), nullable=False),
)

ROLLUP_TABLES = (
    rollup_state,
    rollup_machine_types,
    rollup_usage,
    rollup_user_usage,
    rollup_machine_usage,
    rollup_sizes,
    rollup_user_sizes,
    rollup_machine_sizes,
    rollup_pair_sizes,
)

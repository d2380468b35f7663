"""The tables, declared once on one MetaData. Declarations only: no queries here.

The readable core is the six tables of the original design: LogEntries,
Users, Machines, IOSizeRanges, UserSessions and IOOperations. The log needs a
few extensions, each explained where it is declared:

* a session is one (hour, direction, machine, user) histogram, so UserSessions
  carries the direction (rd/wr) and, copied from its LogEntries row, the epoch
  (time filters then need no join);
* UserSessions also holds its histogram's totals (operations, byte estimates),
  a rollup kept in the same transaction as the IOOperations rows it sums;
* RejectedLines keeps every malformed line for inspection;
* IngestFiles remembers, per followed file, how far it has been read;
* the Rollup* tables sum the histogram rows per day, week, month and year for
  the queries (db/rollups/ maintains them, the query layer reads them).

Times are UTC epoch seconds (BigInteger) everywhere; the log's wall-clock text
is kept only as it was written.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

# A histogram counts the reads ('rd') or the writes ('wr') served to one client.
DIRECTIONS = ("rd", "wr")

# One row per hourly block. The epoch in the `Log:` line is the block's identity.
log_entries = Table(
    "LogEntries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("epoch", BigInteger, nullable=False, unique=True),
    Column("wallclock", String(64), nullable=False),  # the server's local time, as logged
    Column("lost_events", BigInteger, nullable=False, default=0),  # bpftrace 'Lost N events': the hour under-counts
    Column("digest", String(40), nullable=False),  # of the block's content: an unchanged re-read is skipped whole
    Column("ingested_at", BigInteger, nullable=False),
)
# The few blocks flagged with lost events, by time: counting them in a range reads only those.
Index(
    "ix_entries_lost",
    log_entries.c.epoch,
    sqlite_where=log_entries.c.lost_events > 0,
    postgresql_where=log_entries.c.lost_events > 0,
)

users = Table(
    "Users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("username", String(255), nullable=False, unique=True),
    # The latest role/affiliation seen (by block epoch, not by ingest order).
    Column("role", String(255)),
    Column("affiliation", String(255)),
    Column("status_epoch", BigInteger, nullable=False),  # the latest block epoch the user was seen at
    Column("first_seen", BigInteger, nullable=False),
    Column("last_seen", BigInteger, nullable=False),
)

machines = Table(
    "Machines",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("name", String(255), nullable=False, unique=True),
    Column("machine_type", String(255), nullable=False),  # latest seen, like a user's role
    Column("type_epoch", BigInteger, nullable=False),  # the latest block epoch it was seen at
    Column("first_seen", BigInteger, nullable=False),
    Column("last_seen", BigInteger, nullable=False),
)

# A histogram bucket. Bounds are in bytes, upper exclusive; Float because the
# largest bpftrace buckets reach 2**63 and beyond BigInteger (powers of two are
# exact in a double). lower NULL: the negative bucket '(..., 0)'; upper NULL: an
# open lhist bucket such as '[8M, ...)'.
io_size_ranges = Table(
    "IOSizeRanges",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("label", String(64), nullable=False, unique=True),
    Column("lower_bytes", Float),
    Column("upper_bytes", Float),
)

user_sessions = Table(
    "UserSessions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("log_entry_id", Integer, ForeignKey("LogEntries.id"), nullable=False),
    Column("user_id", Integer, ForeignKey("Users.id"), nullable=False),
    Column("machine_id", Integer, ForeignKey("Machines.id"), nullable=False),
    Column("direction", String(2), nullable=False),
    Column("epoch", BigInteger, nullable=False),  # = LogEntries.epoch, copied so time filters need no join
    # Rollup of this session's IOOperations rows (see module docstring).
    Column("operations", BigInteger, nullable=False),
    Column("small_operations", BigInteger, nullable=False),  # in buckets entirely below 4 KiB
    Column("bytes_low", Float, nullable=False),
    Column("bytes_mid", Float, nullable=False),
    Column("bytes_high", Float),  # NULL when a row sits in an open bucket: no upper bound exists
    UniqueConstraint("log_entry_id", "direction", "machine_id", "user_id", name="uq_session_key"),
    CheckConstraint(f"direction IN {DIRECTIONS!r}", name="ck_session_direction"),
)
Index("ix_sessions_epoch", user_sessions.c.epoch)
Index("ix_sessions_user_epoch", user_sessions.c.user_id, user_sessions.c.epoch)
Index("ix_sessions_machine_epoch", user_sessions.c.machine_id, user_sessions.c.epoch)

io_operations = Table(
    "IOOperations",
    metadata,
    Column("session_id", Integer, ForeignKey("UserSessions.id"), primary_key=True),
    Column("size_range_id", Integer, ForeignKey("IOSizeRanges.id"), primary_key=True),
    Column("count", BigInteger, nullable=False),  # zero rows are not stored: they add nothing
    sqlite_with_rowid=False,
)

# Every malformed line, kept for inspection. `identity` makes a re-read of the
# same line (from the live file, a rotated copy or an rsync'd copy) count once:
# the block's epoch plus the line's place and text inside the block, or the
# file and line number for lines outside any readable block.
rejected_lines = Table(
    "RejectedLines",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("identity", String(96), nullable=False, unique=True),
    Column("source", Text, nullable=False),
    Column("line_number", BigInteger, nullable=False),
    Column("block_epoch", BigInteger),
    Column("text", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("seen_at", BigInteger, nullable=False),
)

# Where reading a file stopped, written in the same transaction as the rows it
# covers (ingest/position.py). One row per file content read: a file is
# recognised by its device and inode and by a fingerprint of its first bytes;
# `check` hashes the bytes just before `offset`, so a file that was replaced or
# truncated under the same name is noticed. `offset` is the start of the first
# block not yet known to be complete (the next `Log:` line had not arrived), so
# a block that was taken at end of file is read again, and merged, if it grows.
ingest_files = Table(
    "IngestFiles",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("path", Text, nullable=False),  # the name it was last read under
    Column("device", BigInteger),
    Column("inode", BigInteger),  # as a signed 64-bit value: some file systems use all 64 bits
    Column("head_fingerprint", String(64), nullable=False),  # sha1 of the first head_length bytes
    Column("head_length", Integer, nullable=False),
    Column("offset", BigInteger, nullable=False),
    Column("check", String(64), nullable=False),  # sha1 of the check_length bytes just before offset
    Column("check_length", Integer, nullable=False),
    Column("line_number", BigInteger, nullable=False),  # of the line at offset
    Column("blocks_before", BigInteger, nullable=False),  # data blocks in the bytes before offset
    # Grows with every save: of the rows saved under one path, the highest is the file read last (wall-clock
    # seconds are too coarse for that, and can step back).
    Column("sequence", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)
Index("ix_ingest_files_path", ingest_files.c.path)
Index("ix_ingest_files_inode", ingest_files.c.device, ingest_files.c.inode)
Index("ix_ingest_files_head", ingest_files.c.head_fingerprint)


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


# Per period x user x machine x direction: what UserSessions holds, summed, plus which size buckets occur.
rollup_usage = _rollup(
    "RollupUsage",
    _key("user_id", Integer),
    _key("machine_id", Integer),
    _key("direction", String(2)),
    measures=_usage_measures(),
)

# The same per period x user x machine type x direction and per period x machine x direction: a user has 1 to 4
# machines, mostly of one type, so these are several times smaller, and most questions group or filter by one
# side only (a machine type being a filter on the user side). The machine type is the machine's current one
# (rollups.add_to_rollups rebuilds them should a machine's type ever change).
rollup_user_usage = _rollup(
    "RollupUserUsage",
    _key("user_id", Integer),
    _key("machine_type", String(255)),
    _key("direction", String(2)),
    measures=_usage_measures(),
)
rollup_machine_usage = _rollup(
    "RollupMachineUsage", _key("machine_id", Integer), _key("direction", String(2)), measures=_usage_measures()
)

# Per period x direction x size bucket.
rollup_sizes = _rollup(
    "RollupSizes", _key("direction", String(2)), _key("size_range_id", Integer), measures=_size_measures()
)

# Per period x user x machine type x direction x size bucket (weeks and months only: per day it would be a
# fifth of the raw rows).
rollup_user_sizes = _rollup(
    "RollupUserSizes",
    _key("user_id", Integer),
    _key("machine_type", String(255)),
    _key("direction", String(2)),
    _key("size_range_id", Integer),
    measures=_size_measures(),
)

# Per period x machine x direction x size bucket (weeks and months).
rollup_machine_sizes = _rollup(
    "RollupMachineSizes",
    _key("machine_id", Integer),
    _key("direction", String(2)),
    _key("size_range_id", Integer),
    measures=_size_measures(),
)

# Per month x user x machine x direction x size bucket (months only: ~12% of the raw rows, where weeks would add
# half as many again). Answers the size questions that need both sides, e.g. the user x machine table, the
# machines of some users or the users of a machine with a size filter, which otherwise read raw rows.
rollup_pair_sizes = _rollup(
    "RollupPairSizes",
    _key("user_id", Integer),
    _key("machine_id", Integer),
    _key("direction", String(2)),
    _key("size_range_id", Integer),
    measures=_size_measures(),
)

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

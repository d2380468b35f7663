"""The log's tables: the six of the original design and the ingest's own bookkeeping."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from clusterdash.db.schema.base import DIRECTIONS, metadata, rejected_line_columns

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
    *rejected_line_columns(Column("block_epoch", BigInteger)),
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

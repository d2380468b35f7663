"""Slurm jobs (from sacct) and the attribution of the IO to them. Declarations only: db/jobs/ writes them,
db/query/jobs.py reads them.

A job is keyed by its JobIDRaw, the identity sacct gives a record (ingest/sacct.py says how array and
heterogeneous jobs map to it); a later record of the same job (RUNNING, then COMPLETED) updates the row. Users and
nodes are kept by name, as sacct prints them: a job may arrive before its user or machine has done any IO, and
JobUsage, which exists only where there is IO, holds the log's ids.

JobUsage is the attribution, kept like a rollup: per stored session (hour, user, machine, direction) and job, the
job's part of the session's operations (db/attribution.py: shared among the user's jobs on that machine in that
hour by seconds x CPUs, exactly, largest remainder). What no job takes is "outside jobs": the session's operations
less its JobUsage rows, never stored twice. JobDays sums JobUsage per UTC day, so a question over a long range
reads days, and JobUsage only for the hours at its edges.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Float, Index, Integer, String, Table, Text

from clusterdash.db.schema.base import metadata, rejected_line_columns

MAX_JOB_ID = 4200  # characters of a JobID as printed: an array's pending task list can be 4,096 long

jobs = Table(
    "Jobs",
    metadata,
    Column("job_id_raw", BigInteger, primary_key=True, autoincrement=False),  # sacct's JobIDRaw
    Column("job_id", String(MAX_JOB_ID), nullable=False),  # as printed: 123, 123_4, 123_[5-9], 123+1
    Column("array_job_id", BigInteger),
    Column("array_task_id", BigInteger),
    Column("array_tasks", Text),  # '5-9' of a pending array record 123_[5-9]
    Column("het_job_id", BigInteger),
    Column("het_offset", BigInteger),
    Column("username", String(255), nullable=False),
    Column("account", String(255), nullable=False),
    Column("partition_name", String(255), nullable=False),
    Column("state", String(32), nullable=False),  # the state word: COMPLETED, RUNNING, CANCELLED...
    Column("state_text", String(64), nullable=False),  # as printed: CANCELLED by 1234
    Column("submitted", BigInteger),  # UTC epochs; NULL where sacct printed Unknown or None
    Column("started", BigInteger),
    Column("ended", BigInteger),
    Column("elapsed", BigInteger),  # seconds, Slurm's own count
    # Until when the job is known to have run: its end, or for a job still running, start + Elapsed as sacct
    # last printed it (so a job never listed again stops taking IO there). NULL: it never started.
    Column("ran_until", BigInteger),
    Column("nnodes", Integer, nullable=False),
    Column("cpus", BigInteger),  # NULL: no allocation printed
    Column("mem_bytes", BigInteger),
    Column("gpus", BigInteger),
    Column("job_name", String(255), nullable=False),
    Column("updated_at", BigInteger, nullable=False),  # when this record was stored (wall clock)
)
# Jobs that ran in a range of hours (the newest hour's): started before its end and (bounded by JobsState.longest)
# not long before its start. The printed id is how people name a job (/job/123_4).
Index("ix_jobs_started", jobs.c.started)
Index("ix_jobs_job_id", jobs.c.job_id)

# Where a started job ran: its nodes in NodeList order, with its CPUs there (db/attribution.node_cpus: the total
# split evenly, the remainder to the first nodes). Keyed by the job's start, and with its user and end copied from
# Jobs (store_jobs writes both together), because the attribution reads "the jobs that ran in these hours, node by
# node" as one range of this table rather than a join with Jobs. A job that never started has no rows here.
job_nodes = Table(
    "JobNodes",
    metadata,
    Column("started", BigInteger, primary_key=True, autoincrement=False),
    Column("job_id_raw", BigInteger, primary_key=True, autoincrement=False),
    Column("ordinal", Integer, primary_key=True, autoincrement=False),
    Column("ran_until", BigInteger, nullable=False),
    Column("username", String(255), nullable=False),
    Column("machine", String(255), nullable=False),
    Column("cpus", BigInteger, nullable=False),
    sqlite_with_rowid=False,
)
Index("ix_job_nodes_job", job_nodes.c.job_id_raw)

# One row (id 1) once any job is stored: the longest span a stored job ran (ran_until - started), which bounds
# "which jobs ran in these hours" to an index range on Jobs.started (it only grows), and a version that grows with
# every store that changed a job (the dashboard's data version: the jobs' answers change without a new block).
jobs_state = Table(
    "JobsState",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("longest", BigInteger, nullable=False),
    Column("version", BigInteger, nullable=False),
)

# Every `clusterdash jobs pull`: the window asked of sacct, and what it brought. The next pull starts from the
# last one's end, less an overlap.
job_pulls = Table(
    "JobPulls",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("since", BigInteger, nullable=False),  # the window, UTC epochs
    Column("until", BigInteger, nullable=False),
    Column("pulled_at", BigInteger, nullable=False),
    Column("lines", BigInteger, nullable=False),
    Column("jobs_new", BigInteger, nullable=False),
    Column("jobs_updated", BigInteger, nullable=False),
    Column("rejected", BigInteger, nullable=False),
)

# Lines of sacct output that are not jobs, kept for inspection like the IO log's RejectedLines (a sibling, so that
# the log's own figures stay the log's). `identity` (of the text) makes the same bad line count once, whichever
# file or pull it came in.
rejected_job_lines = Table(
    "RejectedJobLines",
    metadata,
    *rejected_line_columns(),
)


def _cell_keys() -> list[Column]:
    """The keys after the time of JobUsage and JobDays: the log's user and machine, the direction, the job."""
    return [
        Column("user_id", Integer, primary_key=True, autoincrement=False),
        Column("machine_id", Integer, primary_key=True, autoincrement=False),
        Column("direction", String(2), primary_key=True),
        Column("job_id_raw", BigInteger, primary_key=True, autoincrement=False),
    ]


def _measures() -> list[Column]:
    return [
        Column("operations", BigInteger, nullable=False),
        Column("small_operations", BigInteger, nullable=False),
        Column("bytes", Float, nullable=False),
    ]


# A job's operations in one stored session (its user's IO on one of its machines in one hour, one direction):
# rows only where it is above zero. bytes: the session's estimated bytes (midpoint) x the job's share of its
# operations. Keyed cell first, like a rollup: the ingest replaces the rows of whole cells, and range questions
# read hours.
job_usage = Table(
    "JobUsage",
    metadata,
    Column("hour", BigInteger, primary_key=True, autoincrement=False),  # the session's hour (db.periods.hour_of)
    *_cell_keys(),
    Column("session_id", Integer, primary_key=True, autoincrement=False),
    *_measures(),
    sqlite_with_rowid=False,
)
Index("ix_job_usage_job", job_usage.c.job_id_raw, job_usage.c.hour)

# JobUsage summed per UTC day (`day`: its midnight), maintained with it.
job_days = Table(
    "JobDays",
    metadata,
    Column("day", BigInteger, primary_key=True, autoincrement=False),
    *_cell_keys(),
    *_measures(),
    sqlite_with_rowid=False,
)

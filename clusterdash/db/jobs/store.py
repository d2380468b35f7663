"""Storing jobs: one row per JobIDRaw, updated by newer news (RUNNING, then COMPLETED; a requeue), unchanged by a
re-read; the spans of the jobs that changed, for the attribution to re-share (db/jobs/maintain.py). Also the
sacct lines that are not jobs, and the pulls' history.

The records come from ingest/sacct.py (its Job) but any object with the same attributes will do (JobRecord): db/
imports nothing of the ingest.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from operator import attrgetter
from typing import NamedTuple, Protocol

import numpy as np
from sqlalchemy import Connection, delete, func, insert, select

from clusterdash.db.attribution import node_cpus
from clusterdash.db.bulk import in_chunks, insert_columns, insert_rows
from clusterdash.db.jobs.records import Progress, job_progress, ran_until
from clusterdash.db.rejected import keep_new_lines
from clusterdash.db.schema import job_nodes, job_pulls, jobs, jobs_state, rejected_job_lines


class JobRecord(Protocol):
    """What storing a job needs of a record (ingest.sacct.Job has it)."""

    job_id: str
    job_id_raw: int
    array_job_id: int | None
    array_task_id: int | None
    array_tasks: str | None
    het_job_id: int | None
    het_offset: int | None
    user: str
    account: str
    partition: str
    state: str
    state_text: str
    submit: int | None
    start: int | None
    end: int | None
    elapsed: int | None
    nnodes: int
    nodes: tuple[str, ...]
    cpus: int | None
    mem_bytes: int | None
    gpus: int | None
    name: str


class Span(NamedTuple):
    """Where and when a job ran, by name: the cells (hour, user, machine) whose IO it takes part in."""

    user: str
    machines: tuple[str, ...]
    start: int
    end: int


@dataclass
class StoredJobs:
    """What store_jobs did: jobs new, updated (newer news) and unchanged; the spans to re-share."""

    new: int = 0
    updated: int = 0
    unchanged: int = 0
    spans: list[Span] = field(default_factory=list)


NODE_COLUMNS = tuple(c.name for c in job_nodes.columns)


def store_jobs(conn: Connection, records: Iterable[JobRecord], now: int) -> StoredJobs:
    """Store job records in the caller's write transaction: a job not stored yet is inserted, one stored with older
    news is replaced (with its nodes), one with the same or newer news stored is left alone. Of several records of
    one job the newest counts. Returns the counts and the spans whose IO must be shared again: a new job's, and for
    an updated one where it changed (only the moved end when that is all that changed)."""
    newest: dict[int, JobRecord] = {}
    for record in records:
        held = newest.setdefault(record.job_id_raw, record)
        if held is not record and _progress(record) > _progress(held):
            newest[record.job_id_raw] = record
    result = StoredJobs()
    if not newest:
        return result
    stored = _stored(conn, sorted(newest))
    changed: list[tuple[JobRecord, int | None]] = []  # with its ran_until
    updated: list[tuple[_Stored, JobRecord]] = []
    for job_id_raw, record in newest.items():
        before = stored.get(job_id_raw)
        if before is None:
            until = _until(record)
            changed.append((record, until))
            if record.start is not None and until is not None and until > record.start and record.nodes:
                result.spans.append(Span(record.user, record.nodes, record.start, until))
        elif _progress(record) > before.progress:
            changed.append((record, _until(record)))
            updated.append((before, record))
        else:
            result.unchanged += 1
    result.new, result.updated = len(changed) - len(updated), len(updated)
    if not changed:
        return result
    replaced = [record.job_id_raw for _, record in updated]
    previous_nodes = _stored_nodes(conn, replaced)
    for before, record in updated:
        result.spans.extend(_moved(before, previous_nodes.get(record.job_id_raw, ()), record))
    for chunk in in_chunks(replaced):
        conn.execute(delete(job_nodes).where(job_nodes.c.job_id_raw.in_(chunk)))
        conn.execute(delete(jobs).where(jobs.c.job_id_raw.in_(chunk)))
    insert_rows(conn, jobs, JOB_COLUMNS, [(*_BEFORE_UNTIL(r), until, *_AFTER_UNTIL(r), now) for r, until in changed])
    insert_columns(conn, job_nodes, NODE_COLUMNS, _node_rows(changed))
    longest = max((until - r.start for r, until in changed if until is not None and r.start is not None), default=0)
    _note_changes(conn, max(longest, 0))
    return result


def _progress(record: JobRecord) -> Progress:
    return job_progress(record.start, record.end, record.elapsed)


def _until(record: JobRecord) -> int | None:
    return ran_until(record.start, record.end, record.elapsed)


# A record's values in the order of the Jobs columns, around ran_until (derived) and updated_at (the clock).
_BEFORE_UNTIL = attrgetter(
    "job_id_raw", "job_id", "array_job_id", "array_task_id", "array_tasks", "het_job_id", "het_offset", "user",
    "account", "partition", "state", "state_text", "submit", "start", "end", "elapsed",
)  # fmt: skip
_AFTER_UNTIL = attrgetter("nnodes", "cpus", "mem_bytes", "gpus", "name")
JOB_COLUMNS = tuple(c.name for c in jobs.columns)
assert JOB_COLUMNS[16] == "ran_until" and JOB_COLUMNS[-1] == "updated_at" and len(JOB_COLUMNS) == 23


def _node_rows(records: list[tuple[JobRecord, int | None]]) -> list[np.ndarray]:
    """JobNodes rows of the started jobs (with their ran_until), column by column, in the table's key order (its
    B-tree takes them in order): each node with the job's CPUs there (attribution.node_cpus, for all the nodes at
    once). A job that never started repeats zero times."""
    counts = np.array([len(r.nodes) if u is not None else 0 for r, u in records], dtype=np.int64)

    def per_node(values: list, dtype: type = np.int64) -> np.ndarray:
        return np.repeat(np.array(values, dtype=dtype), counts)

    starts = per_node([r.start or 0 for r, _ in records])  # ran_until is None iff it never started
    ids = per_node([r.job_id_raw for r, _ in records])
    ordinals = np.arange(int(counts.sum()), dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
    cpus = node_cpus(per_node([r.cpus or 0 for r, _ in records]), np.repeat(counts, counts), ordinals)
    columns = [
        starts,
        ids,
        ordinals,
        per_node([u or 0 for _, u in records]),
        per_node([r.user for r, _ in records], object),
        np.array([node for r, u in records if u is not None for node in r.nodes], dtype=object),
        cpus,
    ]
    assert len(columns) == len(NODE_COLUMNS)
    order = np.lexsort((ordinals, ids, starts))
    return [column[order] for column in columns]


@dataclass(frozen=True)
class _Stored:
    user: str
    cpus: int | None
    started: int | None
    until: int | None
    progress: Progress


def _stored(conn: Connection, ids: Sequence[int]) -> dict[int, _Stored]:
    """The stored jobs among `ids` (sorted): a dense run of ids is read as a range, a sparse one by IN lists."""
    columns = (jobs.c.job_id_raw, jobs.c.username, jobs.c.cpus, jobs.c.started, jobs.c.ended, jobs.c.elapsed)
    wanted = set(ids)
    found: dict[int, _Stored] = {}
    for chunk in in_chunks(ids):
        if chunk[-1] - chunk[0] < 4 * len(chunk):
            where = jobs.c.job_id_raw.between(chunk[0], chunk[-1])
        else:
            where = jobs.c.job_id_raw.in_(chunk)
        for job_id_raw, user, cpus, started, ended, elapsed in conn.execute(select(*columns).where(where)):
            if job_id_raw in wanted:
                progress = job_progress(started, ended, elapsed)
                found[job_id_raw] = _Stored(user, cpus, started, ran_until(started, ended, elapsed), progress)
    return found


def _stored_nodes(conn: Connection, ids: Sequence[int]) -> dict[int, tuple[str, ...]]:
    nodes: dict[int, list[str]] = {}
    n = job_nodes.c
    for chunk in in_chunks(ids):
        query = select(n.job_id_raw, n.machine).where(n.job_id_raw.in_(chunk))
        for job_id_raw, machine in conn.execute(query.order_by(n.job_id_raw, n.ordinal)):
            nodes.setdefault(job_id_raw, []).append(machine)
    return {job_id_raw: tuple(names) for job_id_raw, names in nodes.items()}


def _spans(user: str, nodes: tuple[str, ...], start: int | None, until: int | None) -> list[Span]:
    if start is None or until is None or until <= start or not nodes:
        return []
    return [Span(user, nodes, start, until)]


def _moved(before: _Stored, nodes: tuple[str, ...], after: JobRecord) -> list[Span]:
    """The span whose sharing a job's newer record changes: where only its end moved, the time between the two
    ends; otherwise (another start, user, node or CPU count) both the old span and the new one."""
    until = _until(after)
    same_place = (before.user, nodes, before.cpus, before.started) == (after.user, after.nodes, after.cpus, after.start)
    if same_place and before.until is not None and until is not None:
        low, high = min(before.until, until), max(before.until, until)
        return _spans(after.user, after.nodes, low, high)
    return _spans(before.user, nodes, before.started, before.until) + _spans(
        after.user, after.nodes, after.start, until
    )


def _note_changes(conn: Connection, length: int) -> None:
    """JobsState after a store that changed jobs: the longest span grown to `length` if longer, the version on."""
    current = conn.execute(select(jobs_state.c.longest).where(jobs_state.c.id == 1)).scalar()
    if current is None:
        conn.execute(insert(jobs_state).values(id=1, longest=length, version=1))
    else:
        conn.execute(
            jobs_state.update()
            .where(jobs_state.c.id == 1)
            .values(longest=max(current, length), version=jobs_state.c.version + 1)
        )


def longest_job(conn: Connection) -> int | None:
    """The longest span a stored job ran, in seconds; None when no job is stored (JobsState)."""
    return conn.execute(select(jobs_state.c.longest).where(jobs_state.c.id == 1)).scalar()


# -- what is not a job, and the pulls ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RejectedLine:
    source: str  # the file, or the pull's window
    line: int
    text: str
    reason: str


def store_rejected(conn: Connection, lines: Sequence[RejectedLine], now: int) -> int:
    """Keep the lines not stored yet (by their text: the same bad line read again, from any file or pull, counts
    once); returns how many were new."""
    candidates: dict[str, dict] = {}
    for bad in lines:
        identity = "sacct:" + hashlib.sha1(bad.text.encode("utf-8", "surrogatepass")).hexdigest()
        candidates.setdefault(
            identity,
            {
                "identity": identity,
                "source": bad.source,
                "line_number": bad.line,
                "text": bad.text,
                "reason": bad.reason,
                "seen_at": now,
            },
        )
    return keep_new_lines(conn, rejected_job_lines, candidates)


@dataclass(frozen=True)
class Pull:
    since: int
    until: int
    pulled_at: int
    lines: int
    jobs_new: int
    jobs_updated: int
    rejected: int


def record_pull(conn: Connection, pull: Pull) -> None:
    conn.execute(insert(job_pulls).values(**asdict(pull)))


def last_pull(conn: Connection) -> Pull | None:
    """The pull whose window ends last."""
    row = conn.execute(select(job_pulls).order_by(job_pulls.c.until.desc(), job_pulls.c.id.desc()).limit(1)).first()
    return None if row is None else Pull(**{k: v for k, v in row._asdict().items() if k != "id"})


def job_counts(conn: Connection) -> dict[str, int]:
    """Jobs stored and sacct lines rejected: what `jobs ingest` and `jobs pull` report beside what they did."""
    return {
        "jobs": conn.execute(select(func.count()).select_from(jobs)).scalar() or 0,
        "rejected_lines": conn.execute(select(func.count()).select_from(rejected_job_lines)).scalar() or 0,
    }

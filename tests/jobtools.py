"""Helpers for tests about jobs: sacct output built from plain values (UTC times), IO blocks for given hours, and
reading back what the database holds per session and per job."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import select

from clusterdash.db.schema import job_usage, machines, user_sessions, users
from tests.logtools import block

H0 = 1_741_780_800  # 2025-03-12 12:00 UTC, a whole hour
HOUR = 3600


def utc(epoch: int | None) -> str:
    return "Unknown" if epoch is None else datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


def elapsed(seconds: int) -> str:
    days, rest = divmod(seconds, 86400)
    clock = f"{rest // 3600:02d}:{rest % 3600 // 60:02d}:{rest % 60:02d}"
    return f"{days}-{clock}" if days else clock


def sacct_line(
    job: int,
    user: str,
    nodes: str,
    start: int | None,
    end: int | None,
    cpus: int = 1,
    nnodes: int = 1,
    state: str | None = None,
    now: int | None = None,
    name: str = "job",
) -> str:
    """One line of `sacct --parsable2 --noheader -X --format=...` for a plain job (times UTC)."""
    state = state or ("RUNNING" if end is None else "COMPLETED")
    seconds = 0 if start is None else ((end if end is not None else (now or start)) - start)
    tres = f"billing={cpus},cpu={cpus},mem=4G,node={nnodes}" if start is not None else ""
    return "|".join(
        [
            str(job), str(job), user, "tik", "cpu.normal", state, utc(start if start else end), utc(start), utc(end),
            elapsed(max(seconds, 0)), str(nnodes), nodes if start is not None else "None assigned", tres, name,
        ]
    )  # fmt: skip


def write_sacct(path: Path, *lines: str) -> Path:
    path.write_text("".join(line + "\n" for line in lines))
    return path


def io_log(path: Path, hours: dict[int, dict]) -> Path:
    """A log with one block per hour start: {hour: {(direction, machine, user): {label: count}}}; the block is
    stamped at the hour's end, as the tracer stamps it."""
    path.write_text("".join(block(hour + HOUR + 15, entries) for hour, entries in sorted(hours.items())))
    return path


def per_session(conn) -> dict[tuple, dict[int, int]]:
    """{(hour, user, machine, direction): {job: operations}} from JobUsage, by names."""
    names = dict(conn.execute(select(users.c.id, users.c.username)).all())
    hosts = dict(conn.execute(select(machines.c.id, machines.c.name)).all())
    found: dict[tuple, dict[int, int]] = {}
    for r in conn.execute(select(job_usage)):
        key = (r.hour, names[r.user_id], hosts[r.machine_id], r.direction)
        found.setdefault(key, {})[r.job_id_raw] = r.operations
    return found


def stored_sessions(conn) -> dict[tuple, int]:
    """{(hour, user, machine, direction): operations} of the stored sessions, by names."""
    names = dict(conn.execute(select(users.c.id, users.c.username)).all())
    hosts = dict(conn.execute(select(machines.c.id, machines.c.name)).all())
    s = user_sessions.c
    return {
        ((r.epoch - HOUR // 2) // HOUR * HOUR, names[r.user_id], hosts[r.machine_id], r.direction): r.operations
        for r in conn.execute(select(s.epoch, s.user_id, s.machine_id, s.direction, s.operations))
    }

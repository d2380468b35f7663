"""Checking the attribution against the stored data: the tests' and the benchmark's evidence that it is exact.

check_conservation shares every stored session afresh (the same arithmetic, from the raw sessions and jobs, a box
of hours at a time) and compares with what the ingest maintained: JobUsage must equal the fresh sharing row for row
(whatever order IO and jobs arrived in), the jobs' operations plus outside must equal the stored operations for
every session (hour, user, machine, direction), and JobDays must equal JobUsage summed per day.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, func, select

from clusterdash.db.jobs.maintain import BOX_HOURS, Box, placements, sessions, share
from clusterdash.db.jobs.store import longest_job
from clusterdash.db.periods import DAY, HOUR, hour_of
from clusterdash.db.schema import job_days, job_usage, user_sessions


@dataclass
class Conservation:
    sessions: int = 0
    stored: int = 0  # operations of every session
    attributed: int = 0  # in JobUsage
    outside: int = 0  # stored less attributed, per session (never negative when exact)
    rows: int = 0  # JobUsage rows
    differing_rows: int = 0  # JobUsage rows that a fresh sharing does not give (or gives, and JobUsage lacks)
    over_attributed: int = 0  # sessions whose jobs hold more operations (or small ones) than stored
    differing_days: int = 0  # JobDays rows whose operations are not JobUsage's summed

    @property
    def exact(self) -> bool:
        return (
            self.attributed + self.outside == self.stored
            and not self.differing_rows
            and not self.over_attributed
            and not self.differing_days
        )


def check_conservation(conn: Connection) -> Conservation:
    result = Conservation()
    first, last = conn.execute(select(func.min(user_sessions.c.epoch), func.max(user_sessions.c.epoch))).one()
    longest = longest_job(conn)
    if first is None:
        return result
    for start in range(int(hour_of(first)), int(hour_of(last)) + HOUR, BOX_HOURS * HOUR):
        box = Box(start, start + BOX_HOURS * HOUR)
        found = sessions(conn, box)
        fresh: set[tuple[int, int, int, int]] = set()
        if longest is not None:
            usage = share(found, placements(conn, box, longest))
            fresh = set(zip(found.ids[usage.session].tolist(), usage.job.tolist(), usage.operations.tolist(),
                            usage.small.tolist()))  # fmt: skip
        u = job_usage.c
        stored = {
            tuple(row)
            for row in conn.execute(
                select(u.session_id, u.job_id_raw, u.operations, u.small_operations).where(
                    u.hour >= box.first_hour, u.hour < box.end_hour
                )
            )
        }
        result.rows += len(stored)
        result.differing_rows += len(stored ^ fresh)
        taken: dict[int, list[int]] = {}
        for session, _job, operations, small in stored:
            sums = taken.setdefault(session, [0, 0])
            sums[0] += operations
            sums[1] += small
        for session, operations, small in zip(found.ids.tolist(), found.operations.tolist(), found.small.tolist()):
            jobs_ops, jobs_small = taken.get(session, (0, 0))
            result.sessions += 1
            result.stored += operations
            result.attributed += jobs_ops
            result.outside += operations - jobs_ops
            if jobs_ops > operations or jobs_small > small:
                result.over_attributed += 1
    result.differing_days = _differing_days(conn)
    return result


def _differing_days(conn: Connection) -> int:
    u, d = job_usage.c, job_days.c
    day = u.hour - u.hour % DAY
    summed = {
        tuple(row[:5]): int(row[5])
        for row in conn.execute(
            select(day, u.user_id, u.machine_id, u.direction, u.job_id_raw, func.sum(u.operations)).group_by(
                day, u.user_id, u.machine_id, u.direction, u.job_id_raw
            )
        )
    }
    kept = {
        tuple(row[:5]): int(row[5])
        for row in conn.execute(select(d.day, d.user_id, d.machine_id, d.direction, d.job_id_raw, d.operations))
    }
    return len(set(summed.items()) ^ set(kept.items()))

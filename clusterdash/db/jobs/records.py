"""The rules of a job's record that storage, the questions and the sacct reader share. Pure: imports nothing of the
package."""

from __future__ import annotations

import re

# A JobID as sacct prints it: 123, 123_4 (array task), 123_[5-9] or 123_[1,3,5-7%2] (an array's pending tasks),
# 123+1 (a heterogeneous job's component). Also how a person names a job (/job/123_4, ?job=123_4).
JOB_ID = re.compile(r"^(\d{1,18})(?:_(\d{1,18})|_\[([0-9,:%-]{1,4096})\]|\+(\d{1,9}))?$")

Progress = tuple[bool, int, bool, int, int]


def job_progress(started: int | None, ended: int | None, elapsed: int | None) -> Progress:
    """Orders two records of the same job: the greater is the newer news. A later start wins (a requeued job runs
    again), then having ended (RUNNING -> COMPLETED), then the later end, then the longer Elapsed. Equal: the same
    news (a re-read), which changes nothing."""
    return (started is not None, started or 0, ended is not None, ended or 0, elapsed or 0)


def ran_until(started: int | None, ended: int | None, elapsed: int | None) -> int | None:
    """Until when a job is known to have run: its end; for a job still running, start + Elapsed as sacct printed
    it then (Slurm counts Elapsed up to the moment it answers), so that a job never listed again stops taking IO
    there; None for a job that never started."""
    if started is None:
        return None
    if ended is not None:
        return ended
    return started + (elapsed or 0)

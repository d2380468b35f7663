"""The rules of a job's record that storage and the sacct reader share. Pure: imports nothing."""

from __future__ import annotations

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

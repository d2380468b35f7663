"""Readers for the fields of one sacct line, each a small pure function that returns a value or raises
`FieldError` with the reason a person can act on. `ingest.sacct` puts them together into job records.

Everything here follows what sacct prints with `--parsable2` and `SLURM_TIME_FORMAT=standard`:
  * times `2025-03-12T14:00:15` in the cluster's local time, or `Unknown` / `None`;
  * Elapsed `[D-]HH:MM:SS` (`MM:SS` and `MM:SS.mmm` are read too: Slurm prints them for other durations), or
    `INVALID` (Slurm's text for a negative duration: read as unknown);
  * AllocTRES `billing=8,cpu=8,gres/gpu=2,mem=64G,node=1`, empty before the job has an allocation;
  * NodeList in Slurm's compressed form `tikgpu[01-03,05],arton07`, or `None assigned`.
"""

from __future__ import annotations

import re
from datetime import datetime
from functools import lru_cache
from typing import NamedTuple
from zoneinfo import ZoneInfo

import hostlist

from clusterdash.db.jobs.records import JOB_ID as _JOB_ID
from clusterdash.ingest.names import unsafe_name

MAX_COUNT = 2**63 - 1  # what a signed 64-bit column holds
MAX_NODES = 100_000  # nodes in one job's NodeList: more is not a Slurm allocation
NO_TIME = frozenset({"Unknown", "None"})  # what sacct prints for a time it does not have
NO_NODES = frozenset({"None assigned", ""})

_TIME = re.compile(r"^(\d{4})-(\d\d)-(\d\d)T(\d\d):([0-5]\d):([0-5]\d)$")
_CLOCK = {f":{m:02d}:{s:02d}": m * 60 + s for m in range(60) for s in range(60)}  # ':MM:SS' -> seconds
_ELAPSED = re.compile(r"^(?:(?:(\d{1,6})-)?(\d{1,3}):)?([0-5]?\d):([0-5]\d)(?:\.\d{1,6})?$")
_ARRAY_TASKS = re.compile(r"^\d+(?:-\d+(?::\d+)?)?(?:,\d+(?:-\d+(?::\d+)?)?)*(?:%\d+)?$")
_STEP = re.compile(r"^\d{1,18}(?:_\d{1,18}|\+\d{1,9})?\.\S+$")
_STATE = re.compile(r"^([A-Z][A-Z_]{0,31})(?: by -?\d{1,10})?$")
_MEMORY = re.compile(r"^(\d{1,15}(?:\.\d{1,6})?)([KMGTP]?)$")
_UNIT = {"K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4, "P": 1024**5}
_HOST = re.compile(r"^[^\s\[\],]+$")


class FieldError(ValueError):
    """A field that cannot be read; the message names what was expected."""


class JobId(NamedTuple):
    """What a JobID says beyond the job itself: the array or heterogeneous job it belongs to."""

    array_job_id: int | None = None
    array_task_id: int | None = None
    array_tasks: str | None = None
    het_job_id: int | None = None
    het_offset: int | None = None


PLAIN_JOB = JobId()  # a plain JobID (123): no array, no heterogeneous job


def read_job_id(text: str) -> JobId:
    """`123`, `123_4` (array task), `123_[5-9]` / `123_[1,3,5-7%2]` (an array's pending tasks), `123+1`
    (component of a heterogeneous job)."""
    m = _JOB_ID.match(text)
    if m is None:
        if _STEP.match(text):
            raise FieldError(f"{text!r} is a job step, not a job: run sacct with -X (allocations only)")
        raise FieldError(f"{text[:60]!r} is not a job id (expected 123, 123_4, 123_[5-9] or 123+0)")
    parent, task, tasks, offset = m.groups()
    if task is not None:
        return JobId(array_job_id=int(parent), array_task_id=int(task))
    if tasks is not None:
        if not _ARRAY_TASKS.match(tasks):
            raise FieldError(f"{text[:60]!r}: unreadable array task list (expected e.g. 123_[1,3,5-7%2])")
        return JobId(array_job_id=int(parent), array_tasks=tasks)
    if offset is not None:
        return JobId(het_job_id=int(parent), het_offset=int(offset))
    return PLAIN_JOB


def read_count(text: str, what: str) -> int:
    if not (text.isdigit() and text.isascii() and len(text) <= 18):  # fits a signed 64-bit column
        raise FieldError(f"{text[:60]!r} is not a {what}")
    return int(text)


def read_state(text: str) -> str:
    """The state word of `COMPLETED`, `CANCELLED by 1234`, `OUT_OF_MEMORY`..."""
    m = _STATE.match(text)
    if m is None:
        raise FieldError(f"{text[:60]!r} is not a job state (expected e.g. COMPLETED or CANCELLED by 1234)")
    return m.group(1)


def read_elapsed(text: str) -> int | None:
    """Seconds of `[D-]HH:MM:SS`, `MM:SS` or `MM:SS.mmm` (fractions dropped); None for `INVALID`."""
    if len(text) == 8 and text[:2].isdigit() and text.isascii():  # HH:MM:SS, nearly every line
        clock = _CLOCK.get(text[2:])
        if clock is not None:
            return int(text[:2]) * 3600 + clock
    m = _ELAPSED.match(text)
    if m is None:
        if text == "INVALID":
            return None
        raise FieldError(f"{text[:60]!r} is not a duration (expected [D-]HH:MM:SS)")
    days, hours, minutes, seconds = m.groups()
    return ((int(days or 0) * 24 + int(hours or 0)) * 60 + int(minutes)) * 60 + int(seconds)


def plain_text(text: str) -> bool:
    """True when `text` certainly holds no unsafe character (printable ASCII): the fast test before the regex."""
    return text.isascii() and text.isprintable()


def check_name(text: str, empty: bool = True) -> str:
    """A name from sacct, as it is, or FieldError when it is empty (unless allowed) or no name may be it
    (ingest.names, the one rule for names: too long, or holding a character that would hide or reorder text)."""
    if not text and not empty:
        raise FieldError("empty")
    problem = unsafe_name(text)
    if problem is not None:
        raise FieldError(problem)
    return text


class Tres:
    """What an AllocTRES says about the allocation (None: not printed, as before a job is allocated)."""

    __slots__ = ("cpus", "gpus", "mem_bytes")

    def __init__(self, cpus: int | None, mem_bytes: int | None, gpus: int | None) -> None:
        self.cpus, self.mem_bytes, self.gpus = cpus, mem_bytes, gpus


@lru_cache(maxsize=4096)
def read_tres(text: str) -> Tres:
    """cpu=, mem= (K/M/G/T/P are powers of 1024; a bare number is megabytes, Slurm's unit for memory) and the GPUs:
    `gres/gpu=N`, or when only typed counts are printed the sum of `gres/gpu:TYPE=N`. Other TRES are ignored.
    Raises FieldError."""
    if not text:
        return Tres(None, None, None)
    cpus = mem = gpus = None
    typed_gpus = 0
    for item in text.split(","):
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise FieldError(f"item {item[:60]!r} is not key=value")
        if key == "cpu":
            cpus = read_count(value, "CPU count (cpu=)")
        elif key == "mem":
            m = _MEMORY.match(value)
            if m is None:
                raise FieldError(f"mem={value[:40]!r} is not a size (expected e.g. 64G or 16000M)")
            number, unit = m.group(1), _UNIT[m.group(2) or "M"]
            mem = int(number) * unit if "." not in number else round(float(number) * unit)
        elif key == "gres/gpu":
            gpus = read_count(value, "GPU count (gres/gpu=)")
        elif key.startswith("gres/gpu:"):  # not gres/gpumem or gres/gpuutil, which are not GPUs
            typed_gpus += read_count(value, f"GPU count ({key[:40]}=)")
    if gpus is None:
        gpus = typed_gpus
    if (mem or 0) > MAX_COUNT or gpus > MAX_COUNT:
        raise FieldError(f"{text[:60]!r}: a count beyond {MAX_COUNT}")
    return Tres(cpus, mem, gpus)


@lru_cache(maxsize=4096)
def read_nodes(text: str) -> tuple[str, ...]:
    """The host names of a compressed NodeList, in the order Slurm lists them; () for `None assigned`.
    Raises FieldError."""
    if text in NO_NODES:
        return ()
    hosts: dict[str, None] = {}
    for part in _top_level_parts(text):
        try:
            expanded = hostlist.expand_hostlist(part)
        except hostlist.BadHostlist as exc:
            raise FieldError(f"{text[:60]!r} is not a host list ({exc})") from None
        for host in expanded:
            if not _HOST.match(host):
                raise FieldError(f"{text[:60]!r} is not a host list (host {host[:40]!r})")
            try:
                hosts[check_name(host, empty=False)] = None
            except FieldError as exc:
                raise FieldError(f"node name {host[:40]!r}: {exc}") from None
        if len(hosts) > MAX_NODES:  # each part is bounded by the library; this bounds their sum
            raise FieldError(f"{text[:60]!r} names more than {MAX_NODES} nodes")
    return tuple(hosts)


def _top_level_parts(text: str) -> list[str]:
    """`a[1-2],b,c[3,5]` -> ['a[1-2]', 'b', 'c[3,5]'] (commas inside brackets do not split)."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(text):
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


class LocalTimes:
    """sacct's local times of one zone read as UTC epochs. Most hours are plain (one offset for the whole hour):
    their epoch is cached by the hour's text. In an hour that the zone repeats (autumn) a time names two instants,
    both returned, earlier first (fold 0, then fold 1); a time in the hour the zone skips (spring) names none and
    is read with the offset in force before the jump (fold 0): 02:30 on the spring day is 03:30 summer time."""

    def __init__(self, tz: ZoneInfo) -> None:
        self.tz = tz
        self._plain: dict[str, int] = {}  # 'YYYY-MM-DDTHH' of a plain hour -> the epoch of its first second
        self._irregular: set[str] = set()  # hours with a repeated or skipped part

    def read(self, text: str) -> tuple[int, ...]:
        """The instants `text` can name: () for Unknown/None, one for nearly every time, two in a repeated hour.
        Raises FieldError."""
        base = self._plain.get(text[:13])
        if base is not None:
            offset = _CLOCK.get(text[13:])  # the whole ':MM:SS', validated by the lookup
            if offset is not None:
                return (base + offset,)
        if text in NO_TIME:
            return ()
        m = _TIME.match(text)
        if m is None:
            raise FieldError(f"{text[:60]!r} is not a time (expected YYYY-MM-DDTHH:MM:SS, Unknown or None)")
        year, month, day, hour, minute, second = (int(g) for g in m.groups())
        prefix = text[:13]
        try:
            if prefix not in self._irregular:
                base = self._hour(prefix, year, month, day, hour)
                if base is not None:
                    return (base + minute * 60 + second,)
            return self._instants(year, month, day, hour, minute, second)
        except (ValueError, OverflowError):  # datetime's range ends at years 1 and 9999
            raise FieldError(f"{text[:60]!r} is not a time (no such date or hour)") from None

    def _hour(self, prefix: str, year: int, month: int, day: int, hour: int) -> int | None:
        starts = self._instants(year, month, day, hour, 0, 0)
        ends = self._instants(year, month, day, hour, 59, 59)
        if len(self._plain) > 100_000:  # a year is 8,760 hours: only odd input gets here
            self._plain.clear()
            self._irregular.clear()
        if len(starts) == len(ends) == 1 and ends[0] - starts[0] == 3599:
            self._plain[prefix] = starts[0]
            return starts[0]
        self._irregular.add(prefix)
        return None

    def _instants(self, year: int, month: int, day: int, hour: int, minute: int, second: int) -> tuple[int, ...]:
        found: list[int] = []
        for fold in (0, 1):
            moment = datetime(year, month, day, hour, minute, second, tzinfo=self.tz, fold=fold)
            epoch = int(moment.timestamp())
            if datetime.fromtimestamp(epoch, self.tz).replace(tzinfo=None) == moment.replace(tzinfo=None):
                if epoch not in found:
                    found.append(epoch)
        if not found:  # the skipped hour: the offset before the jump
            found.append(int(datetime(year, month, day, hour, minute, second, tzinfo=self.tz).timestamp()))
        return tuple(found)


def choose_instants(
    submit: tuple[int, ...], start: tuple[int, ...], end: tuple[int, ...], elapsed: int | None
) -> tuple[int | None, int | None, int | None]:
    """One instant for each of a job's times. A time in a repeated hour has two: take the combination that keeps
    submit <= start <= end and makes end - start equal Elapsed (Slurm's own count, from epochs), preferring the
    earlier instant (fold 0) when the times cannot tell; with no evidence, fold 0."""
    if len(submit) < 2 and len(start) < 2 and len(end) < 2:
        return (submit[0] if submit else None, start[0] if start else None, end[0] if end else None)
    best: tuple[tuple[bool, bool], tuple[int | None, int | None, int | None]] | None = None
    for s in submit or (None,):
        for b in start or (None,):
            for e in end or (None,):
                disorder = (s is not None and b is not None and s > b) or (b is not None and e is not None and b > e)
                mismatch = b is not None and e is not None and elapsed is not None and e - b != elapsed
                score = (disorder, mismatch)
                if best is None or score < best[0]:
                    best = (score, (s, b, e))
    assert best is not None
    return best[1]

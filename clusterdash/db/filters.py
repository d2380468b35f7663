"""The question a query answers: a `Filters` value, built from UI controls or from URL query arguments.

Time has one-hour resolution (db/periods.py: which hour a block reports). A time range selects the hours that
overlap it: `start` and `end` are widened to whole hours, and a block is in the range when its hour is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from clusterdash.db.jobs.records import JOB_ID
from clusterdash.db.periods import ceil_hour, floor_hour, zone
from clusterdash.db.schema import DIRECTIONS as STORED_DIRECTIONS
from clusterdash.errors import BadParameter

DIRECTIONS = (*STORED_DIRECTIONS, "both")  # what a question may ask for
MAX_EPOCH = 253402300799  # 9999-12-31T23:59:59Z: beyond it dates cannot be shown
MAX_VALUES = 1000  # per repeatable parameter: a longer IN list is a mistake or an attack
MAX_TEXT = 255  # as wide as the Users/Machines name columns


_EPOCH = re.compile(r"^-?\d{1,15}$")


def parse_time(text: str, tz: str = "UTC", name: str = "start") -> int:
    """Epoch seconds from ISO-8601 ('2025-03-12', '2025-03-12T14:00', '...Z', '...+01:00') or epoch digits.

    A date or time without an offset is read in the display zone `tz`: that is what a person typing it means.
    """
    text = text.strip()
    if _EPOCH.match(text):
        value = int(text)
    else:
        try:
            if len(text) == 10:
                parsed = datetime.combine(date.fromisoformat(text), datetime.min.time())
            else:
                parsed = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
        except (ValueError, OverflowError):
            raise BadParameter(
                name,
                f"cannot read {text[:40]!r} as a time (use ISO-8601 such as 2025-03-12T14:00:00Z, or epoch seconds)",
            ) from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=zone(tz))
        try:
            value = int(parsed.timestamp())
        except (OverflowError, ValueError, OSError):
            raise BadParameter(name, f"{text[:40]!r} is out of range") from None
    if not 0 <= value <= MAX_EPOCH:
        raise BadParameter(name, f"{text[:40]!r} is out of range (1970 to 9999)")
    return value


@dataclass(frozen=True)
class Filters:
    """Which hours, users, machines, directions and size buckets a question covers. Empty tuples mean "all".

    users/machines are names; machine_types/roles/affiliations match the latest type/role/affiliation stored
    for a machine/user; sizes are bucket labels as the log prints them ('[4K, 8K)'). `tz` draws day, week and
    month boundaries. Build one directly, or from URL arguments with `Filters.from_args`.
    """

    start: int | None = None  # epoch seconds, inclusive (widened to the hour)
    end: int | None = None  # epoch seconds, exclusive (widened to the hour)
    users: tuple[str, ...] = ()
    machines: tuple[str, ...] = ()
    machine_types: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    affiliations: tuple[str, ...] = ()
    direction: str = "both"
    sizes: tuple[str, ...] = ()
    tz: str = "UTC"
    # Slurm jobs by JobID or JobIDRaw ('123', '123_4'): the question covers their users, machines and time span.
    jobs: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("users", "machines", "machine_types", "roles", "affiliations", "sizes", "jobs"):
            value = getattr(self, name)
            if isinstance(value, str) or not isinstance(value, tuple):
                object.__setattr__(self, name, (value,) if isinstance(value, str) else tuple(value))
        if self.direction not in DIRECTIONS:
            raise BadParameter("direction", f"must be rd, wr or both, not {str(self.direction)[:20]!r}")
        zone(self.tz)
        for name in ("start", "end"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, int) and 0 <= value <= MAX_EPOCH):
                raise BadParameter(name, f"must be epoch seconds between 0 and {MAX_EPOCH}")
        if self.start is not None and self.end is not None and self.start >= self.end:
            raise BadParameter("start", "must be before end")
        for job in self.jobs:
            if not JOB_ID.match(job):
                raise BadParameter("job", f"{job[:40]!r} is not a job id (e.g. 123, 123_4 or 123+0)")

    # -- building -----------------------------------------------------------------------------------------

    ARG_NAMES = {
        "user": "users",
        "machine": "machines",
        "machine_type": "machine_types",
        "role": "roles",
        "affiliation": "affiliations",
        "size": "sizes",
        "job": "jobs",
    }

    @classmethod
    def from_args(cls, args: Any, default_tz: str = "UTC") -> Filters:
        """Filters from URL arguments: a werkzeug MultiDict or a mapping of name -> str or list of str.

        start, end (ISO-8601 or epoch seconds), direction (rd|wr|both), tz (IANA) once each; user, machine,
        machine_type, role, affiliation, size, job any number of times. Empty values count as absent. Raises
        BadParameter naming the parameter.
        """

        def values(name: str) -> list[str]:
            raw = args.getlist(name) if hasattr(args, "getlist") else args.get(name, [])
            raw = [raw] if isinstance(raw, str) else list(raw)
            if len(raw) > MAX_VALUES:
                raise BadParameter(name, f"at most {MAX_VALUES} values")
            out = []
            for v in raw:
                if not isinstance(v, str):
                    raise BadParameter(name, "must be text")
                if len(v) > MAX_TEXT or "\x00" in v:
                    raise BadParameter(name, f"value too long or not text ({len(v)} characters)")
                if v.strip():
                    out.append(v.strip())
            return out

        def single(name: str) -> str | None:
            given = values(name)
            if len(given) > 1:
                raise BadParameter(name, "give it at most once")
            return given[0] if given else None

        tz = single("tz") or default_tz
        zone(tz)
        start, end = single("start"), single("end")
        kwargs: dict[str, Any] = {name: tuple(dict.fromkeys(values(arg))) for arg, name in cls.ARG_NAMES.items()}
        return cls(
            start=None if start is None else parse_time(start, tz, "start"),
            end=None if end is None else parse_time(end, tz, "end"),
            direction=(single("direction") or "both").lower(),
            tz=tz,
            **kwargs,
        )

    def with_(self, **changes: Any) -> Filters:
        """A copy with some fields changed (e.g. the dashboard narrowing to one user)."""
        return replace(self, **changes)

    # -- derived --------------------------------------------------------------------------------------------

    def hour_range(self) -> tuple[int | None, int | None]:
        """[first hour, end hour) of the hours overlapping [start, end); None where open."""
        return (
            None if self.start is None else floor_hour(self.start),
            None if self.end is None else ceil_hour(self.end),
        )

    @property
    def filters_users(self) -> bool:
        return bool(self.users or self.roles or self.affiliations)

    @property
    def filters_machines(self) -> bool:
        return bool(self.machines or self.machine_types)

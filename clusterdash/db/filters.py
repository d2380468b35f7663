"""The question a query answers: a `Filters` value, built from UI controls or from URL query arguments.

Time has one-hour resolution (db/periods.py: which hour a block reports). A time range selects the hours that
overlap it: `start` and `end` are widened to whole hours, and a block is in the range when its hour is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from clusterdash.db.jobs.records import JOB_ID
from clusterdash.db.periods import ceil_hour, floor_hour, zone
from clusterdash.db.schema import DIRECTIONS as STORED_DIRECTIONS
from clusterdash.db.timerange import MAX_EPOCH, clamp_window, parse_time, preset_window
from clusterdash.db.vocabulary import LISTS, MAX_VALUES, check_text, read
from clusterdash.errors import BadParameter

__all__ = ["DIRECTIONS", "Filters", "parse_time"]

DIRECTIONS = (*STORED_DIRECTIONS, "both")  # what a question may ask for


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
    # Whose IO the asker may see: None for everything (admin, staff, --auth none), else the cluster usernames of a
    # signed-in `user`. Only the server sets it, from the signed-in principal (web/auth.py), never from a
    # request's arguments; db/query/scope.resolve applies it to every question, so a name outside it is
    # answered exactly like a name that does not exist.
    visible_users: tuple[str, ...] | None = None
    # Slurm jobs by JobID or JobIDRaw ('123', '123_4'): the question covers their users, machines and time span.
    jobs: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        seen = self.visible_users
        if seen is not None and not isinstance(seen, tuple):
            object.__setattr__(self, "visible_users", (seen,) if isinstance(seen, str) else tuple(seen))
        for name, field in LISTS.items():
            value = getattr(self, field)
            if isinstance(value, str) or not isinstance(value, tuple):
                value = (value,) if isinstance(value, str) else tuple(value)
                object.__setattr__(self, field, value)
            if len(value) > MAX_VALUES:
                raise BadParameter(name, f"at most {MAX_VALUES} values")
            for text in value:
                check_text(name, text)
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
        for job in self.jobs:
            if not JOB_ID.match(job):
                raise BadParameter("job", f"{job[:40]!r} is not a job id (e.g. 123, 123_4 or 123+0)")

    # -- building -----------------------------------------------------------------------------------------

    @classmethod
    def from_args(cls, args: Any, default_tz: str = "UTC", latest: Callable[[], int | None] | None = None) -> Filters:
        """Filters from URL arguments (a werkzeug MultiDict, a mapping of name -> str or list of str, or the
        Arguments `vocabulary.read` made of them), by the declarations in db/vocabulary.py.

        start, end (ISO-8601 or epoch seconds) or range (24h, 7d, 30d, 90d, all: ending with the hour of the
        newest block, which `latest()` gives), direction (rd|wr|both) and tz once each; user, machine,
        machine_type, role, affiliation, size and job any number of times (sizes as given: the API resolves them to
        stored labels). Empty values count as absent. Raises BadParameter naming the parameter, also for a
        parameter the vocabulary does not know.
        """
        given = read(args)
        tz = given.zone(default_tz)
        start, end = given.time("start", tz), given.time("end", tz)
        if given.given("range"):
            if start is not None or end is not None:
                raise BadParameter("range", "give either range or start and end, not both")
            start, end = preset_window(given.choice("range"), latest() if latest else None)
        names = {field: tuple(dict.fromkeys(given.texts(name))) for name, field in LISTS.items()}
        return cls(start=start, end=end, direction=given.choice("direction") or "both", tz=tz, **names)

    def held_to(self, extent: tuple[int, int] | None) -> Filters:
        """The question asked of the hours that have data, `extent` = (first hour, end hour) of the stored blocks
        (timerange.clamp_window): a range from 1970 to 5000 asks for the data's extent, and the buckets of a
        series are those of the data, whichever door (the API, the dashboard) asked."""
        start, end = clamp_window(self.start, self.end, extent)
        return self if (start, end) == (self.start, self.end) else replace(self, start=start, end=end)

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

"""The dashboard's whole view as one value, and its round trip through the URL query string.

The URL is the source of truth: every interaction produces a new `View`, the
view is written to the query string (so a copied link, a bookmark and the
browser's back button all restore it) and the panels read it back from a
dcc.Store. The URL speaks the API's vocabulary (db/vocabulary.py): the time
range always, and only the other values that differ from the defaults, so
links stay short and a view's query string asks the API the same question.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, TypeVar
from urllib.parse import parse_qs, quote, unquote, urlencode

from clusterdash.db import sizes, timerange, vocabulary
from clusterdash.db.jobs.records import JOB_ID
from clusterdash.db.periods import HOUR, ceil_hour, floor_hour, zone
from clusterdash.db.timerange import MAX_EPOCH
from clusterdash.db.vocabulary import MAX_TOP, MAX_VALUES, PARAMETERS, check_integer, check_text
from clusterdash.errors import BadParameter

PRESETS = timerange.PRESETS
DEFAULT_PRESET = "7d"
CUSTOM = "custom"
DIRECTIONS = PARAMETERS["direction"].choices
METRICS = PARAMETERS["metric"].choices
# The series' stacking, as the view keeps it, and the group_by value (the URL's, the API's) of each.
STACKS = dict(PARAMETERS["group_by"].value_aliases)
STACK_DIMENSIONS = tuple(STACKS)
DEFAULT_TOP = 8  # series the page stacks by default (the API's own default, for a script, is 10)
# The user x machine table's columns (web/usertable.py): the view's `sort` (the URL's table_sort) names one, "-"
# first for descending.
SORT_COLUMNS = vocabulary.TABLE_COLUMNS
SORTS = PARAMETERS["table_sort"].choices
# The pages of one user, machine or job: /user/<name>, /machine/<name>, /job/<id>, and the dimension each selects.
PROFILES = {"user": "users", "machine": "machines", "job": "jobs"}
MAX_URL = 512 * 1024  # characters of a query string read: 5 x 1,000 names of 255 characters and their keys fit

# A cross-filter dimension: its field on View, its URL parameter (db/vocabulary.py) and its name for people.
DIMENSIONS = {
    "users": ("user", "user"),
    "machines": ("machine", "machine"),
    "machine_types": ("machine_type", "machine type"),
    "roles": ("role", "role"),
    "sizes": ("size", "IO size"),
    "jobs": ("job", "job"),
}
T = TypeVar("T")


def url_key(dimension: str) -> str:
    return DIMENSIONS[dimension][0]


def dimension_label(dimension: str) -> str:
    return DIMENSIONS[dimension][1]


@dataclass(frozen=True)
class View:
    """What the dashboard shows. Selections are tuples kept in click order; sizes are bucket labels."""

    preset: str = DEFAULT_PRESET
    start: int | None = None  # custom range only: UTC epoch, inclusive
    end: int | None = None  # custom range only: UTC epoch, exclusive
    direction: str = "both"
    metric: str = "ops"
    tz: str = "UTC"
    stack: str = "users"
    top: int = DEFAULT_TOP
    users: tuple[str, ...] = ()
    machines: tuple[str, ...] = ()
    machine_types: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    sizes: tuple[str, ...] = ()
    jobs: tuple[str, ...] = ()  # Slurm jobs by JobID (the other panels show their users, machines and hours)
    sort: str = ""  # the table's sort: a column of SORT_COLUMNS, "-" first for descending; "" the server's order
    # Set by /user/<name>, /machine/<name> or /job/<id>: show that profile card.
    profile: tuple[str, str] | None = field(default=None)
    # Whose IO the signed-in person may see (Filters.visible_users): set by the callbacks from the request's
    # principal (web/auth.py), never read from the URL or the browser's store, never written to either.
    visible_users: tuple[str, ...] | None = field(default=None)

    def __post_init__(self) -> None:
        """The view the API would accept, whoever built it (a link, a control, the client's store): each field
        checked by the vocabulary's rules and limits, BadParameter naming its parameter."""
        check_view(self)

    # --- selections -------------------------------------------------------

    def selected(self, dimension: str) -> tuple[str, ...]:
        return getattr(self, dimension)

    def has_selections(self) -> bool:
        return any(self.selected(d) for d in DIMENSIONS)

    def click(self, dimension: str, value: str, add: bool = False) -> View:
        """A click on `value`: plain click selects only it (or clears it when it was the only one selected);
        shift-click (`add`) toggles it in the selection, keeping the others."""
        current = self.selected(dimension)
        if add:
            chosen = tuple(v for v in current if v != value) if value in current else current + (value,)
        else:
            chosen = () if current == (value,) else (value,)
        return replace(self, **{dimension: chosen}, profile=None)

    def remove(self, dimension: str, value: str) -> View:
        if dimension == "time":
            return replace(self, preset=DEFAULT_PRESET, start=None, end=None)
        return replace(self, **{dimension: tuple(v for v in self.selected(dimension) if v != value)}, profile=None)

    def clear(self) -> View:
        """Clear all selections; keep the time range (it has its own reset) and how the data is looked at."""
        return replace(self, profile=None, **dict.fromkeys(DIMENSIONS, ()))

    def with_range(self, start: int, end: int) -> View:
        """A custom range of the whole hours that overlap [start, end), as every query reads it (db.filters): the
        range shown is the range used."""
        low, high = int(min(start, end)), int(max(start, end))
        low, high = floor_hour(low), ceil_hour(high)
        return replace(self, preset=CUSTOM, start=low, end=max(high, low + HOUR))

    def with_preset(self, preset: str) -> View:
        if preset not in PRESETS:
            return self
        return replace(self, preset=preset, start=None, end=None)

    def window(self, latest: int | None) -> tuple[int | None, int | None]:
        """The time range as (start inclusive, end exclusive) UTC epochs; None is open. Presets end with the hour
        of the newest block, `latest` (timerange.preset_window)."""
        if self.preset == CUSTOM:
            return self.start, self.end
        return timerange.preset_window(self.preset, latest)

    def clamped(self, extent: tuple[int, int] | None) -> View:
        """The view with its custom range held to the hours that have data (timerange.clamp_window)."""
        if self.preset != CUSTOM or self.start is None or self.end is None:
            return self
        start, end = timerange.clamp_window(self.start, self.end, extent)
        return self if (start, end) == (self.start, self.end) else replace(self, start=start, end=end)


def check_view(view: View) -> None:
    if view.preset not in PRESETS and view.preset != CUSTOM:
        raise BadParameter("range", f"must be one of {', '.join(PRESETS)}, not {str(view.preset)[:30]!r}")
    for name in ("start", "end"):
        value = getattr(view, name)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_EPOCH):
            raise BadParameter(name, f"must be epoch seconds between 0 and {MAX_EPOCH}")
    if view.start is not None and view.end is not None and view.start >= view.end:
        raise BadParameter("end", "the end of a time range must be after its start")
    for name, allowed in (("direction", DIRECTIONS), ("metric", METRICS), ("group_by", STACK_DIMENSIONS)):
        value = view.stack if name == "group_by" else getattr(view, name)
        if not isinstance(value, str) or value not in allowed:
            raise BadParameter(name, f"must be one of {', '.join(allowed)}, not {str(value)[:30]!r}")
    zone(view.tz)
    check_integer("top", view.top)
    if view.sort != "" and view.sort not in SORTS:
        raise BadParameter(
            "table_sort", f"must be a column of the table ({', '.join(SORT_COLUMNS)}), '-' first for descending"
        )
    for dimension, (key, _label) in DIMENSIONS.items():
        values = getattr(view, dimension)
        if not isinstance(values, tuple):
            raise BadParameter(key, "must be a list of names")
        if len(values) > MAX_VALUES:
            raise BadParameter(key, f"at most {MAX_VALUES} values")
        for value in values:
            check_text(key, value)
    if view.profile is not None:
        kind, name = view.profile if isinstance(view.profile, tuple) and len(view.profile) == 2 else (None, None)
        if kind not in PROFILES:
            raise BadParameter("profile", "must be (user or machine, a name)")
        check_text(kind, name)


# --- URL ---------------------------------------------------------------------


def _iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%MZ")


def to_query(view: View, defaults: View, with_zone: bool = False) -> str:
    """The query string for `view` ('?a=b&...'), in the vocabulary the API reads (db/vocabulary.py): the time
    range always (a preset as range=7d, a custom range as start and end in UTC), and whatever else differs from
    `defaults` (a stacking with its top; the table's sort as table_sort, which the API ignores), the zone too
    `with_zone` (a link for someone else: the server that opens it may show another zone by default). Pasted
    after an API path, it asks the API the question the view shows: the same rows, and the same series
    (ungrouped when the page stacks by its default, by user: the same total per bucket)."""
    pairs: list[tuple[str, str]] = []
    if view.preset == CUSTOM and view.start is not None and view.end is not None:
        pairs += [("start", _iso(view.start)), ("end", _iso(view.end))]
    elif view.preset in PRESETS:
        pairs.append(("range", view.preset))
    for name in ("direction", "metric", "tz"):
        if getattr(view, name) != getattr(defaults, name) or (name == "tz" and with_zone):
            pairs.append((name, str(getattr(view, name))))
    if view.stack != defaults.stack:  # the grouping whole, so that the API groups the series as the page does
        pairs += [("group_by", STACKS[view.stack]), ("top", str(view.top))]
    elif view.top != defaults.top:
        pairs.append(("top", str(view.top)))
    for dimension in DIMENSIONS:
        for value in view.selected(dimension):
            pairs.append((url_key(dimension), sizes.short_form(value) if dimension == "sizes" else value))
    if view.sort != defaults.sort:
        pairs.append(("table_sort", view.sort))
    return "?" + urlencode(pairs, quote_via=quote, safe="/:") if pairs else ""


def _attempt(read: Callable[[], T], default: T) -> T:
    try:
        value = read()
    except BadParameter:
        return default
    return default if value is None else value


def from_url(pathname: str | None, search: str | None, defaults: View, known_sizes: Iterable[str] = ()) -> View:
    """The view a URL describes, read by the API's vocabulary (aliases too: from, to, dir, type, stack). A link
    is read leniently: an unknown parameter or a value that cannot be read falls back to the default, never an
    error page; a time before 1970 or after 9999 and a `top` past its bounds are clamped (the range is then held to
    the data by the view callback, View.clamped)."""
    given = vocabulary.read(parse_qs((search or "").lstrip("?")[:MAX_URL], keep_blank_values=False), strict=False)
    changes: dict = {}
    tz = _attempt(lambda: given.zone(defaults.tz), defaults.tz)
    if tz != defaults.tz:
        changes["tz"] = tz
    start = _attempt(lambda: given.time("start", tz, clamp=True), None)
    end = _attempt(lambda: given.time("end", tz, clamp=True), None)
    if start is not None and end is not None and start != end:
        changes.update(preset=CUSTOM, start=min(start, end), end=max(start, end))
    elif given.given("range"):
        changes["preset"] = _attempt(lambda: given.choice("range"), defaults.preset)
    for name in ("direction", "metric"):
        changes[name] = _attempt(lambda: given.choice(name), getattr(defaults, name))  # noqa: B023
    group = _attempt(lambda: given.choice("group_by"), None)
    changes["stack"] = next((stack for stack, g in STACKS.items() if g == group), defaults.stack)
    top = given.text("top") or ""
    if top.isdigit():
        changes["top"] = max(1, min(MAX_TOP, int(top[:12])))
    changes["sort"] = _attempt(lambda: given.choice("table_sort"), defaults.sort)
    known_sizes = list(known_sizes)
    for dimension in DIMENSIONS:
        values = given.texts(url_key(dimension))
        if dimension == "sizes":  # a form the stored buckets do not know stays as typed: its chip shows no IO
            values = [sizes.bucket_label(v, known_sizes) or v for v in values]
        elif dimension == "jobs":  # what is not a job id is no job
            values = [v for v in values if JOB_ID.match(v)]
        changes[dimension] = tuple(dict.fromkeys(values))  # drop repeats, keep order
    view = replace(defaults, **changes)
    return _with_profile_path(view, pathname or "/")


def _with_profile_path(view: View, pathname: str) -> View:
    """/user/<name>, /machine/<name> and /job/<id>: the dashboard on that one user, machine or job, with its
    profile card. The name is the rest of the path, a "/" in it included (a link writes it as %2F); a job's is a
    job id or nothing."""
    for kind, dimension in PROFILES.items():
        prefix = f"/{kind}/"
        if pathname.startswith(prefix) and len(pathname) > len(prefix):
            name = unquote(pathname[len(prefix) :])
            if kind == "job" and not JOB_ID.match(name):
                return view
            if 0 < len(name) <= vocabulary.MAX_TEXT and "\x00" not in name:
                return replace(view, **{dimension: (name,)}, profile=(kind, name))
    return view


SERVER_ONLY = ("visible_users",)  # fields a browser neither sees nor sets


def to_store(view: View) -> dict:
    """JSON for the dcc.Store the panels read."""
    data = {name: getattr(view, name) for name in View.__dataclass_fields__ if name not in SERVER_ONLY}
    return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}


def from_store(data: Any) -> View:
    """The view in a dcc.Store. The store is the client's to change: anything but a view the API would accept
    (View.__post_init__) is a BadParameter naming the parameter, which the server answers with a 400."""
    if data is None:
        return View()
    if not isinstance(data, Mapping):
        raise BadParameter("view", "must be an object")
    fields = View.__dataclass_fields__
    # The server's fields (the access scope) are as unknown to a browser as any other name it invents.
    unknown = [str(k)[:40] for k in data if k not in fields or k in SERVER_ONLY]
    if unknown:
        raise BadParameter("view", f"unknown fields: {', '.join(unknown[:5])}")
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
    return View(**values)


# --- an alert's view -----------------------------------------------------------


ALERT_CONTEXT = 24 * 3600  # shown before the hour an alert's window began: what was usual before it
ALERT_STACK = {"user": "machines", "machine": "users", "user_machine": "users", "machine_type": "machines"}


def alert_view(
    subject: Mapping[str, str], first_hour: int, end_hour: int, direction: str, defaults: View
) -> tuple[tuple[str, ...], str]:
    """(path segments, query string) of the dashboard view that shows an alert: its subject (names by field:
    user, machine, machine_type, role; none for the whole server) selected, on a user's or machine's profile page
    when it names one, from a day before its window to the end of its latest hour, in its direction, stacked by
    what the subject is not. The one place the alerts' links are made (messages, the alerts panel and page)."""
    kind = "user_machine" if {"user", "machine"} <= set(subject) else next(iter(subject), "server")
    view = replace(
        defaults,
        direction=direction if direction in DIRECTIONS else defaults.direction,
        stack=ALERT_STACK.get(kind, "users"),
        machines=(subject["machine"],) if kind == "user_machine" else (),
        machine_types=(subject["machine_type"],) if "machine_type" in subject else (),
        roles=(subject["role"],) if "role" in subject else (),
        users=(),
        sizes=(),
        profile=None,
    ).with_range(first_hour - ALERT_CONTEXT, end_hour)
    if "user" in subject:
        return ("user", subject["user"]), to_query(view, defaults)
    if "machine" in subject:
        return ("machine", subject["machine"]), to_query(view, defaults)
    return (), to_query(view, defaults)


def alert_view_in(tz: str) -> Callable[[Mapping[str, str], int, int, str], tuple[tuple[str, ...], str]]:
    """alert_view with the dashboard's defaults in the display zone `tz` (for the alerts' messages)."""
    return functools.partial(alert_view, defaults=View(tz=tz))

"""The dashboard's whole view as one value, and its round trip through the URL query string.

The URL is the source of truth: every interaction produces a new `View`, the
view is written to the query string (so a copied link, a bookmark and the
browser's back button all restore it) and the panels read it back from a
dcc.Store. Only values that differ from the defaults are written, so a
plain `/` is the default dashboard and links stay short.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from urllib.parse import parse_qs, quote, urlencode

from clusterdash.db import sizes
from clusterdash.db.periods import hour_of

PRESETS = {"24h": 24 * 3600, "7d": 7 * 86400, "30d": 30 * 86400, "90d": 90 * 86400, "all": None}
DEFAULT_PRESET = "7d"
CUSTOM = "custom"
DIRECTIONS = ("both", "rd", "wr")
METRICS = ("ops", "bytes")
STACK_DIMENSIONS = ("users", "machines", "machine_types", "roles")
DEFAULT_TOP = 8

# A cross-filter dimension: its field on View, its URL key and its name for people. One place, used everywhere.
DIMENSIONS = {
    "users": ("user", "user"),
    "machines": ("machine", "machine"),
    "machine_types": ("type", "machine type"),
    "roles": ("role", "role"),
    "sizes": ("size", "IO size"),
}


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
    # Set by /user/<name> or /machine/<name>: show that profile card.
    profile: tuple[str, str] | None = field(default=None)

    # --- selections -------------------------------------------------------

    def selected(self, dimension: str) -> tuple[str, ...]:
        return getattr(self, dimension)

    def has_selections(self) -> bool:
        return any(self.selected(d) for d in DIMENSIONS) or self.preset == CUSTOM

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
        """Clear all selections; keep how the data is looked at (metric, direction, zone, stacking)."""
        return replace(self, preset=DEFAULT_PRESET, start=None, end=None, profile=None, **dict.fromkeys(DIMENSIONS, ()))

    def with_range(self, start: int, end: int) -> View:
        # Whole minutes, so the range survives its round trip through the URL unchanged.
        low, high = int(min(start, end)), int(max(start, end))
        return replace(self, preset=CUSTOM, start=low - low % 60, end=high + (-high) % 60)

    def with_preset(self, preset: str) -> View:
        if preset not in PRESETS:
            return self
        return replace(self, preset=preset, start=None, end=None)

    def window(self, latest: int | None) -> tuple[int | None, int | None]:
        """The time range as (start inclusive, end exclusive) UTC epochs; None is open.

        Presets end at the latest stored hour, not at the wall clock: the demo data
        lies in the past, and a stalled ingest shows as an old "last block" in the data
        health panel rather than as an empty dashboard.
        """
        if self.preset == CUSTOM:
            return self.start, self.end
        span = PRESETS.get(self.preset)
        if span is None or latest is None:
            return None, None
        # The latest block reports the hour before its epoch (db.periods.hour_of): the window is the `span`
        # seconds of whole hours that end with that hour.
        end = hour_of(latest) + 3600
        return end - span, end


# --- URL ---------------------------------------------------------------------


def _iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%MZ")


def _parse_iso(text: str) -> int | None:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return int(value.timestamp())


def to_query(view: View, defaults: View) -> str:
    """The query string for `view` ('' or '?a=b&...'), holding only what differs from `defaults`."""
    pairs: list[tuple[str, str]] = []
    if view.preset == CUSTOM and view.start is not None and view.end is not None:
        pairs += [("from", _iso(view.start)), ("to", _iso(view.end))]
    elif view.preset != defaults.preset:
        pairs.append(("range", view.preset))
    for name, key in (("direction", "dir"), ("metric", "metric"), ("tz", "tz"), ("stack", "stack"), ("top", "top")):
        if getattr(view, name) != getattr(defaults, name):
            pairs.append((key, str(getattr(view, name))))
    for dimension in DIMENSIONS:
        for value in view.selected(dimension):
            pairs.append((url_key(dimension), sizes.short_form(value) if dimension == "sizes" else value))
    return "?" + urlencode(pairs, quote_via=quote, safe="/:") if pairs else ""


def from_url(pathname: str | None, search: str | None, defaults: View, known_sizes: Iterable[str] = ()) -> View:
    """The view a URL describes. Anything unreadable falls back to the default, never an error page."""
    args: Mapping[str, list[str]] = parse_qs((search or "").lstrip("?"), keep_blank_values=False)

    def one(key: str, allowed: Iterable[str] | None = None) -> str | None:
        values = args.get(key)
        if not values:
            return None
        return values[-1] if allowed is None or values[-1] in allowed else None

    changes: dict = {}
    start, end = _parse_iso(one("from") or ""), _parse_iso(one("to") or "")
    if start is not None and end is not None and start != end:
        changes.update(preset=CUSTOM, start=min(start, end), end=max(start, end))
    elif one("range", PRESETS):
        changes["preset"] = one("range", PRESETS)
    if one("dir", DIRECTIONS):
        changes["direction"] = one("dir", DIRECTIONS)
    if one("metric", METRICS):
        changes["metric"] = one("metric", METRICS)
    if one("tz"):
        changes["tz"] = one("tz")
    if one("stack", STACK_DIMENSIONS):
        changes["stack"] = one("stack", STACK_DIMENSIONS)
    if (one("top") or "").isdigit():
        changes["top"] = max(1, min(30, int(one("top"))))
    known_sizes = list(known_sizes)
    for dimension in DIMENSIONS:
        values = args.get(url_key(dimension), [])
        if dimension == "sizes":  # a form the stored buckets do not know stays as typed: its chip shows no IO
            values = [sizes.bucket_label(v, known_sizes) or v for v in values]
        changes[dimension] = tuple(dict.fromkeys(v for v in values if v))  # drop repeats, keep order
    view = replace(defaults, **changes)
    return _with_profile_path(view, pathname or "/")


def _with_profile_path(view: View, pathname: str) -> View:
    """/user/<name> and /machine/<name>: the dashboard on that one user or machine, with its profile card."""
    from urllib.parse import unquote

    parts = [p for p in pathname.split("/") if p]
    if len(parts) >= 2 and parts[-2] in ("user", "machine"):
        kind, name = parts[-2], unquote(parts[-1])
        dimension = "users" if kind == "user" else "machines"
        return replace(view, **{dimension: (name,)}, profile=(kind, name))
    return view


def to_store(view: View) -> dict:
    """JSON for the dcc.Store the panels read."""
    data = {name: getattr(view, name) for name in View.__dataclass_fields__}
    return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}


def from_store(data: Mapping | None) -> View:
    if not data:
        return View()
    fields = View.__dataclass_fields__
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in fields}
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

"""The dashboard's whole view as one value, and its round trip through the URL query string.

The URL is the source of truth: every interaction produces a new `View`, the
view is written to the query string (so a copied link, a bookmark and the
browser's back button all restore it) and the panels read it back from a
dcc.Store. Only values that differ from the defaults are written, so a
plain `/` is the default dashboard and links stay short.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from urllib.parse import parse_qs, quote, urlencode

from clusterdash.db import sizes
from clusterdash.db.periods import ceil_hour, floor_hour, hour_of

PRESETS = {"24h": 24 * 3600, "7d": 7 * 86400, "30d": 30 * 86400, "90d": 90 * 86400, "all": None}
DEFAULT_PRESET = "7d"
CUSTOM = "custom"
DIRECTIONS = ("both", "rd", "wr")
METRICS = ("ops", "bytes")
STACK_DIMENSIONS = ("users", "machines", "machine_types", "roles")
DEFAULT_TOP = 8
# The user x machine table's columns (web/usertable.py): `sort` names one, "-" first for descending.
SORT_COLUMNS = ("user", "role", "machine", "machine_type", "operations", "est_bytes", "small_share")

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
    sort: str = ""  # the table's sort: a column of SORT_COLUMNS, "-" first for descending; "" the server's order
    # Set by /user/<name> or /machine/<name>: show that profile card.
    profile: tuple[str, str] | None = field(default=None)

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
        return replace(self, preset=CUSTOM, start=low, end=max(high, low + 3600))

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
    if view.sort != defaults.sort:
        pairs.append(("sort", view.sort))
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
    if (one("sort") or "").lstrip("-") in SORT_COLUMNS:
        changes["sort"] = one("sort")
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

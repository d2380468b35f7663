"""What each interaction does to the view: plain functions from (event, current view) to the next view.

The one callback that owns the URL calls `next_view` with whichever input fired; the
rules live here so they can be tested (and benchmarked) without a browser:

* a click on a bar or heatmap cell: plain click selects only that value (clicking the only
  selected value again clears it); shift-click (or ctrl/cmd-click) toggles it, keeping the rest;
* dragging a span across a time axis sets a custom range, snapped to the nearest whole hours (the data
  is hourly: the chip then says exactly what is shown);
* the range editor ("Custom") sets a range from a date and an hour at each end, in the display zone; an
  end not after the start is refused with a message (BadParameter) and the view stays as it was;
* "back" (or a double-click on the time chart) returns to the previous range, "reset" to the default one;
* a chip's x removes that one selection; "Clear all" removes every selection but keeps the time range;
* sorting the table sets the view's sort (in the URL, so a link and back/forward restore it);
* a new URL (opened link, back/forward) replaces the view wholesale.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import date, datetime
from typing import Any, NamedTuple
from urllib.parse import quote

from clusterdash.db.periods import HOUR, zone
from clusterdash.db.timerange import MAX_EPOCH
from clusterdash.errors import BadParameter
from clusterdash.web import format as fmt
from clusterdash.web import state
from clusterdash.web.figures import epoch_from_local
from clusterdash.web.ids import ID

CONTROL_FIELDS = {
    ID.direction: "direction",
    ID.metric: "metric",
    ID.tz: "tz",
    ID.series_stack: "stack",
    ID.series_top: "top",
}
# The inputs after which the range editor shows the view's range again (and closes unless the view is custom).
RANGE_TRIGGERS = (
    ID.url,
    ID.preset,
    ID.range_apply,
    ID.range_cancel,
    ID.range_back,
    ID.range_reset,
    *ID.TIME_AXES,
)
HISTORY_LIMIT = 20  # ranges "back" can return to
# The editor's fields, as `values` holds them.
FROM_DATE, FROM_HOUR, TO_DATE, TO_HOUR = "from.date", "from.hour", "to.date", "to.hour"
# What a profile link leaves out (it names its zone always: the server that opens it may show another zone by
# default).
LINK_DEFAULTS = state.View()


def next_view(
    trigger: Any, values: Mapping[str, Any], current: state.View, defaults: state.View, known_sizes=()
) -> state.View:
    """The view after the input `trigger` (a component id, or a pattern-matching id dict) fired.

    `values` maps each input's id (or "id.prop") to its new value; `current` is the view before. Raises
    BadParameter for a range the editor cannot apply.
    """
    if trigger is None or trigger == ID.url:
        return state.from_url(values.get("url.pathname"), values.get("url.search"), defaults, known_sizes)
    if isinstance(trigger, Mapping) and trigger.get("type") == ID.chip_remove:
        return current.remove(trigger["dimension"], trigger["value"])
    if trigger == ID.clear:
        return current.clear()
    if trigger == ID.preset:
        preset = values.get(ID.preset)
        return current if preset == state.CUSTOM else current.with_preset(preset)
    if trigger == ID.range_apply:
        return current.with_range(*editor_range(values, current.tz))
    if trigger == ID.range_back:
        history = values.get(ID.range_history) or []
        return with_range_of(current, history[-1]) if history else current
    if trigger == ID.range_reset:
        return replace(current, preset=defaults.preset, start=None, end=None)
    if trigger == ID.table:
        return replace(current, sort=sort_of(values.get(ID.table)))
    if trigger in CONTROL_FIELDS:
        value = values.get(trigger)
        return replace(current, **{CONTROL_FIELDS[trigger]: value}) if value not in (None, "") else current
    if trigger == ID.click:
        click = values.get(ID.click) or {}
        dimension = ID.CLICKABLE.get(click.get("graph")) or ID.TABLE_COLUMNS.get(click.get("column"))
        if not dimension or not click.get("value"):
            return current
        return current.click(dimension, click["value"], add=bool(click.get("add")))
    if trigger in ID.TIME_AXES:
        span = drag_range(values.get(trigger), current.tz)
        return current.with_range(*span) if span else current
    return current


# -- the time range ---------------------------------------------------------------------------------------------


def drag_range(relayout: Mapping | None, tz: str) -> tuple[int, int] | None:
    """The UTC span a drag across a time axis selected, from plotly's relayoutData, snapped to the nearest whole
    hours (at least one); None for anything else (autosize, a double-click reset, a zoom on the other axis)."""
    if not relayout:
        return None
    low, high = relayout.get("xaxis.range[0]"), relayout.get("xaxis.range[1]")
    if low is None and isinstance(relayout.get("xaxis.range"), (list, tuple)):
        low, high = relayout["xaxis.range"][:2]
    if low is None or high is None:
        return None
    try:
        start, end = sorted((epoch_from_local(str(low), tz), epoch_from_local(str(high), tz)))
    except (ValueError, TypeError):
        return None
    start, end = (start + HOUR // 2) // HOUR * HOUR, (end + HOUR // 2) // HOUR * HOUR
    return start, max(end, start + HOUR)


def editor_range(values: Mapping[str, Any], tz: str) -> tuple[int, int]:
    """The UTC span the range editor describes: from and to, each a date and an hour in the zone `tz`. Raises
    BadParameter naming the end that cannot be used."""
    start = _local_hour(values.get(FROM_DATE), values.get(FROM_HOUR), tz, "start", "from")
    end = _local_hour(values.get(TO_DATE), values.get(TO_HOUR), tz, "end", "to")
    if end <= start:
        raise BadParameter(
            "end", f"the end ({fmt.when(end, tz)}) is not after the start ({fmt.when(start, tz)}): nothing changed"
        )
    return start, end


def _local_hour(day: Any, hour: Any, tz: str, name: str, label: str) -> int:
    """The epoch of an editor's end (`label`, as the editor says it), BadParameter naming its parameter `name`."""
    if not day or hour is None or hour == "":
        raise BadParameter(name, f"pick a date and an hour for “{label}”: nothing changed")
    try:
        picked, at = date.fromisoformat(str(day)[:10]), int(hour)
    except (ValueError, TypeError):
        raise BadParameter(name, f"cannot read {str(day)[:20]!r} at {str(hour)[:5]!r} as a date and an hour") from None
    if not 0 <= at <= 23:
        raise BadParameter(name, f"the hour must be 0 to 23, not {at}")
    epoch = int(datetime(picked.year, picked.month, picked.day, at, tzinfo=zone(tz)).timestamp())
    if not 0 <= epoch <= MAX_EPOCH:
        raise BadParameter(name, f"{picked.isoformat()} is out of range (1970 to 9999)")
    return epoch


def editor_fields(window: tuple[int | None, int | None], tz: str) -> dict[str, Any]:
    """What the editor shows for a window: each end's date and hour in the zone `tz` (None where open)."""
    fields: dict[str, Any] = {}
    for (day_key, hour_key), epoch in zip(((FROM_DATE, FROM_HOUR), (TO_DATE, TO_HOUR)), window):
        local = None if epoch is None else datetime.fromtimestamp(epoch, zone(tz))
        fields[day_key] = local and local.date().isoformat()
        fields[hour_key] = local and local.hour
    return fields


def range_of(view: state.View) -> dict[str, Any]:
    """The view's time range as the history keeps it."""
    return {"preset": view.preset, "start": view.start, "end": view.end}


def with_range_of(view: state.View, kept: Mapping[str, Any]) -> state.View:
    if kept.get("preset") == state.CUSTOM and kept.get("start") is not None and kept.get("end") is not None:
        return replace(view, preset=state.CUSTOM, start=int(kept["start"]), end=int(kept["end"]))
    return view.with_preset(str(kept.get("preset")))


def history_after(trigger: Any, history: Sequence[Mapping] | None, before: state.View, after: state.View):
    """The ranges "back" returns to, after `trigger` took the view from `before` to `after`; None: unchanged.
    Every change of range remembers the one before; "back" forgets it. `history` is None until the page's
    first view is shown: that one has nothing before it."""
    if history is None or trigger is None:
        return []
    if trigger == ID.range_back:
        return list(history[:-1]) if history else None
    if range_of(before) == range_of(after):
        return None
    return [*history, range_of(before)][-HISTORY_LIMIT:]


# -- the table's sort ---------------------------------------------------------------------------------------------


def sort_of(sort_by: Sequence[Mapping] | None) -> str:
    """The view's sort from the DataTable's sort_by ([{column_id, direction}]): 'operations', '-operations', ''."""
    for item in sort_by or ():
        column = item.get("column_id")
        if column in state.SORT_COLUMNS:
            return ("-" if item.get("direction") == "desc" else "") + column
    return ""


def sort_by(view: state.View) -> list[dict[str, str]]:
    if not view.sort:
        return []
    column = view.sort.lstrip("-")
    return [{"column_id": column, "direction": "desc" if view.sort.startswith("-") else "asc"}]


# -- chips and links ----------------------------------------------------------------------------------------------


class Chip(NamedTuple):
    dimension: str
    value: str
    text: str
    href: str | None  # the profile link of a user, machine or job chip


PROFILE_KINDS = {dimension: kind for kind, dimension in state.PROFILES.items()}  # users -> user, ...


def chips(view: state.View) -> list[Chip]:
    """A chip for every active selection, the custom time range first."""
    items = []
    if view.preset == state.CUSTOM and view.start is not None and view.end is not None:
        items.append(Chip("time", "", f"time: {fmt.span(view.start, view.end, view.tz)}", None))
    for dimension in state.DIMENSIONS:
        kind = PROFILE_KINDS.get(dimension)
        for value in view.selected(dimension):
            href = profile_href(view, kind, value) if kind else None
            items.append(Chip(dimension, value, f"{state.dimension_label(dimension)}: {value}", href))
    return items


def profile_href(view: state.View, kind: str, name: str) -> str:
    """The link to /user/<name>, /machine/<name> or /job/<id> that keeps the view: its range, zone, filters and how
    it is drawn (not the table's sort: the page's table links have none to keep). The profile's own dimension is
    narrowed to that one name."""
    return profile_links(view)(kind, name)


def profile_links(view: state.View) -> Callable[[str, str], str]:
    """profile_href for many names of one view (the table's every row): a profile's query is the same for every
    name of its kind (the name is in the path), so it is written once per kind."""
    queries: dict[str, str] = {}

    def link(kind: str, name: str) -> str:
        if kind not in queries:
            dimension = state.PROFILES[kind]
            narrowed = replace(view, **{dimension: ()}, profile=None, sort="")
            queries[kind] = url_for(narrowed, LINK_DEFAULTS, with_zone=True)[1]
        return f"/{kind}/{quote(name, safe='')}{queries[kind]}"

    return link


def exact_link(view: state.View, window: tuple[int | None, int | None], href: str, defaults: state.View) -> str:
    """The absolute link to the view with its range pinned to `window` (start and end in UTC, and the zone, in the
    URL): it shows the same hours tomorrow, on any server. `href` is the page's address (its scheme and host are
    kept)."""
    origin = href.split("://", 1)
    base = origin[0] + "://" + origin[1].split("/", 1)[0] if len(origin) == 2 else ""
    start, end = window
    pinned = view if start is None or end is None else replace(view, preset=state.CUSTOM, start=start, end=end)
    pathname, search = url_for(pinned, defaults, with_zone=True)
    return base + pathname + search


def url_for(view: state.View, defaults: state.View, with_zone: bool = False) -> tuple[str, str]:
    """(pathname, search) for a view: /user/<name>, /machine/<name> and /job/<id> stay while their one selection
    does."""
    if view.profile:
        kind, name = view.profile
        dimension = state.PROFILES[kind]
        if view.selected(dimension) == (name,):
            query = state.to_query(replace(view, **{dimension: ()}), defaults, with_zone)
            return f"/{kind}/{quote(name, safe='')}", query
    return "/", state.to_query(view, defaults, with_zone)

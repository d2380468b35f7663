"""What each interaction does to the view: plain functions from (event, current view) to the next view.

The one callback that owns the URL calls `next_view` with whichever input fired; the
rules live here so they can be tested (and benchmarked) without a browser:

* a click on a bar or heatmap cell: plain click selects only that value (clicking the only
  selected value again clears it); shift-click (or ctrl/cmd-click) toggles it, keeping the rest;
* dragging a span across a time axis sets a custom time range;
* picking dates sets a custom range of whole days in the display time zone;
* a chip's x removes that one selection; "Clear all" removes every selection;
* a new URL (opened link, back/forward) replaces the view wholesale.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from clusterdash.errors import BadParameter
from clusterdash.web import format as fmt
from clusterdash.web import state
from clusterdash.web.figures import epoch_from_local
from clusterdash.web.layout import ID

CONTROL_FIELDS = {
    ID.direction: "direction",
    ID.metric: "metric",
    ID.tz: "tz",
    ID.series_stack: "stack",
    ID.series_top: "top",
}


def next_view(
    trigger: Any, values: Mapping[str, Any], current: state.View, defaults: state.View, known_sizes=()
) -> state.View:
    """The view after the input `trigger` (a component id, or a pattern-matching id dict) fired.

    `values` maps each input's id (or "id.prop") to its new value; `current` is the view before.
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
    if trigger == ID.range:
        span = dates_to_range(values.get("range.start_date"), values.get("range.end_date"), current.tz)
        return current.with_range(*span) if span else current
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
        span = relayout_range(values.get(trigger), current.tz)
        return current.with_range(*span) if span else current
    return current


def relayout_range(relayout: Mapping | None, tz: str) -> tuple[int, int] | None:
    """The UTC span a drag across a time axis selected, from plotly's relayoutData; None for anything else
    (autosize, a double-click reset, a zoom on the other axis)."""
    if not relayout:
        return None
    low, high = relayout.get("xaxis.range[0]"), relayout.get("xaxis.range[1]")
    if low is None and isinstance(relayout.get("xaxis.range"), (list, tuple)):
        low, high = relayout["xaxis.range"][:2]
    if low is None or high is None:
        return None
    try:
        return epoch_from_local(str(low), tz), epoch_from_local(str(high), tz)
    except (ValueError, TypeError):
        return None


def dates_to_range(start_date: str | None, end_date: str | None, tz: str) -> tuple[int, int] | None:
    """Whole days from the date picker, both ends included, as a UTC span in the display zone."""
    if not start_date or not end_date:
        return None
    try:
        first = date.fromisoformat(str(start_date)[:10])
        last = date.fromisoformat(str(end_date)[:10])
    except ValueError:
        return None
    if last < first:  # typed in the picker's fields: say so rather than guess which one was meant
        raise BadParameter("end", f"the end date {last} is before the start date {first}")
    zone = ZoneInfo(tz)
    start = datetime(first.year, first.month, first.day, tzinfo=zone)
    end_day = last + timedelta(days=1)
    end = datetime(end_day.year, end_day.month, end_day.day, tzinfo=zone)
    return int(start.timestamp()), int(end.timestamp())


def picker_dates(view: state.View, latest: int | None) -> tuple[str | None, str | None]:
    """The dates the picker shows: the days the current range touches, in the display zone."""
    start, end = view.window(latest)
    if start is None or end is None:
        return None, None
    zone = ZoneInfo(view.tz)
    first = datetime.fromtimestamp(start, zone).date()
    last = datetime.fromtimestamp(end - 1, zone).date()
    return first.isoformat(), last.isoformat()


def chips(view: state.View) -> list[tuple[str, str, str]]:
    """(dimension, value, text) for every active selection, the custom time range first."""
    items = []
    if view.preset == state.CUSTOM and view.start is not None and view.end is not None:
        items.append(("time", "", f"time: {fmt.when(view.start, view.tz, False)} – {fmt.when(view.end, view.tz)}"))
    for dimension in state.DIMENSIONS:
        for value in view.selected(dimension):
            items.append((dimension, value, f"{state.dimension_label(dimension)}: {value}"))
    return items


def url_for(view: state.View, defaults: state.View) -> tuple[str, str]:
    """(pathname, search) for a view: /user/<name>, /machine/<name> and /job/<id> stay while their one selection
    does."""
    if view.profile:
        kind, name = view.profile
        dimension = state.PROFILES[kind]
        if view.selected(dimension) == (name,):
            from urllib.parse import quote

            return f"/{kind}/{quote(name, safe='')}", state.to_query(replace(view, **{dimension: ()}), defaults)
    return "/", state.to_query(view, defaults)

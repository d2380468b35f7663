"""The view callback's inputs, checked by the API's rules (db/vocabulary.py) before the view changes.

A request to Dash's callback route can carry anything in place of a control's value. A value no control of the
page can produce (a dict where a name belongs, top="abc", a time zone "../../etc/passwd", a million chips) is a
BadParameter naming the parameter, which the server answers with a 400 (web/limits.py). What a person can get wrong
in the page passes here and is refused where it is used: a range typed in the range editor whose end is not after
its start, or a year the page cannot show (interactions.editor_range), is said beside the editor; a drag past the
year 9999 (state.View) in the notice; the view stays as it was.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from typing import Any

from clusterdash.db.periods import zone
from clusterdash.db.vocabulary import MAX_TEXT, MAX_VALUES, check_integer, check_text
from clusterdash.errors import BadParameter
from clusterdash.web import interactions, state
from clusterdash.web.ids import ID

DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")  # the date pickers' form
MAX_RELAYOUT = 64  # keys of a plotly relayoutData (a drag sends 2 to 4)
CLICK_KEYS = {"graph", "column", "value", "add", "at"}
# The buttons among the view's inputs (a change of n_clicks), by the name a bad value is reported under.
BUTTONS = {
    ID.clear: "clear",
    ID.range_text: "edit",
    ID.range_apply: "apply",
    ID.range_cancel: "cancel",
    ID.range_back: "back",
    ID.range_reset: "reset",
}
# The range editor's fields (a date picker and an hour dropdown at each end), by the parameter each end sets.
EDITOR_FIELDS = {
    "start": (interactions.FROM_DATE, interactions.FROM_HOUR),
    "end": (interactions.TO_DATE, interactions.TO_HOUR),
}

# input key (callbacks.VIEW_INPUTS) -> (the parameter to name, the values a control can produce; None: by kind)
CHOICES: dict[str, tuple[str, tuple[str, ...]]] = {
    ID.preset: ("range", (*state.PRESETS, state.CUSTOM)),
    ID.direction: ("direction", state.DIRECTIONS),
    ID.metric: ("metric", state.METRICS),
    ID.series_stack: ("group_by", state.STACK_DIMENSIONS),
}


def check_view_inputs(values: Mapping[str, Any]) -> None:
    """BadParameter for the first value in `values` (the view callback's inputs by key) that no control of the
    page can produce; None (a control not shown) is always fine."""
    for key in ("url.pathname", "url.search"):
        _text(values.get(key), "url", state.MAX_URL)
    for key, (name, allowed) in CHOICES.items():
        value = values.get(key)
        if value is not None and (not isinstance(value, str) or value not in allowed):
            raise BadParameter(name, f"must be one of {', '.join(allowed)}, not {str(value)[:30]!r}")
    for name, (day_key, hour_key) in EDITOR_FIELDS.items():
        _editor_end(name, values.get(day_key), values.get(hour_key))
    if values.get(ID.tz) is not None:
        zone(values[ID.tz])
    if values.get(ID.series_top) is not None:
        check_integer("top", values[ID.series_top])
    _click(values.get(ID.click))
    for key in ID.TIME_AXES:
        relayout = values.get(key)
        if relayout is not None and (not isinstance(relayout, dict) or len(relayout) > MAX_RELAYOUT):
            raise BadParameter("relayoutData", f"must be an object of at most {MAX_RELAYOUT} keys")
    chips = values.get("chips")
    if chips is not None and (
        not isinstance(chips, list)
        or len(chips) > 5 * MAX_VALUES + 1
        or not all(c is None or (isinstance(c, int) and not isinstance(c, bool)) for c in chips)
    ):
        raise BadParameter("chips", "must be a list of click counts")
    for key, name in BUTTONS.items():
        if not _count(values.get(key)):
            raise BadParameter(name, "must be a click count")
    check_sort_by(values.get(ID.table))
    check_history(values.get(ID.range_history))


def check_copy_inputs(href: Any, sort_by: Any) -> None:
    """The inputs of "Copy link to this exact window": the page's address and the table's sort."""
    _text(href, "url", state.MAX_URL)
    check_sort_by(sort_by)


def check_sort_by(sort_by: Any) -> None:
    """The table's sort_by, as a single-column sort sets it: [] or [{column_id, direction}] of a column it has."""
    if sort_by is None:
        return
    if not isinstance(sort_by, list) or len(sort_by) > 1:
        raise BadParameter("table_sort", "must list at most one column")
    for item in sort_by:
        if (
            not isinstance(item, dict)
            or set(item) != {"column_id", "direction"}
            or item["column_id"] not in state.SORT_COLUMNS
            or item["direction"] not in ("asc", "desc")
        ):
            raise BadParameter(
                "table_sort", f"must be {{column_id, direction}}: one of {', '.join(state.SORT_COLUMNS)}"
            )


def check_history(history: Any) -> None:
    """The ranges "back" returns to (interactions.history_after): each a range a view can hold."""
    if history is None:
        return
    if not isinstance(history, list) or len(history) > interactions.HISTORY_LIMIT:
        raise BadParameter("history", f"must list at most {interactions.HISTORY_LIMIT} time ranges")
    for kept in history:
        if not isinstance(kept, dict) or set(kept) != {"preset", "start", "end"}:
            raise BadParameter("history", "a time range is {preset, start, end}")
        try:
            state.View(preset=kept["preset"], start=kept["start"], end=kept["end"])
        except BadParameter as exc:
            raise BadParameter("history", exc.message) from None


def _editor_end(name: str, day: Any, hour: Any) -> None:
    """A date as the date picker sets it (YYYY-MM-DD) and an hour of the dropdown (0 to 23); None: not picked. A
    date the page cannot show (year 1) is the editor's to say (interactions.editor_range)."""
    if day is not None:
        _text(day, name, 10)
        try:
            date.fromisoformat(day if DATE.match(day) else "")
        except ValueError:
            raise BadParameter(name, f"the date must be YYYY-MM-DD, not {day!r}") from None
    if hour is not None and (not _count(hour) or hour > 23):
        raise BadParameter(name, "the hour must be a whole number from 0 to 23")


def _count(value: Any) -> bool:
    """None or a whole number not below 0 (a click count, an hour)."""
    return value is None or (isinstance(value, int) and not isinstance(value, bool) and value >= 0)


def _text(value: Any, name: str, longest: int) -> None:
    if value is not None and (not isinstance(value, str) or len(value) > longest):
        raise BadParameter(name, f"must be text of at most {longest} characters")


def _click(click: Any) -> None:
    """A click on a chart or a table cell, as assets/clusterdash.js reports it: {graph, column, value, add, at}."""
    if click is None:
        return
    if not isinstance(click, dict) or not set(click) <= CLICK_KEYS:
        raise BadParameter("click", "must be {graph, column, value, add, at}")
    for key in ("graph", "column"):
        if click.get(key) is not None:
            _text(click[key], "click", 100)
    if click.get("value") is not None:
        check_text("click", click["value"])
        if len(click["value"]) > MAX_TEXT:
            raise BadParameter("click", "value too long")
    if not isinstance(click.get("add", False), bool):
        raise BadParameter("click", "add must be true or false")


def check_trigger(trigger: Any) -> None:
    """The input that fired: a component id, or a chip's remove button, {type, dimension, value}."""
    if isinstance(trigger, Mapping):
        if trigger.get("type") != ID.chip_remove or trigger.get("dimension") not in (*state.DIMENSIONS, "time"):
            raise BadParameter("chips", "a chip is {type, dimension, value} of a selection shown")
        check_text("chips", trigger.get("value"))
    elif trigger is not None and not isinstance(trigger, str):
        raise BadParameter("changedPropIds", "must name an input of the callback")

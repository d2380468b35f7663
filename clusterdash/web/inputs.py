"""The view callback's inputs, checked by the API's rules (db/vocabulary.py) before the view changes.

A request to Dash's callback route can carry anything in place of a control's value. A value no control of the
page can produce (a dict where a name belongs, top="abc", a time zone "../../etc/passwd", a million chips) is a
BadParameter naming the parameter, which the server answers with a 400 (web/limits.py). What a person can get wrong
in the page (a custom range whose end is before its start) passes here and is refused by the view itself
(state.View), which the view callback shows as a message, the view unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from clusterdash.db.periods import zone
from clusterdash.db.vocabulary import MAX_TEXT, MAX_VALUES, check_integer, check_text
from clusterdash.errors import BadParameter
from clusterdash.web import state
from clusterdash.web.layout import ID

MAX_RELAYOUT = 64  # keys of a plotly relayoutData (a drag sends 2 to 4)
CLICK_KEYS = {"graph", "column", "value", "add", "at"}

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
    for key, name in (("range.start_date", "start"), ("range.end_date", "end")):
        _text(values.get(key), name, 40)
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
    clear = values.get(ID.clear)
    if clear is not None and (not isinstance(clear, int) or isinstance(clear, bool)):
        raise BadParameter("clear", "must be a click count")


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

"""Each panel's callback body: a View in, the panel's content out, through db.query (no SQL here).

The crossfilter rule lives in `filters_for`: a panel is filtered by every selection except those on
its own dimension (`without`), so the users chart keeps showing the other users, with the selected
ones highlighted. These are plain functions of (engine, view): the callbacks call them, and so does
scripts/bench_dashboard.py, which times exactly what a callback runs.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import fields, is_dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from clusterdash.db import query
from clusterdash.db.filters import Filters
from clusterdash.errors import BadParameter
from clusterdash.web import cards, coverage, figures, interactions, loadchart, state, timecharts

TOP_USERS = 20
TOP_MACHINES = 20
TOP_LOAD = 20
HOURLY_UP_TO_HOURS = query.HOURLY_UP_TO_HOURS  # (query.choose_bucket's rule: the series chooses by it)
HEATMAP_DAILY_UP_TO_DAYS = 35
GROUP_BY = {"users": "user", "machines": "machine", "machine_types": "machine_type", "roles": "role"}
PLURALS = {"users": "users", "machines": "machines", "machine_types": "machine types", "roles": "roles"}
NO_WRITES = "No writes recorded in this time range: the tracer's write probe may be off"


def filters_for(
    view: state.View, latest: int | None, without: tuple[str, ...] = (), extent: tuple[int, int] | None = None
) -> Filters:
    """The query for a panel: the view's time range, held to the hours that have data (`extent`, the stored
    blocks' first and end hour: a range from 1970 to 5000 asks for the data's extent), its direction and zone,
    every selection not `without`, and whose IO the asker may see (view.visible_users, which the callbacks set
    from the signed-in principal)."""
    start, end = view.window(latest)
    chosen = {d: () if d in without else view.selected(d) for d in state.DIMENSIONS}
    return Filters(
        start=start, end=end, direction=view.direction, tz=view.tz, visible_users=view.visible_users, **chosen
    ).held_to(extent)


def _value(row: dict, metric: str) -> float:
    return (row.get("bytes") or 0.0) if metric == "bytes" else row.get("operations") or 0


def _heatmap_bucket(filters: Filters) -> str:
    """Hours up to 8 days, days up to HEATMAP_DAILY_UP_TO_DAYS, then weeks (an open range too)."""
    start, end = filters.start, filters.end
    if start is None or end is None:
        return "week"
    if end - start <= HOURLY_UP_TO_HOURS * 3600:
        return "hour"
    return "day" if end - start <= HEATMAP_DAILY_UP_TO_DAYS * 86400 else "week"


def no_data_message(view: state.View, engine: Engine | None = None) -> str:
    """Why a panel of this view has nothing to show. With an engine, a writes-only view of a range where no write
    is recorded at all says that the write probe may be off."""
    if engine is not None and view.direction == "wr" and not writes_recorded(engine, view):
        return NO_WRITES
    if any(view.selected(d) for d in state.DIMENSIONS):
        return "No IO for this selection in this time range"
    return "No data in this time range"


# -- asking the query layer, through a small cache ----------------------------------------------------------------

_CACHE: OrderedDict[tuple, tuple[Any, int]] = OrderedDict()  # key -> (answer, its estimated bytes)
_CACHE_LOCK = threading.Lock()
CACHE_BYTES = 64 * 2**20  # per process: the answers kept, estimated by size_of
_cached_bytes = 0
_SCALARS = (str, int, float, type(None))


def answer(engine: Engine, question: Callable, view: state.View, without: tuple[str, ...] = (), **kwargs) -> Any:
    """question(conn, filters_for(view, latest, without, extent), **kwargs), remembered per data version.

    Crossfiltering asks the same question often: a click on a user leaves the users panel's own query
    unchanged (it ignores its own dimension), the users and roles panels ask the same thing while neither
    has a selection, back/forward revisits a view. The key holds the data version, so anything a new
    ingest changes is asked afresh, and the filters, so the asker's access scope (two people with different
    scopes never share an answer). `kwargs["bucket"] = "auto-sizes"` picks the heatmap's bucket for the range.
    The cache holds at most CACHE_BYTES of answers (the least recently used go first); an answer larger than a
    quarter of that is not kept.
    """
    global _cached_bytes
    with engine.connect() as conn:
        version = tuple(query.data_version(conn))
        filters = filters_for(view, version[0], without, query.data_extent(conn))
        if kwargs.get("bucket") == "auto-sizes":
            # Size detail per user or machine is kept per week and month, not per day: past a month, weekly
            # columns read those rollups instead of every raw histogram row.
            kwargs["bucket"] = _heatmap_bucket(filters)
        key = (id(engine), question.__name__, filters, tuple(sorted(kwargs.items())), version)
        with _CACHE_LOCK:
            if key in _CACHE:
                _CACHE.move_to_end(key)
                return _CACHE[key][0]
        result = question(conn, filters, **kwargs)
    size = size_of(result) + size_of(filters)
    if size > CACHE_BYTES // 4:
        return result
    with _CACHE_LOCK:
        if key not in _CACHE:
            _CACHE[key] = (result, size)
            _cached_bytes += size
        while _cached_bytes > CACHE_BYTES and _CACHE:
            _cached_bytes -= _CACHE.popitem(last=False)[1][1]
    return result


def question(engine: Engine, view: state.View, without: tuple[str, ...] = ()) -> tuple[Filters, tuple[int, int] | None]:
    """The Filters `answer` asks for this view now, and the stored data's extent (first hour, end hour)."""
    with engine.connect() as conn:
        extent = query.data_extent(conn)
        return filters_for(view, query.latest_block_epoch(conn), without, extent), extent


def cached_bytes() -> int:
    """The estimated bytes of the answers the cache holds."""
    return _cached_bytes


def size_of(value: Any, sample: int = 8) -> int:
    """About how many bytes `value` holds: containers walked (a dataclass by its fields), a list longer than
    2 x `sample` items measured on `sample` of them spread along it. Shared objects count each time: an
    estimate on the high side, cheap enough to run on every answer stored (~0.1 ms for a table of users)."""
    if isinstance(value, _SCALARS):
        return sys.getsizeof(value)
    if isinstance(value, dict):
        return sys.getsizeof(value) + sum(size_of(k) + size_of(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        n = len(value)
        if n > 2 * sample:
            picked = value[:: n // sample]
            return sys.getsizeof(value) + sum(size_of(v) for v in picked) * n // len(picked)
        return sys.getsizeof(value) + sum(size_of(v) for v in value)
    if isinstance(value, np.ndarray):
        return int(value.nbytes) + 112
    if is_dataclass(value) and not isinstance(value, type):
        return sys.getsizeof(value) + sum(size_of(getattr(value, f.name)) for f in fields(value))
    return sys.getsizeof(value)


def clear_cache() -> None:
    global _cached_bytes
    with _CACHE_LOCK:
        _CACHE.clear()
        _cached_bytes = 0


# -- what the view callback and the live check show besides the panels ------------------------------------------


def chips(view: state.View) -> list:
    return cards.chips(interactions.chips(view))


def live_status(engine: Engine, view: state.View) -> tuple[list, list]:
    with engine.connect() as conn:
        version = query.data_version(conn)
    latest = version[0]
    return version, cards.live_status(latest, None if latest is None else time.time() - latest, view.tz)


def writes_recorded(engine: Engine, view: state.View) -> bool:
    """Whether any write is stored in the view's time range, whoever did it: none at all is not a quiet server,
    it usually means the tracer's write probe is off. A fact about the tracer, like a gap, so it is asked of
    everyone's IO (visible_users=None) and only its yes or no leaves here."""
    everyone = replace(view, direction="wr", visible_users=None)
    rows = answer(engine, query.users_table, everyone, without=tuple(state.DIMENSIONS))
    return any(r["operations"] for r in rows)


# -- panels (results from the cache are shared: never modify them) --------------------------------------------------


def headline(engine: Engine, view: state.View) -> list:
    # Per user and per machine, not per pair: both have rollups at every grain, and while the view has no user
    # selection the users panel asks exactly this question (the cache answers the second one).
    user_rows = answer(engine, query.users_table, view)
    machine_rows = answer(engine, query.machines_table, view)
    totals = {
        "operations": sum(r["operations"] for r in user_rows),
        "small_operations": sum(r["small_operations"] for r in user_rows),
        "bytes": sum(r["bytes"] or 0 for r in user_rows),
        "users": sum(1 for r in user_rows if r["operations"]),
        "machines": sum(1 for r in machine_rows if r["operations"]),
        "direction": view.direction,
        "writes_recorded": view.direction == "rd" or writes_recorded(engine, view),
    }
    return cards.headline(totals, view.metric)


def series(engine: Engine, view: state.View):
    try:
        result = answer(engine, query.time_series, view, bucket=None, group_by=GROUP_BY[view.stack], top=view.top)
    except BadParameter as exc:  # more groups than an answer holds (query.MAX_POINTS): say so in the chart
        return figures.empty_figure(str(exc))
    column = "bytes" if view.metric == "bytes" else "operations"
    at = {b["epoch"]: i for i, b in enumerate(result["buckets"])}
    values: dict[str, list] = {group: [None] * len(at) for group in result["groups"]}
    for point in result["points"]:  # None where a bucket has no block: a gap, not zero IO
        values[point["group"]][at[point["epoch"]]] = point[column]
    return timecharts.stacked_series(
        values,
        coverage.buckets(result["buckets"], result["bucket"], view.tz),
        view.metric,
        view.tz,
        note=_series_note(engine, view, result["groups"]),
        empty_message=no_data_message(view, engine),
        markers=[(m["hour"], f"{m['rule']} ({m['severity']})") for m in answer(engine, query.alert_marks, view)],
    )


def _series_note(engine: Engine, view: state.View, groups: list[str]) -> str:
    """ "top 8 of 93 users" when the series sums the rest as "other". The count comes from the table the headline
    asks for the same view (one cached answer for both)."""
    if "other" not in groups:
        return ""
    by_machine = view.stack in ("machines", "machine_types")
    rows = answer(engine, query.machines_table if by_machine else query.users_table, view)
    key = GROUP_BY[view.stack]
    total = len({r[key] for r in rows if r["operations"]})
    return f"top {len(groups) - 1} of {total:,} {PLURALS[view.stack]}, the rest as “other”:"


def _ranking(
    rows: list[dict], name: str, view: state.View, limit: int, dimension: str, group: str | None = None
) -> tuple[pd.DataFrame, str]:
    """The top `limit` rows by the view's metric, plus any selected ones below the cut (they stay visible), and
    a note saying where the list is cut ("top 20 of 93 users")."""
    ranked = sorted((r for r in rows if _value(r, view.metric) > 0), key=lambda r: -_value(r, view.metric))
    kept, note = _cut(ranked, name, view, limit, dimension)
    data = {"name": [r[name] for r in kept], "value": [_value(r, view.metric) for r in kept]}
    if group:
        data[group] = [r[group] or "(none)" for r in kept]
    return pd.DataFrame(data), note


def _cut(ranked: list[dict], name: str, view: state.View, limit: int, dimension: str) -> tuple[list[dict], str]:
    """The first `limit` of `ranked` and the selected ones below them, and the note saying where the list is cut."""
    chosen = set(view.selected(dimension))
    below = [r for r in ranked[limit:] if r[name] in chosen]
    note = ""
    if len(ranked) > limit:
        note = f"top {limit} of {len(ranked):,} {PLURALS[dimension]}" + (
            f", and {len(below)} selected below them" if below else ""
        )
    return ranked[:limit] + below, note


def _grouped(rows: list[dict], key: str, view: state.View) -> pd.DataFrame:
    totals: dict[str, float] = {}
    for r in rows:
        totals[r[key] or "(none)"] = totals.get(r[key] or "(none)", 0) + _value(r, view.metric)
    return pd.DataFrame({"name": list(totals), "value": list(totals.values())})


def users(engine: Engine, view: state.View):
    rows = answer(engine, query.users_table, view, without=("users",))
    data, note = _ranking(rows, "user", view, TOP_USERS, "users")
    return figures.ranking_bar(
        data, "users", view.metric, view.users, empty_message=no_data_message(view, engine), note=note
    )


def load(engine: Engine, view: state.View):
    """Who loaded the server: every user's share of the operations and of the bytes, the top ones by the larger
    share. Like the users panel it ignores the user selection, whose users it highlights."""
    result = answer(engine, query.load_shares, view, without=("users",))
    kept, note = _cut(result["rows"], "user", view, TOP_LOAD, "users")
    return loadchart.load_bars(
        kept,
        result["users"],
        view.users,
        note=note and f"{note}, by the larger of their two shares",
        empty_message=no_data_message(view, engine),
    )


def roles(engine: Engine, view: state.View):
    rows = answer(engine, query.users_table, view, without=("roles",))
    return figures.ranking_bar(
        _grouped(rows, "role", view), "roles", view.metric, view.roles, empty_message=no_data_message(view, engine)
    )


def machines(engine: Engine, view: state.View):
    rows = answer(engine, query.machines_table, view, without=("machines",))
    data, note = _ranking(rows, "machine", view, TOP_MACHINES, "machines", group="machine_type")
    return figures.ranking_bar(
        data,
        "machines",
        view.metric,
        view.machines,
        group_column="machine_type",
        empty_message=no_data_message(view, engine),
        note=note,
    )


def machine_types(engine: Engine, view: state.View):
    rows = answer(engine, query.machines_table, view, without=("machine_types",))
    return figures.ranking_bar(
        _grouped(rows, "machine_type", view),
        "machine_types",
        view.metric,
        view.machine_types,
        empty_message=no_data_message(view, engine),
    )


def sizes(engine: Engine, view: state.View):
    result = answer(engine, query.size_distribution, view, without=("sizes",))
    buckets = [b for b in result["buckets"] if b["operations"]]
    data = pd.DataFrame(
        {
            "label": [b["label"] for b in buckets],
            "lower": [b["lower_bytes"] for b in buckets],
            "value": [_value(b, view.metric) for b in buckets],
        }
    )
    return figures.size_distribution(data, view.metric, view.sizes, empty_message=no_data_message(view, engine))


def heatmap(engine: Engine, view: state.View):
    result = answer(engine, query.size_series, view, without=("sizes",), bucket="auto-sizes")
    sizes = sorted(result["sizes"], key=lambda b: -1 if b["lower_bytes"] is None else b["lower_bytes"])
    row = {b["label"]: i for i, b in enumerate(sizes)}
    column = {b["epoch"]: i for i, b in enumerate(result["buckets"])}
    values = np.full((len(row), len(column)), np.nan)
    for cell in result["cells"]:
        values[row[cell["label"]], column[cell["epoch"]]] = _value(cell, view.metric)
    return timecharts.size_heatmap(
        list(row),
        values,
        coverage.buckets(result["buckets"], result["bucket"], view.tz),
        view.metric,
        view.tz,
        view.sizes,
        empty_message=no_data_message(view, engine),
    )


def health(engine: Engine, view: state.View) -> list:
    # Data health is about the data, not the selection: only the time range applies. Never cached: the age
    # of the last block moves with the clock.
    with engine.connect() as conn:
        latest, extent = query.latest_block_epoch(conn), query.data_extent(conn)
        facts = query.data_health(conn, filters_for(view, latest, tuple(state.DIMENSIONS), extent))
    span = facts["range"]
    recurring = coverage.recurring_gaps(facts["gaps"], span["start_epoch"], span["end_epoch"], view.tz)
    return cards.health(facts, view.tz, recurring=recurring, writes_recorded=writes_recorded(engine, view))


def share(engine: Engine, view: state.View):
    """For a signed-in `user`: their operations or bytes beside everyone else's, as one anonymous figure (nothing
    for those who see everything, or when too few others were active to stay anonymous)."""
    if view.visible_users is None:
        return None
    figures = answer(engine, query.everyone_else, view, without=tuple(state.DIMENSIONS))
    return cards.share(figures, view.metric) if figures is not None else None


def profile(engine: Engine, view: state.View):
    """The profile card of /user/<name> or /machine/<name>; else when the view is on exactly one user (or else one
    machine). (A job's card is jobpanel's.)"""
    if view.profile and view.profile[0] in ("user", "machine"):
        kind, name = view.profile
    elif len(view.users) == 1:
        kind, name = "user", view.users[0]
    elif len(view.machines) == 1:
        kind, name = "machine", view.machines[0]
    else:
        return None
    with engine.connect() as conn:
        latest, extent = query.latest_block_epoch(conn), query.data_extent(conn)
        if kind == "user":
            info = query.user_profile(conn, name, filters_for(view, latest, ("users",), extent))
        else:
            info = query.machine_profile(conn, name, filters_for(view, latest, ("machines",), extent))
    return cards.profile(kind, name, info, view.tz, link=lambda k, n: interactions.profile_href(view, k, n))

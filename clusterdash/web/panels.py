"""Each panel's callback body: a View in, the panel's content out, through db.query (no SQL here).

The crossfilter rule lives in `filters_for`: a panel is filtered by every selection except those on
its own dimension (`without`), so the users chart keeps showing the other users, with the selected
ones highlighted. These are plain functions of (engine, view): the callbacks call them, and so does
scripts/bench_dashboard.py, which times exactly what a callback runs.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import pandas as pd
from sqlalchemy import Engine

from clusterdash.db import query
from clusterdash.db.filters import Filters
from clusterdash.web import cards, figures, interactions, state

TOP_USERS = 20
TOP_MACHINES = 20
HOURLY_UP_TO_HOURS = 8 * 24  # hourly points up to a week (and a bit): the daily rhythm stays visible
HEATMAP_DAILY_UP_TO_DAYS = 35
GROUP_BY = {"users": "user", "machines": "machine", "machine_types": "machine_type", "roles": "role"}


def filters_for(view: state.View, latest: int | None, without: tuple[str, ...] = ()) -> Filters:
    """The query for a panel: the view's time range, direction and zone, and every selection not `without`."""
    start, end = view.window(latest)
    chosen = {d: () if d in without else view.selected(d) for d in state.DIMENSIONS}
    return Filters(start=start, end=end, direction=view.direction, tz=view.tz, **chosen)


def _value(row: dict, metric: str) -> float:
    return (row.get("bytes") or 0.0) if metric == "bytes" else row.get("operations") or 0


def _bucket(view: state.View, latest: int | None, daily_up_to_days: int | None = None) -> str | None:
    start, end = view.window(latest)
    if start is not None and end is not None and end - start <= HOURLY_UP_TO_HOURS * 3600:
        return "hour"
    if daily_up_to_days is not None:
        return "day" if start is not None and end is not None and end - start <= daily_up_to_days * 86400 else "week"
    return None  # query.choose_bucket: days up to 120 days, then weeks


def no_data_message(view: state.View) -> str:
    if any(view.selected(d) for d in state.DIMENSIONS):
        return "No IO for this selection in this time range"
    return "No data in this time range"


# -- asking the query layer, through a small cache ----------------------------------------------------------------

_CACHE: OrderedDict[tuple, Any] = OrderedDict()
_CACHE_LOCK = threading.Lock()
CACHE_ENTRIES = 256


def answer(engine: Engine, question: Callable, view: state.View, without: tuple[str, ...] = (), **kwargs) -> Any:
    """question(conn, filters_for(view, latest, without), **kwargs), remembered per data version.

    Crossfiltering asks the same question often: a click on a user leaves the users panel's own query
    unchanged (it ignores its own dimension), the users and roles panels ask the same thing while neither
    has a selection, back/forward revisits a view. The key holds the data version, so anything a new
    ingest changes is asked afresh. `kwargs["bucket"] = "auto"` picks the series bucket for the range.
    """
    with engine.connect() as conn:
        version = tuple(query.data_version(conn))
        filters = filters_for(view, version[0], without)
        if kwargs.get("bucket") == "auto":
            kwargs["bucket"] = _bucket(view, version[0])
        elif kwargs.get("bucket") == "auto-sizes":
            # Size detail per user or machine is kept per week and month, not per day: past a month, weekly
            # columns read those rollups instead of every raw histogram row.
            kwargs["bucket"] = _bucket(view, version[0], daily_up_to_days=HEATMAP_DAILY_UP_TO_DAYS)
        key = (id(engine), question.__name__, filters, tuple(sorted(kwargs.items())), version)
        with _CACHE_LOCK:
            if key in _CACHE:
                _CACHE.move_to_end(key)
                return _CACHE[key]
        result = question(conn, filters, **kwargs)
    with _CACHE_LOCK:
        _CACHE[key] = result
        while len(_CACHE) > CACHE_ENTRIES:
            _CACHE.popitem(last=False)
    return result


def clear_cache() -> None:
    with _CACHE_LOCK:
        _CACHE.clear()


# -- small lookups used by the view callback and the live check -----------------------------------------------


def latest_epoch(engine: Engine) -> int | None:
    with engine.connect() as conn:
        return query.latest_block_epoch(conn)


def known_sizes(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return [b["label"] for b in query.size_buckets(conn)]


def chips(view: state.View) -> list:
    return cards.chips(interactions.chips(view))


def live_status(engine: Engine, view: state.View) -> tuple[list, list]:
    with engine.connect() as conn:
        version = query.data_version(conn)
    latest = version[0]
    return version, cards.live_status(latest, None if latest is None else time.time() - latest, view.tz)


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
    }
    return cards.headline(totals, view.metric)


def series(engine: Engine, view: state.View):
    result = answer(engine, query.time_series, view, bucket="auto", group_by=GROUP_BY[view.stack], top=view.top)
    column = "bytes" if view.metric == "bytes" else "operations"
    points = [p for p in result["points"] if p[column] is not None]
    data = pd.DataFrame(
        {
            "epoch": [p["epoch"] for p in points],
            "series": [p["group"] for p in points],
            "value": [p[column] for p in points],
        }
    )
    step = {"hour": 3600, "day": 86400, "week": 7 * 86400}.get(result["bucket"], 30 * 86400)
    return figures.stacked_series(
        data, view.metric, view.tz, step, gaps=_gaps(result["buckets"]), empty_message=no_data_message(view)
    )


def _gaps(buckets: list[dict]) -> list[tuple[int, int]]:
    """Runs of time buckets without a single block, as (start, end) epochs."""
    runs: list[tuple[int, int]] = []
    for index, bucket in enumerate(buckets):
        if bucket["hours_with_data"]:
            continue
        end = buckets[index + 1]["epoch"] if index + 1 < len(buckets) else bucket["epoch"] + bucket["hours"] * 3600
        if runs and runs[-1][1] == bucket["epoch"]:
            runs[-1] = (runs[-1][0], end)
        else:
            runs.append((bucket["epoch"], end))
    return runs


def _ranking(
    rows: list[dict], name: str, view: state.View, limit: int, dimension: str, group: str | None = None
) -> pd.DataFrame:
    """The top `limit` rows by the view's metric, plus any selected ones below the cut (they stay visible)."""
    ranked = sorted(rows, key=lambda r: -_value(r, view.metric))
    chosen = set(view.selected(dimension))
    kept = ranked[:limit] + [r for r in ranked[limit:] if r[name] in chosen]
    data = {"name": [r[name] for r in kept], "value": [_value(r, view.metric) for r in kept]}
    if group:
        data[group] = [r[group] or "(none)" for r in kept]
    return pd.DataFrame(data)


def _grouped(rows: list[dict], key: str, view: state.View) -> pd.DataFrame:
    totals: dict[str, float] = {}
    for r in rows:
        totals[r[key] or "(none)"] = totals.get(r[key] or "(none)", 0) + _value(r, view.metric)
    return pd.DataFrame({"name": list(totals), "value": list(totals.values())})


def users(engine: Engine, view: state.View):
    rows = answer(engine, query.users_table, view, without=("users",))
    return figures.ranking_bar(
        _ranking(rows, "user", view, TOP_USERS, "users"),
        "users",
        view.metric,
        view.users,
        empty_message=no_data_message(view),
    )


def roles(engine: Engine, view: state.View):
    rows = answer(engine, query.users_table, view, without=("roles",))
    return figures.ranking_bar(
        _grouped(rows, "role", view), "roles", view.metric, view.roles, empty_message=no_data_message(view)
    )


def machines(engine: Engine, view: state.View):
    rows = answer(engine, query.machines_table, view, without=("machines",))
    data = _ranking(rows, "machine", view, TOP_MACHINES, "machines", group="machine_type")
    return figures.ranking_bar(
        data, "machines", view.metric, view.machines, group_column="machine_type", empty_message=no_data_message(view)
    )


def machine_types(engine: Engine, view: state.View):
    rows = answer(engine, query.machines_table, view, without=("machine_types",))
    return figures.ranking_bar(
        _grouped(rows, "machine_type", view),
        "machine_types",
        view.metric,
        view.machine_types,
        empty_message=no_data_message(view),
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
    return figures.size_distribution(data, view.metric, view.sizes, empty_message=no_data_message(view))


def heatmap(engine: Engine, view: state.View):
    result = answer(engine, query.size_series, view, without=("sizes",), bucket="auto-sizes")
    cells = result["cells"]
    data = pd.DataFrame(
        {
            "epoch": [c["epoch"] for c in cells],
            "label": [c["label"] for c in cells],
            "lower": [c["lower_bytes"] for c in cells],
            "value": [_value(c, view.metric) for c in cells],
        }
    )
    return figures.size_heatmap(
        data,
        view.metric,
        view.tz,
        view.sizes,
        empty_message=no_data_message(view),
        grid=[b["epoch"] for b in result["buckets"]],
        gaps=[b["epoch"] for b in result["buckets"] if not b["hours_with_data"]],
    )


def health(engine: Engine, view: state.View) -> list:
    # Data health is about the data, not the selection: only the time range applies. Never cached: the age
    # of the last block moves with the clock.
    with engine.connect() as conn:
        facts = query.data_health(
            conn, filters_for(view, query.latest_block_epoch(conn), without=tuple(state.DIMENSIONS))
        )
    return cards.health(facts, view.tz)


def profile(engine: Engine, view: state.View):
    """A profile card when the view is on exactly one user (or else one machine), e.g. from /user/<name>."""
    if len(view.users) == 1:
        kind, name = "user", view.users[0]
    elif len(view.machines) == 1:
        kind, name = "machine", view.machines[0]
    else:
        return None
    with engine.connect() as conn:
        latest = query.latest_block_epoch(conn)
        if kind == "user":
            info = query.user_profile(conn, name, filters_for(view, latest, without=("users",)))
        else:
            info = query.machine_profile(conn, name, filters_for(view, latest, without=("machines",)))
    return cards.profile(kind, name, info, view.tz)

"""Every panel body on a real (demo) database, without a browser: each view gives valid figures, never a blank
chart, and the user x machine CSV holds every pair."""

from __future__ import annotations

import csv
import io
import re

import plotly.graph_objects as go
import pytest

from clusterdash.db.engine import make_engine
from clusterdash.web import panels, state, usertable

FIGURE_PANELS = ("series", "users", "roles", "machines", "machine_types", "load", "sizes", "heatmap")
DEFAULTS = state.View(tz="Europe/Zurich")
VIEWS = {
    "default": DEFAULTS,
    "all, bytes, writes": state.View(tz="UTC", preset="all", metric="bytes", direction="wr", stack="roles"),
    "24h by machine type": state.View(preset="24h", stack="machine_types", top=3),
    "size and role": DEFAULTS.click("sizes", "[1M, 2M)").click("roles", "staff"),
    "unknown user": DEFAULTS.click("users", "nobody-at-all"),
    "empty custom range": DEFAULTS.with_range(86400, 2 * 86400),
}


@pytest.fixture(scope="module")
def panel_engine(demo_db_url):
    """The dashboard's two-week demo (tests/browser.py), prepared by the app factory in the display zone."""
    from clusterdash.web.app import create_app

    create_app({"db": demo_db_url, "tz": "Europe/Zurich"})  # rollups in the display zone, as serve does
    engine = make_engine(demo_db_url)
    yield engine
    engine.dispose()


def annotation(figure: go.Figure) -> str:
    return " ".join(a.text.replace("<br>", " ") for a in figure.layout.annotations)


@pytest.mark.parametrize("name", VIEWS)
def test_every_panel_draws_something_for_every_view(panel_engine, name):
    view = VIEWS[name]
    panels.clear_cache()
    for panel in FIGURE_PANELS:
        figure = go.Figure(getattr(panels, panel)(panel_engine, view))  # validates every property
        assert figure.data or "No " in annotation(figure), f"{panel} is blank for {name}"
    assert panels.headline(panel_engine, view) and panels.health(panel_engine, view)
    columns, rows, _styles, note = usertable.table(panel_engine, view)
    assert columns and (rows or "No " in note)


def test_a_selection_without_data_says_so_in_each_panel(panel_engine):
    view = VIEWS["unknown user"]
    empty = "No IO for this selection in this time range"
    for panel in ("series", "machines", "machine_types", "sizes", "heatmap"):
        assert annotation(go.Figure(getattr(panels, panel)(panel_engine, view))) == empty, panel
    # The users panel ignores its own dimension: it still ranks everyone, none highlighted.
    assert go.Figure(panels.users(panel_engine, view)).data
    card = str(panels.profile(panel_engine, view))
    assert "No user named" in card and "nobody-at-all" in card


def test_the_csv_has_every_pair_with_both_byte_bounds(panel_engine):
    download = usertable.csv_download(panel_engine, DEFAULTS)
    rows = list(csv.DictReader(io.StringIO(download["content"])))
    _columns, shown, _styles, _note = usertable.table(panel_engine, DEFAULTS)
    assert len(rows) >= len(shown) and rows[0].keys() >= {
        "user",
        "machine",
        "operations",
        "bytes_low",
        "bytes",
        "bytes_high",
    }
    # The week the preset shows, as ISO hours in the view's zone (not epoch seconds, not "7d").
    assert re.fullmatch(r"clusterdash-users-machines-(\S{13}[+-]\d{4})-(\S{13}[+-]\d{4})\.csv", download["filename"])
    assert sum(int(r["operations"]) for r in rows) == sum(r["operations"] for r in shown) or len(rows) > len(shown)


def test_the_query_cache_answers_a_repeat_but_not_another_view(panel_engine):
    from clusterdash.db import query

    panels.clear_cache()
    first = panels.answer(panel_engine, query.users_table, DEFAULTS)
    assert panels.answer(panel_engine, query.users_table, DEFAULTS) is first
    assert panels.answer(panel_engine, query.users_table, DEFAULTS.with_preset("24h")) is not first

"""The dashboard's view and what interactions do to it, without a browser: URL round trips, clicks, ranges."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from clusterdash.web import interactions, state
from clusterdash.web.layout import ID

DEFAULTS = state.View(tz="Europe/Zurich")


def test_the_default_view_writes_only_its_range():
    """The range always: a link (or the API, given the query string) must not depend on the page's default."""
    assert state.to_query(DEFAULTS, DEFAULTS) == "?range=7d"
    assert state.from_url("/", "", DEFAULTS) == state.from_url("/", "?range=7d", DEFAULTS) == DEFAULTS


def test_every_part_of_a_view_survives_the_url():
    view = (
        DEFAULTS.click("users", "alice")
        .click("users", "bob", add=True)
        .click("machines", "tikgpu03")
        .click("machine_types", "tik")
        .click("roles", "staff")
        .click("sizes", "[4K, 8K)")
        .click("jobs", "123_4")
        .with_range(1741784415, 1741884415)
    )
    view = state.View(
        **{
            **state.to_store(view),
            "direction": "wr",
            "metric": "bytes",
            "tz": "UTC",
            "stack": "roles",
            "top": 5,
            "users": ("alice", "bob"),
            "machines": ("tikgpu03",),
            "machine_types": ("tik",),
            "roles": ("staff",),
            "sizes": ("[4K, 8K)",),
            "jobs": ("123_4",),
            "profile": None,
        }
    )
    search = state.to_query(view, DEFAULTS)
    assert "user=alice&user=bob" in search and "size=4K" in search and "start=2025-03-12T13:00Z" in search
    assert state.from_url("/", search, DEFAULTS, known_sizes=("[2, 4)", "[4K, 8K)")) == view
    assert state.from_store(state.to_store(view)) == view


def test_a_size_in_the_url_may_be_any_form_the_api_takes_and_an_unknown_one_stays_as_typed():
    known = ("[0]", "[4K, 8K)", "[8K, 16K)")
    for form in ("4K", "4k", "4096", "4K-8K", "[4K,8K)"):
        assert state.from_url("/", f"?size={quote(form)}", DEFAULTS, known).sizes == ("[4K, 8K)",), form
    assert state.from_url("/", "?size=3K&size=8K", DEFAULTS, known).sizes == ("3K", "[8K, 16K)")


def test_a_broken_url_falls_back_to_defaults_instead_of_failing():
    view = state.from_url("/", "?range=1y&dir=sideways&metric=&top=lots&from=yesterday&to=2025", DEFAULTS)
    assert view == DEFAULTS


def test_profile_paths_open_the_dashboard_on_one_user_or_machine():
    view = state.from_url("/user/hodl_001fs25", "?metric=bytes", DEFAULTS)
    assert view.users == ("hodl_001fs25",) and view.profile == ("user", "hodl_001fs25") and view.metric == "bytes"
    assert interactions.url_for(view, DEFAULTS) == ("/user/hodl_001fs25", "?range=7d&metric=bytes")
    machine = state.from_url("/machine/tikgpu03", "", DEFAULTS)
    assert machine.machines == ("tikgpu03",)
    # Selecting something else on that dimension leaves the profile URL for the plain one.
    assert interactions.url_for(machine.click("machines", "arton01", add=True), DEFAULTS) == (
        "/",
        "?range=7d&machine=tikgpu03&machine=arton01",
    )


def test_plain_click_selects_only_that_value_and_a_second_click_clears_it():
    view = DEFAULTS.click("users", "alice").click("users", "bob")
    assert view.users == ("bob",)
    assert view.click("users", "bob").users == ()


def test_shift_click_toggles_the_value_and_keeps_the_rest():
    view = DEFAULTS.click("users", "alice").click("users", "bob", add=True)
    assert view.users == ("alice", "bob")
    assert view.click("users", "alice", add=True).users == ("bob",)


def test_clear_all_keeps_how_the_data_is_looked_at():
    view = state.View(
        metric="bytes", direction="rd", users=("a",), sizes=("[2, 4)",), preset="custom", start=0, end=3600
    )
    cleared = view.clear()
    assert not cleared.has_selections() and cleared.metric == "bytes" and cleared.direction == "rd"


def test_presets_end_at_the_latest_stored_hour():
    latest = 1741784415  # 2025-03-12 13:00:15Z: reports the hour 12:00-13:00
    assert state.View(preset="24h").window(latest) == (1741784400 - 86400, 1741784400)
    assert state.View(preset="all").window(latest) == (None, None)
    assert state.View(preset="custom", start=10, end=20).window(latest) == (10, 20)


def chart_click(graph, value, add=False):
    return {ID.click: {"graph": graph, "value": value, "add": add}}


@pytest.mark.parametrize("graph, dimension", sorted(ID.CLICKABLE.items()))
def test_a_click_on_any_chart_selects_in_that_charts_dimension(graph, dimension):
    view = interactions.next_view(ID.click, chart_click(graph, "x"), DEFAULTS, DEFAULTS)
    assert view.selected(dimension) == ("x",)


def test_a_click_on_a_table_cell_selects_that_user_or_machine():
    click = {ID.click: {"graph": ID.table, "column": "machine", "value": "arton01", "add": True}}
    view = interactions.next_view(ID.click, click, DEFAULTS.click("machines", "tik42x"), DEFAULTS)
    assert view.machines == ("tik42x", "arton01")


def test_a_drag_across_a_time_axis_sets_a_custom_range_in_the_display_zone():
    relayout = {"xaxis.range[0]": "2025-03-12 14:00:00", "xaxis.range[1]": "2025-03-12 18:30:00.25"}
    view = interactions.next_view(ID.series_graph, {ID.series_graph: relayout}, DEFAULTS, DEFAULTS)
    assert view.preset == state.CUSTOM
    assert (view.start, view.end) == (1741784400, 1741800600)  # 13:00Z to 17:30Z (fractions of a second dropped)


@pytest.mark.parametrize(
    "relayout", [None, {"autosize": True}, {"xaxis.autorange": True}, {"yaxis.range[0]": 1, "yaxis.range[1]": 2}]
)
def test_other_relayouts_change_nothing(relayout):
    assert interactions.next_view(ID.heatmap_graph, {ID.heatmap_graph: relayout}, DEFAULTS, DEFAULTS) == DEFAULTS


def test_picked_dates_are_whole_days_in_the_display_zone():
    values = {"range.start_date": "2025-03-30", "range.end_date": "2025-03-30"}
    view = interactions.next_view(ID.range, values, DEFAULTS, DEFAULTS)
    # The DST day in Zurich: 23 hours long, from 2025-03-29T23:00Z.
    assert (view.start, view.end) == (1743289200, 1743289200 + 23 * 3600)
    assert interactions.picker_dates(view, None) == ("2025-03-30", "2025-03-30")


def test_removing_a_chip_removes_only_that_selection():
    view = DEFAULTS.click("users", "a").click("users", "b", add=True).with_range(0, 7200)
    trigger = {"type": ID.chip_remove, "dimension": "users", "value": "a"}
    assert interactions.next_view(trigger, {}, view, DEFAULTS).users == ("b",)
    time_trigger = {"type": ID.chip_remove, "dimension": "time", "value": ""}
    assert interactions.next_view(time_trigger, {}, view, DEFAULTS).preset == state.DEFAULT_PRESET
    assert [c[0] for c in interactions.chips(view)] == ["time", "users", "users"]


def test_controls_change_only_their_own_part_of_the_view():
    view = interactions.next_view(ID.metric, {ID.metric: "bytes"}, DEFAULTS.click("users", "a"), DEFAULTS)
    assert view.metric == "bytes" and view.users == ("a",)
    assert interactions.next_view(ID.preset, {ID.preset: "30d"}, view, DEFAULTS).preset == "30d"

"""The dashboard's view and what interactions do to it, without a browser: URL round trips, clicks, ranges."""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import quote

import pytest

from clusterdash.errors import BadParameter
from clusterdash.web import interactions, state
from clusterdash.web.ids import ID

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


def test_clear_all_keeps_the_time_range_and_how_the_data_is_looked_at():
    view = state.View(
        metric="bytes", direction="rd", users=("a",), sizes=("[2, 4)",), preset="custom", start=0, end=3600
    )
    cleared = interactions.next_view(ID.clear, {ID.clear: 1}, view, DEFAULTS)
    assert not cleared.has_selections() and cleared.metric == "bytes" and cleared.direction == "rd"
    assert (cleared.preset, cleared.start, cleared.end) == ("custom", 0, 3600)
    reset = interactions.next_view(ID.range_reset, {ID.range_reset: 1}, cleared, DEFAULTS)
    assert (reset.preset, reset.start, reset.end) == (DEFAULTS.preset, None, None) and reset.metric == "bytes"


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


def test_a_drag_across_a_time_axis_sets_a_custom_range_in_the_display_zone_snapped_to_whole_hours():
    relayout = {"xaxis.range[0]": "2025-03-12 13:03:10", "xaxis.range[1]": "2025-03-12 18:58:00.25"}
    view = interactions.next_view(ID.series_graph, {ID.series_graph: relayout}, DEFAULTS, DEFAULTS)
    assert view.preset == state.CUSTOM
    assert (view.start, view.end) == (1741780800, 1741802400)  # 12:00Z to 18:00Z: 13:00 to 19:00 in Zurich
    assert interactions.chips(view)[0].text == "time: 2025-03-12 13:00 – 19:00 CET"
    inside_an_hour = {"xaxis.range[0]": "2025-03-12 13:35", "xaxis.range[1]": "2025-03-12 13:50"}
    view = interactions.next_view(ID.series_graph, {ID.series_graph: inside_an_hour}, DEFAULTS, DEFAULTS)
    assert view.end - view.start == 3600  # never an empty range


def test_a_range_in_the_url_is_the_whole_hours_it_covers():
    view = state.View(tz="UTC").with_range(1741784415, 1741800600)  # 13:00:15Z to 17:30Z
    assert (view.start, view.end) == (1741784400, 1741802400)  # 13:00Z to 18:00Z, as every query reads it


@pytest.mark.parametrize(
    "relayout", [None, {"autosize": True}, {"xaxis.autorange": True}, {"yaxis.range[0]": 1, "yaxis.range[1]": 2}]
)
def test_other_relayouts_change_nothing(relayout):
    assert interactions.next_view(ID.heatmap_graph, {ID.heatmap_graph: relayout}, DEFAULTS, DEFAULTS) == DEFAULTS


def editor(from_date, from_hour, to_date, to_hour) -> dict:
    return {
        interactions.FROM_DATE: from_date,
        interactions.FROM_HOUR: from_hour,
        interactions.TO_DATE: to_date,
        interactions.TO_HOUR: to_hour,
    }


def test_the_range_editor_takes_a_date_and_an_hour_at_each_end_in_the_display_zone():
    # The DST day in Zurich: midnight to midnight is 23 hours long, from 2025-03-29T23:00Z.
    view = interactions.next_view(ID.range_apply, editor("2025-03-30", 0, "2025-03-31", 0), DEFAULTS, DEFAULTS)
    assert (view.preset, view.start, view.end) == (state.CUSTOM, 1743289200, 1743289200 + 23 * 3600)
    assert interactions.editor_fields(view.window(None), view.tz) == editor("2025-03-30", 0, "2025-03-31", 0)
    afternoon = interactions.next_view(ID.range_apply, editor("2025-03-12", 12, "2025-03-12", 18), view, DEFAULTS)
    assert (afternoon.start, afternoon.end) == (1741777200, 1741798800)  # 11:00Z to 17:00Z
    assert interactions.chips(afternoon)[0].text == "time: 2025-03-12 12:00 – 18:00 CET"


@pytest.mark.parametrize(
    "fields, name, words",
    [
        (editor("2025-03-12", 18, "2025-03-12", 12), "end", "not after the start"),
        (editor("2025-03-12", 12, "2025-03-12", 12), "end", "not after the start"),
        (editor("2025-03-12", None, "2025-03-12", 12), "start", "pick a date and an hour for “from”"),
        (editor(None, 3, "2025-03-12", 12), "start", "pick a date and an hour for “from”"),
        (editor("2025-03-12", 3, "12.3.2025", 12), "end", "cannot read"),
        (editor("2025-03-12", 3, "2025-03-12", 25), "end", "0 to 23"),
        (editor("1900-01-01", 3, "2025-03-12", 5), "start", "out of range"),
    ],
)
def test_the_range_editor_refuses_what_it_cannot_use_and_names_the_end(fields, name, words):
    view = DEFAULTS.click("users", "a")
    with pytest.raises(BadParameter) as refused:
        interactions.next_view(ID.range_apply, fields, view, DEFAULTS)
    assert refused.value.name == name and words in refused.value.message


def test_back_returns_to_each_previous_range_in_turn():
    view = state.from_url("/", "?range=90d", DEFAULTS)
    history = interactions.history_after(ID.url, None, DEFAULTS, view)
    assert history == []  # the page's first view: nothing to go back to
    steps = [
        (ID.preset, {ID.preset: "24h"}),
        (
            ID.series_graph,
            {ID.series_graph: {"xaxis.range[0]": "2025-03-12 12:00", "xaxis.range[1]": "2025-03-12 18:00"}},
        ),
        (ID.users_graph, {}),  # not a range change: nothing remembered
        (ID.preset, {ID.preset: "30d"}),
    ]
    seen = [interactions.range_of(view)]
    for trigger, values in steps:
        after = interactions.next_view(trigger, values, view, DEFAULTS)
        history = interactions.history_after(trigger, history, view, after) or history
        view = after
        if interactions.range_of(view) != seen[-1]:
            seen.append(interactions.range_of(view))
    assert history == seen[:-1]
    for expected in reversed(seen[:-1]):
        after = interactions.next_view(ID.range_back, {ID.range_history: history}, view, DEFAULTS)
        assert interactions.range_of(after) == expected
        history = interactions.history_after(ID.range_back, history, view, after)
        view = after
    assert history == [] and interactions.next_view(ID.range_back, {ID.range_history: []}, view, DEFAULTS) == view


def test_the_table_sort_survives_the_url_and_goes_to_and_from_the_table():
    view = interactions.next_view(
        ID.table, {ID.table: [{"column_id": "est_bytes", "direction": "desc"}]}, DEFAULTS, DEFAULTS
    )
    assert view.sort == "-est_bytes" and interactions.sort_by(view) == [{"column_id": "est_bytes", "direction": "desc"}]
    search = state.to_query(view, DEFAULTS)
    assert search == "?range=7d&table_sort=-est_bytes"  # the API's vocabulary: a VIEW parameter it ignores
    assert state.from_url("/", search, DEFAULTS).sort == "-est_bytes"
    assert state.from_url("/", "?table_sort=user", DEFAULTS).sort == "user"
    assert state.from_url("/", "?table_sort=password", DEFAULTS).sort == ""  # not a column: the server's order
    assert state.from_url("/", "?sort=name&order=asc", DEFAULTS).sort == ""  # the API lists' order, not the table's
    with pytest.raises(BadParameter) as refused:
        replace(view, sort="password")
    assert refused.value.name == "table_sort"
    assert interactions.next_view(ID.table, {ID.table: []}, view, DEFAULTS).sort == ""


def test_the_sortable_columns_are_the_tables_columns():
    from clusterdash.web import usertable

    assert tuple(c["id"] for c in usertable.columns()) == state.SORT_COLUMNS


def test_profile_links_keep_the_range_zone_and_filters():
    view = DEFAULTS.with_preset("24h").click("machines", "m1").click("machines", "m2", add=True).click("users", "bob")
    view = state.from_store({**state.to_store(view), "metric": "bytes", "tz": "UTC", "machines": ["m1", "m2"]})
    link = interactions.profile_href(view, "user", "alice")
    assert link == "/user/alice?range=24h&metric=bytes&tz=UTC&machine=m1&machine=m2"
    opened = state.from_url(*link.split("?"), DEFAULTS)
    assert (opened.users, opened.machines, opened.tz, opened.preset) == (("alice",), ("m1", "m2"), "UTC", "24h")
    assert opened.profile == ("user", "alice")
    # A machine's profile from there keeps the user as a filter; the zone is named even when it is the default.
    assert interactions.profile_href(opened, "machine", "m 1/x") == (
        "/machine/m%201%2Fx?range=24h&metric=bytes&tz=UTC&user=alice"
    )
    assert [c.href for c in interactions.chips(view)] == [
        "/user/bob?range=24h&metric=bytes&tz=UTC&machine=m1&machine=m2",
        "/machine/m1?range=24h&metric=bytes&tz=UTC&user=bob",
        "/machine/m2?range=24h&metric=bytes&tz=UTC&user=bob",
    ]


def test_the_exact_window_link_pins_a_preset_to_absolute_times():
    view = DEFAULTS.with_preset("24h").click("users", "alice")
    window = view.window(1741784415)  # the 24 hours to 2025-03-12 13:00Z
    link = interactions.exact_link(view, window, "https://dash.example:8443/user/x?range=24h", DEFAULTS)
    assert link == (
        "https://dash.example:8443/?start=2025-03-11T13:00Z&end=2025-03-12T13:00Z&tz=Europe/Zurich&user=alice"
    )
    opened = state.from_url("/", link.split("?")[1], DEFAULTS)
    assert opened.window(None) == window and opened.users == ("alice",)


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

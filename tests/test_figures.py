"""Figure builders are pure: plain data in, a figure dict out. These tests need no database and no browser.

Every figure is loaded into plotly's validating go.Figure here (the app skips that cost): an invalid
property name or value fails the test.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from clusterdash.web import colors, coverage, state, timecharts
from clusterdash.web import figures as builders
from clusterdash.web import format as fmt

HOUR = 3600


def _validated(build):
    """The builder, returning its figure loaded into plotly's validating go.Figure."""
    return lambda *args, **kwargs: go.Figure(build(*args, **kwargs))


ranking_bar = _validated(builders.ranking_bar)
size_distribution = _validated(builders.size_distribution)
stacked_series = _validated(timecharts.stacked_series)
size_heatmap = _validated(timecharts.size_heatmap)


def hours(count: int, start: int = 0, missing: tuple[int, ...] = ()) -> coverage.Buckets:
    """`count` hourly buckets from `start`, those at the indexes `missing` without a block."""
    rows = [{"epoch": start + i * HOUR, "hours": 1, "hours_with_data": 0 if i in missing else 1} for i in range(count)]
    return coverage.buckets(rows, "hour", "UTC")


def drawn(figure) -> list:
    """The series traces of a stacked series (the first trace only heads the hover)."""
    return list(figure.data[1:])


def annotations_text(figure) -> str:
    return " ".join(a.text.replace("<br>", " ") for a in figure.layout.annotations)


@pytest.mark.parametrize(
    "build",
    [
        lambda: ranking_bar(pd.DataFrame(columns=["name", "value"]), "users", "ops"),
        lambda: size_distribution(pd.DataFrame(columns=["label", "lower", "value"]), "ops"),
        lambda: stacked_series({}, hours(3), "ops", "UTC"),
        lambda: stacked_series({"a": [None, 0, None]}, hours(3, missing=(0, 2)), "ops", "UTC"),
        lambda: size_heatmap([], np.zeros((0, 3)), hours(3), "ops", "UTC"),
        lambda: ranking_bar(None, "users", "ops"),
    ],
)
def test_no_data_says_so_instead_of_a_blank_chart(build):
    figure = build()
    assert len(figure.data) == 0
    assert "No data" in annotations_text(figure)


def test_all_zero_values_count_as_no_data():
    figure = ranking_bar(pd.DataFrame({"name": ["a"], "value": [0]}), "users", "ops")
    assert "No data" in annotations_text(figure)


def test_ranking_puts_the_largest_on_top_and_carries_names_for_clicks():
    data = pd.DataFrame({"name": ["small", "big", "mid"], "value": [1, 100, 10]})
    bar = ranking_bar(data, "users", "ops").data[0]
    assert list(bar.y) == ["small", "mid", "big"]  # plotly draws the last category on top
    assert list(bar.customdata) == ["small", "mid", "big"]
    assert bar.marker.color == colors.DIMENSION_COLORS["users"]


def test_selected_bars_are_highlighted_and_the_others_faded():
    data = pd.DataFrame({"name": ["a", "b", "c"], "value": [3, 2, 1]})
    bar = ranking_bar(data, "users", "ops", selected=["b"]).data[0]
    opacity = dict(zip(bar.y, bar.marker.opacity))
    assert opacity == {"a": builders.FADED_OPACITY, "b": 1.0, "c": builders.FADED_OPACITY}


def test_machines_are_grouped_under_their_type():
    data = pd.DataFrame(
        {"name": ["tikgpu01", "arton01", "tikgpu02"], "value": [5, 50, 7], "machine_type": ["tik", "itet", "tik"]}
    )
    bar = ranking_bar(data, "machines", "ops", group_column="machine_type").data[0]
    types, names = bar.y
    assert list(names) == ["tikgpu01", "tikgpu02", "arton01"]  # the bigger group (itet) on top
    assert list(types) == ["tik", "tik", "itet"]
    assert list(bar.customdata) == list(names)


def test_bytes_are_scaled_to_one_binary_unit_and_say_they_are_an_estimate():
    data = pd.DataFrame({"name": ["a"], "value": [3 * 1024**3]})
    figure = ranking_bar(data, "users", "bytes")
    assert list(figure.data[0].x) == [3.0]
    assert "GiB" in figure.layout.xaxis.title.text and "estimated" in figure.layout.xaxis.title.text
    assert figure.data[0].hovertext[0] == "a: 3 GiB"


def test_size_distribution_orders_buckets_by_size_and_marks_small_io():
    data = pd.DataFrame(
        {
            "label": ["[1M, 2M)", "[2, 4)", "[4K, 8K)", "[1K, 2K)"],
            "lower": [2**20, 2, 4096, 1024],
            "value": [9, 1, 3, 2],
        }
    )
    figure = size_distribution(data, "ops", selected=["[4K, 8K)"])
    bar = figure.data[0]
    assert list(bar.x) == ["[2, 4)", "[1K, 2K)", "[4K, 8K)", "[1M, 2M)"]
    assert list(bar.marker.opacity) == [builders.FADED_OPACITY, builders.FADED_OPACITY, 1.0, builders.FADED_OPACITY]
    assert figure.layout.shapes[0].x0 == 1.5  # the "< 4 KiB" boundary sits between [1K, 2K) and [4K, 8K)


def test_time_axis_is_wall_clock_in_the_display_zone_and_round_trips():
    # 2025-03-30 00:30 UTC is 01:30 in Zurich (CET, +1); 01:30 UTC is 03:30 (CEST, +2) after the jump.
    times = builders.local_times([1743294600, 1743298200], "Europe/Zurich")
    assert [str(t) for t in times] == ["2025-03-30 01:30:00", "2025-03-30 03:30:00"]
    assert builders.epoch_from_local("2025-03-30 03:30:00", "Europe/Zurich") == 1743298200


def test_heatmap_has_buckets_as_rows_smallest_first_and_holes_for_no_io():
    values = np.array([[10.0, 1.0], [100.0, np.nan]])
    heat = size_heatmap(["[2, 4)", "[1M, 2M)"], values, hours(2), "ops", "UTC").data[0]
    assert list(heat.y) == ["[2, 4)", "[1M, 2M)"]
    assert heat.z[0][0] == pytest.approx(1.0) and heat.z[0][1] == pytest.approx(0.0)
    assert heat.z[1][1] is None  # a hole, not zero IO
    assert heat.text[0][0] == "10" and heat.text[1][1] == ""  # no hover where there is no IO
    assert heat.hovertemplate == "%{x}<br>%{y}: %{text}<br>operations per hour<extra></extra>"
    assert list(heat.customdata[1]) == ["[1M, 2M)", "[1M, 2M)"]


def test_heatmap_keeps_hours_without_data_as_empty_shaded_columns():
    values = np.array([[1.0, np.nan, 1.0]])
    figure = size_heatmap(["[2, 4)"], values, hours(3, missing=(1,)), "ops", "UTC")
    heat = figure.data[0]
    assert len(heat.x) == 4  # the cells' edges: each cell spans its hour
    assert heat.z[0][1] is None and heat.xhoverformat == "%a %Y-%m-%d %H:00"  # plotly hovers the cell's centre
    assert [(s.x0, s.x1) for s in figure.layout.shapes] == [("1970-01-01 01:00", "1970-01-01 02:00")]


# -- names are data --------------------------------------------------------------------------------------------

MARKUP = ['<a href="http:evil.example">CLICK ME<', "<span style=font-size:60px;color:red>", "<b>bold</b>"]
SPOOFED = "evil\u202eexe.txt"
HOSTILE = [*MARKUP, SPOOFED, "a\u2066b\u200fc\x00d"]


def texts(value, skip=("customdata",)) -> list[str]:
    """Every string in a figure dict, except under the `skip` keys."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [t for key, v in value.items() if key not in skip for t in texts(v, skip)]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in texts(v, skip)]
    return []


def assert_no_markup_from(names, figure: dict) -> None:
    for text in texts(figure):
        for name in names:
            assert name not in text, f"{name!r} reaches plotly as markup in {text!r}"
        assert not any(c in text for c in "\u202e\u2066\u200f\x00"), f"an invisible character in {text!r}"


@pytest.mark.parametrize("name", HOSTILE)
def test_plot_text_shows_markup_and_invisible_characters_literally(name):
    text = fmt.plot_text(name)
    assert "<" not in text and ">" not in text
    assert "\u202e" not in text and "\\u202e" in fmt.plot_text(SPOOFED)
    assert fmt.visible("a\u2066b\u200fc\x00d") == "a\\u2066b\\u200fc\\u0000d"
    assert fmt.visible("<b>bold</b>") == "<b>bold</b>"  # Dash shows it as text: only invisible characters change


def test_names_reach_every_figure_escaped_and_clicks_keep_the_raw_name():
    ranking = pd.DataFrame({"name": HOSTILE, "value": [5, 4, 3, 2, 1], "machine_type": HOSTILE[::-1]})
    figures = {
        "users": builders.ranking_bar(ranking, "users", "ops", selected=[HOSTILE[0]], note="top 5 of 9 users"),
        "machines": builders.ranking_bar(ranking, "machines", "bytes", group_column="machine_type"),
        "sizes": builders.size_distribution(
            pd.DataFrame({"label": HOSTILE, "lower": [1, 2, 3, 4, 5], "value": [1, 2, 3, 4, 5]}), "ops"
        ),
        "series": timecharts.stacked_series({n: [1, 2] for n in HOSTILE}, hours(2), "ops", "UTC", note=MARKUP[0]),
        "heatmap": timecharts.size_heatmap(HOSTILE, np.ones((5, 2)), hours(2), "ops", "UTC", selected=HOSTILE[:1]),
        "empty": builders.empty_figure(f"No user {MARKUP[0]}"),
    }
    for figure in figures.values():
        go.Figure(figure)
        assert_no_markup_from(MARKUP, figure)
    users = figures["users"]["data"][0]
    assert users["customdata"] == HOSTILE[::-1] and fmt.plot_text(SPOOFED) in users["y"]
    assert "&lt;b&gt;bold&lt;/b&gt;: 3 operations" in users["hovertext"]
    assert figures["sizes"]["data"][0]["customdata"] == HOSTILE
    assert figures["heatmap"]["data"][0]["customdata"][0] == [HOSTILE[0]] * 2
    legend = [t["name"] for t in figures["series"]["data"][1:]]
    assert sorted(legend) == sorted(fmt.plot_text(n) for n in HOSTILE)


def component_texts(component) -> list[str]:
    """Every string a Dash component tree shows (its children, recursively)."""
    if isinstance(component, str):
        return [component]
    if isinstance(component, (list, tuple)):
        return [t for c in component for t in component_texts(c)]
    return component_texts(getattr(component, "children", None) or [])


def test_chips_and_the_profile_card_show_invisible_characters_visibly():
    from clusterdash.web import cards, interactions

    link = interactions.profile_href(state.View(), "user", SPOOFED)
    chip = cards.chips([interactions.Chip("users", SPOOFED, f"user: {SPOOFED}", link)])[0]
    assert component_texts(chip)[0] == "user: evil\\u202eexe.txt"
    assert chip.children[-1].id["value"] == SPOOFED  # removing the chip removes the real name
    assert chip.children[1].href == "/user/evil%E2%80%AEexe.txt?range=7d&tz=UTC"  # the profile of the real name
    info = {
        "role": "<b>r</b>",
        "affiliation": "a\u202eb",
        "first_seen": None,
        "last_seen": None,
        "totals": {"operations": 0, "rd_operations": 0, "small_operations": 0, "bytes": 0},
        "machines": [{"machine": "m\u2066x", "operations": 0}],
        "sizes": [],
    }
    shown = component_texts(cards.profile("user", SPOOFED, info, "UTC"))
    assert not any("\u202e" in t or "\u2066" in t for t in shown)
    assert "evil\\u202eexe.txt" in shown and "<b>r</b>" in shown and "a\\u202eb" in shown  # markup stays text
    missing = component_texts(cards.profile("user", SPOOFED, None, "UTC"))
    assert any("evil\\u202eexe.txt" in t for t in missing) and not any("\u202e" in t for t in missing)


# -- the honest time chart -------------------------------------------------------------------------------------


def test_a_missing_hour_is_no_bar_and_no_line_across_it():
    figure = stacked_series({"a": [3, None, 4], "other": [1, None, 1]}, hours(3, missing=(1,)), "ops", "UTC")
    for trace in drawn(figure):
        assert trace.type == "bar" and trace.y[1] is None  # nothing drawn and nothing interpolated at the gap
    assert len(figure.layout.shapes) == 1 and figure.layout.shapes[0].x0 == "1970-01-01 01:00"
    assert figure.data[0].hovertext[1] == "no data: no block in this hour"


def test_a_one_hour_burst_is_one_hour_wide():
    figure = stacked_series({"a": [0, 0, 500, 0, 0]}, hours(5), "ops", "UTC")
    (trace,) = drawn(figure)
    assert [i for i, v in enumerate(trace.y) if v] == [2]
    assert trace.offset == 0 and trace.x[2] == "1970-01-01 02:00" and trace.width == HOUR * 1000


def test_the_bucket_is_named_on_the_axis_and_in_the_hover():
    days = coverage.buckets(
        [{"epoch": d * 86400, "hours": 24, "hours_with_data": 24} for d in range(3)], "day", "Europe/Zurich"
    )
    figure = stacked_series({"a": [1000, 2000, 3000]}, days, "ops", "Europe/Zurich")
    assert figure.layout.yaxis.title.text == "operations per day"
    assert figure.data[0].hovertext[1] == "operations per day"
    assert drawn(figure)[0].width == 86400 * 1000
    bytes_figure = stacked_series({"a": [2**30, 2**31, 2**30]}, days, "bytes", "UTC")
    assert bytes_figure.layout.yaxis.title.text == "GiB per day, estimated (midpoint)"


def test_a_partial_first_and_last_week_are_drawn_lighter_and_say_how_partial():
    # 2025-03-05 (a Wednesday) .. 2025-03-18 in Zurich: the first week lacks Mon and Tue, the last ends Tuesday.
    monday = 1741561200  # 2025-03-10 00:00 CET
    rows = [
        {"epoch": monday - 5 * 86400, "hours": 5 * 24, "hours_with_data": 5 * 24},
        {"epoch": monday, "hours": 168, "hours_with_data": 166},  # a gap of 2 h inside: partial, but not a dip
        {"epoch": monday + 7 * 86400, "hours": 37, "hours_with_data": 37},
    ]
    weeks = coverage.buckets(rows, "week", "Europe/Zurich")
    assert weeks.period_hours == (168, 168, 168)
    figure = stacked_series({"a": [10, 20, 5]}, weeks, "ops", "Europe/Zurich")
    veiled = [(s.x0, s.x1) for s in figure.layout.shapes if s.layer == "above"]
    assert veiled == [("2025-03-05 00:00", "2025-03-10 00:00"), ("2025-03-17 00:00", "2025-03-18 13:00")]
    assert figure.data[0].hovertext[2] == "operations per week · partial: 37 of 168 hours"
    assert figure.data[0].hovertext[1] == "operations per week · partial: 166 of 168 hours"
    heat = size_heatmap(["[2, 4)"], np.array([[10.0, 20.0, 5.0]]), weeks, "ops", "Europe/Zurich").data[0]
    assert heat.text[0][2] == "5 (partial: 37 of 168 hours)" and heat.xhoverformat == "ISO week %V of %G"
    full = coverage.buckets([{**rows[1], "hours_with_data": 168}], "week", "Europe/Zurich")
    assert not full.is_partial(0)


def test_a_whole_day_across_a_daylight_saving_change_is_not_partial():
    # 2025-03-30 in Zurich has 23 hours: all of them with data is the whole day.
    day = coverage.buckets([{"epoch": 1743289200, "hours": 23, "hours_with_data": 23}], "day", "Europe/Zurich")
    assert day.period_hours == (23,) and not day.is_partial(0)


def test_colours_follow_the_name_not_the_rank():
    first = stacked_series({"alice": [9], "bob": [5], "carol": [1], "other": [3]}, hours(1), "ops", "UTC")
    second = stacked_series({"carol": [9], "alice": [1], "dave": [4]}, hours(1), "ops", "UTC")
    color = {t.name: t.marker.color for t in drawn(first)}
    assert color["alice"] == {t.name: t.marker.color for t in drawn(second)}["alice"]
    assert color["carol"] == {t.name: t.marker.color for t in drawn(second)}["carol"]
    assert color["other"] == colors.OTHER_COLOR


def test_fifteen_series_never_share_a_colour_and_a_clash_is_settled_the_same_way_every_time():
    names = [f"user{i:03d}" for i in range(200)]
    for start in range(0, 200, 15):
        shown = names[start : start + 15]
        assigned = colors.series_colors(shown + ["other"])
        assert len(set(assigned.values())) == len(shown) + 1
        assert assigned["other"] == colors.OTHER_COLOR and colors.OTHER_COLOR not in colors.SERIES_PALETTE
    # Two names with the same home colour: the same one keeps it whatever else is shown.
    by_home: dict[str, list[str]] = {}
    for name in names:
        by_home.setdefault(colors.home_color(name), []).append(name)
    a, b = next(group for group in by_home.values() if len(group) >= 2)[:2]
    both = colors.series_colors([a, b])
    assert both == colors.series_colors([b, a]) and both[a] != both[b]
    keeper = a if both[a] == colors.home_color(a) else b
    assert both[keeper] == colors.home_color(keeper)  # ... in every chart where both are shown
    assert colors.series_colors([keeper, "someone", b])[keeper] == colors.home_color(keeper) or (
        colors.home_color("someone") == colors.home_color(keeper)
    )


def test_a_cut_list_says_where_it_is_cut():
    figure = ranking_bar(pd.DataFrame({"name": ["a", "b"], "value": [2, 1]}), "users", "ops", note="top 2 of 93 users")
    assert annotations_text(figure) == "top 2 of 93 users"
    series = stacked_series({"a": [1], "other": [2]}, hours(1), "ops", "UTC", note="top 1 of 93 users")
    assert series.layout.legend.title.text == "top 1 of 93 users"


# -- one number format, integer axes, readable colour bars -----------------------------------------------------


@pytest.mark.parametrize(
    "value, text",
    [(0, "0"), (999, "999"), (1000, "1k"), (12_345, "12.3k"), (999_999, "1M"), (4_560_000, "4.56M"), (None, "–")],
)
def test_counts_read_like_a_person_writes_them(value, text):
    assert fmt.count(value) == text


def test_one_si_convention_for_headline_axes_hover_and_table():
    from clusterdash.web import usertable

    assert fmt.count(1.9e9) == "1.9G"  # the headline, as plotly's "~s" axis ticks write 1.9e9, never "1.9B"
    figure = ranking_bar(pd.DataFrame({"name": ["a"], "value": [1.9e9]}), "users", "ops")
    assert figure.layout.xaxis.tickformat == fmt.COUNT_TICKFORMAT == "~s"
    assert figure.data[0].hovertext[0] == "a: 1.9G operations"
    operations = next(c for c in usertable.columns() if c["id"] == "operations")
    assert operations["format"].to_plotly_json()["specifier"] == ".3~s"  # d3's SI: what fmt.count writes


@pytest.mark.parametrize("value, text", [(512, "512 B"), (1536, "1.5 KiB"), (3 * 1024**3, "3 GiB")])
def test_sizes_use_binary_units(value, text):
    assert fmt.size(value) == text


def test_ages_and_shares():
    assert [fmt.age(s) for s in (5, 600, 3 * 3600, 5 * 86400)] == ["5 s", "10 min", "3 h", "5 d"]
    assert fmt.percent(1, 3) == "33.3 %" and fmt.percent(1, 0) == "–" and fmt.percent(1, 10**6) == "< 0.1 %"


def test_a_count_axis_has_ticks_only_at_whole_numbers():
    bars = ranking_bar(pd.DataFrame({"name": ["a", "b"], "value": [2, 1]}), "users", "ops")
    assert (bars.layout.xaxis.tick0, bars.layout.xaxis.dtick) == (0, 1)
    series = stacked_series({"a": [1, 1], "b": [1, 0]}, hours(2), "ops", "UTC")
    assert series.layout.yaxis.dtick == 1 and series.layout.yaxis.rangemode == "tozero"
    sizes = size_distribution(pd.DataFrame({"label": ["[2, 4)"], "lower": [2], "value": [2]}), "ops")
    assert sizes.layout.yaxis.dtick == 1


def test_the_heatmap_colour_bar_is_labelled_with_real_values_never_negative():
    tiny = size_heatmap(["[2, 4)"], np.array([[2.0, 1.0]]), hours(2), "ops", "UTC").data[0]
    assert tiny.zmin == 0 and tiny.zmax >= 1 and min(tiny.colorbar.tickvals) >= 0
    wide = size_heatmap(["[2, 4)"], np.array([[3.0, 25_000.0]]), hours(2), "ops", "UTC").data[0]
    assert list(wide.colorbar.ticktext) == ["1", "10", "100", "1k", "10k"]
    assert "log" not in wide.colorbar.title.text
    nbytes = size_heatmap(["[1M, 2M)"], np.array([[2.0**20, 2.0**41]]), hours(2), "bytes", "UTC").data[0]
    assert list(nbytes.colorbar.ticktext) == ["1 MiB", "1 GiB", "1 TiB", "2 TiB"][: len(nbytes.colorbar.ticktext)]


# -- coverage: gaps that recur ---------------------------------------------------------------------------------


def gap(start: int, length: int = 1) -> dict:
    return {"start_epoch": start, "end_epoch": start + length * HOUR}


def test_a_gap_at_the_same_hour_on_most_days_is_a_pattern():
    midnight = 1741561200  # 2025-03-10 00:00 in Zurich
    days = 14
    gaps = [gap(midnight + d * 86400 + 3 * HOUR) for d in range(days) if d not in (4, 9)]
    gaps.append(gap(midnight + 5 * 86400 + 15 * HOUR, 2))  # once: chance, not a pattern
    found = coverage.recurring_gaps(gaps, midnight, midnight + days * 86400, "Europe/Zurich")
    assert found == [coverage.RecurringGap(first_hour=3, hours=1, days_missing=12, days=14)]
    from clusterdash.web.cards import recurring_text

    assert recurring_text(found[0]) == "no data at 03:00 on 12 of 14 days"
    two = [gap(midnight + d * 86400 + 3 * HOUR, 2) for d in range(days)]
    (run,) = coverage.recurring_gaps(two, midnight, midnight + days * 86400, "Europe/Zurich")
    assert recurring_text(run) == "no data 03:00–05:00 on 14 of 14 days"


def test_an_outage_is_not_a_pattern():
    start = 1741561200
    assert coverage.recurring_gaps([gap(start, 24 * 5)], start, start + 14 * 86400, "UTC") == []
    assert coverage.recurring_gaps([], start, start + 14 * 86400, "UTC") == []

"""Figure builders are pure: plain data in, a figure dict out. These tests need no database and no browser.

Every figure is loaded into plotly's validating go.Figure here (the app skips that cost): an invalid
property name or value fails the test.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import pytest

from clusterdash.web import figures as builders
from clusterdash.web import format as fmt


def _validated(build):
    """The builder, returning its figure loaded into plotly's validating go.Figure."""
    return lambda *args, **kwargs: go.Figure(build(*args, **kwargs))


ranking_bar = _validated(builders.ranking_bar)
size_distribution = _validated(builders.size_distribution)
stacked_series = _validated(builders.stacked_series)
size_heatmap = _validated(builders.size_heatmap)


def annotations_text(figure) -> str:
    return " ".join(a.text.replace("<br>", " ") for a in figure.layout.annotations)


@pytest.mark.parametrize(
    "build",
    [
        lambda: ranking_bar(pd.DataFrame(columns=["name", "value"]), "users", "ops"),
        lambda: size_distribution(pd.DataFrame(columns=["label", "lower", "value"]), "ops"),
        lambda: stacked_series(pd.DataFrame(columns=["epoch", "series", "value"]), "ops", "UTC", 3600),
        lambda: size_heatmap(pd.DataFrame(columns=["epoch", "label", "lower", "value"]), "ops", "UTC"),
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
    assert bar.marker.color == builders.DIMENSION_COLORS["users"]


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


def test_stacked_series_puts_other_last_in_grey_and_fills_missing_steps_with_zero():
    data = pd.DataFrame(
        {
            "epoch": [0, 3600, 0, 3600, 7200],
            "series": ["alice", "alice", "other", "bob", "bob"],
            "value": [5, 6, 100, 1, 1],
        }
    )
    figure = stacked_series(data, "ops", "UTC", 3600)
    names = [trace.name for trace in figure.data]
    assert names == ["alice", "bob", "other"]
    assert figure.data[-1].line.color == builders.OTHER_COLOR
    assert list(figure.data[0].y) == [5, 6, 0]
    assert len(figure.data[1].x) == 3


def test_time_axis_is_wall_clock_in_the_display_zone_and_round_trips():
    # 2025-03-30 00:30 UTC is 01:30 in Zurich (CET, +1); 01:30 UTC is 03:30 (CEST, +2) after the jump.
    times = builders.local_times([1743294600, 1743298200], "Europe/Zurich")
    assert [str(t) for t in times] == ["2025-03-30 01:30:00", "2025-03-30 03:30:00"]
    assert builders.epoch_from_local("2025-03-30 03:30:00", "Europe/Zurich") == 1743298200


def test_gaps_are_shaded_as_no_data():
    data = pd.DataFrame({"epoch": [0, 3600 * 5], "series": ["a", "a"], "value": [1, 1]})
    figure = stacked_series(data, "ops", "UTC", 3600, gaps=[(3600, 3600 * 4)])
    assert len(figure.layout.shapes) == 1


def test_heatmap_has_buckets_as_rows_smallest_first_and_holes_for_no_io():
    data = pd.DataFrame(
        {
            "epoch": [0, 0, 3600],
            "label": ["[1M, 2M)", "[2, 4)", "[2, 4)"],
            "lower": [2**20, 2, 2],
            "value": [100, 10, 1],
        }
    )
    heat = size_heatmap(data, "ops", "UTC").data[0]
    assert list(heat.y) == ["[2, 4)", "[1M, 2M)"]
    assert heat.z[0][0] == pytest.approx(1.0) and heat.z[0][1] == pytest.approx(0.0)
    assert heat.z[1][1] is None or heat.z[1][1] != heat.z[1][1]  # NaN: a hole, not zero IO
    assert heat.text[1][1] == "no IO"


@pytest.mark.parametrize(
    "value, text", [(0, "0"), (999, "999"), (12_345, "12.3 k"), (4_560_000, "4.56 M"), (None, "–")]
)
def test_counts_read_like_a_person_writes_them(value, text):
    assert fmt.count(value) == text


@pytest.mark.parametrize("value, text", [(512, "512 B"), (1536, "1.5 KiB"), (3 * 1024**3, "3 GiB")])
def test_sizes_use_binary_units(value, text):
    assert fmt.size(value) == text


def test_ages_and_shares():
    assert [fmt.age(s) for s in (5, 600, 3 * 3600, 5 * 86400)] == ["5 s", "10 min", "3 h", "5 d"]
    assert fmt.percent(1, 3) == "33.3 %" and fmt.percent(1, 0) == "–" and fmt.percent(1, 10**6) == "< 0.1 %"


def test_heatmap_keeps_hours_without_data_as_empty_columns():
    data = pd.DataFrame({"epoch": [0, 7200], "label": ["[2, 4)", "[2, 4)"], "lower": [2, 2], "value": [1, 1]})
    heat = size_heatmap(data, "ops", "UTC", grid=[0, 3600, 7200], gaps=[3600]).data[0]
    assert len(heat.x) == 3 and heat.text[0][1] == "no data (gap)"

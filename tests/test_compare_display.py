"""How the comparison reads: the profile card's rank, share and usual level, the hour a subject was first seen,
and the load view's figure (names as text, raw names to click, the cut said), without a browser."""

from __future__ import annotations

import plotly.graph_objects as go
import pytest

from clusterdash.web import cards, format, loadchart
from tests.test_figures import component_texts

MARKUP = "<b>bold</b>"
SPOOFED = "evil\u202eexe.txt"


def profile_info(**changes) -> dict:
    info = {
        "role": "stud",
        "affiliation": "tik",
        "first_seen": "2025-03-12T14:00:15Z",  # the block logged at 14:00:15 reports 13:00-14:00
        "last_seen": "2025-03-20T09:00:07Z",
        "first_hour": "2025-03-12T13:00:00Z",
        "last_hour": "2025-03-20T08:00:00Z",
        "totals": {"operations": 5_040_000, "rd_operations": 5_000_000, "small_operations": 10, "bytes": 3e9},
        "machines": [{"machine": "m1", "operations": 5_040_000}],
        "sizes": [],
        "standing": {
            "among": "users",
            "of": 93,
            "operations": {"rank": 3, "share": 0.142, "total": 35_000_000},
            "bytes": {"rank": 5, "share": 0.051, "total": 6e10},
        },
        "usual": {
            "definition": "the median of the same hours 1 to 4 weeks before",
            "weeks_counted": 4,
            "enough_history": True,
            "note": None,
            "operations": 1_200_000,
            "bytes": 3.75e9,
            "ratio": {"operations": 4.2, "bytes": 0.8},
            "weeks": [],
        },
    }
    info.update(changes)
    return info


def card_text(info: dict, tz: str = "UTC") -> str:
    return " ".join(component_texts(cards.profile("user", "alice", info, tz)))


def test_the_profile_card_says_the_rank_the_share_and_the_usual_level():
    shown = card_text(profile_info())
    assert "3rd of 93 users by operations, 5th by estimated bytes" in shown
    assert "14.2 % of operations, 5.1 % of estimated bytes" in shown
    assert "1.2M operations, 3.49 GiB; now 4.2× its usual operations, 0.8× its bytes" in shown


def test_the_profile_card_shows_the_hour_a_block_reports_as_first_and_last_seen():
    shown = card_text(profile_info(), tz="Europe/Zurich")
    assert "2025-03-12 14:00 CET" in shown  # 13:00 UTC: the hour the charts draw the first block in
    assert "2025-03-20 09:00 CET" in shown and "15:00" not in shown


def test_without_enough_history_the_card_says_so_and_shows_no_number():
    usual = {
        **profile_info()["usual"],
        "enough_history": False,
        "weeks_counted": 1,
        "operations": None,
        "bytes": None,
        "ratio": {"operations": None, "bytes": None},
        "note": "too little history: 1 of the 4 weeks before have data (3 needed)",
    }
    shown = card_text(profile_info(usual=usual))
    assert "too little history: 1 of the 4 weeks before have data (3 needed)" in shown and "its usual" not in shown


def test_a_user_without_io_in_the_range_has_no_rank_and_a_usually_idle_one_no_ratio():
    idle = profile_info()
    idle["standing"] = {**idle["standing"], "operations": {"rank": None, "share": 0.0, "total": 1}}
    idle["usual"] = {**idle["usual"], "operations": 0, "bytes": 0.0, "ratio": {"operations": None, "bytes": None}}
    shown = card_text(idle)
    assert "no IO in this range (of 93 users with IO)" in shown
    assert "0 operations, 0 B (none usually: no ratio)" in shown


@pytest.mark.parametrize(
    "n, text", [(1, "1st"), (2, "2nd"), (3, "3rd"), (4, "4th"), (11, "11th"), (12, "12th"), (13, "13th"), (22, "22nd")]
)
def test_ordinals(n, text):
    assert format.ordinal(n) == text


@pytest.mark.parametrize("value, text", [(4.25, "4.2×"), (0.8, "0.8×"), (12.4, "12×"), (0.04, "< 0.1×"), (None, "–")])
def test_ratios(value, text):
    assert format.ratio(value) == text


def load_row(user: str, ops: float, nbytes: float, small: float, ranks=(1, 1)) -> dict:
    return {
        "user": user,
        "share_operations": ops,
        "share_bytes": nbytes,
        "small_share": small,
        "rank_operations": ranks[0],
        "rank_bytes": ranks[1],
    }


def test_the_load_view_draws_names_as_text_and_clicks_select_the_raw_name():
    rows = [load_row(MARKUP, 0.5, 0.1, 0.8), load_row(SPOOFED, 0.1, 0.6, 0.0, (2, 1)), load_row("bob", 0.2, 0.2, 0.5)]
    figure = go.Figure(loadchart.load_bars(rows, 93, selected=("bob",), note="top 3 of 93 users"))  # validates
    small, larger, by_bytes = figure.data
    for trace in figure.data:
        assert list(trace.customdata) == [MARKUP, SPOOFED, "bob"]  # raw: a click selects the real name
        assert list(trace.y) == ["&lt;b&gt;bold&lt;/b&gt;", "evil\\u202eexe.txt", "bob"]
        assert list(trace.marker.opacity) == [0.3, 0.3, 1.0]  # the selected user solid, the others faded
        assert not any("<b>" in t or "\u202e" in t for t in trace.hovertext)
    assert list(small.x) == pytest.approx([40.0, 0.0, 10.0])  # percent of all operations that is its small IO
    assert [s + r for s, r in zip(small.x, larger.x)] == pytest.approx([50.0, 10.0, 20.0])
    assert list(larger.base) == list(small.x)  # the larger IO continues the bar
    assert list(by_bytes.x) == pytest.approx([10.0, 60.0, 20.0])
    assert small.marker.pattern.shape == "/" and small.offsetgroup == larger.offsetgroup != by_bytes.offsetgroup
    assert "50.0 % of operations (1st of 93), 80.0 % of them small IO" in small.hovertext[0]
    assert figure.layout.annotations[0].text == "top 3 of 93 users"


def test_the_load_view_without_rows_says_why():
    figure = go.Figure(loadchart.load_bars([], 0, empty_message="No data in this time range"))
    assert not figure.data and "No data in this" in figure.layout.annotations[0].text

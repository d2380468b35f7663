"""The jobs panel's and the job card's bodies (what their callbacks run) on both backends: names from the log and
from sacct are data (escaped where plotly draws them, text in the table, neutralised in CSV), the controls'
values are checked, a selected job is highlighted."""

from __future__ import annotations

import pytest

from clusterdash.errors import BadParameter
from clusterdash.ingest.jobs import ingest_sacct_files
from clusterdash.ingest.pipeline import ingest_paths
from clusterdash.web import format as fmt
from clusterdash.web import jobpanel, state
from tests.jobtools import H0, HOUR, io_log, sacct_line, write_sacct

USER = "<b>bold</b>"
NAME = "<img src=x onerror=alert`1`>"


@pytest.fixture
def hostile(engine, tmp_path):
    hours = {
        H0 + k * HOUR: {("rd", "n1", USER): {"[4K, 8K)": 10 + k}, ("rd", "n2", "amy"): {"[1K, 2K)": 5}}
        for k in range(6)
    }
    ingest_paths(engine, [str(io_log(tmp_path / "io.log", hours))])
    line = sacct_line(7, USER, "n1", H0, H0 + 4 * HOUR, cpus=2, name=NAME).replace("|tik|", "|=1+1|", 1)
    ingest_sacct_files(
        engine, [str(write_sacct(tmp_path / "s.txt", line, sacct_line(8, "amy", "n2", H0, H0 + HOUR)))], "UTC"
    )
    return engine


def test_names_are_escaped_in_the_chart_and_shown_as_text_in_the_table(hostile):
    view = state.View(preset="all", jobs=("7",))
    bars, columns, rows, styles, note = jobpanel.jobs(hostile, view, "operations", "range")
    (trace,) = bars["data"]
    assert list(trace["customdata"]) == ["8", "7"]  # a click selects the raw id
    assert fmt.plot_text(f"7 · {USER}") in trace["y"] and "<b>" not in "".join(trace["y"])
    assert trace["marker"]["opacity"] == [0.3, 1.0]  # the selected job solid, the other faded
    row = next(r for r in rows if r["job"] == "7")
    assert (row["job_user"], row["name"], row["operations"]) == (USER, NAME, 10 + 11 + 12 + 13)
    assert {"if": {"filter_query": '{job} = "7"'}, "backgroundColor": jobpanel.HIGHLIGHT} in styles
    assert "2 jobs did IO in this range" in note and "outside jobs" in note
    card = str(jobpanel.profile(hostile, view))
    assert "Job 7" in card and NAME in card and "=1+1 / cpu.normal" in card


def test_the_controls_values_are_checked_and_the_newest_hour(hostile):
    view = state.View(preset="all")
    assert jobpanel.jobs(hostile, view, None, None)[2] == jobpanel.jobs(hostile, view, "operations", "range")[2]
    for ranking, when, name in (("DROP TABLE", "range", "jobs_rank"), ("operations", {"a": 1}, "jobs_when")):
        with pytest.raises(BadParameter, match=name):  # no control produces it: a crafted callback
            jobpanel.jobs(hostile, view, ranking, when)
    bars, _, rows, _, note = jobpanel.jobs(hostile, view, "small_share", "now")
    assert rows == [] and "newest hour" in note and "0 jobs" in note  # no job ran in the last hour
    assert "No job ran in the newest" in bars["layout"]["annotations"][0]["text"]


def test_a_job_page_for_an_unknown_job_says_so(hostile):
    view = state.from_url("/job/424242", "", state.View())
    assert view.jobs == ("424242",) and view.profile == ("job", "424242")
    assert "No job 424242" in str(jobpanel.profile(hostile, view))
    assert state.from_url("/job/<script>", "", state.View()).jobs == ()  # not a job id: no selection
    assert state.from_url("/", "?job=12&job=x%3Cy", state.View()).jobs == ("12",)

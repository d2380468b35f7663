"""What the panels draw from a real database (both backends), without a browser: a small hand-made log whose
shape is known, so each test can say exactly what must be drawn: a gap hour, a one-hour burst, a list cut at
its top N, no writes at all."""

from __future__ import annotations

import plotly.graph_objects as go
import pytest

from clusterdash.ingest.pipeline import ingest_paths
from clusterdash.web import cards, panels, state, usertable
from tests.logtools import FIXED_START, block

T0 = int(FIXED_START.timestamp()) + 15  # the Log: line of hour 0 (reports the hour before)
HOURS = 10
GAP_HOUR = 3  # no block
BURST_HOUR = 6  # "burst" reads only in this hour
USERS = [f"u{i:02d}" for i in range(25)]
VIEW = state.View(tz="UTC", preset="24h")


def write_log(path, writes: bool) -> None:
    blocks = []
    for hour in range(1, HOURS + 1):
        if hour == GAP_HOUR:
            continue
        entries = {("rd", "m1", user): {"[4K, 8K)": 100 + 10 * i} for i, user in enumerate(USERS)}
        entries[("rd", "m2", "tiny")] = {"[2, 4)": 1}  # a few bytes: a table row that must not read 0.00
        if hour == BURST_HOUR:
            entries[("rd", "m2", "burst")] = {"[1M, 2M)": 100_000}
        if writes:
            entries[("wr", "m1", "u00")] = {"[4K, 8K)": 7}
        blocks.append(block(T0 + hour * 3600, entries))
    path.write_text("".join(blocks))


@pytest.fixture(params=[False, True], ids=["reads-only", "with-writes"])
def shaped(request, engine, tmp_path):
    """(engine, whether the log has writes): the hand-made log ingested."""
    log = tmp_path / "io_usage.log"
    write_log(log, writes=request.param)
    ingest_paths(engine, [str(log)], progress=False)
    panels.clear_cache()
    yield engine, request.param
    panels.clear_cache()


def test_the_series_has_no_bar_at_a_gap_and_a_burst_one_hour_wide(shaped):
    engine, _ = shaped
    figure = panels.series(engine, VIEW)
    go.Figure(figure)
    bucket, *traces = figure["data"]
    first = min(i for t in traces for i, v in enumerate(t["y"]) if v is not None)  # a block reports the hour before
    gap_at = first + GAP_HOUR - 1
    assert bucket["hovertext"][gap_at] == "no data: no block in this hour"
    assert [t["y"][gap_at] for t in traces] == [None] * len(traces)  # nothing drawn, nothing interpolated
    burst = next(t for t in traces if t["name"] == "burst")
    assert [i for i, v in enumerate(burst["y"]) if v] == [first + BURST_HOUR - 1]
    assert burst["width"] == 3600 * 1000 and burst["offset"] == 0
    assert figure["layout"]["yaxis"]["title"]["text"] == "operations per hour"
    assert {t["type"] for t in traces} == {"bar"}


def test_cut_lists_say_top_n_of_how_many(shaped):
    engine, _ = shaped
    users = panels.users(engine, VIEW)
    assert users["layout"]["annotations"][0]["text"] == f"top {panels.TOP_USERS} of {len(USERS) + 2} users"
    series = panels.series(engine, VIEW)
    assert series["layout"]["legend"]["title"]["text"].startswith(f"top {VIEW.top} of {len(USERS) + 2} users")
    machines = panels.machines(engine, VIEW)
    assert not machines["layout"]["annotations"]  # two machines: nothing cut, nothing said
    selected = panels.users(engine, VIEW.click("users", "tiny"))
    assert selected["layout"]["annotations"][0]["text"].endswith("and 1 selected below them")


def test_colours_stay_with_the_user_across_views(shaped):
    engine, _ = shaped
    views = (VIEW, state.View(tz="UTC", preset="7d", top=15), state.View(tz="UTC", preset="24h", top=3))
    colours = [{t["name"]: t["marker"]["color"] for t in panels.series(engine, view)["data"][1:]} for view in views]
    assert_same_colours_unless_claimed(colours)
    assert len(set(colours[1].values())) == len(colours[1])  # top 15 and "other": no colour twice


def assert_same_colours_unless_claimed(views: list[dict[str, str]]) -> None:
    """A name has one colour in every view, except where a name with a stronger claim on its colour (the same
    home colour, a smaller hash) is shown beside it (colors.series_colors); and at least one name is compared."""
    from clusterdash.web import colors

    claimed = {
        name
        for shown in views
        for name in shown
        for other in shown
        if other != name and colors.home_color(other) == colors.home_color(name) and other != "other"
    }
    common = set.intersection(*(set(v) for v in views)) - claimed
    assert common, "no name to compare"
    for name in common:
        assert len({v[name] for v in views}) == 1, name


def test_no_writes_at_all_is_said_in_the_headline_the_health_panel_and_the_writes_view(shaped):
    engine, writes = shaped
    note = panels.headline(engine, VIEW)[0].children[2].children
    health = str(panels.health(engine, VIEW))
    writes_view = state.View(tz="UTC", preset="24h", direction="wr")
    messages = [go.Figure(getattr(panels, p)(engine, writes_view)) for p in ("series", "users", "sizes", "heatmap")]
    if writes:
        assert note == "reads and writes" and "Writes in range" not in health
        assert all(m.data for m in messages)
    else:
        assert "writes" not in note.replace("no writes recorded", "") and "reads only" in note
        assert "Writes in range" in health and "write probe may be off" in health
        for figure in messages:
            assert panels.NO_WRITES.replace(":", "") in " ".join(a.text for a in figure.layout.annotations).replace(
                "<br>", " "
            ).replace(":", "")
        assert usertable.table(engine, writes_view)[3] == panels.NO_WRITES


def test_the_table_shows_small_byte_counts_and_sorts_them_as_numbers(shaped):
    engine, _ = shaped
    columns, rows, _styles, _note = usertable.table(engine, VIEW)
    by_id = {c["id"]: c for c in columns}
    assert by_id["est_bytes"]["type"] == "numeric" and by_id["est_bytes"]["name"].startswith("est. GiB")
    tiny = next(r for r in rows if r["user_name"] == "tiny")  # "user" is markdown: the name and its profile link
    assert isinstance(tiny["est_bytes"], float) and 0 < tiny["est_bytes"] < 1e-6  # 27 B in GiB, not 0.00
    assert all(r["est_bytes"] > 0 for r in rows)


def test_a_daily_gap_is_named_as_a_pattern_in_data_health():
    from clusterdash.web import coverage

    midnight = 1741824000  # 2025-03-13 00:00 UTC
    start, end = midnight, midnight + 14 * 86400
    gaps = [{"start_epoch": midnight + d * 86400 + 3 * 3600, "hours": 1} for d in range(14) if d != 6]
    gaps = [{**g, "end_epoch": g["start_epoch"] + 3600} for g in gaps]
    facts = {
        "range": {"start_epoch": start, "end_epoch": end, "hours": 14 * 24},
        "blocks": 14 * 24 - len(gaps),
        "gaps": gaps,
        "hours_with_lost_events": 0,
        "rejected_lines": 0,
        "freshness": {"last_block_epoch": end, "age_seconds": 60},
    }
    recurring = coverage.recurring_gaps(gaps, start, end, "UTC")
    assert "no data at 03:00 on 13 of 14 days" in str(cards.health(facts, "UTC", recurring=recurring))
    assert "no data at 04:00" in str(  # 03:00 UTC is 04:00 CET
        cards.health(facts, "Europe/Zurich", coverage.recurring_gaps(gaps, start, end, "Europe/Zurich"))
    )

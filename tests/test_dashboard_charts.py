"""What the charts draw, read from the page in a real headless Chromium (dash[testing]): names shown as literal
text however they are spelled, no bar across a gap, colours that stay with a name from one view to the next.

The hostile names come from a small hand-made log: markup in users, roles, machines and machine types goes
through the ingest as any name does; a name with a right-to-left override is stored through the loader (the
parser may refuse such names, but a database can still hold one from before, and what shows it must hold up).
"""

from __future__ import annotations

from urllib.parse import parse_qs, quote, urlparse

import pytest
from selenium.webdriver.common.action_chains import ActionChains

from tests.browser import figure_data, open_dashboard, page_text, wait_for_panels, wait_until
from tests.logtools import FIXED_START, parse_lines, row

pytestmark = pytest.mark.browser

BOLD_USER = "<b>bold</b>"
LINK_ROLE = '<a href="http:evil.example">CLICK ME<'
BIG_RED_ROLE = "<span style=font-size:60px;color:red>"
MARKUP_MACHINE, MARKUP_TYPE = "<i>m</i>", "<u>t</u>"
SPOOFED_USER = "evil\u202eexe.txt"  # shows as "eviltxt.exe" when the override is obeyed
PLACEHOLDER = "spoofplaceholder"
T0 = int(FIXED_START.timestamp()) + 15
GRAPHS = ("series-graph", "users-graph", "users-roles-graph", "machines-graph", "machines-types-graph")


def hostile_log(users: tuple[str, ...]) -> str:
    """Six hours of reads by `users` (of BOLD_USER, PLACEHOLDER, alice, bob), with markup in every kind of name."""
    lines = []
    for hour in range(1, 7):
        lines.append(f"Log: 2025-03-01 0{hour}:00:15 ({T0 + hour * 3600})")
        for machine, mtype, user, status, count in (
            (MARKUP_MACHINE, MARKUP_TYPE, BOLD_USER, f"{LINK_ROLE}/tik", 900),
            ("tikgpu01", "tik", PLACEHOLDER, "stud/tik", 500),
            ("tikgpu01", "tik", "alice", f"{BIG_RED_ROLE}/tik", 200),
            ("tikgpu02", "tik", "bob", "staff/tik", 100),
        ):
            if user in users:
                lines += [f"@rd_client({machine},{mtype})[{user}({status})]:", row("[4K, 8K)", count * hour), ""]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def hostile_db_url(tmp_path_factory) -> str:
    from clusterdash.db.engine import make_engine, write_transaction
    from clusterdash.db.setup import prepare_database
    from clusterdash.ingest.pipeline import ingest_paths
    from clusterdash.ingest.store import write_blocks

    folder = tmp_path_factory.mktemp("hostile-names")
    url = f"sqlite:///{folder / 'names.db'}"
    engine = make_engine(url)
    prepare_database(engine, "UTC")
    (folder / "io_usage.log").write_text(hostile_log((BOLD_USER, "alice", "bob")))
    ingest_paths(engine, [str(folder / "io_usage.log")], progress=False)
    blocks = parse_lines(hostile_log((PLACEHOLDER,)).splitlines(True))
    for block in blocks:
        for entry in block.entries:
            entry.user = SPOOFED_USER
    with write_transaction(engine) as conn:
        write_blocks(conn, blocks, "spoofed.log")
    engine.dispose()
    return url


def svg_texts(duo, graph_id: str) -> list[str]:
    return duo.driver.execute_script(
        "return Array.from(document.querySelectorAll('#' + arguments[0] + ' svg text')).map(t => t.textContent);",
        graph_id,
    )


def styled_markup(duo) -> list[str]:
    """Links and styled text pieces plotly made from markup, anywhere in a chart."""
    return duo.driver.execute_script(
        "return Array.from(document.querySelectorAll('.js-plotly-plot a, .js-plotly-plot tspan[style]'))"
        ".map(e => e.outerHTML);"
    )


def hover_texts(duo, graph_id: str, point: int) -> list[str]:
    script = (
        "var gd = document.querySelector('#' + arguments[0] + ' .js-plotly-plot');"
        "Plotly.Fx.hover(gd, [{curveNumber: 0, pointNumber: arguments[1]}]);"
        "return Array.from(gd.querySelectorAll('.hoverlayer text')).map(t => t.textContent);"
    )
    return wait_until(duo, lambda: duo.driver.execute_script(script, graph_id, point), what="a hover label")


def test_names_with_markup_or_a_direction_override_show_as_literal_text(dashboard, hostile_db_url):
    open_dashboard(dashboard, hostile_db_url)
    wait_for_panels(dashboard)
    texts = {graph: svg_texts(dashboard, graph) for graph in GRAPHS}
    everything = [t for shown in texts.values() for t in shown]
    assert BOLD_USER in texts["users-graph"] and BOLD_USER in texts["series-graph"]  # a tick, a legend entry
    assert LINK_ROLE in texts["users-roles-graph"] and BIG_RED_ROLE in texts["users-roles-graph"]
    assert MARKUP_MACHINE in texts["machines-graph"] and MARKUP_TYPE in texts["machines-types-graph"]
    assert "evil\\u202eexe.txt" in texts["users-graph"]  # the override shown as its escape ...
    assert not any("\u202e" in t for t in everything)  # ... never obeyed
    assert styled_markup(dashboard) == []  # no <a>, no bold, no 60px red text inside any chart

    users = figure_data(dashboard, "users-graph")[0]["customdata"]
    hover = hover_texts(dashboard, "users-graph", users.index(BOLD_USER))
    assert any(t.startswith(f"{BOLD_USER}: ") for t in hover) and styled_markup(dashboard) == []

    # A click selects the real name (customdata is raw); the chip and the table show it as text.
    bar = dashboard.driver.find_elements("css selector", "#users-graph .bars .point")[users.index(SPOOFED_USER)]
    ActionChains(dashboard.driver).move_to_element(bar).click().perform()
    wait_until(
        dashboard,
        lambda: parse_qs(urlparse(dashboard.driver.current_url).query).get("user") == [SPOOFED_USER],
        what="the spoofed user selected by its real name",
    )
    wait_until(dashboard, lambda: "evil\\u202eexe.txt" in page_text(dashboard, "#filter-chips"), what="the chip")
    wait_for_panels(dashboard)
    table = page_text(dashboard, "#table-grid")
    assert BOLD_USER in table and "evil\\u202eexe.txt" in table and "\u202e" not in table
    assert "\u202e" not in page_text(dashboard, "#filter-chips")

    dashboard.driver.get(f"{dashboard.server_url}/user/{quote(SPOOFED_USER, safe='')}")
    wait_until(dashboard, lambda: "evil\\u202eexe.txt" in page_text(dashboard, "#profile-card"), what="the profile")
    assert "\u202e" not in page_text(dashboard, "#profile-card")
    wait_for_panels(dashboard)
    assert dashboard.get_logs() == []


def series_traces(duo) -> list[dict]:
    """The stacked series' traces as the page holds them: name, colour, values, hover text."""
    return duo.driver.execute_script(
        "var gd = document.querySelector('#series-graph .js-plotly-plot');"
        "return gd.data.map(t => ({name: t.name, color: t.marker && t.marker.color, y: t.y, hover: t.hovertext,"
        " type: t.type}));"
    )


def test_the_time_chart_draws_no_bar_across_a_gap_and_names_its_bucket(dashboard, demo_db_url):
    open_dashboard(dashboard, demo_db_url)
    wait_for_panels(dashboard)
    bucket, *traces = series_traces(dashboard)
    gaps = [i for i, note in enumerate(bucket["hover"]) if note.startswith("no data")]
    data = [i for i, note in enumerate(bucket["hover"]) if not note.startswith("no data")]
    assert gaps and data, "the demo's week has gaps between hours with data"
    inner = [i for i in gaps if data[0] < i < data[-1]]
    assert inner, "a gap between two hours with data"
    for trace in traces:
        assert trace["type"] == "bar"
        assert all(trace["y"][i] is None for i in inner)  # no value there: nothing drawn, nothing interpolated
    assert all(bucket["hover"][i] == "operations per hour" for i in data[:3])
    title = dashboard.driver.execute_script("return document.querySelector('#series-graph .ytitle').textContent")
    assert title == "operations per hour"
    assert dashboard.get_logs() == []


def test_a_user_keeps_its_colour_from_one_view_to_the_next(dashboard, demo_db_url):
    from clusterdash.web import colors

    open_dashboard(dashboard, demo_db_url)
    wait_for_panels(dashboard)
    week = {t["name"]: t["color"] for t in series_traces(dashboard)[1:]}
    dashboard.driver.find_element("xpath", "//label[normalize-space()='24 h']").click()
    wait_until(dashboard, lambda: {t["name"]: t["color"] for t in series_traces(dashboard)[1:]} != week, what="24 h")
    wait_for_panels(dashboard)
    day = {t["name"]: t["color"] for t in series_traces(dashboard)[1:]}
    for shown in (week, day):
        assert shown == colors.series_colors(shown) and len(set(shown.values())) == len(shown)
    # A name moves off its colour only where a name with the same home colour is shown with it.
    homes = [colors.home_color(n) for shown in (week, day) for n in shown]
    steady = [n for n in set(week) & set(day) if n != colors.OTHER and homes.count(colors.home_color(n)) == 2]
    assert steady and all(week[n] == day[n] == colors.home_color(n) for n in steady)
    assert dashboard.get_logs() == []

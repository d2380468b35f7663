"""The load view ("who loaded the server") and the profile card's comparison in a real headless Chromium: the
shares the page draws are those of a plain SQL sum over the raw sessions, and a click on a bar selects the user."""

from __future__ import annotations

import sqlite3
from urllib.parse import parse_qs, urlparse

import pytest
from selenium.webdriver.common.action_chains import ActionChains

from clusterdash.db.periods import hour_of
from tests.browser import figure_data, open_dashboard, page_text, screenshot, wait_for_panels, wait_until

pytestmark = pytest.mark.browser
GRAPH = "load-graph"


def raw_shares(db_url: str, first_hour: int, end_hour: int) -> dict[str, tuple[float, float, float]]:
    """{user: (share of operations, share of midpoint bytes, small share of its operations)} in the hours, summed
    by SQL over UserSessions (no rollup, no query layer)."""
    with sqlite3.connect(db_url.removeprefix("sqlite:///")) as db:
        rows = db.execute(
            "SELECT u.username, SUM(s.operations), SUM(s.bytes_mid), SUM(s.small_operations) FROM UserSessions s "
            "JOIN Users u ON u.id = s.user_id WHERE s.epoch >= ? AND s.epoch < ? GROUP BY u.username "
            "HAVING SUM(s.operations) > 0",
            (first_hour + 1800, end_hour + 1800),
        ).fetchall()
    ops, nbytes = sum(r[1] for r in rows), sum(r[2] for r in rows)
    return {name: (o / ops, b / nbytes, s / o) for name, o, b, s in rows}


def ordinal(n: int) -> str:
    return f"{n}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10 if n % 100 not in (11, 12, 13) else 0, 'th') }"


def latest_epoch(db_url: str) -> int:
    with sqlite3.connect(db_url.removeprefix("sqlite:///")) as db:
        return db.execute("SELECT MAX(epoch) FROM LogEntries").fetchone()[0]


def test_the_load_view_draws_both_shares_of_each_user_and_a_click_selects_that_user(dashboard, demo_db_url):
    open_dashboard(dashboard, demo_db_url)
    wait_for_panels(dashboard)
    traces = wait_until(dashboard, lambda: figure_data(dashboard, GRAPH), what="the load view")
    small, larger, by_bytes = traces
    names = small["customdata"]
    end = hour_of(latest_epoch(demo_db_url)) + 3600
    expected = raw_shares(demo_db_url, end - 7 * 86400, end)  # the default view: the last 7 days
    assert len(names) == min(20, len(expected))
    for i, name in enumerate(names):
        ops, nbytes, small_share = expected[name]
        assert small["x"][i] + larger["x"][i] == pytest.approx(100 * ops, rel=1e-9)
        assert small["x"][i] == pytest.approx(100 * ops * small_share, rel=1e-9)
        assert by_bytes["x"][i] == pytest.approx(100 * nbytes, rel=1e-9)
    loads = [max(expected[n][0], expected[n][1]) for n in names]
    assert loads == sorted(loads, reverse=True)  # the most loading first, by the larger share
    assert "A long operations bar beside a short bytes bar" in page_text(dashboard, "#" + GRAPH + " + .panel-note")
    screenshot(dashboard, "dashboard-load-view")

    # A click on the second user's bytes bar selects that user in every panel, highlighted here.
    chosen = names[1]
    bars = dashboard.driver.find_elements("css selector", f"#{GRAPH} .barlayer .trace")[2]
    ActionChains(dashboard.driver).move_to_element(bars.find_elements("css selector", ".point")[1]).click().perform()
    wait_until(
        dashboard,
        lambda: parse_qs(urlparse(dashboard.driver.current_url).query).get("user") == [chosen],
        what="the user selected by a click on the load view",
    )
    wait_for_panels(dashboard)
    wait_until(
        dashboard,
        lambda: (
            dashboard.driver.execute_script(
                "var t = document.querySelector('#load-graph .js-plotly-plot').data[2];"
                "return Array.isArray(t.marker.opacity) && t.customdata.filter((_, i) => t.marker.opacity[i] === 1);"
            )
            == [chosen]
        ),
        what="the selected user highlighted in the load view",
    )
    # One user selected: the profile card ranks it as the load view does.
    by_ops = 1 + sum(1 for o, _b, _s in expected.values() if o > expected[chosen][0])
    by_bytes = 1 + sum(1 for _o, b, _s in expected.values() if b > expected[chosen][1])
    wait_until(
        dashboard,
        lambda: (
            f"{ordinal(by_ops)} of {len(expected)} users by operations, {ordinal(by_bytes)} by estimated bytes"
            in page_text(dashboard, "#profile-card")
        ),
        what="the profile card's rank",
    )
    assert dashboard.get_logs() == []

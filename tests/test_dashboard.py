"""The dashboard in a real headless Chromium (dash[testing]): `pytest --headless tests/test_dashboard.py`.

Each test opens the app on a two-week demo database (built once per session) and checks what a
person would see. Screenshots of the main states land in test-artifacts/ (gitignored).
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.actions.action_builder import ActionBuilder
from selenium.webdriver.common.keys import Keys

from tests.browser import (
    figure_data,
    open_dashboard,
    outside_requests,
    page_text,
    screenshot,
    wait_for_panels,
    wait_until,
)

pytestmark = pytest.mark.browser


def query_of(duo) -> dict[str, list[str]]:
    return parse_qs(urlparse(duo.driver.current_url).query)


def bar_names(duo, graph_id: str) -> list[str]:
    traces = figure_data(duo, graph_id)
    return list(traces[0]["customdata"]) if traces else []


def click_bar(duo, graph_id: str, name: str, add: bool = False) -> None:
    """Click the bar whose value is `name` (shift-click with add=True), as a person would."""
    index = bar_names(duo, graph_id).index(name)
    bars = duo.driver.find_elements("css selector", f"#{graph_id} .bars .point")
    actions = ActionChains(duo.driver)
    if add:
        actions.key_down(Keys.SHIFT)
    actions.move_to_element(bars[index]).click()
    if add:
        actions.key_up(Keys.SHIFT)
    actions.perform()


def total(duo, graph_id: str) -> float:
    return sum(sum(v for v in (t.get("x") or []) if isinstance(v, (int, float))) for t in figure_data(duo, graph_id))


def series_total(duo) -> float:
    return sum(sum(v or 0 for v in t["y"]) for t in figure_data(duo, "series-graph"))


def test_page_loads_with_no_console_errors_and_nothing_from_outside_the_server(dashboard, demo_db_url):
    open_dashboard(dashboard, demo_db_url)
    wait_for_panels(dashboard)
    assert "operations" in page_text(dashboard, "#headline-body").lower()
    assert bar_names(dashboard, "users-graph"), "the users panel drew no bars"
    screenshot(dashboard, "dashboard-default")
    assert dashboard.get_logs() == [], "browser console errors"
    assert outside_requests(dashboard) == []


def selected_in(duo, graph_id: str) -> list[str]:
    """The bars drawn solid (selected) in a graph with a selection; [] when nothing is highlighted."""
    script = (
        "var gd = document.querySelector('#' + arguments[0] + ' .js-plotly-plot');"
        "var t = gd && gd.data && gd.data[0]; if (!t || !t.marker || !Array.isArray(t.marker.opacity)) return [];"
        "return t.customdata.filter(function (_, i) { return t.marker.opacity[i] === 1; });"
    )
    return duo.driver.execute_script(script, graph_id)


def chip_texts(duo) -> list[str]:
    return [c.text.strip() for c in duo.driver.find_elements("css selector", ".chip .chip-text")]


def choose(duo, label: str) -> None:
    """Click a filter-bar button (a radio label) by its text."""
    duo.driver.find_element("xpath", f"//label[normalize-space()='{label}']").click()


def test_clicking_a_user_bar_filters_the_machines_panel_and_the_time_series(dashboard, demo_db_url):
    open_dashboard(dashboard, demo_db_url)
    wait_for_panels(dashboard)
    machines_before, series_before = total(dashboard, "machines-graph"), series_total(dashboard)
    users = bar_names(dashboard, "users-graph")
    top, second = users[-1], users[-2]
    user_ops = dict(zip(users, figure_data(dashboard, "users-graph")[0]["x"]))

    click_bar(dashboard, "users-graph", top)
    wait_until(dashboard, lambda: chip_texts(dashboard) == [f"user: {top}"], what="the user chip")
    assert query_of(dashboard)["user"] == [top]
    wait_until(dashboard, lambda: total(dashboard, "machines-graph") != machines_before, what="machines to filter")
    wait_until(dashboard, lambda: series_total(dashboard) != series_before, what="the series to filter")
    wait_for_panels(dashboard)
    # The machines panel now holds exactly that user's IO; the series too (both at most the user's total).
    assert total(dashboard, "machines-graph") == pytest.approx(user_ops[top], rel=1e-9)
    assert series_total(dashboard) == pytest.approx(user_ops[top], rel=1e-9)
    # The users panel still shows everyone, the selected user highlighted (the crossfilter convention).
    assert bar_names(dashboard, "users-graph") == users
    assert selected_in(dashboard, "users-graph") == [top]
    screenshot(dashboard, "dashboard-user-selected")

    click_bar(dashboard, "users-graph", second, add=True)  # shift-click adds
    wait_until(dashboard, lambda: query_of(dashboard).get("user") == [top, second], what="shift-click to add")
    wait_until(
        dashboard,
        lambda: sorted(selected_in(dashboard, "users-graph")) == sorted([top, second]),
        what="both users highlighted",
    )
    click_bar(dashboard, "users-graph", second)  # a plain click selects only that one
    wait_until(dashboard, lambda: query_of(dashboard).get("user") == [second], what="plain click to replace")
    dashboard.find_element(".chip-remove").click()
    wait_until(dashboard, lambda: "user" not in query_of(dashboard), what="the chip to remove the selection")
    # Clearing it restores the unfiltered panels (and the test ends with no callback still in flight).
    wait_until(
        dashboard,
        lambda: (
            total(dashboard, "machines-graph") == pytest.approx(machines_before, rel=1e-9)
            and series_total(dashboard) == pytest.approx(series_before, rel=1e-9)
        ),
        what="the unfiltered panels",
    )
    wait_for_panels(dashboard)
    assert dashboard.get_logs() == []


def copy_link(duo) -> str:
    """Click "Copy link" and read what landed on the clipboard (headless Chrome needs the permission)."""
    duo.driver.execute_cdp_cmd(
        "Browser.grantPermissions",
        {"origin": duo.server_url, "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]},
    )
    duo.find_element("#filter-copy").click()
    wait_until(duo, lambda: "copied" in duo.find_element("#filter-copy").text.lower(), what="the copy to finish")
    return duo.driver.execute_async_script(
        "var done = arguments[0]; navigator.clipboard.readText().then(done, function (e) { done('' + e); });"
    )


def test_a_copied_link_restores_the_view_and_back_and_forward_work(dashboard, demo_db_url):
    open_dashboard(dashboard, demo_db_url)
    wait_for_panels(dashboard)
    machines = bar_names(dashboard, "machines-graph")
    click_bar(dashboard, "machines-graph", machines[-1])
    wait_until(dashboard, lambda: query_of(dashboard).get("machine") == [machines[-1]], what="machine selected")
    choose(dashboard, "Est. bytes")
    wait_until(dashboard, lambda: query_of(dashboard).get("metric") == ["bytes"], what="metric in the URL")
    link = copy_link(dashboard)
    assert link == dashboard.driver.current_url

    dashboard.driver.back()
    wait_until(dashboard, lambda: "metric" not in query_of(dashboard), what="back to operations")
    wait_until(
        dashboard,
        lambda: (
            "operations" in str(figure_data(dashboard, "users-graph"))
            or dashboard.driver.execute_script("return document.querySelector('#users-graph .xtitle').textContent")
            == "operations"
        ),
        what="the panels to redraw in operations",
    )
    dashboard.driver.forward()
    wait_until(dashboard, lambda: query_of(dashboard).get("metric") == ["bytes"], what="forward to bytes")

    dashboard.driver.get("about:blank")
    dashboard.driver.get(link)  # a fresh page, as when a colleague opens the copied link
    wait_for_panels(dashboard)
    wait_until(dashboard, lambda: chip_texts(dashboard) == [f"machine: {machines[-1]}"], what="the chip restored")
    checked = dashboard.driver.find_element("css selector", "#filter-metric input:checked").get_attribute("value")
    assert checked == "bytes"
    assert selected_in(dashboard, "machines-graph") == [machines[-1]]
    assert "estimated" in dashboard.driver.execute_script(
        "return document.querySelector('#users-graph .xtitle').textContent"
    )
    assert dashboard.get_logs() == []


def panel_signatures(duo) -> dict[str, str]:
    graphs = [
        "series-graph",
        "users-graph",
        "users-roles-graph",
        "machines-graph",
        "machines-types-graph",
        "sizes-graph",
        "heatmap-graph",
    ]
    signatures = {g: str(figure_data(duo, g)) for g in graphs}
    for selector in ("#headline-body", "#health-body", "#table-grid"):
        signatures[selector] = page_text(duo, selector)
    return signatures


def test_a_time_preset_changes_every_panel(dashboard, demo_db_url):
    open_dashboard(dashboard, demo_db_url)
    wait_for_panels(dashboard)
    before = panel_signatures(dashboard)
    choose(dashboard, "24 h")
    wait_until(dashboard, lambda: query_of(dashboard).get("range") == ["24h"], what="the preset in the URL")
    wait_until(
        dashboard,
        lambda: all(before[k] != v for k, v in panel_signatures(dashboard).items()),
        timeout=20,
        what="every panel to change",
    )
    wait_for_panels(dashboard)
    screenshot(dashboard, "dashboard-24h")
    assert dashboard.get_logs() == []


def test_dragging_across_the_time_axis_sets_the_time_range(dashboard, demo_db_url):
    open_dashboard(dashboard, demo_db_url)
    wait_for_panels(dashboard)
    area = dashboard.find_element("#series-graph .nsewdrag")
    dashboard.driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", area)
    box = dashboard.driver.execute_script(
        "var r = arguments[0].getBoundingClientRect();return [r.left, r.top, r.width, r.height];", area
    )
    x, y, width = int(box[0] + box[2] * 0.4), int(box[1] + box[3] / 2), int(box[2] * 0.2)
    drag = ActionBuilder(dashboard.driver)  # viewport coordinates, with moves in between as a hand makes
    drag.pointer_action.move_to_location(x, y).pointer_down().move_to_location(x + width // 2, y).move_to_location(
        x + width, y
    ).pointer_up()
    drag.perform()
    wait_until(
        dashboard,
        lambda: "start" in query_of(dashboard) and "end" in query_of(dashboard),
        what="a custom range in the URL",
    )
    wait_until(dashboard, lambda: any(c.startswith("time:") for c in chip_texts(dashboard)), what="the time chip")
    checked = dashboard.driver.find_element("css selector", "#filter-preset input:checked").get_attribute("value")
    assert checked == "custom"
    assert dashboard.get_logs() == []


def test_profile_pages_and_an_unknown_user(dashboard, demo_db_url):
    open_dashboard(dashboard, demo_db_url)
    wait_for_panels(dashboard)
    top = bar_names(dashboard, "users-graph")[-1]
    dashboard.driver.get(f"{dashboard.server_url}/user/{top}")
    wait_for_panels(dashboard)
    wait_until(dashboard, lambda: top in page_text(dashboard, "#profile-card"), what="the profile card")
    card = page_text(dashboard, "#profile-card")
    assert "First seen" in card and "Busiest machines" in card
    assert urlparse(dashboard.driver.current_url).path == f"/user/{top}"
    assert selected_in(dashboard, "users-graph") == [top]
    screenshot(dashboard, "dashboard-user-profile")

    dashboard.driver.get(f"{dashboard.server_url}/user/nobody-here")
    wait_for_panels(dashboard)
    wait_until(dashboard, lambda: "No user named" in page_text(dashboard, "#profile-card"), what="unknown user")
    assert "No IO for this selection" in str(
        dashboard.driver.execute_script("return document.querySelector('#machines-graph').innerText")
    )
    screenshot(dashboard, "dashboard-unknown-user")
    assert dashboard.get_logs() == []


def test_an_empty_database_shows_the_exact_command_to_ingest(dashboard, tmp_path):
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    open_dashboard(dashboard, url)
    dashboard.wait_for_text_to_equal("h1", "No data yet")
    text = page_text(dashboard, "body")
    assert f"clusterdash --db {url} ingest /var/log/io_usage.log" in text
    screenshot(dashboard, "dashboard-empty-database", full_page=False)
    assert dashboard.get_logs() == []


def test_new_blocks_show_up_live_and_the_selection_stays(dashboard, tmp_path):
    from clusterdash.db.engine import make_engine
    from clusterdash.db.setup import prepare_database
    from clusterdash.ingest.demo import write_demo_log
    from clusterdash.ingest.pipeline import ingest_paths

    full, first_days = tmp_path / "io_usage.log", tmp_path / "io_usage.first.log"
    write_demo_log(full, days=4, seed=11)
    text = full.read_text()
    cut = [i for i in range(len(text)) if text.startswith("Log: ", i)][60]  # the first 60 hours
    first_days.write_text(text[:cut])
    url = f"sqlite:///{tmp_path / 'live.db'}"
    engine = make_engine(url)
    prepare_database(engine, "UTC")
    ingest_paths(engine, [str(first_days)])

    open_dashboard(dashboard, url, refresh=1)
    wait_for_panels(dashboard)
    status_before = page_text(dashboard, "#live-status")
    last_time_before = max(t["x"][-1] for t in figure_data(dashboard, "series-graph"))
    top = bar_names(dashboard, "users-graph")[-1]
    click_bar(dashboard, "users-graph", top)
    wait_until(dashboard, lambda: query_of(dashboard).get("user") == [top], what="the user selected")
    wait_for_panels(dashboard)

    ingest_paths(engine, [str(full)])  # a separate ingest lands the remaining hours
    engine.dispose()
    wait_until(
        dashboard,
        lambda: page_text(dashboard, "#live-status") != status_before,
        timeout=15,
        what="the live status to show the new data",
    )
    wait_until(
        dashboard,
        lambda: max(t["x"][-1] for t in figure_data(dashboard, "series-graph")) > last_time_before,
        timeout=15,
        what="the series to extend",
    )
    assert query_of(dashboard).get("user") == [top]
    assert chip_texts(dashboard) == [f"user: {top}"]
    assert selected_in(dashboard, "users-graph") == [top]
    assert dashboard.get_logs() == []

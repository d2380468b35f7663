"""The incident walk in a real browser (issue 16): from the default view to "user X on machines Y and Z between
12:00 and 18:00 yesterday" in four actions, each timed until the page settled (printed and saved to
test-artifacts/walk-timings.json, never asserted: scripts/bench_walk.py times the same walk on a year of data).
The test asserts where the walk ends: the URL, the chips, and what the panels show, against the query layer."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlparse

import pytest

from tests.browser import ARTIFACTS, figure_data, open_dashboard, page_text, wait_for_panels
from tests.walk import Walker, choose_subjects, yesterday_afternoon

pytestmark = pytest.mark.browser
ZONE = "Europe/Zurich"


def test_the_incident_walk_takes_four_actions_and_ends_on_exactly_that_question(dashboard, demo_db_url):
    from clusterdash.db import query
    from clusterdash.db.engine import make_engine
    from clusterdash.db.filters import Filters
    from clusterdash.web import format as fmt

    open_dashboard(dashboard, demo_db_url, tz=ZONE)
    wait_for_panels(dashboard)
    engine = make_engine(demo_db_url)
    with engine.connect() as conn:
        latest = query.latest_block_epoch(conn)
    start, end = yesterday_afternoon(latest, ZONE)
    first, last = int(start.timestamp()), int(end.timestamp())
    user, machine_y, machine_z = choose_subjects(engine, first, last, ZONE)

    walker = Walker(dashboard.driver)
    walker.drag_hours("series-graph", start.strftime("%Y-%m-%d %H:%M"), end.strftime("%Y-%m-%d %H:%M"))
    walker.click_bar("users-graph", user)
    walker.click_bar("machines-graph", machine_y)
    walker.click_bar("machines-graph", machine_z, add=True)
    timings = [{"action": s.action, "settle_ms": s.settle_ms, "requests": s.requests} for s in walker.steps]
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "walk-timings.json").write_text(json.dumps(timings, indent=2))
    for step in timings:
        print(f"{step['settle_ms']:8.0f} ms  {step['requests']:3d} requests  {step['action']}")

    query_string = parse_qs(urlparse(dashboard.driver.current_url).query)
    assert query_string == {
        "start": [_utc(first)],
        "end": [_utc(last)],
        "user": [user],
        "machine": [machine_y, machine_z],
    }
    day = start.strftime("%Y-%m-%d")
    chips = [c.text for c in dashboard.driver.find_elements("css selector", ".chip .chip-text")]
    assert chips == [
        f"time: {day} 12:00 – 18:00 {start.strftime('%Z')}",
        f"user: {user}",
        f"machine: {machine_y}",
        f"machine: {machine_z}",
    ]
    wait_for_panels(dashboard)
    with engine.connect() as conn:
        asked = Filters(start=first, end=last, tz=ZONE, users=(user,), machines=(machine_y, machine_z))
        total = sum(r["operations"] for r in query.users_table(conn, asked))
        per_machine = {r["machine"]: r["operations"] for r in query.machines_table(conn, asked)}
        on_machines = query.users_table(conn, Filters(start=first, end=last, tz=ZONE, machines=asked.machines))
    engine.dispose()
    # The headline: that user on those machines in those hours.
    assert page_text(dashboard, "#headline-body").split("\n")[1] == fmt.count(total)
    # The users panel keeps every user on those machines (its own selection highlighted), the machines panel
    # every machine of that user, the series only those hours.
    users = figure_data(dashboard, "users-graph")[0]
    assert (
        dict(zip(users["customdata"], users["x"]))[user]
        == next(r for r in on_machines if r["user"] == user)["operations"]
    )
    machines = figure_data(dashboard, "machines-graph")[0]
    shown = dict(zip(machines["customdata"], machines["x"]))
    assert {m: shown[m] for m in (machine_y, machine_z)} == {m: per_machine[m] for m in (machine_y, machine_z)}
    bucket, *series = figure_data(dashboard, "series-graph")
    assert bucket["x"][0] == start.strftime("%Y-%m-%d %H:%M") and len(bucket["x"]) == 6
    assert sum(v or 0 for t in series for v in t["y"]) == total
    rows = dashboard.driver.execute_script(
        "return Array.from(document.querySelectorAll('#table-grid tr')).slice(1).map("
        "r => Array.from(r.querySelectorAll('td')).map(c => c.innerText.replace('↗', '').trim()))"
    )
    # The table keeps every pair in those hours (it is filtered by neither users nor machines), the selected
    # users' and machines' rows first.
    pairs = {(r[0], r[2]): r[4] for r in rows}
    assert {(user, m): pairs.get((user, m)) for m in (machine_y, machine_z)} == {
        (user, m): fmt.count(per_machine[m]) for m in (machine_y, machine_z)
    }
    selected = [r[0] == user or r[2] in (machine_y, machine_z) for r in rows]
    assert selected == sorted(selected, reverse=True)
    assert dashboard.get_logs() == []


def _utc(epoch: int) -> str:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%MZ")

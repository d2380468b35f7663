"""The incident walk, driven in a real browser: from the default view to "user X on machines Y and Z between 12:00
and 18:00 yesterday" in four actions (drag the hours on the time chart, click the user, click machine Y,
shift-click machine Z), each timed until it has settled. Used by tests/test_dashboard_walk.py (on the test demo
data) and scripts/bench_walk.py (on a year of data).

Settled means every callback the action caused has been answered and drawn: no `_dash-update-component` request
in flight, no component loading, and nothing redrawn (a plotly figure, the headline, the table, the chips, the
profile card, data health) for QUIET_MS. The time is measured in the page, from the action's last mouse-up to the
last of those redraws, so the time Selenium and the polling take is not counted.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.actions.action_builder import ActionBuilder
from selenium.webdriver.common.keys import Keys

QUIET_MS = 400
WATCHED = "#headline-body, #table-grid, #profile-card, #filter-chips, #health-body"

# Counts the page's callback requests, and notes when anything the walk waits for last changed.
INSTALL = """
if (!window.__walk) {
  var w = window.__walk = {pending: 0, last: 0, t0: 0, armed: false, requests: 0};
  var fetch0 = window.fetch;
  window.fetch = function (resource) {
    var dash = String(resource && resource.url || resource).indexOf('_dash-update-component') >= 0;
    if (dash) { w.pending++; w.requests++; }
    return fetch0.apply(this, arguments).then(function (response) {
      if (!dash) { return response; }
      return response.clone().text().then(function () { return response; });
    }).finally(function () { if (dash) { w.pending--; w.last = performance.now(); } });
  };
  document.addEventListener('mouseup', function () { if (w.armed) { w.t0 = performance.now(); } }, true);
}
var marked = 0;
document.querySelectorAll('.js-plotly-plot').forEach(function (gd) {
  if (!gd.__walkHooked && gd.on) {
    gd.on('plotly_afterplot', function () { window.__walk.last = performance.now(); });
    gd.__walkHooked = true; marked++;
  }
});
return marked;
"""
# Redraws of what is not a plotly figure: only inside what the walk waits for (not hover labels, not tooltips).
WATCH_ONLY = (
    "var w = window.__walk; if (w.observer) { return; }"
    "w.observer = new MutationObserver(function () { w.last = performance.now(); });"
    "document.querySelectorAll(arguments[0]).forEach(function (e) {"
    "  w.observer.observe(e, {childList: true, subtree: true, characterData: true, attributes: true}); });"
)
STATE = (
    "var w = window.__walk; return [w.pending, document.querySelectorAll('[data-dash-is-loading=\"true\"]').length,"
    " performance.now() - w.last, w.last - w.t0, w.t0, w.requests];"
)


@dataclass(frozen=True)
class Step:
    action: str
    settle_ms: float  # from the action's mouse-up to the last redraw it caused
    requests: int  # callback requests it caused


class Walker:
    """Drives the dashboard at `driver` and times each action until the page has settled."""

    def __init__(self, driver):
        self.driver = driver
        self.steps: list[Step] = []

    def arm(self) -> None:
        self.driver.execute_script(INSTALL)
        self.driver.execute_script(WATCH_ONLY, WATCHED)
        self.driver.execute_script("var w = window.__walk; w.armed = true; w.t0 = 0; w.last = 0; w.requests = 0;")

    def settle(self, action: str, timeout: float = 60) -> Step:
        deadline = time.monotonic() + timeout
        state: list = []
        while time.monotonic() < deadline:
            state = self.driver.execute_script(STATE)
            pending, loading, quiet, elapsed, t0, requests = state
            if t0 and requests and not pending and not loading and quiet >= QUIET_MS and elapsed > 0:
                self.driver.execute_script(INSTALL)  # figures drawn anew get their hook
                step = Step(action, round(elapsed, 1), int(requests))
                self.steps.append(step)
                self.driver.execute_script("window.__walk.armed = false;")
                return step
            time.sleep(0.05)
        raise AssertionError(
            f"the page did not settle within {timeout} s after: {action} (requests pending, components loading, "
            f"ms since the last redraw, ms from the action to it, action time, requests: {state})"
        )

    # -- the actions --------------------------------------------------------------------------------------

    def drag_hours(self, graph_id: str, start: str, end: str) -> Step:
        """Drag across `graph_id`'s time axis from `start` to `end` (wall-clock 'YYYY-MM-DD HH:MM' as drawn)."""
        driver = self.driver
        area = driver.find_element("css selector", f"#{graph_id} .nsewdrag")
        driver.execute_script("arguments[0].scrollIntoView({block: 'center', behavior: 'instant'});", area)
        x0, y = self.axis_point(graph_id, start)
        x1, _ = self.axis_point(graph_id, end)
        self.arm()
        drag = ActionBuilder(driver)
        drag.pointer_action.move_to_location(x0, y).pointer_down().move_to_location((x0 + x1) // 2, y)
        drag.pointer_action.move_to_location(x1, y).pointer_up()
        drag.perform()
        return self.settle(f"drag {start} – {end} on {graph_id}")

    def axis_point(self, graph_id: str, when: str) -> tuple[int, int]:
        """Viewport pixels of the time `when` on the graph's x axis, halfway up the plot."""
        x, y = self.driver.execute_script(
            "var gd = document.querySelector('#' + arguments[0] + ' .js-plotly-plot');"
            "var xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis, r = gd.getBoundingClientRect();"
            "return [r.left + xa._offset + xa.l2p(xa.d2l(arguments[1])), r.top + ya._offset + ya._length / 2];",
            graph_id,
            when,
        )
        return round(x), round(y)

    def click_bar(self, graph_id: str, name: str, add: bool = False) -> Step:
        """Click the bar whose value is `name` (shift-click with `add`)."""
        names = self.driver.execute_script(
            "var gd = document.querySelector('#' + arguments[0] + ' .js-plotly-plot');return gd.data[0].customdata;",
            graph_id,
        )
        bar = self.driver.find_elements("css selector", f"#{graph_id} .bars .point")[list(names).index(name)]
        self.driver.execute_script("arguments[0].scrollIntoView({block: 'center', behavior: 'instant'});", bar)
        self.arm()
        actions = ActionChains(self.driver)
        if add:
            actions.key_down(Keys.SHIFT)
        actions.move_to_element(bar).click()
        if add:
            actions.key_up(Keys.SHIFT)
        actions.perform()
        return self.settle(f"{'shift-click' if add else 'click'} {name} on {graph_id}")


def yesterday_afternoon(latest_epoch: int, tz: str, first: int = 12, last: int = 18) -> tuple[datetime, datetime]:
    """12:00 and 18:00 (local) of the day before the day of the newest data, in the zone `tz`."""
    day = datetime.fromtimestamp(latest_epoch - 1800, ZoneInfo(tz)).date() - timedelta(days=1)
    zone = ZoneInfo(tz)
    return (
        datetime(day.year, day.month, day.day, first, tzinfo=zone),
        datetime(day.year, day.month, day.day, last, tzinfo=zone),
    )


def choose_subjects(engine, start: int, end: int, tz: str) -> tuple[str, str, str]:
    """(user, machine Y, machine Z): the busiest user in the hours who used at least two machines there, and
    their two busiest machines; what an admin who knows whom to look for would pick. Each has a bar long enough
    to click (a tenth of the longest in its chart or more: a bar a pixel wide cannot be hit)."""
    from clusterdash.db import query
    from clusterdash.db.filters import Filters

    with engine.connect() as conn:
        window = Filters(start=start, end=end, tz=tz)
        users = query.users_table(conn, window, limit=20)  # the users chart shows the top 20
        for row in users:
            if row["operations"] < users[0]["operations"] / 10:
                break
            machines = query.machines_table(conn, Filters(start=start, end=end, tz=tz, users=(row["user"],)))
            if len(machines) >= 2 and machines[1]["operations"] >= machines[0]["operations"] / 10:
                return row["user"], machines[0]["machine"], machines[1]["machine"]
    raise AssertionError("no user with two machines in the window")

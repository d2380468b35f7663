"""The dashboard's traffic as a browser sends it, for scripts/loadtest.py: a signed-in session that loads the page,
checks for new data every refresh interval (and redraws every panel when there is some), and interacts (the view
callback, then every panel's callback, at most 6 requests at once as a browser sends them to one host).

The callbacks are read from the app's own /_dash-dependencies, so a panel added later is in the load too."""

from __future__ import annotations

import json
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import cycle

import requests

BROWSER_CONNECTIONS = 6
VIEW_OUTPUT = "state-view.data"
PANEL_INPUTS = {"state-view.data", "live-version.data"}
LIVE_INPUT = "live-interval.n_intervals"
CONTROLS = {
    "url.pathname": "/",
    "url.search": "",
    "filter-preset.value": "7d",
    "filter-direction.value": "both",
    "filter-metric.value": "ops",
    "filter-tz.value": "Europe/Zurich",
    "series-stack.value": "users",
    "series-top.value": 8,
}


@dataclass(frozen=True)
class Spec:
    output: str
    inputs: tuple[str, ...]  # "id.property"; pattern-matching ones as "*"
    state: tuple[str, ...]


def callback_specs(base: str, login: str, password: str) -> list[Spec]:
    """The app's server-side callbacks, from its /_dash-dependencies (read signed in, as the browser does)."""
    probe = DashSession(base, login, password, [], None)
    probe.sign_in()
    found = probe.http.get(f"{base}/_dash-dependencies", timeout=60).json()
    return [
        Spec(d["output"], _names(d["inputs"]), _names(d["state"])) for d in found if not d.get("clientside_function")
    ]


def _names(items: list[dict]) -> tuple[str, ...]:
    return tuple("*" if i["id"].startswith("{") else f"{i['id']}.{i['property']}" for i in items)


def _outputs(output: str):
    if output.startswith(".."):
        return [dict(zip(("id", "property"), p.rsplit(".", 1))) for p in output.strip(".").split("...")]
    component, prop = output.rsplit(".", 1)
    return {"id": component, "property": prop}


class DashSession:
    """One browser tab of a signed-in person."""

    def __init__(self, base: str, login: str, password: str, specs: list[Spec], record) -> None:
        self.base, self.login, self.password = base, login, password
        self.http = requests.Session()
        self.record = record
        self.specs = specs
        self.view: dict | None = None
        self.version = None
        self.controls = dict(CONTROLS)
        self.pool = ThreadPoolExecutor(BROWSER_CONNECTIONS)

    # -- requests -----------------------------------------------------------------------------------------------

    def sign_in(self) -> None:
        page = self.http.get(f"{self.base}/sign-in", timeout=60).text
        csrf = re.search(r'name="csrf" value="([^"]+)"', page)[1]
        form = {"login": self.login, "password": self.password, "csrf": csrf, "next": "/"}
        answer = self.http.post(f"{self.base}/sign-in", data=form, timeout=60, allow_redirects=False)
        if answer.status_code != 303:
            raise RuntimeError(f"{self.login} could not sign in: {answer.status_code}")

    def post(self, spec: Spec, values: dict, changed: tuple[str, ...]) -> dict:
        def item(name: str):
            if name == "*":
                return []
            component, prop = name.rsplit(".", 1)
            return {"id": component, "property": prop, "value": values.get(name)}

        body = {
            "output": spec.output,
            "outputs": _outputs(spec.output),
            "inputs": [item(n) for n in spec.inputs],
            "state": [item(n) for n in spec.state],
            "changedPropIds": list(changed),
        }
        answer = None
        # A kept-alive connection the server closed as it was reused is tried once more on a new one, as a browser
        # does; a second failure is an error.
        for attempt in range(2):
            try:
                answer = self.http.post(
                    f"{self.base}/_dash-update-component",
                    data=json.dumps(body),
                    headers={"Content-Type": "application/json"},
                    timeout=60,
                )
                break
            except requests.ConnectionError as exc:
                if attempt == 1:
                    self.record.error(f"{spec.output}: {type(exc).__name__}")
                    return {}
        assert answer is not None
        if answer.status_code == 204:
            return {}
        if answer.status_code != 200:
            self.record.error(f"{spec.output}: {answer.status_code} {answer.text[:120]}")
            return {}
        return answer.json().get("response", {})

    def values(self) -> dict:
        return {**self.controls, VIEW_OUTPUT: self.view, "live-version.data": self.version, LIVE_INPUT: 1}

    # -- what a browser does ------------------------------------------------------------------------------------

    def draw(self) -> None:
        """Every panel's callback for the current view and version, at most 6 at once; until the last answers."""
        panels = [s for s in self.specs if set(s.inputs) >= PANEL_INPUTS]
        values = self.values()
        list(self.pool.map(lambda s: self.post(s, values, tuple(PANEL_INPUTS)), panels))

    def change_view(self, trigger: str | None, value) -> None:
        spec = next(s for s in self.specs if VIEW_OUTPUT in s.output)
        values = self.values()
        if trigger is not None:
            values[trigger] = self.controls[trigger] = value
        answer = self.post(spec, values, (trigger or "url.pathname",))
        self.view = answer.get("state-view", {}).get("data", self.view)

    def check(self) -> bool:
        """The live check; whether it found new data."""
        spec = next(s for s in self.specs if LIVE_INPUT in s.inputs)
        answer = self.post(spec, self.values(), (LIVE_INPUT,))
        found = answer.get("live-version", {}).get("data")
        if found is not None and found != self.version:
            self.version = found
            return True
        return False

    def open(self) -> None:
        started = time.perf_counter()
        self.sign_in()
        for path in ("/", "/_dash-layout"):
            self.http.get(f"{self.base}{path}", timeout=60).raise_for_status()
        self.change_view(None, None)
        self.check()
        self.draw()
        self.record.add("page load", (time.perf_counter() - started) * 1000)

    def live(self, interval: float, offset: float, stop: threading.Event) -> None:
        if stop.wait(offset):
            return
        while True:
            started = time.perf_counter()
            changed = self.check()
            self.record.add("refresh check", (time.perf_counter() - started) * 1000)
            if changed:
                started = time.perf_counter()
                self.draw()
                self.record.add("redraw", (time.perf_counter() - started) * 1000)
            if stop.wait(interval):
                return

    def interact(self, changes: list[tuple[str, object]], every: float, stop: threading.Event) -> None:
        for trigger, value in cycle(changes):
            if stop.wait(every):
                return
            started = time.perf_counter()
            self.change_view(trigger, value)
            self.draw()
            self.record.add("interaction", (time.perf_counter() - started) * 1000)


def views_for(_session: DashSession) -> list[tuple[str, object]]:
    """A person's round of changes: time ranges, directions, stacking, metric."""
    return [
        ("filter-preset.value", "30d"),
        ("filter-direction.value", "rd"),
        ("filter-preset.value", "90d"),
        ("series-stack.value", "machines"),
        ("filter-direction.value", "both"),
        ("filter-metric.value", "bytes"),
        ("filter-preset.value", "24h"),
        ("series-stack.value", "users"),
        ("filter-preset.value", "7d"),
        ("filter-metric.value", "ops"),
    ]

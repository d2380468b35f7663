"""Requests to Dash's callback route built by hand, as an attacker (or a script) would: from the callbacks the server
lists at /_dash-dependencies, any value in place of any input. Used by tests/test_dashboard_requests.py and
scripts/bench_hostile.py."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

CALLBACK_ROUTE = "/_dash-update-component"
YEAR_5000 = 95617584000  # 5000-01-01T00:00:00Z


def callbacks(dependencies: list[dict]) -> dict[str, dict]:
    """The server's callbacks (not the browser's) by output, from /_dash-dependencies."""
    return {d["output"]: d for d in dependencies if not d.get("clientside_function")}


def body(callback: dict, values: Mapping[str, Any], changed: str | None = None) -> dict:
    """A callback request: `values` maps "id.property" of inputs and state to their values (None otherwise);
    `changed`: the input that fired (default: the first one given in `values`, else the first input)."""

    def listed(items: list[dict]) -> list:
        out = []
        for item in items:
            if item["id"].startswith("{"):  # a pattern-matching input (ALL): no component matches
                out.append([])
            else:
                out.append({**item, "value": values.get(f"{item['id']}.{item['property']}")})
        return out

    inputs = listed(callback["inputs"])
    names = [f"{i['id']}.{i['property']}" for i in callback["inputs"]]
    fired = changed or next((k for k in values if k in names), names[0])
    output = callback["output"]
    outputs: Any = _output(output)
    if output.startswith(".."):  # several outputs: "..a.b...c.d.."
        outputs = [_output(part) for part in output.strip(".").split("...")]
    return {
        "output": output,
        "outputs": outputs,
        "inputs": inputs,
        "state": listed(callback.get("state", [])),
        "changedPropIds": [fired],
    }


def _output(text: str) -> dict:
    component, prop = text.rsplit(".", 1)
    return {"id": component, "property": prop}


def view_store(**fields: Any) -> dict:
    """The view store the panels read (state.to_store's shape), with `fields` changed: what a crafted request sends."""
    store = {
        "preset": "7d",
        "start": None,
        "end": None,
        "direction": "both",
        "metric": "ops",
        "tz": "UTC",
        "stack": "users",
        "top": 10,
        "users": [],
        "machines": [],
        "machine_types": [],
        "roles": [],
        "sizes": [],
        "jobs": [],
        "sort": "",
        "profile": None,
    }
    store.update(fields)
    return store

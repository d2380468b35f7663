"""Crafted requests to the dashboard's callback route, through the real app: every callback checks its inputs by the
API's rules, so what the API would refuse is a 400 naming the parameter (never a 500), a range from 1970 to 5000 is
the data's extent, and no answer grows past the bounds the README states. Plus the server's request limits and the
paths only their own routes answer."""

from __future__ import annotations

import json

import psutil
import pytest

from clusterdash.db.vocabulary import MAX_VALUES
from clusterdash.web import panels, state
from clusterdash.web.ids import ID
from clusterdash.web.limits import MAX_BODY
from tests.crafted import CALLBACK_ROUTE, YEAR_5000, body, callbacks, view_store
from tests.dbtools import DEMO_ZONE

# The biggest answer a single callback may give, and how much a process may grow answering the worst of them (the
# README's bounds: 100,000 points a series or heatmap, 500 table rows, a cache of 64 MiB).
MAX_ANSWER_BYTES = 16 * 2**20
MAX_GROWTH_BYTES = 200 * 2**20


@pytest.fixture(scope="module")
def server(api_demo_app):
    """The real app's server callbacks by output, and a function posting one of them."""
    client = api_demo_app.server.test_client()
    known = callbacks(client.get("/_dash-dependencies").get_json())
    panels_by_output = {
        output: c for output, c in known.items() if any(i["id"] == ID.view for i in c["inputs"] + c["state"])
    }

    def post(output: str, values: dict, changed: str | None = None):
        return client.post(CALLBACK_ROUTE, json=body(known[output], values, changed))

    return known, panels_by_output, post, client


def _view_callback(known) -> str:
    return next(output for output in known if f"{ID.view}.data" in output and output.startswith(".."))


STORE = f"{ID.view}.data"
# A crafted view store, the parameter its 400 names.
BAD_STORES = [
    (view_store(top="abc"), "top"),
    (view_store(top=100000), "top"),
    (view_store(top=True), "top"),
    (view_store(preset="1y"), "range"),
    (view_store(users=[{"$ne": 1}]), "user"),
    (view_store(users={"a": 1}), "user"),
    (view_store(machines=["m"] * (MAX_VALUES + 1)), "machine"),
    (view_store(roles=[str(i) for i in range(MAX_VALUES + 1)]), "role"),
    (view_store(sizes=["x" * 300]), "size"),
    (view_store(tz="../../etc/passwd"), "tz"),
    (view_store(direction="sideways"), "direction"),
    (view_store(metric="joules"), "metric"),
    (view_store(stack="everyone"), "group_by"),
    (view_store(preset="custom", start=7200, end=3600), "end"),
    (view_store(preset="custom", start=-5, end=3600), "start"),
    (view_store(profile=["admin", "x"]), "profile"),
    (view_store(secret=1), "view"),
    ([1, 2, 3], "view"),
    ("everything", "view"),
]


@pytest.mark.parametrize("store, parameter", BAD_STORES)
def test_a_crafted_view_store_is_a_400_naming_the_parameter_in_every_panel(server, store, parameter):
    known, panel_outputs, post, _client = server
    assert len(panel_outputs) >= 14  # the view callback, 11 panels, the live check and the CSV download
    for output in panel_outputs:
        response = post(output, {STORE: store})
        assert response.status_code == 400, (output, response.get_data(as_text=True)[:300])
        assert response.get_json()["parameter"] == parameter, (output, response.get_json())


# Inputs of the view callback no control can produce, the parameter its 400 names.
BAD_INPUTS = [
    ({f"{ID.series_top}.value": "abc"}, "top"),
    ({f"{ID.series_top}.value": 100000}, "top"),
    ({f"{ID.preset}.value": "1y"}, "range"),
    ({f"{ID.tz}.value": "../../etc/passwd"}, "tz"),
    ({f"{ID.direction}.value": {"$gt": ""}}, "direction"),
    ({f"{ID.series_stack}.value": "everyone"}, "group_by"),
    ({f"{ID.click}.data": {"graph": ID.users_graph, "value": {"a": 1}}}, "click"),
    ({f"{ID.click}.data": {"graph": ID.users_graph, "value": "x" * 300}}, "click"),
    ({f"{ID.click}.data": ["not", "a", "click"]}, "click"),
    ({f"{ID.range_from_date}.date": {"year": 1970}}, "start"),
    ({f"{ID.range_from_date}.date": "12 March 2025"}, "start"),
    ({f"{ID.range_to_date}.date": "2025-02-30"}, "end"),
    ({f"{ID.range_to_hour}.value": 24}, "end"),
    ({f"{ID.range_from_hour}.value": "noon"}, "start"),
    ({f"{ID.range_apply}.n_clicks": "1"}, "apply"),
    ({f"{ID.range_back}.n_clicks": -1}, "back"),
    ({f"{ID.table}.sort_by": [{"column_id": "secret", "direction": "asc"}]}, "table_sort"),
    ({f"{ID.table}.sort_by": [{"column_id": "user", "direction": "sideways"}]}, "table_sort"),
    ({f"{ID.table}.sort_by": "operations"}, "table_sort"),
    ({f"{ID.range_history}.data": [{"preset": "1y", "start": None, "end": None}]}, "history"),
    ({f"{ID.range_history}.data": [{"preset": "custom", "start": 7200, "end": 3600}]}, "history"),
    ({f"{ID.range_history}.data": [{"preset": "7d"}] * 1000}, "history"),
    ({f"{ID.series_graph}.relayoutData": {str(i): i for i in range(1000)}}, "relayoutData"),
    ({"url.search": "?" + "user=x&" * 80000}, "url"),
    ({STORE: view_store(users=[1, 2])}, "user"),
]


@pytest.mark.parametrize("values, parameter", BAD_INPUTS)
def test_a_crafted_control_value_is_a_400_naming_the_parameter(server, values, parameter):
    known, _panels, post, _client = server
    response = post(_view_callback(known), {STORE: view_store(tz=DEMO_ZONE), **values}, changed=next(iter(values)))
    assert response.status_code == 400, response.get_data(as_text=True)[:300]
    assert response.get_json()["parameter"] == parameter, response.get_json()


def test_a_chip_naming_no_selection_is_a_400(server):
    known, _panels, post, client = server
    callback = known[_view_callback(known)]
    request = body(callback, {STORE: view_store()})
    chip = {"type": ID.chip_remove, "dimension": "__class__", "value": "x"}
    at = next(i for i, item in enumerate(callback["inputs"]) if item["id"].startswith("{"))
    request["inputs"][at] = [{"id": chip, "property": "n_clicks", "value": 1}]
    request["changedPropIds"] = [json.dumps(chip, separators=(",", ":"), sort_keys=True) + ".n_clicks"]
    response = client.post(CALLBACK_ROUTE, json=request)
    assert response.status_code == 400 and response.get_json()["parameter"] == "chips", response.get_data()[:300]


@pytest.mark.parametrize(
    "data, parameter",
    [
        (b"", "body"),
        (b"[]", "body"),
        (b"{}", "output"),
        (b'{"output": "nope.children"}', "output"),
        (b'{"output": "state-click.data", "inputs": []}', "output"),  # a callback the browser runs
        (b'{"output": "headline-body.children", "inputs": []}', "inputs"),
        (b'{"output": "headline-body.children", "inputs": [{"id": "x", "property": "y"}, 1]}', "inputs"),
    ],
)
def test_a_callback_request_dash_cannot_take_is_a_400(server, data, parameter):
    _known, _panels, _post, client = server
    response = client.post(CALLBACK_ROUTE, data=data, content_type="application/json")
    assert response.status_code == 400 and response.get_json()["parameter"] == parameter, response.get_data()[:300]


def test_a_body_over_the_limit_is_a_413(server):
    known, panel_outputs, _post, client = server
    million_roles = body(known[next(iter(panel_outputs))], {STORE: view_store(roles=["r"] * 1_000_000)})
    data = json.dumps(million_roles).encode()
    assert len(data) > MAX_BODY
    response = client.post(CALLBACK_ROUTE, data=data, content_type="application/json")
    assert response.status_code == 413


def test_a_link_from_year_one_to_9999_is_held_to_the_data_and_every_panel_draws(server, api_demo_engine):
    known, panel_outputs, post, _client = server
    view_output = _view_callback(known)
    link = {"url.pathname": "/", "url.search": "?from=0001-01-01&to=9999-12-31", STORE: None}
    response = post(view_output, link, changed="url.pathname")
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    answer = response.get_json()["response"]
    store = answer[ID.view]["data"]
    with api_demo_engine.connect() as conn:
        from clusterdash.db import query

        first, end = query.data_extent(conn)
    assert (store["preset"], store["start"], store["end"]) == ("custom", first, end)
    assert "held to the stored data" in answer[ID.notice]["children"]
    for output in panel_outputs:
        drawn = post(output, {STORE: store})
        assert drawn.status_code == 200, (output, drawn.get_data(as_text=True)[:300])


@pytest.mark.parametrize(
    "picked, said",
    [
        (("2025-03-20", 10, "2025-03-10", 10), "is not after the start"),
        (("2025-03-20", 10, "2025-03-20", 10), "is not after the start"),
        (("0001-01-01", 0, "2025-03-10", 10), "out of range"),
        ((None, 10, "2025-03-10", 10), "pick a date and an hour"),
    ],
)
def test_a_range_a_person_gets_wrong_is_a_message_beside_the_editor_and_the_view_stays(server, picked, said):
    known, _panels, post, _client = server
    before = view_store(tz=DEMO_ZONE, users=["someone"])
    fields = (ID.range_from_date, ID.range_from_hour, ID.range_to_date, ID.range_to_hour)
    typed = {f"{field}.{'date' if 'date' in field else 'value'}": value for field, value in zip(fields, picked)}
    apply = f"{ID.range_apply}.n_clicks"
    response = post(_view_callback(known), {**typed, apply: 1, STORE: before}, changed=apply)
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    answer = response.get_json()["response"]
    assert ID.view not in answer and ID.url not in answer  # the view, and the URL, as they were
    assert said in answer[ID.range_message]["children"]
    assert "d-none" not in answer[ID.range_editor]["className"]  # the editor stays open on what was typed


def test_the_worst_crafted_callbacks_stay_within_the_stated_bounds(server, api_demo_engine):
    """A heatmap and a series from 1970 to 5000, every name at its limits, the biggest top, the table and its CSV
    over everything: each answer within MAX_ANSWER_BYTES, the process within MAX_GROWTH_BYTES of where it began."""
    known, _panels, post, _client = server
    names = [f"n{i:04d}-" + "x" * 240 for i in range(MAX_VALUES)]
    stores = [
        view_store(preset="custom", start=0, end=YEAR_5000),
        view_store(preset="custom", start=0, end=YEAR_5000, stack="machines", top=1000, metric="bytes"),
        view_store(preset="all", users=names, roles=names, sizes=names),
        view_store(preset="all", machines=names, machine_types=names, stack="roles", top=1000),
    ]
    targets = [ID.heatmap_graph + ".figure", ID.series_graph + ".figure", ID.sizes_graph + ".figure"]
    targets += [o for o in known if ID.table in o and "columns" in o]
    process = psutil.Process()
    panels.clear_cache()
    before = process.memory_info().rss
    for round_ in range(2):
        for store in stores:
            for output in targets:
                response = post(output, {STORE: store})
                assert response.status_code == 200, (output, response.get_data(as_text=True)[:300])
                assert len(response.data) <= MAX_ANSWER_BYTES, (output, len(response.data))
            download = post(ID.table_download + ".data", {STORE: store, f"{ID.table_csv}.n_clicks": 1 + round_})
            assert download.status_code == 200 and len(download.data) <= MAX_ANSWER_BYTES
    assert process.memory_info().rss - before <= MAX_GROWTH_BYTES
    assert panels.cached_bytes() <= panels.CACHE_BYTES


def test_the_panel_cache_is_bounded_in_bytes(api_demo_engine, monkeypatch):
    """Many different answers: the cache keeps the newest within its byte budget, and an answer bigger than a
    quarter of the budget is not kept at all."""
    from clusterdash.db import query

    panels.clear_cache()
    monkeypatch.setattr(panels, "CACHE_BYTES", 1_000_000)
    view = state.View(tz=DEMO_ZONE, preset="all")
    sizes = []
    for hours in range(24, 24 * 30, 24):
        start = 1741000000 - 1741000000 % 3600
        panels.answer(api_demo_engine, query.users_table, view.with_range(start, start + hours * 3600))
        sizes.append(panels.cached_bytes())
        assert panels.cached_bytes() <= 1_000_000
    assert max(sizes) > 700_000  # it filled up, and stayed within its budget
    monkeypatch.setattr(panels, "CACHE_BYTES", 4_000)
    panels.clear_cache()
    panels.answer(api_demo_engine, query.users_table, view)
    assert panels.cached_bytes() == 0


# -- paths ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/_dash-component-suites/dash/../../etc/passwd",
        "/_dash-component-suites/dash/..%2f..%2f..%2fetc%2fpasswd",
        "/_dash-component-suites/dash/deps/..%2f..%2f__init__.py",
        "/_dash-component-suites/os/path.py",
        "/_dash-component-suites/nope/x.js",
        "/assets//x",
        "/assets/%2fx",
        "/assets/%2fetc%2fpasswd",
        "/assets/../setup.cfg",
        "/assets",
    ],
)
def test_paths_under_the_file_routes_are_files_or_404(server, path):
    _known, _panels, _post, client = server
    response = client.get(path)
    assert response.status_code == 404, (path, response.status_code, response.data[:80])
    assert b"root:" not in response.data and b"_dash-config" not in response.data  # no file, not the page


def test_the_file_routes_still_serve_their_files(server):
    _known, _panels, _post, client = server
    assert client.get("/assets/clusterdash.css").status_code == 200
    page = client.get("/").get_data(as_text=True)
    scripts = [part.split('"')[0] for part in page.split('src="')[1:] if "_dash-component-suites" in part]
    assert scripts and all(client.get(src).status_code == 200 for src in scripts[:3])

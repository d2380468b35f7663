"""The range and the links as the page writes them, through the real app's callback route: a range set in the page is
held to the stored data as a link's is, the exact window's link is in the API's names and opens without a notice,
the table's sort goes to the URL as table_sort (which the API accepts and ignores), and the callbacks interact
added check their inputs as every other does."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import parse_qs, urlparse
from zoneinfo import ZoneInfo

import pytest

from clusterdash.db import query
from clusterdash.web.ids import ID
from tests.crafted import CALLBACK_ROUTE, body, callbacks, view_store
from tests.dbtools import DEMO_ZONE

STORE = f"{ID.view}.data"
COPY = f"{ID.copy_exact}.content"


@pytest.fixture(scope="module")
def server(api_demo_app, api_demo_engine):
    client = api_demo_app.server.test_client()
    known = callbacks(client.get("/_dash-dependencies").get_json())
    view_output = next(output for output in known if f"{ID.view}.data" in output and output.startswith(".."))

    def post(output: str, values: dict, changed: str | None = None):
        return client.post(CALLBACK_ROUTE, json=body(known[output], values, changed))

    with api_demo_engine.connect() as conn:
        extent = query.data_extent(conn)
    return post, view_output, client, extent


def _local(epoch: int) -> tuple[str, int]:
    at = datetime.fromtimestamp(epoch, ZoneInfo(DEMO_ZONE))
    return at.date().isoformat(), at.hour


def test_a_range_set_in_the_editor_past_the_data_is_held_to_it_and_the_notice_says_so(server):
    post, view_output, _client, (first, end) = server
    (from_date, from_hour), (to_date, to_hour) = _local(end - 6 * 3600), _local(end + 2 * 86400)
    typed = {
        f"{ID.range_from_date}.date": from_date,
        f"{ID.range_from_hour}.value": from_hour,
        f"{ID.range_to_date}.date": to_date,
        f"{ID.range_to_hour}.value": to_hour,
    }
    apply = f"{ID.range_apply}.n_clicks"
    response = post(view_output, {**typed, apply: 1, STORE: view_store(tz=DEMO_ZONE)}, changed=apply)
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    answer = response.get_json()["response"]
    store = answer[ID.view]["data"]
    assert (store["preset"], store["start"], store["end"]) == ("custom", end - 6 * 3600, end)
    assert "held to the stored data" in answer[ID.notice]["children"]
    assert parse_qs(answer[ID.url]["search"].lstrip("?"))["end"] == [
        datetime.fromtimestamp(end, ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%MZ")
    ]
    # Within the data, nothing is said.
    inside = {**typed, f"{ID.range_to_date}.date": _local(end)[0], f"{ID.range_to_hour}.value": _local(end)[1]}
    response = post(view_output, {**inside, apply: 1, STORE: view_store(tz=DEMO_ZONE)}, changed=apply)
    assert response.get_json()["response"][ID.notice]["children"] == ""


def test_the_exact_window_of_a_preset_longer_than_the_data_is_the_hours_shown_and_opens_without_a_notice(server):
    post, view_output, _client, (first, end) = server
    shown = view_store(tz=DEMO_ZONE, preset="90d", top=8)  # 90 days asked of 40 days of data
    response = post(COPY, {f"{ID.copy_exact}.n_clicks": 1, "url.href": "https://dash.example/x", STORE: shown})
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    link = response.get_json()["response"][ID.copy_exact]["content"]
    assert link.startswith("https://dash.example/?")
    utc = ZoneInfo("UTC")
    assert parse_qs(urlparse(link).query) == {
        "start": [datetime.fromtimestamp(first, utc).strftime("%Y-%m-%dT%H:%MZ")],
        "end": [datetime.fromtimestamp(end, utc).strftime("%Y-%m-%dT%H:%MZ")],
        "tz": [DEMO_ZONE],
    }
    opened = post(view_output, {"url.pathname": "/", "url.search": "?" + urlparse(link).query}, changed="url.pathname")
    answer = opened.get_json()["response"]
    assert (answer[ID.view]["data"]["start"], answer[ID.view]["data"]["end"]) == (first, end)
    assert answer[ID.notice]["children"] == ""


def test_the_tables_sort_goes_to_the_url_as_table_sort_which_the_api_ignores(server):
    post, view_output, client, _extent = server
    sort = f"{ID.table}.sort_by"
    before = view_store(tz=DEMO_ZONE, preset="24h", top=8)  # the page's defaults but the range
    response = post(view_output, {sort: [{"column_id": "operations", "direction": "desc"}], STORE: before}, sort)
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    search = response.get_json()["response"][ID.url]["search"]
    assert parse_qs(search.lstrip("?")) == {"range": ["24h"], "table_sort": ["-operations"]}
    plain = client.get("/api/users?range=24h")
    pasted = client.get("/api/users" + search)
    assert pasted.status_code == 200 and pasted.get_json() == plain.get_json()


@pytest.mark.parametrize(
    "values, parameter",
    [
        ({f"{ID.table}.sort_by": [{"column_id": "id", "direction": "asc"}]}, "table_sort"),
        ({f"{ID.table}.sort_by": [{"column_id": "user", "direction": "asc"}] * 2}, "table_sort"),
        ({"url.href": {"href": "x"}}, "url"),
        ({STORE: view_store(sort="password")}, "table_sort"),
    ],
)
def test_the_exact_window_callback_checks_its_inputs(server, values, parameter):
    post, _view_output, _client, _extent = server
    asked = {f"{ID.copy_exact}.n_clicks": 1, "url.href": "http://x/", STORE: view_store(), **values}
    response = post(COPY, asked, changed=f"{ID.copy_exact}.n_clicks")
    assert response.status_code == 400, response.get_data(as_text=True)[:300]
    assert response.get_json()["parameter"] == parameter


def test_a_history_entry_back_returns_to_is_held_to_the_data(server):
    post, view_output, _client, (first, end) = server
    back = f"{ID.range_back}.n_clicks"
    history = [{"preset": "custom", "start": end - 3600, "end": end + 30 * 86400}]
    values = {back: 1, f"{ID.range_history}.data": history, STORE: view_store(tz=DEMO_ZONE)}
    answer = post(view_output, values, changed=back).get_json()["response"]
    store = answer[ID.view]["data"]
    assert (store["start"], store["end"]) == (end - 3600, end)
    assert answer[ID.range_history]["data"] == []  # "back" used it
    assert "held to the stored data" in answer[ID.notice]["children"]

"""One vocabulary for the dashboard's URL and the API (db/vocabulary.py): the query string a dashboard view writes,
pasted after an API path, asks the API the question the page shows; an unknown parameter, or a value that names
nothing stored, is a 400 naming it (the profile routes answer 404 for their own name)."""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest

from clusterdash.db import query
from clusterdash.db.filters import Filters
from clusterdash.db.timerange import preset_window
from clusterdash.db.vocabulary import PARAMETERS
from clusterdash.web import format as fmt
from clusterdash.web import interactions, lookups, panels, state
from tests.dbtools import DEMO_ZONE

DEFAULTS = state.View(tz=DEMO_ZONE)


@pytest.fixture(scope="module")
def catalog(api_demo_engine):
    """Names from the demo database: the busiest users and machines, a machine type, and the newest block."""
    with api_demo_engine.connect() as conn:
        users = [r["user"] for r in query.users_table(conn, Filters(), limit=3)]
        machines = query.machines_table(conn, Filters(), limit=3)
        latest = query.latest_block_epoch(conn)
    return users, machines, latest


def _views(catalog) -> dict[str, state.View]:
    users, machines, latest = catalog
    start, end = preset_window("7d", latest)
    return {
        "a preset": DEFAULTS.with_preset("24h"),
        "the default": DEFAULTS,
        "a custom range": DEFAULTS.with_range(start + 86400 + 1800, end - 2 * 86400 - 600),
        "a user and two machines": DEFAULTS.click("users", users[0])
        .click("machines", machines[0]["machine"])
        .click("machines", machines[1]["machine"], add=True),
        "a size, 30 days": DEFAULTS.with_preset("30d").click("sizes", "[1M, 2M)"),
        "reads only, stacked by machine": state.View(tz=DEMO_ZONE, direction="rd", stack="machines", top=5),
        "the table sorted by bytes": state.View(tz=DEMO_ZONE, preset="30d", sort="-est_bytes"),
        "a zone, a machine type, by role": state.View(
            tz="America/New_York", preset="90d", stack="roles", top=3, machine_types=(machines[0]["machine_type"],)
        ),
    }


VIEW_NAMES = list(_views(([""], [{"machine": "", "machine_type": ""}] * 2, 10**9)))


def _api(client, path: str, search: str):
    response = client.get(path + search)
    assert response.status_code == 200, (path + search, response.get_json())
    return response.get_json()


@pytest.mark.parametrize("name", VIEW_NAMES)
def test_a_views_query_string_asks_the_api_what_the_page_shows(api_demo_client, api_demo_engine, catalog, name):
    view = _views(catalog)[name]
    pathname, search = interactions.url_for(view, DEFAULTS)  # what the page writes in its address bar
    assert pathname == "/" and search.startswith("?")
    assert state.from_url(pathname, search, DEFAULTS, lookups.known_sizes(api_demo_engine)) == view
    panels.clear_cache()

    # The headline and the series note ask for the users and machines tables of the view: /api/users and
    # /api/machines with the same query string answer the same rows.
    page_users = panels.answer(api_demo_engine, query.users_table, view)
    page_machines = panels.answer(api_demo_engine, query.machines_table, view)
    assert page_users and page_machines, name
    assert _api(api_demo_client, "/api/users", search)["users"] == page_users
    assert _api(api_demo_client, "/api/machines", search)["machines"] == page_machines
    shown = str(panels.headline(api_demo_engine, view))
    assert fmt.count(sum(r["operations"] for r in page_users)) in shown

    # The time chart: the same buckets, the same total per bucket; stacked as the query string says (group_by and
    # top are written when they differ from the page's defaults), the same groups and points.
    page = panels.answer(
        api_demo_engine, query.time_series, view, bucket=None, group_by=panels.GROUP_BY[view.stack], top=view.top
    )
    series = _api(api_demo_client, "/api/usage/time", search)
    assert series["bucket"] == page["bucket"] and series["buckets"] == page["buckets"]
    assert _per_bucket(series) == _per_bucket(page)
    if "group_by=" in search:
        assert series["groups"] == page["groups"] and series["points"] == page["points"]
    assert _per_bucket(page) and any(v for v in _per_bucket(page).values()), name


def _per_bucket(series: dict) -> dict:
    totals: dict = {}
    for p in series["points"]:
        ops, nbytes = totals.get(p["epoch"], (0, 0.0))
        totals[p["epoch"]] = (ops + (p["operations"] or 0), round(nbytes + (p["bytes"] or 0.0), 3))
    return totals


def test_the_old_spellings_are_aliases_of_the_same_parameters(api_demo_client, catalog):
    users, machines, latest = catalog
    start, end = preset_window("7d", latest)
    canonical = (
        f"?start={start}&end={end}&direction=rd&machine_type={machines[0]['machine_type']}&group_by=machine&top=3"
    )
    aliases = f"?from={start}&to={end}&dir=rd&type={machines[0]['machine_type']}&stack=machines&top=3"
    for path in ("/api/usage/time", "/api/users", "/api/machines"):
        assert _api(api_demo_client, path, aliases) == _api(api_demo_client, path, canonical), path
    assert _api(api_demo_client, "/api/users", "?range=7d") == _api(
        api_demo_client, "/api/users", f"?from={start}&to={end}"
    )


def test_range_is_the_dashboards_preset_ending_with_the_newest_hour(api_demo_client, catalog):
    *_, latest = catalog

    def stats(search: str) -> dict:
        answer = _api(api_demo_client, "/api/stats", search)
        answer["freshness"].pop("age_seconds")  # (the clock moves between the two)
        return answer

    for preset in ("24h", "7d", "30d", "90d"):
        start, end = preset_window(preset, latest)
        assert stats(f"?range={preset}") == stats(f"?start={start}&end={end}")
    assert _api(api_demo_client, "/api/usage/size", "?range=all") == _api(api_demo_client, "/api/usage/size", "")


def test_the_page_only_parameters_are_known_and_change_nothing_they_do_not_shape(api_demo_client):
    plain = _api(api_demo_client, "/api/users", "?range=24h")
    page_only = "?range=24h&metric=bytes&top=3&stack=roles&bucket=day&table_sort=-est_bytes"
    assert _api(api_demo_client, "/api/users", page_only) == plain
    series = _api(api_demo_client, "/api/usage/time", "?range=24h&stack=roles&top=2")
    assert series["group_by"] == "role" and len(series["groups"]) <= 3


# -- 400s ------------------------------------------------------------------------------------------------------------

# (query string, the parameter the 400 names, words its message holds)
BAD_REQUESTS = [
    ("?usr=alice", "usr", "did you mean user?"),
    ("?users=alice", "users", "did you mean user?"),
    ("?frm=2025-03-01", "frm", "did you mean from, that is start?"),
    ("?start=2025-03-01&days=3", "days", "unknown parameter"),
    ("?direction=rd&foo=1", "foo", "the known ones: start, end, range"),
    ("?callback=x", "callback", "unknown parameter"),
    ("?range=1y", "range", "must be one of 24h, 7d, 30d, 90d, all"),
    ("?range=24h&start=2025-03-01", "range", "either range or start and end"),
    ("?start=2025-03-01&from=2025-03-02", "start", "at most once"),
    ("?dir=sideways", "direction", "must be one of rd, wr, both"),
    ("?stack=everyone", "group_by", "must be one of"),
    ("?top=abc", "top", "whole number"),
    ("?top=100000", "top", "between 1 and 1000"),
    ("?metric=joules", "metric", "must be one of ops, bytes"),
    ("?table_sort=password", "table_sort", "must be one of user, role, machine"),
    ("?table_sort=operations&table_sort=-user", "table_sort", "at most once"),
    ("?tz=../../etc/passwd", "tz", "unknown time zone"),
    ("?user=nobody-at-all", "user", "no user named 'nobody-at-all'"),
    ("?user={user}x", "user", "(closest: {user}"),
    ("?machine=no-such-host", "machine", "no machine named 'no-such-host'"),
    ("?machine={machine}&machine=ghost", "machine", "no machine named 'ghost'"),
    ("?type=gpu-farm", "machine_type", "no machine type named 'gpu-farm'"),
    ("?machine_type={mtype}X", "machine_type", "(closest: {mtype}"),
    ("?role=Guest", "role", "no role named 'Guest'"),
    ("?affiliation=nowhere", "affiliation", "no affiliation named 'nowhere'"),
    ("?size=4K&size=3K", "size", "no size bucket '3K'"),
    ("?size=1M-4M", "size", "stored buckets:"),
]


@pytest.mark.parametrize("path", ["/api/users", "/api/machines", "/api/usage/time", "/api/stats", "/api/usage/size"])
@pytest.mark.parametrize("search, parameter, words", BAD_REQUESTS)
def test_an_unknown_parameter_or_value_is_a_400_naming_it(api_demo_client, catalog, path, search, parameter, words):
    users, machines, _ = catalog
    names = {"user": users[0], "machine": machines[0]["machine"], "mtype": machines[0]["machine_type"]}
    response = api_demo_client.get(path + search.format(**names))
    body = response.get_json()
    assert response.status_code == 400 and body["parameter"] == parameter, (search, body)
    assert body["error"].startswith(f"{parameter}: ") and words.format(**names) in body["error"], body


def test_an_unknown_parameter_lists_every_known_one(api_demo_client):
    error = api_demo_client.get("/api/users?usr=alice").get_json()["error"]
    assert all(name in error for name in PARAMETERS)


def test_the_profile_routes_answer_404_for_their_own_name_and_400_for_the_filters(api_demo_client, catalog):
    users, machines, _ = catalog
    assert api_demo_client.get("/api/usage/user/nobody-at-all").status_code == 404
    assert api_demo_client.get("/api/usage/machine/no-such-host").status_code == 404
    response = api_demo_client.get(f"/api/usage/user/{users[0]}?machine=ghost&range=24h")
    assert response.status_code == 400 and response.get_json()["parameter"] == "machine"
    assert api_demo_client.get(f"/api/usage/user/{users[0]}?usr=x").get_json()["parameter"] == "usr"
    assert api_demo_client.get(f"/api/usage/machine/{machines[0]['machine']}?range=24h").status_code == 200


def test_the_openapi_document_lists_the_vocabulary_on_every_endpoint(api_demo_client):
    document = api_demo_client.get("/api/openapi.json").get_json()
    for path, operation in document["paths"].items():
        names = {p["name"] for p in operation["get"]["parameters"] if p["in"] == "query"}
        assert names == set(PARAMETERS), path
    parameters = {p["name"]: p for p in document["paths"]["/api/users"]["get"]["parameters"]}
    assert "from" in parameters["start"]["description"] and "stack" in parameters["group_by"]["description"]
    assert parameters["range"]["schema"]["enum"] == ["24h", "7d", "30d", "90d", "all"]


def test_the_page_reads_every_spelling_a_link_may_hold():
    """Links written before the one vocabulary keep opening the same view."""
    old = state.from_url("/", "?from=2025-03-12T13:00Z&to=2025-03-13T13:00Z&dir=wr&type=tik&stack=roles", DEFAULTS)
    new = state.from_url(
        "/", "?start=2025-03-12T13:00Z&end=2025-03-13T13:00Z&direction=wr&machine_type=tik&group_by=role", DEFAULTS
    )
    assert old == new and new.stack == "roles" and new.machine_types == ("tik",) and new.direction == "wr"
    assert dict(parse_qsl(state.to_query(new, DEFAULTS)[1:]))["group_by"] == "role"

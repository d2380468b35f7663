"""How the API fails, through the real app (create_app): a bad parameter is a 400 naming it, a path under /api that is
no endpoint a 404 and a method other than GET a 405, all JSON; a database that cannot be reached a 503; anything
else is a bug, a 500 that says nothing more to the client and logs its traceback. And `size` in every form people
type, or a 400 listing the stored buckets: never a silently empty answer."""

from __future__ import annotations

import logging

import pytest

from tests.dbtools import store_an_unshowable_block

UNKNOWN_PATHS = [
    "/api",
    "/api/",
    "/api/nope",
    "/api/usage/nope",
    "/api/stats/",
    "/api//stats",
    "/api/usage/user/",
    "/api/usage/machine/",
]


@pytest.mark.parametrize("path", UNKNOWN_PATHS)
def test_a_path_under_api_that_is_no_endpoint_is_a_404_json(api_demo_client, path):
    response = api_demo_client.get(path)
    assert response.status_code == 404 and response.is_json, response.get_data(as_text=True)[:100]
    assert response.get_json() == {
        "error": f"no such endpoint: {path} (the endpoints: /api/openapi.json)",
        "parameter": None,
    }


def test_the_dashboard_still_answers_its_own_paths(api_demo_client):
    for path in ("/", "/user/someone", "/apis"):
        response = api_demo_client.get(path)
        assert response.status_code == 200 and b"<html" in response.data.lower(), path


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
@pytest.mark.parametrize("path", ["/api/stats", "/api/usage/user/someone", "/api/nope"])
def test_a_method_other_than_get_is_a_405_json(api_demo_client, method, path):
    response = getattr(api_demo_client, method)(path)
    assert response.status_code == 405 and response.is_json
    assert response.get_json()["error"] == f"method {method.upper()} not allowed here: the API answers GET"
    assert "GET" in response.headers["Allow"]


# -- size ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["4K", "4k", "4096", "4K-8K", "[4k,8k)", " 4KiB "])
@pytest.mark.parametrize("endpoint, key", [("/api/machines", "machines"), ("/api/usage/size", "buckets")])
def test_size_in_the_forms_people_type_answers_as_the_label_does(api_demo_client, form, endpoint, key):
    expected = api_demo_client.get(endpoint, query_string={"size": "[4K, 8K)"}).get_json()
    assert expected[key], "the demo has IO of 4 to 8 KiB"
    response = api_demo_client.get(endpoint, query_string={"size": form})
    assert response.status_code == 200 and response.get_json() == expected, form


@pytest.mark.parametrize("form", ["3K", "4K-16K", "[3K, 6K)", "big"])
def test_a_size_that_names_no_stored_bucket_is_a_400_listing_the_stored_ones(api_demo_client, form):
    response = api_demo_client.get("/api/machines", query_string={"size": form})
    body = response.get_json()
    assert response.status_code == 400 and body["parameter"] == "size", body
    assert body["error"].startswith(f"size: no size bucket {form!r}") and "[4K, 8K), [8K, 16K)" in body["error"]


# -- bugs and a database that cannot be reached -------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/stats", "/api/users", "/api/usage/time?group_by=user"])
def test_a_bug_is_a_500_without_details_and_logged_with_its_traceback(engine, client, caplog, path):
    store_an_unshowable_block(engine)
    with caplog.at_level(logging.ERROR, logger="clusterdash"):
        response = client.get(path)
    body = response.get_json()
    assert response.status_code == 500 and set(body) == {"error", "parameter", "reference"}, body
    assert body["error"] == "internal error" and body["parameter"] is None
    (record,) = [r for r in caplog.records if body["reference"] in r.getMessage()]
    assert record.exc_info and record.exc_info[0] is ValueError and path.split("?")[0] in record.getMessage()
    assert "out of range" not in response.get_data(as_text=True)


def test_a_database_that_goes_away_is_a_503(postgres_server):
    """The case of a database server: the app started, then its database dropped under it."""
    import psycopg

    from clusterdash.web.app import create_app

    url = postgres_server.create_database()
    client = create_app({"db": url}).server.test_client()
    assert client.get("/api/stats").status_code == 200
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(f"host=127.0.0.1 port={postgres_server.port} user=postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    response = client.get("/api/stats")
    assert response.status_code == 503 and response.get_json()["error"].startswith("database unavailable: ")


def test_a_series_past_the_points_an_answer_holds_is_a_400(api_demo_client, api_demo_engine):
    """query.MAX_POINTS: buckets x groups, checked before anything is read. The demo's 40 days in hours are 962
    buckets: by 10 users and other they are an answer; by every one of its 131 users they are too many."""
    from clusterdash.db import query
    from clusterdash.db.filters import Filters
    from clusterdash.db.timerange import MAX_EPOCH
    from clusterdash.errors import BadParameter

    every = api_demo_client.get("/api/usage/time?bucket=hour&range=all&group_by=user&top=1000")
    assert every.status_code == 400 and every.get_json()["parameter"] == "top", every.get_json()
    assert "at most 100,000 points" in every.get_json()["error"]
    assert api_demo_client.get("/api/usage/time?bucket=hour&range=all&group_by=user&top=10").status_code == 200
    # A range the API would hold to the data, asked of the query layer as it is: too many hour buckets alone.
    with api_demo_engine.connect() as conn, pytest.raises(BadParameter, match="^bucket: "):
        query.time_series(conn, Filters(start=0, end=MAX_EPOCH), bucket="hour")

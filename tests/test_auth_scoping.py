"""A signed-in `user` reads nothing of another user by any path: crafted API calls and crafted /_dash-update-component
bodies, on SQLite and PostgreSQL. Each answer about another user must be exactly the answer about a user that does
not exist (the asked-for name substituted), and no other username may appear in any answer.

The paths tried (the report lists them): every API endpoint with another user's name as a filter, a profile, a
role, a machine only others used, CSV, top-1000 series by user, role and machine, sort by name, an argument that
tries to set the scope; the OpenAPI document's examples; error messages; and every server-side callback with a view
store naming another user, claiming a wider scope (`visible_users`), a /user/<someone-else> URL, and the CSV
download.
"""

from __future__ import annotations

import json
import re

import pytest

from clusterdash.db import query
from clusterdash.db.filters import Filters
from tests.authtools import add_account, auth_app, callback_bodies, forget_accounts, names_found, post_callback, sign_in

UNKNOWN = "no-such-user"


@pytest.fixture(scope="module")
def cast(api_demo_engine):
    """me (a busy user), them (another), everyone; a machine only others used, and one I share with others."""
    with api_demo_engine.connect() as conn:
        everyone = [r["user"] for r in query.users_table(conn, Filters())]
        me, them = everyone[0], everyone[1]
        mine = {r["machine"] for r in query.machines_table(conn, Filters(users=(me,)))}
        every = {r["machine"]: r["users"] for r in query.machines_table(conn, Filters())}
    only_others = sorted(set(every) - mine)[0]
    shared = sorted(m for m in mine if every[m] > 1)[0]
    return me, them, everyone, only_others, shared


@pytest.fixture
def signed_in(api_demo_url, api_demo_engine, cast):
    me = cast[0]
    forget_accounts(api_demo_engine)
    add_account(api_demo_engine, "me", "user", [me])
    client = auth_app(api_demo_url, "local").server.test_client()
    assert sign_in(client, "me").status_code == 303
    yield client
    forget_accounts(api_demo_engine)


def api_paths(them: str, only_others: str, shared: str) -> list[str]:
    return [
        "/api/users",
        "/api/users?format=csv",
        f"/api/users?user={them}",
        f"/api/users?user={them}&format=csv",
        "/api/users?role=staff&role=guest&role=ueb&role=stud",
        "/api/users?sort=name&order=asc&limit=1000000",
        f"/api/users?visible_users={them}",
        "/api/machines",
        "/api/machines?format=csv",
        f"/api/machines?machine={only_others}",
        f"/api/machines?user={them}",
        f"/api/usage/user/{them}",
        f"/api/usage/user/{them}?start=2000-01-01",
        f"/api/usage/user/{them}?format=csv",
        f"/api/usage/machine/{only_others}",
        f"/api/usage/machine/{shared}",
        f"/api/usage/machine/{shared}?user={them}",
        "/api/usage/time?group_by=user&top=1000",
        "/api/usage/time?group_by=user&top=1000&format=csv",
        "/api/usage/time?group_by=role&top=1000",
        "/api/usage/time?group_by=machine&top=1000&bucket=hour",
        "/api/usage/time?group_by=machine_type",
        f"/api/usage/time?group_by=user&user={them}",
        "/api/usage/size",
        f"/api/usage/size?user={them}&format=csv",
        f"/api/stats?user={them}",
        "/api/stats",
        "/api/openapi.json",
        f"/api/users?user={them}&size=3K",
        f"/api/users?user={them[:-1]}",
        f"/api/nope?user={them}",
        "/api/alerts",
        f"/api/alerts?user={them}",
        "/api/jobs?limit=1000",
        "/api/jobs?running=true&limit=1000",
        "/api/jobs?format=csv&limit=1000",
        f"/api/jobs?user={them}",
    ]


AGE = re.compile(r'"age_seconds":\s*\d+')


def _without_age(text: str) -> str:
    """An answer with the freshness's age (seconds since the newest block, by the clock) left out."""
    return AGE.sub('"age_seconds":null', text)


def test_no_api_path_reads_another_user(signed_in, cast):
    me, them, everyone, only_others, shared = cast
    others = set(everyone) - {me}
    tried = []
    for path in api_paths(them, only_others, shared):
        response = signed_in.get(path)
        text = response.get_data(as_text=True)
        tried.append((path, response.status_code))
        leaked = names_found(text, others - {them})
        assert not leaked, (path, leaked)
        unknown = signed_in.get(path.replace(them, UNKNOWN)).get_data(as_text=True)
        # another user is answered like nobody (the data's age moves with the clock between the two requests)
        assert _without_age(text) == _without_age(unknown.replace(UNKNOWN, them)), path
    statuses = dict(tried)
    assert statuses[f"/api/usage/user/{them}"] == 404 and statuses[f"/api/usage/machine/{only_others}"] == 404
    assert statuses["/api/users"] == 200 and me in signed_in.get("/api/users").get_data(as_text=True)
    document = signed_in.get("/api/openapi.json").get_data(as_text=True)
    assert me in document  # its examples are the asker's own


def test_no_job_of_another_user_is_listed_or_found(signed_in, cast, api_demo_engine):
    """Jobs are their users' data: a scoped user's job lists hold their own jobs only, and another user's job, by
    its id, in a profile or as a filter, is answered exactly like a job id nothing stored has."""
    me, them, everyone, _, _ = cast
    with api_demo_engine.connect() as conn:
        theirs = query.jobs_table(conn, Filters(users=(them,)), limit=1)["jobs"][0]["job"]
        mine = query.jobs_table(conn, Filters(users=(me,)), limit=1)["jobs"][0]["job"]
    listed = signed_in.get("/api/jobs?limit=1000").get_json()["jobs"]
    assert listed and {job["user"] for job in listed} == {me}
    running = signed_in.get("/api/jobs?running=true&limit=1000").get_json()["jobs"]
    assert {job["user"] for job in running} <= {me}
    assert signed_in.get(f"/api/usage/job/{mine}").status_code == 200
    nobody = "999999999"
    for path in ("/api/usage/job/{}", "/api/jobs?job={}", "/api/usage/time?job={}", "/api/users?job={}"):
        answer = signed_in.get(path.format(theirs))
        assert answer.get_data(as_text=True) == signed_in.get(path.format(nobody)).get_data(as_text=True).replace(
            nobody, theirs
        ), path
        assert not names_found(answer.get_data(as_text=True), set(everyone) - {me}), path


VIEW = {"preset": "all", "direction": "both", "metric": "ops", "tz": "UTC", "stack": "users", "top": 30}


def crafted_views(me: str, them: str, shared: str) -> list[dict]:
    """View stores a browser could send: another user selected, alone or beside me, a wider scope claimed, a
    profile of someone else, every grouping of the series."""
    return [
        {**VIEW, "users": [them]},
        {**VIEW, "users": [them, me]},
        {**VIEW, "visible_users": None},
        {**VIEW, "visible_users": [them], "users": [them]},
        {**VIEW, "users": [them], "profile": ["user", them]},
        {**VIEW, "machines": [shared], "profile": ["machine", shared]},
        {**VIEW, "roles": ["staff", "guest", "ueb", "stud"], "stack": "roles"},
        {**VIEW, "stack": "machines", "metric": "bytes"},
        {**VIEW, "stack": "machine_types", "direction": "wr"},
    ]


def test_no_crafted_callback_reads_another_user(signed_in, cast):
    me, them, everyone, _, shared = cast
    others = set(everyone) - {me}
    answered = 0
    for view in crafted_views(me, them, shared):
        values = {
            "state-view.data": view,
            "url.pathname": f"/user/{them}",
            "url.search": f"?user={them}&user={me}",
            "live-interval.n_intervals": 1,
            "table-csv-button.n_clicks": 1,
        }
        unknown_values = json.loads(json.dumps(values).replace(them, UNKNOWN))
        bodies = dict(callback_bodies(signed_in, values))
        unknown_bodies = dict(callback_bodies(signed_in, unknown_values))
        for output, body in bodies.items():
            response = post_callback(signed_in, body)
            # A store claiming a scope is refused where it is read (400: the scope is the server's field).
            claims = "visible_users" in view
            refused = claims and response.status_code == 400
            assert response.status_code in (200, 204) or refused, (output, response.get_data()[:300])
            text = response.get_data(as_text=True)
            leaked = names_found(text, others - {them})
            assert not leaked, (output, view, leaked)
            unknown = post_callback(signed_in, unknown_bodies[output]).get_data(as_text=True)
            assert text == unknown.replace(UNKNOWN, them), (output, view)
            answered += 1
    assert answered >= 9 * 15  # every server-side callback, for every crafted view


def test_my_own_page_shows_my_data(signed_in, cast):
    me = cast[0]
    bodies = dict(callback_bodies(signed_in, {"state-view.data": VIEW, "table-csv-button.n_clicks": 1}))
    table = post_callback(signed_in, bodies["table-download.data"]).get_json()
    content = table["response"]["table-download"]["data"]["content"]
    assert {line.split(",")[0] for line in content.splitlines()[1:]} == {me}
    share = post_callback(signed_in, bodies["headline-share.children"]).get_data(as_text=True)
    assert "Your share" in share and "Everyone else" in share


def test_a_link_naming_near_another_user_is_pointed_out_with_my_names_only(signed_in, cast):
    """The view callback checks a link's names within the asker's scope: another user is a name nothing has, and
    the closest names suggested are the asker's own, never another user's."""
    me, them, everyone, _, _ = cast
    others = set(everyone) - {me}
    for asked, never in ((f"{them}x", others), (them, others - {them})):
        bodies = dict(callback_bodies(signed_in, {"url.pathname": "/", "url.search": f"?user={asked}"}))
        output = next(o for o in bodies if "filter-notice.children" in o)
        body = {**bodies[output], "changedPropIds": ["url.pathname"]}
        response = post_callback(signed_in, body)
        assert response.status_code == 200, response.get_data()[:300]
        notice = response.get_json()["response"]["filter-notice"]["children"]
        assert notice.startswith(f"user: no user named '{asked}'"), notice
        assert not names_found(notice, never), notice

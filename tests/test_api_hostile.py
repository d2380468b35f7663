"""Hostile names (tests/hostile.py: markup, formulas, 255 characters; and names with a /) through the API and the
CSV files: JSON gives them back as data, every profile route finds them, and no CSV cell starts like a formula."""

from __future__ import annotations

import csv
import io
import re
from urllib.parse import quote

import pytest

from clusterdash.web import csvfile, panels, state, usertable
from clusterdash.web.app import create_app
from tests.dbtools import cli_runner
from tests.hostile import FORMULA_NAMES, MARKUP_NAMES, START, write_hostile_log
from tests.logtools import row

SLASHED = {"user": "grp/alice", "machine": "rack/7/m1"}
FORMULA = re.compile(r"^[=+\-@\t\r]")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def hostile(request, tmp_path_factory):
    """The hostile corpus (without its 50,000-user hour) and an hour of names with a /, ingested by the CLI; the real
    app on it, in UTC."""
    folder = tmp_path_factory.mktemp(f"hostile-{request.param}")
    if request.param == "sqlite":
        url = f"sqlite:///{folder / 'hostile.db'}"
    else:
        url = request.getfixturevalue("postgres_server").create_database()
    corpus = write_hostile_log(folder / "io_usage.log", many_users=0)
    slashed = folder / "slashed.log"
    epoch = START + 20 * 3600
    slashed.write_text(
        f"Log: 2025-03-01 20:00:15 ({epoch})\n"
        f"@rd_client({SLASHED['machine']},tik)[{SLASHED['user']}(stud/tik)]:\n{row('[4K, 8K)', 42)}\n\n"
    )
    for path in (corpus.path, slashed):
        result = cli_runner(url)("ingest", str(path))
        assert result.exit_code in (0, 1), result.output  # 1: the corpus's rejected lines, reported
    app = create_app({"db": url, "tz": "UTC", "refresh": 3600})
    yield corpus, app.server.test_client(), app.clusterdash_engine


def _names(kind: str) -> list[str]:
    return [*MARKUP_NAMES.get(kind, []), *FORMULA_NAMES.get(kind, [])]


def test_json_gives_every_hostile_name_back_as_data(hostile):
    corpus, client, _engine = hostile
    users = {r["user"] for r in client.get("/api/users?range=all").get_json()["users"]}
    assert users == corpus.users | {SLASHED["user"]}
    machines = {r["machine"] for r in client.get("/api/machines?range=all").get_json()["machines"]}
    assert set(_names("machine")) | {SLASHED["machine"]} <= machines
    roles = {r["role"] for r in client.get("/api/users?range=all").get_json()["users"]}
    assert set(_names("role")) <= roles


@pytest.mark.parametrize("kind", ["user", "machine"])
def test_every_stored_name_has_its_profile_a_slash_included(hostile, kind):
    corpus, client, _engine = hostile
    names = {"user": corpus.users, "machine": corpus.machines}[kind] | {SLASHED[kind]}
    for name in sorted(names):
        response = client.get(f"/api/usage/{kind}/{quote(name, safe='')}")
        assert response.status_code == 200, (name, response.get_json())
        assert response.get_json()[kind] == name
    assert client.get(f"/api/usage/{kind}/{quote(SLASHED[kind])}").get_json()[kind] == SLASHED[kind]  # / as is
    missing = client.get(f"/api/usage/{kind}/{quote(SLASHED[kind] + '/x', safe='')}")
    assert missing.status_code == 404 and missing.get_json()["parameter"] == kind


def test_a_hostile_name_as_a_filter_is_found_as_it_is(hostile):
    _corpus, client, _engine = hostile
    for user in _names("user"):
        rows = client.get("/api/users", query_string={"user": user, "range": "all"}).get_json()["users"]
        assert [r["user"] for r in rows] == [user]
    response = client.get("/api/users", query_string={"user": "=HYPERLINK", "range": "all"})
    assert response.status_code == 400 and "=HYPERLINK" in response.get_json()["error"]


CSV_PATHS = [
    "/api/users?range=all&format=csv",
    "/api/machines?range=all&format=csv",
    "/api/usage/time?range=all&group_by=user&top=1000&bucket=day&format=csv",
    "/api/usage/time?range=all&group_by=role&format=csv",
    "/api/usage/size?range=all&format=csv",
]


def _cells(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


@pytest.mark.parametrize("path", CSV_PATHS)
def test_no_csv_cell_of_the_api_starts_like_a_formula(hostile, path):
    _corpus, client, _engine = hostile
    response = client.get(path)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    disposition = response.headers["Content-Disposition"]
    assert re.fullmatch(r'attachment; filename="clusterdash-[A-Za-z0-9._+-]+\.csv"', disposition), disposition
    rows = _cells(response.get_data(as_text=True))
    assert len(rows) > 1
    bad = [cell for r in rows for cell in r if FORMULA.match(cell) and not _number(cell)]
    assert bad == []


def test_the_neutralised_names_read_back_as_the_names(hostile):
    _corpus, client, _engine = hostile
    rows = list(csv.DictReader(io.StringIO(client.get(CSV_PATHS[0]).get_data(as_text=True))))
    shown = {r["user"] for r in rows}
    for name in _names("user"):
        assert (("'" + name) if FORMULA.match(name) else name) in shown


def test_the_dashboards_download_neutralises_the_same_cells(hostile):
    _corpus, _client, engine = hostile
    download = usertable.csv_download(engine, state.View(preset="all"))
    rows = _cells(download["content"])
    assert len(rows) > 10
    assert [c for r in rows for c in r if FORMULA.match(c) and not _number(c)] == []
    assert any(c == "'=1+2" for r in rows for c in r)


def test_the_dashboard_opens_a_profile_whose_name_has_a_slash(hostile):
    _corpus, client, engine = hostile
    pathname = f"/user/{quote(SLASHED['user'], safe='')}"
    assert client.get(pathname).status_code == 200
    view = state.from_url(pathname, "?range=all", state.View())
    assert view.users == (SLASHED["user"],) and view.profile == ("user", SLASHED["user"])
    assert state.from_url(f"/user/{SLASHED['user']}", "", state.View()).users == (SLASHED["user"],)  # / as is
    card = str(panels.profile(engine, view))
    assert SLASHED["user"] in card and "No user named" not in card


def _number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def test_a_cell_is_neutralised_by_owasps_rule():
    for text in ("=1+2", "+1", "-2", "@SUM(A1)", "\t=1", "\r=1"):
        assert csvfile.cell(text) == "'" + text
    for value in ("alice", "a=b", " =1", 5, -5, 2.5, "'quoted"):
        assert csvfile.cell(value) == value
    assert csvfile.cell(None) == ""

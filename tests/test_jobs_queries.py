"""The questions about jobs on both backends, on a small hand-built database (IO through the Loader, jobs through
`jobs ingest`'s library call), and through the API: ranking, totals that add up, a range that cuts days, the size
estimate, a job selection narrowing every question, the newest hour, one job's page, CSV and errors."""

from __future__ import annotations

import csv
import io

import pytest

from clusterdash.db.filters import Filters
from clusterdash.db.query import job_profile, jobs_table, running_jobs, users_table
from clusterdash.errors import BadParameter
from clusterdash.ingest.jobs import ingest_sacct_files
from clusterdash.ingest.pipeline import ingest_paths
from tests.jobtools import H0, HOUR, io_log, sacct_line, write_sacct

BIG, SMALL = "[4K, 8K)", "[1K, 2K)"
DAY = 86400
D0 = H0 - H0 % DAY  # midnight UTC before H0 (12:00)


@pytest.fixture
def db(engine, tmp_path):
    """Two days of IO: alice on n1 and n2, bob on n1, carol (no job) on n3; a gap at D0+13h; and four jobs."""
    hours: dict[int, dict] = {}
    for k in range(40):
        hour = D0 + 4 * HOUR + k * HOUR
        if hour == D0 + 13 * HOUR:
            continue  # a gap: the tracer was down
        hours[hour] = {
            ("rd", "n1", "alice"): {BIG: 100, SMALL: 20},
            ("rd", "n2", "alice"): {BIG: 50},
            ("wr", "n1", "bob"): {BIG: 30, SMALL: 30},
            ("rd", "n3", "carol"): {BIG: 7},
        }
    ingest_paths(engine, [str(io_log(tmp_path / "io.log", hours))])
    lines = [
        sacct_line(1, "alice", "n[1-2]", D0 + 4 * HOUR, D0 + 20 * HOUR, cpus=4, nnodes=2, name="train"),
        sacct_line(2, "bob", "n1", D0 + 10 * HOUR, D0 + 30 * HOUR, cpus=2, name="=1+2"),
        sacct_line(3, "alice", "n1", D0 + 30 * HOUR, None, state="RUNNING", now=D0 + 44 * HOUR, name="<b>x</b>"),
        sacct_line(4, "dave", "n9", D0 + 5 * HOUR, D0 + 6 * HOUR),  # no IO of his anywhere
    ]
    ingest_sacct_files(engine, [str(write_sacct(tmp_path / "sacct.txt", *lines))], "UTC")
    return engine


def _ask(engine, question, *args, **kwargs):
    with engine.connect() as conn:
        return question(conn, *args, **kwargs)


def test_jobs_are_ranked_and_the_totals_add_up(db):
    answer = _ask(db, jobs_table, Filters())
    jobs = {row["job"]: row for row in answer["jobs"]}
    assert list(jobs) == ["1", "3", "2"]  # most operations first; dave's job did no IO
    totals = answer["totals"]
    assert totals["attributed_operations"] == sum(r["operations"] for r in answer["jobs"])
    assert totals["attributed_operations"] + totals["outside_operations"] == totals["operations"]
    assert totals["operations"] == sum(r["operations"] for r in _ask(db, users_table, Filters()))
    # Job 1: alice's whole IO on n1 and n2 for 16 hours but the gap: 15 x (120 + 50); small IO 15 x 20.
    one = jobs["1"]
    assert (one["operations"], one["small_operations"], one["node_list"], one["nnodes"]) == (2550, 300, "n[1-2]", 2)
    assert one["node_hours"] == 32 and one["operations_per_node_hour"] == pytest.approx(2550 / 32)
    assert (jobs["2"]["operations"], jobs["3"]["state"], jobs["3"]["end"]) == (19 * 60, "RUNNING", None)
    by_share = _ask(db, jobs_table, Filters(), sort="small_share")["jobs"]
    assert [r["job"] for r in by_share] == ["2", "3", "1"]  # 50 % small before 16.7 % and 11.8 %
    assert [r["job"] for r in _ask(db, jobs_table, Filters(), sort="job", order="asc", limit=2)["jobs"]] == ["1", "2"]
    with pytest.raises(BadParameter, match="sort"):
        _ask(db, jobs_table, Filters(), sort="nope")


def test_a_range_that_cuts_days_reads_the_days_and_the_edge_hours_alike(db):
    """JobDays for the whole days, JobUsage for the edges: the same sums as hour by hour."""
    for start, end in [(D0 + 6 * HOUR, D0 + 40 * HOUR), (D0, D0 + 2 * DAY), (D0 + 11 * HOUR, D0 + 12 * HOUR)]:
        whole = _ask(db, jobs_table, Filters(start=start, end=end))
        by_hour = [_ask(db, jobs_table, Filters(start=h, end=h + HOUR)) for h in range(start, end, HOUR)]
        for job in ("1", "2", "3"):
            expected = sum(r["operations"] for answer in by_hour for r in answer["jobs"] if r["job"] == job)
            assert sum(r["operations"] for r in whole["jobs"] if r["job"] == job) == expected, (start, end, job)


def test_filters_apply_and_a_size_filter_estimates_each_jobs_share(db):
    only_n2 = {r["job"]: r["operations"] for r in _ask(db, jobs_table, Filters(machines=("n2",)))["jobs"]}
    assert only_n2 == {"1": 15 * 50}
    writes = _ask(db, jobs_table, Filters(direction="wr"))
    assert [r["job"] for r in writes["jobs"]] == ["2"] and writes["totals"]["outside_operations"] == 60 * 20
    sized = _ask(db, jobs_table, Filters(sizes=(SMALL,)))
    assert sized["operations_estimated"]
    shares = {r["job"]: r["operations"] for r in sized["jobs"]}
    assert shares == {"1": 15 * 20, "2": 19 * 30, "3": 14 * 20}
    assert sized["totals"]["operations"] == 39 * 50


def test_a_job_selection_narrows_every_question_to_its_user_machines_and_hours(db):
    users = _ask(db, users_table, Filters(jobs=("2",)))
    assert [(r["user"], r["operations"]) for r in users] == [("bob", 19 * 60)]
    both = {r["user"] for r in _ask(db, users_table, Filters(jobs=("1", "2")))}
    assert both == {"alice", "bob"}
    assert _ask(db, users_table, Filters(jobs=("2",), users=("alice",))) == []
    assert _ask(db, users_table, Filters(jobs=("12345",))) == []  # no such job: nothing
    assert _ask(db, users_table, Filters(jobs=("4",))) == []  # a job whose user did no IO
    with pytest.raises(BadParameter, match="job"):
        Filters(jobs=("12;DROP",))


def test_the_jobs_running_in_the_newest_hour(db):
    answer = _ask(db, running_jobs, Filters(start=D0, end=D0 + HOUR))  # the range does not apply
    assert answer["hour_epoch"] == D0 + 43 * HOUR
    assert [(r["job"], r["operations"]) for r in answer["jobs"]] == [("3", 120)]
    assert answer["totals"]["outside_operations"] == 50 + 60 + 7


def test_one_jobs_page(db):
    page = _ask(db, job_profile, "1", Filters())
    assert page["job"]["user"] == "alice" and page["allocation"] == [
        {"machine": "n1", "cpus": 2},
        {"machine": "n2", "cpus": 2},
    ]
    points = page["series"]["points"]
    assert [p["epoch"] for p in points] == list(range(D0 + 4 * HOUR, D0 + 20 * HOUR, HOUR))
    gap = next(p for p in points if p["epoch"] == D0 + 13 * HOUR)
    assert gap["operations"] is None and points[0]["operations"] == 170  # no block: no data, not zero IO
    assert {m["machine"]: m["operations"] for m in page["machines"]} == {"n1": 1800, "n2": 750}
    assert {s["label"]: s["operations"] for s in page["sizes"]} == {SMALL: 300, BIG: 2250}
    assert page["cells"] == {"operations": 2550, "taken_by_this_job": 2550, "share": 1.0}
    bob = _ask(db, job_profile, "2", Filters(start=D0 + 20 * HOUR, end=D0 + 22 * HOUR))
    assert [p["operations"] for p in bob["series"]["points"]] == [60, 60]
    assert _ask(db, job_profile, "1", Filters(users=("bob",))) is None  # another user's job is not found
    assert _ask(db, job_profile, "77", Filters()) is None


def test_the_api_answers_jobs_as_json_and_neutralised_csv(db, db_url):
    from clusterdash.web.app import create_app

    client = create_app({"db": db_url, "refresh": 3600}).server.test_client()
    listed = client.get("/api/jobs?sort=small_share").get_json()
    assert [r["job"] for r in listed["jobs"]] == ["2", "3", "1"]
    text = client.get("/api/jobs?format=csv&sort=job&order=asc").get_data(as_text=True)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(r["job"], r["name"]) for r in rows] == [("1", "train"), ("2", "'=1+2"), ("3", "<b>x</b>")]
    assert client.get("/api/usage/job/1").get_json()["totals"]["operations"] == 2550
    assert client.get("/api/usage/job/1?user=bob").status_code == 404
    missing = client.get("/api/usage/job/1;drop")
    assert missing.status_code == 404 and missing.get_json()["parameter"] == "job"
    bad = client.get("/api/jobs?job=x1")
    assert bad.status_code == 400 and bad.get_json()["parameter"] == "job"
    assert client.get("/api/jobs?running=maybe").get_json()["parameter"] == "running"
    assert client.get("/api/usage/job/1?format=csv").status_code == 400
    assert [r["user"] for r in client.get("/api/users?job=2").get_json()["users"]] == ["bob"]

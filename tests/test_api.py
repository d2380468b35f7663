"""The seven endpoints on SQLite and PostgreSQL: the totals invariant on random filters, rollups vs raw rows,
errors, CSV, gaps."""

from __future__ import annotations

import csv
import io
import random

import pytest

from clusterdash.db import query
from clusterdash.db.filters import Filters
from tests.dbtools import DEMO_ZONE, from_rollups_and_raw_rows, raw_rows_only, rounded

ZONES = ("Europe/Zurich", "UTC", "America/New_York", "Asia/Kolkata")


def _catalog(client):
    users = client.get("/api/users").get_json()["users"]
    machines = client.get("/api/machines").get_json()["machines"]
    sizes = [b["label"] for b in client.get("/api/usage/size").get_json()["buckets"]]
    stats = client.get("/api/stats?tz=UTC").get_json()
    return users, machines, sizes, stats


def _random_args(rng: random.Random, users, machines, sizes, stats) -> list[tuple[str, str]]:
    first, last = stats["range"]["start_epoch"], stats["range"]["end_epoch"]
    args = []
    if rng.random() < 0.8:
        a, b = sorted(rng.sample(range(first - 7200, last + 7200, 1800), 2))
        args += [("start", str(a)), ("end", str(b))]
    if rng.random() < 0.3:
        args += [("user", u["user"]) for u in rng.sample(users, rng.randint(1, 3))]
    if rng.random() < 0.2:
        args.append(("role", rng.choice(users)["role"] or "staff"))
    if rng.random() < 0.3:
        args += [("machine", m["machine"]) for m in rng.sample(machines, rng.randint(1, 2))]
    if rng.random() < 0.2:
        args.append(("machine_type", rng.choice(machines)["machine_type"]))
    if rng.random() < 0.25:
        args += [("size", s) for s in rng.sample(sizes, rng.randint(1, 4))]
    args.append(("direction", rng.choice(["rd", "wr", "both"])))
    args.append(("tz", rng.choice(ZONES)))
    return args


def test_stats_operations_equal_size_and_time_sums_for_random_filters(api_demo_client):
    rng = random.Random(4)
    catalog = _catalog(api_demo_client)
    for _ in range(25):
        args = _random_args(rng, *catalog)
        stats = api_demo_client.get("/api/stats", query_string=args)
        assert stats.status_code == 200, stats.get_json()
        total = stats.get_json()["operations"]["total"]
        size = api_demo_client.get("/api/usage/size", query_string=args).get_json()
        assert sum(b["operations"] for b in size["buckets"]) == size["operations"] == total, args
        group_by = rng.choice(query.GROUP_BYS)
        bucket = rng.choice([None, "hour", "day", "week", "month"])
        series_args = (
            args + [("group_by", group_by), ("top", str(rng.randint(1, 5)))] + ([("bucket", bucket)] if bucket else [])
        )
        series = api_demo_client.get("/api/usage/time", query_string=series_args).get_json()
        assert sum(p["operations"] or 0 for p in series["points"]) == total, series_args
        users = api_demo_client.get("/api/users", query_string=args).get_json()["users"]
        assert sum(u["operations"] for u in users) == total


def test_a_series_top_groups_and_other_equal_the_series_of_every_group(api_demo_client):
    """The top groups' points are those of the same groups in the series of every group, and "other" is, per
    bucket, the sum of the groups left out: whatever the top groups and the rest are read from."""
    rng = random.Random(12)
    catalog = _catalog(api_demo_client)
    for i in range(16):
        args = _random_args(rng, *catalog) + [("group_by", ("user", "machine", "role", "machine_type")[i % 4])]
        args.append(("bucket", rng.choice(["hour", "day", "week", "month"])))
        top = api_demo_client.get("/api/usage/time", query_string=args + [("top", "2")]).get_json()
        every = api_demo_client.get("/api/usage/time", query_string=args + [("top", "1000")]).get_json()
        points = {}
        for p in every["points"]:
            points.setdefault(p["group"], []).append(p)
        for p in top["points"]:
            points.setdefault(("top", p["group"]), []).append(p)
        named = [g for g in top["groups"] if g != "other"]
        assert named == every["groups"][: len(named)], args
        for g in named:
            assert points[("top", g)] == points[g], (args, g)
        rest = every["groups"][len(named) :]
        assert ("other" in top["groups"]) == bool(rest), args
        for k, p in enumerate(points.get(("top", "other"), [])):
            summed = [points[g][k] for g in rest]
            if p["operations"] is None:
                assert all(q["operations"] is None for q in summed)
            else:
                assert p["operations"] == sum(q["operations"] for q in summed), (args, p)
                assert rounded(p["bytes"]) == rounded(sum(q["bytes"] for q in summed)), (args, p)


def test_rollup_path_equals_raw_path(api_demo_engine):
    """The same answers when every hour is read from the raw rows instead of whole periods from the rollups."""
    rng = random.Random(9)
    with api_demo_engine.connect() as conn:
        users = [u["user"] for u in query.users_table(conn, Filters())]
    asked = []
    for _ in range(12):
        start = 1740783600 + rng.randrange(0, 30 * 86400, 3600)
        f = Filters(
            start=start,
            end=start + rng.randrange(3600, 25 * 86400, 3600),
            tz=DEMO_ZONE,
            direction=rng.choice(["rd", "wr", "both"]),
            users=tuple(rng.sample(users, 2)) if rng.random() < 0.4 else (),
        )
        bucket = rng.choice(["day", "week", "month"])
        group_by = rng.choice(query.GROUP_BYS)
        asked.append(
            lambda conn, f=f, bucket=bucket, group_by=group_by: (
                query.time_series(conn, f, bucket, group_by),
                query.users_table(conn, f),
                query.size_distribution(conn, f),
                query.stats(conn, f, now=0),
            )
        )
    for fast, slow in zip(*from_rollups_and_raw_rows(api_demo_engine, asked)):
        assert rounded(fast) == rounded(slow), fast[0]["range"]


def test_user_and_machine_size_questions_equal_the_raw_path(api_demo_engine):
    """Size questions on users and machines together (the user x machine table, the machines of some users,
    the users of a machine, profiles, series) over ranges holding whole months, which RollupPairSizes answers,
    and the hours around them: the same answers as from raw rows only, in the rollup zone and in others."""
    rng = random.Random(5)
    with api_demo_engine.connect() as conn:
        users = [u["user"] for u in query.users_table(conn, Filters())]
        machines = [m["machine"] for m in query.machines_table(conn, Filters())]
        sizes = [b["label"] for b in query.size_buckets(conn)]
        first = query.stats(conn, Filters(), now=0)["range"]["start_epoch"]
        asked = []
        for i in range(10):
            start = None if i == 0 else first + rng.randrange(-2 * 86400, 5 * 86400, 3600)
            end = None if i < 2 else start + rng.randrange(31 * 86400, 39 * 86400, 3600)
            picked = {"sizes": tuple(rng.sample(sizes, rng.randint(1, 3)))}
            if rng.random() < 0.5:
                picked["users"] = tuple(rng.sample(users, rng.randint(1, 3)))
            elif rng.random() < 0.5:
                picked["roles"] = ("staff",)
            if rng.random() < 0.4:
                picked["machines"] = tuple(rng.sample(machines, rng.randint(1, 2)))
            f = Filters(
                start=start,
                end=end,
                tz=rng.choice([DEMO_ZONE, DEMO_ZONE, "UTC"]),
                direction=rng.choice(["rd", "wr", "both"]),
                **picked,
            )

            rng_user, rng_machine = rng.choice(users), rng.choice(machines)
            asked.append(
                lambda conn, f=f, rng_user=rng_user, rng_machine=rng_machine: (
                    query.user_machine_usage(conn, f),
                    query.machines_table(conn, f),
                    query.users_table(conn, f),
                    query.user_profile(conn, rng_user, f),
                    query.machine_profile(conn, rng_machine, f),
                    query.time_series(conn, f, "month", "user", 3),
                    query.time_series(conn, f, "month", "machine_type", 3),
                )
            )
    for fast, slow in zip(*from_rollups_and_raw_rows(api_demo_engine, asked)):
        assert rounded(fast) == rounded(slow)


def test_hours_without_a_block_are_missing_not_zero(api_demo_client):
    stats = api_demo_client.get("/api/stats").get_json()
    assert stats["gaps"], "the demo log has gaps"
    gap = stats["gaps"][0]
    series = api_demo_client.get(
        "/api/usage/time",
        query_string={"start": gap["start_epoch"] - 3600, "end": gap["end_epoch"] + 3600, "bucket": "hour"},
    ).get_json()
    by_time = {p["epoch"]: p["operations"] for p in series["points"]}
    assert by_time[gap["start_epoch"]] is None
    assert by_time[gap["start_epoch"] - 3600] is not None
    assert by_time[gap["end_epoch"]] is not None
    assert [b["hours_with_data"] for b in series["buckets"]][:2] == [1, 0]


def test_stats_without_filters_match_database_stats(api_demo_client, api_demo_engine):
    with api_demo_engine.connect() as conn:
        whole = query.database_stats(conn)
    stats = api_demo_client.get("/api/stats").get_json()
    for key in whole:
        if key != "freshness":  # its age is in seconds at the time of each call
            assert stats[key] == whole[key], key
    assert stats["freshness"]["last_block"] == whole["freshness"]["last_block"] == whole["last"]


@pytest.mark.parametrize(
    "url, parameter",
    [
        ("/api/stats?direction=sideways", "direction"),
        ("/api/stats?start=yesterday", "start"),
        ("/api/stats?start=2025-03-10&end=2025-03-01", "start"),
        ("/api/users?limit=-1", "limit"),
        ("/api/users?sort=shoe", "sort"),
        ("/api/usage/time?bucket=fortnight", "bucket"),
        ("/api/usage/time?group_by=planet", "group_by"),
        ("/api/usage/time?top=0", "top"),
        ("/api/usage/size?tz=Mars/Olympus", "tz"),
        ("/api/usage/size?end=99999999999999", "end"),
        ("/api/stats?format=csv", "format"),
        ("/api/stats?start=1&start=2", "start"),
    ],
)
def test_bad_parameters_are_400_naming_the_parameter(api_demo_client, url, parameter):
    response = api_demo_client.get(url)
    assert response.status_code == 400
    body = response.get_json()
    assert body["parameter"] == parameter and body["error"].startswith(parameter + ":")


def test_unknown_user_and_machine_are_404_json(api_demo_client):
    for url in ("/api/usage/user/nobody", "/api/usage/machine/nowhere"):
        response = api_demo_client.get(url)
        assert response.status_code == 404 and "error" in response.get_json()


def test_profiles(api_demo_client):
    user = api_demo_client.get("/api/users?limit=1").get_json()["users"][0]
    profile = api_demo_client.get(f"/api/usage/user/{user['user']}").get_json()
    assert profile["totals"]["operations"] == user["operations"]
    assert sum(m["operations"] for m in profile["machines"]) == user["operations"]
    assert sum(b["operations"] for b in profile["sizes"]) == user["operations"]
    machine = profile["machines"][0]["machine"]
    mprofile = api_demo_client.get(f"/api/usage/machine/{machine}").get_json()
    assert user["user"] in [u["user"] for u in mprofile["users"]]


def test_csv_matches_json(api_demo_client):
    for url, key in (
        ("/api/users", "users"),
        ("/api/machines", "machines"),
        ("/api/usage/size", "buckets"),
        ("/api/usage/time?group_by=role", "points"),
    ):
        rows = api_demo_client.get(url).get_json()[key]
        text = api_demo_client.get(url + ("&" if "?" in url else "?") + "format=csv")
        assert text.mimetype == "text/csv"
        parsed = list(csv.DictReader(io.StringIO(text.get_data(as_text=True))))
        assert len(parsed) == len(rows) and set(parsed[0]) == set(rows[0])


def test_sort_order_limit(api_demo_client):
    names = [u["user"] for u in api_demo_client.get("/api/users?sort=name&order=asc").get_json()["users"]]
    assert names == sorted(names)
    top = api_demo_client.get("/api/users?sort=operations&order=desc&limit=3").get_json()["users"]
    assert len(top) == 3 and top[0]["operations"] >= top[1]["operations"] >= top[2]["operations"]


def test_requests_in_another_zone_match_the_raw_rows_and_leave_the_rollups_alone(api_demo_client, api_demo_engine):
    """The rollups are in DEMO_ZONE; a request in another zone reads the rollup periods inside its buckets and
    raw hours around them, answers as if it read only raw rows, and never rebuilds anything."""
    from sqlalchemy import select

    from clusterdash.db.schema import rollup_state

    with api_demo_engine.connect() as conn:
        state = conn.execute(select(rollup_state)).all()
    user = api_demo_client.get("/api/users?limit=1").get_json()["users"][0]["user"]
    urls = [
        "/api/usage/time?bucket=day&group_by=user&start=2025-03-03&end=2025-03-20",
        "/api/usage/time?bucket=week&group_by=role",
        "/api/usage/time?bucket=month&size=[1M, 2M)",
        "/api/usage/time?bucket=week&group_by=machine&size=[1M, 2M)",
        f"/api/usage/user/{user}",
        "/api/users?start=2025-03-02T05:00&end=2025-03-29",
        "/api/usage/size?role=staff",
    ]
    for url in urls:
        url += ("&" if "?" in url else "?") + "tz=America/New_York"
        fast = api_demo_client.get(url).get_json()
        with raw_rows_only(api_demo_engine):
            slow = api_demo_client.get(url).get_json()
        assert rounded(fast) == rounded(slow), url
    with api_demo_engine.connect() as conn:
        assert conn.execute(select(rollup_state)).all() == state


def test_a_database_without_rollups_answers_from_raw_rows_and_requests_do_not_build_them(engine, client):
    from clusterdash.db.rollups import rollup_zone
    from clusterdash.ingest.demo import generate_lines
    from tests.dbtools import write_as_before_rollups
    from tests.logtools import parse_lines

    # After the app's start-up: the data of a release without rollups arrives under a running server.
    write_as_before_rollups(engine, list(parse_lines(list(generate_lines(days=4, seed=2)))), "old.log")
    stats = client.get("/api/stats").get_json()
    assert stats["operations"]["total"] > 0
    size = client.get("/api/usage/size").get_json()
    series = client.get("/api/usage/time?group_by=user").get_json()
    assert size["operations"] == stats["operations"]["total"] == sum(p["operations"] or 0 for p in series["points"])
    with engine.connect() as conn:
        assert rollup_zone(conn) is None

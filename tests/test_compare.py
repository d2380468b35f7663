"""Profiles that compare and the load view, checked against an independent oracle on both backends.

A log of 37 days is generated here from plain values (users, machines, counts per size bucket, a few hours left
out), ingested by the real ingest, and every figure the query layer gives is recomputed from those values by
plain Python sums: ranks and shares among users and machines, the usual level (the median of the same hours 1 to
4 weeks before, only over weeks with data for 90 % of their hours), each user's two shares for the load view,
and the hour a subject was first and last seen. On the demo database (Europe/Zurich, across the 2025-03-30
change to summer time) the same figures are recomputed by raw SQL over UserSessions.
"""

from __future__ import annotations

import random
import statistics
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from clusterdash.db import query
from clusterdash.db.filters import Filters
from clusterdash.db.timefmt import iso_utc
from tests.conftest import BACKENDS
from tests.dbtools import DEMO_ZONE, from_rollups_and_raw_rows, rounded
from tests.logtools import row

HOUR, DAY, WEEK = 3600, 86400, 7 * 86400
T0 = int(datetime(2025, 1, 6, tzinfo=timezone.utc).timestamp())  # a Monday, 00:00 UTC
DAYS = 37
MIDPOINT = {"[512, 1K)": 768, "[2K, 4K)": 3072, "[4K, 8K)": 6144, "[64K, 128K)": 98304, "[1M, 2M)": 1572864}
SMALL = {"[512, 1K)", "[2K, 4K)"}
USERS = ("alice", "bob", "carol", "dave", "erin")
MACHINES = ("m1", "m2", "m3")
# Hours left out (no block): three hours in the second week before R_GAP (half of that 6-hour window: not
# counted; an eighth of the same day in R_DAY's: not counted), one in R_DAY's first week before (1 of 24: counted).
GAPS = {T0 + 21 * DAY + 13 * HOUR + i * HOUR for i in range(3)} | {T0 + 28 * DAY + 3 * HOUR}
# Ranges [first hour, end hour).
R_FULL = (T0 + 36 * DAY + 6 * HOUR, T0 + 36 * DAY + 12 * HOUR)  # four full weeks before it
R_GAP = (T0 + 35 * DAY + 12 * HOUR, T0 + 35 * DAY + 18 * HOUR)  # the week two before it half missing: 3 count
R_DAY = (T0 + 35 * DAY, T0 + 36 * DAY)  # 3 weeks count (one with an hour missing), one does not
R_SHORT = (T0 + 16 * DAY + 6 * HOUR, T0 + 16 * DAY + 12 * HOUR)  # only two weeks of log before it
R_LONG = (T0 + 20 * DAY, T0 + 36 * DAY)  # longer than a week: no usual level


@dataclass
class GeneratedLog:
    """The values a log was written from: {(hour, direction, machine, user): {label: count}}."""

    cells: dict = field(default_factory=dict)

    def hours(self) -> set[int]:
        return {h for h in range(T0, T0 + DAYS * DAY, HOUR) if h not in GAPS}

    def total(self, lo: int, hi: int, keep=lambda key: True) -> tuple[int, float, int]:
        """(operations, midpoint bytes, small operations) of the cells in the hours [lo, hi) that `keep`."""
        ops = small = 0
        nbytes = 0.0
        for key, rows in self.cells.items():
            if lo <= key[0] < hi and keep(key):
                for label, count in rows.items():
                    ops += count
                    nbytes += count * MIDPOINT[label]
                    small += count if label in SMALL else 0
        return ops, nbytes, small

    def per(self, position: int, lo: int, hi: int, direction: str = "both") -> dict[str, tuple[int, float, int]]:
        """Totals per user (position 3) or machine (2) with operations in [lo, hi)."""
        names = {key[position] for key in self.cells}
        found = {n: self.total(lo, hi, lambda k, n=n: k[position] == n and direction in ("both", k[1])) for n in names}
        return {n: v for n, v in found.items() if v[0] > 0}

    def text(self) -> str:
        blocks = []
        for hour in sorted(self.hours()):
            epoch = hour + HOUR + 15  # a block logged just after its hour ends reports that hour
            clock = datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
            lines = [f"Log: {clock} ({epoch})"]
            for (h, direction, machine, user), rows in self.cells.items():
                if h == hour:
                    lines.append(f"@{direction}_client({machine},tik)[{user}(stud/tik)]:")
                    lines += [row(label, count) for label, count in rows.items()] + [""]
            blocks.append("\n".join(lines) + "\n")
        return "".join(blocks)


def generate(seed: int = 16) -> GeneratedLog:
    """Users with different habits: alice many small reads, bob few large ones, the rest in between; zoe only in
    the first two days."""
    rng = random.Random(seed)
    habits = {
        "alice": (0, 2, 4000),
        "bob": (2, 5, 300),
        "carol": (1, 4, 1500),
        "dave": (0, 5, 900),
        "erin": (1, 3, 600),
    }
    labels = list(MIDPOINT)
    log = GeneratedLog()
    for hour in sorted(log.hours()):
        for user in USERS + (("zoe",) if hour < T0 + 2 * DAY else ()):
            low, high, scale = habits.get(user, (0, 5, 200))
            for direction, chance in (("rd", 0.6), ("wr", 0.25)):
                if rng.random() < chance:
                    chosen = sorted(rng.sample(range(low, high), rng.randint(1, high - low)))
                    counts = {labels[i]: rng.randint(1, scale) for i in chosen}
                    log.cells[(hour, direction, rng.choice(MACHINES), user)] = counts
    return log


LOG = generate()


@pytest.fixture(scope="module", params=BACKENDS)
def compare_engine(request, tmp_path_factory):
    """The generated log ingested by the real ingest (rollups in UTC), on each backend."""
    from clusterdash.db.engine import make_engine
    from clusterdash.db.setup import prepare_database
    from clusterdash.ingest.pipeline import ingest_paths

    folder = tmp_path_factory.mktemp(f"compare-{request.param}")
    if request.param == "sqlite":
        url = f"sqlite:///{folder / 'compare.db'}"
    else:
        url = request.getfixturevalue("postgres_server").create_database()
    engine = make_engine(url)
    prepare_database(engine, "UTC")
    (folder / "io_usage.log").write_text(LOG.text())
    ingest_paths(engine, [str(folder / "io_usage.log")], progress=False)
    yield engine
    engine.dispose()


def both_paths(engine, question):
    """question(conn) from the rollups and from the raw rows only: the two must agree."""
    fast, slow = from_rollups_and_raw_rows(engine, [question])
    assert rounded(fast[0]) == rounded(slow[0])
    return fast[0]


def expected_rank(values: dict, name: str, index: int) -> int:
    return 1 + sum(1 for v in values.values() if v[index] > values[name][index])


def in_range(lo: int, hi: int, **more) -> Filters:
    return Filters(start=lo, end=hi, tz="UTC", **more)


@pytest.mark.parametrize("rng", [R_FULL, R_DAY, R_LONG])
def test_a_users_rank_and_share_are_those_of_a_plain_sum(compare_engine, rng):
    everyone = LOG.per(3, *rng)
    whole_ops, whole_bytes = sum(v[0] for v in everyone.values()), sum(v[1] for v in everyone.values())
    for name in ("alice", "bob", "erin"):
        # A user filter in the question is replaced by the profile's user, and the standing ignores it.
        got = both_paths(compare_engine, lambda c, n=name: query.user_profile(c, n, in_range(*rng, users=("bob",))))
        standing = got["standing"]
        assert standing["among"] == "users" and standing["of"] == len(everyone)
        assert standing["operations"]["rank"] == expected_rank(everyone, name, 0)
        assert standing["bytes"]["rank"] == expected_rank(everyone, name, 1)
        assert standing["operations"]["share"] == pytest.approx(everyone[name][0] / whole_ops, rel=1e-12)
        assert standing["bytes"]["share"] == pytest.approx(everyone[name][1] / whole_bytes, rel=1e-12)
        assert standing["operations"]["total"] == whole_ops
        assert got["totals"]["operations"] == everyone[name][0]


def test_a_machines_rank_and_share_honour_the_other_filters(compare_engine):
    # Reads only, and only what alice and bob did: the machines ranked on that.
    per_machine = {
        m: LOG.total(*R_DAY, lambda k, m=m: k[2] == m and k[1] == "rd" and k[3] in ("alice", "bob")) for m in MACHINES
    }
    whole = sum(v[0] for v in per_machine.values())
    for machine in MACHINES:
        f = in_range(*R_DAY, direction="rd", users=("alice", "bob"), machines=("m1",))
        standing = both_paths(compare_engine, lambda c, m=machine, f=f: query.machine_profile(c, m, f))["standing"]
        assert standing["of"] == 3 and standing["among"] == "machines"
        assert standing["operations"]["rank"] == expected_rank(per_machine, machine, 0)
        assert standing["operations"]["share"] == pytest.approx(per_machine[machine][0] / whole, rel=1e-12)


def test_no_io_in_the_range_has_no_rank_and_a_share_of_zero(compare_engine):
    standing = both_paths(compare_engine, lambda c: query.user_profile(c, "zoe", in_range(*R_FULL)))["standing"]
    assert standing["operations"]["rank"] is None and standing["bytes"]["rank"] is None
    assert standing["operations"]["share"] == 0 and standing["of"] == len(LOG.per(3, *R_FULL))


def expected_usual(name: str, lo: int, hi: int, direction: str = "both") -> tuple[list[bool], float | None]:
    """(which of the 4 weeks before count, the median operations of those, or None with fewer than 3)."""
    present = LOG.hours()
    counted, totals = [], []
    for k in range(1, 5):
        a, b = lo - k * WEEK, hi - k * WEEK
        hours = range(a, b, HOUR)
        ok = sum(1 for h in hours if h in present) >= 0.9 * len(hours)
        counted.append(ok)
        if ok:
            totals.append(LOG.total(a, b, lambda key: key[3] == name and direction in ("both", key[1]))[0])
    return counted, statistics.median(totals) if len(totals) >= 3 else None


@pytest.mark.parametrize("rng, weeks", [(R_FULL, 4), (R_GAP, 3), (R_DAY, 3), (R_SHORT, 2)])
def test_the_usual_level_is_the_median_of_the_same_hours_in_the_weeks_before(compare_engine, rng, weeks):
    for name, direction in (("alice", "both"), ("bob", "rd"), ("dave", "wr")):
        f = in_range(*rng, direction=direction)
        got = both_paths(compare_engine, lambda c, n=name, f=f: query.user_profile(c, n, f))
        usual = got["usual"]
        counted, level = expected_usual(name, *rng, direction)
        assert [w["counted"] for w in usual["weeks"]] == counted and usual["weeks_counted"] == weeks
        assert [w["start"] for w in usual["weeks"]] == [iso_utc(rng[0] - k * WEEK) for k in range(1, 5)]
        if level is None:
            assert usual["operations"] is None and usual["ratio"]["operations"] is None
            assert not usual["enough_history"] and "too little history" in usual["note"]
        else:
            now = LOG.total(*rng, lambda key, n=name, d=direction: key[3] == n and d in ("both", key[1]))[0]
            assert usual["enough_history"] and usual["operations"] == pytest.approx(level)
            assert usual["ratio"]["operations"] == pytest.approx(now / level)


def test_a_range_longer_than_a_week_has_no_usual_level(compare_engine):
    usual = both_paths(compare_engine, lambda c: query.user_profile(c, "alice", in_range(*R_LONG)))["usual"]
    assert usual["operations"] is None and usual["weeks"] == [] and "up to a week" in usual["note"]


def test_first_and_last_seen_name_the_hours_the_charts_draw(compare_engine):
    """The fix: first_hour / last_hour are the starts of the hours the subject's first and last blocks report
    (the hour before the block's log time), the hours its IO is drawn in."""
    for name, position in (("zoe", 3), ("alice", 3), ("m2", 2)):
        hours = sorted(key[0] for key in LOG.cells if key[position] == name)
        with compare_engine.connect() as conn:
            ask = query.user_profile if position == 3 else query.machine_profile
            got = ask(conn, name, Filters())
        assert (got["first_hour"], got["last_hour"]) == (iso_utc(hours[0]), iso_utc(hours[-1]))
        assert got["first_seen"] == iso_utc(hours[0] + HOUR + 15)  # the log time stays as it was
        with compare_engine.connect() as conn:  # the first bucket of an hourly series that has this subject's IO
            f = Filters(start=hours[0] - 2 * HOUR, end=hours[0] + 2 * HOUR, **{LOG_FILTER[position]: (name,)})
            series = query.time_series(conn, f, bucket="hour")
        assert min(p["time"] for p in series["points"] if p["operations"]) == got["first_hour"]


LOG_FILTER = {3: "users", 2: "machines"}


@pytest.mark.parametrize("rng", [R_FULL, R_DAY, (T0, T0 + DAYS * DAY)])
def test_the_load_view_gives_each_users_two_shares_as_a_plain_sum_does(compare_engine, rng):
    everyone = LOG.per(3, *rng, direction="rd")
    whole_ops, whole_bytes = sum(v[0] for v in everyone.values()), sum(v[1] for v in everyone.values())
    got = both_paths(compare_engine, lambda c: query.load_shares(c, in_range(*rng, direction="rd")))
    assert got["users"] == len(everyone) and got["operations"] == whole_ops
    assert got["bytes"] == pytest.approx(whole_bytes, rel=1e-12)
    assert [r["user"] for r in got["rows"]] == sorted(
        everyone, key=lambda n: (-max(everyone[n][0] / whole_ops, everyone[n][1] / whole_bytes), n)
    )
    for r in got["rows"]:
        ops, nbytes, small = everyone[r["user"]]
        assert r["share_operations"] == pytest.approx(ops / whole_ops, rel=1e-12)
        assert r["share_bytes"] == pytest.approx(nbytes / whole_bytes, rel=1e-12)
        assert r["small_share"] == pytest.approx(small / ops, rel=1e-12)
        assert r["rank_operations"] == expected_rank(everyone, r["user"], 0)
        assert r["rank_bytes"] == expected_rank(everyone, r["user"], 1)
    # The habits show: alice's share is mostly small operations, bob's mostly bytes.
    share = {r["user"]: r for r in got["rows"]}
    assert share["alice"]["small_share"] > 0.9 and share["bob"]["small_share"] == 0
    assert share["bob"]["share_bytes"] > share["bob"]["share_operations"]


# -- on the demo database, across a change to summer time, against raw SQL -----------------------------------


def raw_total(conn, column: str, ids: tuple[int, ...], lo: int, hi: int) -> tuple[int, float]:
    """Operations and midpoint bytes of UserSessions whose hour lies in [lo, hi), by SQL alone."""
    return tuple(
        conn.execute(
            text(
                f'SELECT COALESCE(SUM(operations), 0), COALESCE(SUM(bytes_mid), 0) FROM "UserSessions" '
                f"WHERE {column} IN ({', '.join(map(str, ids))}) AND epoch >= :lo AND epoch < :hi"
            ),
            {"lo": lo + HOUR // 2, "hi": hi + HOUR // 2},
        ).one()
    )


def raw_hours(conn, lo: int, hi: int) -> int:
    epochs = conn.execute(
        text('SELECT epoch FROM "LogEntries" WHERE epoch >= :lo AND epoch < :hi'),
        {"lo": lo + HOUR // 2, "hi": hi + HOUR // 2},
    ).scalars()
    return len({(e - HOUR // 2) // HOUR for e in epochs})


@pytest.mark.parametrize("local_end, hours", [((2025, 4, 2, 12), 24), ((2025, 4, 3, 18), 6), ((2025, 4, 6, 0), 168)])
def test_the_usual_level_keeps_the_local_hours_across_a_change_to_summer_time(api_demo_engine, local_end, hours):
    zone = ZoneInfo(DEMO_ZONE)
    end = datetime(*local_end, tzinfo=zone)
    start = end - timedelta(hours=hours)  # wall-clock arithmetic: the same local hours
    with api_demo_engine.connect() as conn:
        user = query.users_table(conn, Filters(), limit=1)[0]["user"]
        uid = conn.execute(text('SELECT id FROM "Users" WHERE username = :u'), {"u": user}).scalar_one()
        got = query.user_profile(
            conn, user, Filters(start=int(start.timestamp()), end=int(end.timestamp()), tz=DEMO_ZONE)
        )
        totals = []
        for week in got["usual"]["weeks"]:
            k = week["weeks_before"]
            lo, hi = int((start - timedelta(weeks=k)).timestamp()), int((end - timedelta(weeks=k)).timestamp())
            assert (week["start"], week["end"]) == (iso_utc(lo), iso_utc(hi))
            assert week["hours_with_data"] == raw_hours(conn, lo, hi)
            if week["counted"]:
                ops, nbytes = raw_total(conn, "user_id", (uid,), lo, hi)
                assert (week["operations"], week["bytes"]) == (ops, pytest.approx(nbytes, rel=1e-12))
                totals.append(ops)
        assert got["usual"]["weeks_counted"] == len(totals) >= 3
        assert got["usual"]["operations"] == pytest.approx(statistics.median(totals))
        # A week across the change has an hour less (the range itself is in summer time).
        assert {w["hours"] for w in got["usual"]["weeks"]} <= {hours - 1, hours}


def test_the_api_profile_carries_the_comparison(api_demo_client, api_demo_engine):
    query_string = {"start": "2025-04-01T00:00", "end": "2025-04-02T00:00", "tz": DEMO_ZONE}
    users = api_demo_client.get("/api/users", query_string=query_string).get_json()["users"]
    name = users[2]["user"]
    got = api_demo_client.get(f"/api/usage/user/{name}", query_string=query_string).get_json()
    assert got["standing"]["operations"]["rank"] == 1 + sum(
        1 for u in users if u["operations"] > users[2]["operations"]
    )
    assert got["standing"]["of"] == sum(1 for u in users if u["operations"])
    assert got["standing"]["operations"]["share"] == pytest.approx(
        users[2]["operations"] / sum(u["operations"] for u in users), rel=1e-12
    )
    assert set(got["usual"]) >= {"operations", "bytes", "ratio", "weeks", "note", "definition"}
    assert got["first_hour"] < got["first_seen"]
    machine = got["machines"][0]["machine"]
    got = api_demo_client.get(f"/api/usage/machine/{machine}", query_string=query_string).get_json()
    assert got["standing"]["among"] == "machines" and got["standing"]["operations"]["rank"] >= 1


def test_ranks_are_shared_by_ties_and_a_zero_ranks_last():
    from clusterdash.db.query.standing import ranker

    rank = ranker([5.0, 3.0, 3.0, 0.0])
    assert [rank(v) for v in (5.0, 3.0, 0.0, 9.0)] == [1, 2, 4, 1]

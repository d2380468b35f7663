"""The access scope in the query layer, on SQLite and PostgreSQL: with Filters.visible_users every public question
answers for those users only, and a name outside the scope is answered exactly like a name that does not exist."""

from __future__ import annotations

import pytest

from clusterdash.db import query
from clusterdash.db.filters import Filters
from clusterdash.db.query.share import MIN_OTHERS
from clusterdash.errors import BadParameter

UNKNOWN = "no-such-user"


@pytest.fixture(scope="module")
def people(api_demo_engine):
    with api_demo_engine.connect() as conn:
        rows = query.users_table(conn, Filters())
    names = [r["user"] for r in rows]
    return names[2], names[5], names  # a user, another user, everyone


def questions(conn, f: Filters) -> dict:
    """Every public question of the query layer that takes filters, with some variations."""
    return {
        "stats": {k: v for k, v in query.stats(conn, f).items() if k != "freshness"},
        "users": query.users_table(conn, f),
        "machines": query.machines_table(conn, f),
        "pairs": query.user_machine_usage(conn, f),
        "sizes": query.size_distribution(conn, f),
        "size series": query.size_series(conn, f, "week"),
        **{f"series by {g}": query.time_series(conn, f, group_by=g, top=1000) for g in query.GROUP_BYS},
    }


def names_in(value) -> set[str]:
    """Every string anywhere in a nested answer."""
    if isinstance(value, str):
        return {value}
    if isinstance(value, dict):
        return set().union(*(names_in(v) for v in value.values()), *(names_in(k) for k in value))
    if isinstance(value, (list, tuple)):
        return set().union(*(names_in(v) for v in value))
    return set()


def test_every_question_answers_for_the_visible_users_only(api_demo_engine, people):
    me, other, everyone = people
    with api_demo_engine.connect() as conn:
        mine = questions(conn, Filters(visible_users=(me,)))
        alone = questions(conn, Filters(users=(me,)))
    others = set(everyone) - {me}
    for name, answer in mine.items():
        assert not names_in(answer) & others, name
    assert [r["user"] for r in mine["users"]] == [me]
    # Scoped, the answers are those of the filter on that user, except what only an admin may know.
    for name in ("users", "pairs", "sizes", "size series", "series by role", "series by machine_type"):
        assert mine[name] == alone[name], name
    assert mine["stats"]["users"] == 1 and mine["stats"]["operations"] == alone["stats"]["operations"]


def test_a_name_outside_the_scope_is_answered_like_an_unknown_one(api_demo_engine, people):
    me, other, _ = people
    with api_demo_engine.connect() as conn:
        for asked in ({"users": (other,)}, {"users": (other, me)}, {"roles": ("staff",)}):
            unknown = {**asked, "users": tuple(UNKNOWN if u == other else u for u in asked.get("users", ()))}
            assert questions(conn, Filters(visible_users=(me,), **asked)) == questions(
                conn, Filters(visible_users=(me,), **unknown)
            ), asked
        scoped = Filters(visible_users=(me,))
        assert query.user_profile(conn, other, scoped) is None
        assert query.user_profile(conn, UNKNOWN, scoped) is None
        assert query.user_profile(conn, me, scoped)["user"] == me
        own, admins = query.user_profile(conn, me, scoped), query.user_profile(conn, me, Filters())
        seen = ("first_seen", "last_seen")  # of the machines: as far as my own sessions tell (next test)
        assert [{k: v for k, v in m.items() if k not in seen} for m in own.pop("machines")] == [
            {k: v for k, v in m.items() if k not in seen} for m in admins.pop("machines")
        ]
        assert own.pop("standing") is None and admins.pop("standing")["of"] > 1  # no rank among others
        assert own == admins


def test_machines_are_known_to_a_user_through_their_own_io_only(api_demo_engine, people):
    me, _, _ = people
    scoped = Filters(visible_users=(me,))
    with api_demo_engine.connect() as conn:
        every = {r["machine"]: r for r in query.machines_table(conn, Filters())}
        own = {r["machine"]: r for r in query.machines_table(conn, scoped)}
        assert own and set(own) < set(every)
        for name, row in own.items():  # first and last seen: of my own sessions there
            mine = query.time_series(conn, Filters(users=(me,), machines=(name,)), bucket="hour")
            hours = [p["epoch"] for p in mine["points"] if p["operations"]]
            assert row["users"] == 1 and row["first_seen"] >= every[name]["first_seen"]
            assert row["last_seen"] <= every[name]["last_seen"]
            assert query.machine_profile(conn, name, scoped)["last_seen"] == row["last_seen"]
            assert hours and hours[-1] <= query.machine_profile(conn, name, scoped)["range"]["end_epoch"]
        unused = sorted(set(every) - set(own))[0]
        assert query.machine_profile(conn, unused, scoped) is None
        assert query.machine_profile(conn, unused, Filters()) is not None
        user, machine = query.example_names(conn, scoped)
        assert user == me and machine in own


def test_everyone_else_is_the_rest_of_the_cluster_as_one_figure(api_demo_engine, people):
    me, other, everyone = people
    with api_demo_engine.connect() as conn:
        assert query.everyone_else(conn, Filters()) is None  # nothing hidden from an admin
        share = query.everyone_else(conn, Filters(visible_users=(me,), machines=("x",), sizes=("[4K, 8K)",)))
        total = query.stats(conn, Filters())["operations"]["total"]
        own = query.stats(conn, Filters(users=(me,)))["operations"]["total"]
        assert share["own"]["operations"] == own and share["operations"] == total - own
        assert set(share) == {"operations", "bytes", "own"}
        # With fewer than MIN_OTHERS others active, the rest would be someone's own figure: not given.
        others = [u for u in everyone if u != me]
        enough = (me, *others[: len(others) - MIN_OTHERS])  # leaves MIN_OTHERS active users outside
        assert query.everyone_else(conn, Filters(visible_users=enough)) is not None
        too_few = (me, *others[: len(others) - MIN_OTHERS + 1])
        assert query.everyone_else(conn, Filters(visible_users=too_few)) is None


def test_the_scope_is_never_read_from_request_arguments():
    with pytest.raises(BadParameter) as refused:  # a request naming the scope names a parameter nobody may give
        Filters.from_args({"visible_users": ["someone"], "user": ["me"]})
    assert refused.value.name == "visible_users"
    assert Filters(visible_users="me").visible_users == ("me",)
    assert Filters(visible_users=()).visible_users == ()

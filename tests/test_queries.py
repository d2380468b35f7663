"""Filters, the time arithmetic under the queries and the query layer's values (Scope, Measures): pure, no database."""

from __future__ import annotations

from dataclasses import FrozenInstanceError

import pytest
from werkzeug.datastructures import MultiDict

from clusterdash.db.filters import Filters, parse_time
from clusterdash.db.periods import hour_of, period_start, period_starts
from clusterdash.db.query import choose_bucket
from clusterdash.db.query.measures import ZERO, Measures, SizeRow, measures_of, sizes_total_by
from clusterdash.db.query.scope import Scope
from clusterdash.db.query.sources import pieces
from clusterdash.db.sizes import weights
from clusterdash.errors import BadParameter


def test_a_block_reports_the_hour_before_its_log_time():
    assert hour_of(1741788015) == 1741784400  # logged 15:00:15Z -> the hour 14:00-15:00
    assert hour_of(1741786622) == 1741784400  # a restarted tracer logging at 14:37:02 -> 14:00


def test_from_args_reads_repeatable_and_single_values():
    f = Filters.from_args(
        MultiDict(
            [
                ("user", "a"),
                ("user", "b"),
                ("user", ""),
                ("direction", "RD"),
                ("start", "2025-03-12"),
                ("end", "1741824000"),
                ("tz", "Europe/Zurich"),
            ]
        )
    )
    assert f.users == ("a", "b") and f.direction == "rd" and f.tz == "Europe/Zurich"
    assert f.start == 1741734000  # midnight in Zurich (UTC+1)
    assert f.end == 1741824000


@pytest.mark.parametrize(
    "args, parameter",
    [
        ({"direction": "up"}, "direction"),
        ({"start": "soon"}, "start"),
        ({"end": "2025-02-30"}, "end"),
        ({"start": "2025-03-02", "end": "2025-03-01"}, "start"),
        ({"tz": "Nowhere/Land"}, "tz"),
        ({"start": ["1", "2"]}, "start"),
        ({"user": ["x"] * 1001}, "user"),
        ({"end": "-5"}, "end"),
    ],
)
def test_from_args_errors_name_the_parameter(args, parameter):
    with pytest.raises(BadParameter, match=f"^{parameter}:") as raised:
        Filters.from_args(args)
    assert raised.value.name == parameter


def test_iso_forms():
    assert parse_time("2025-03-12T14:00:00Z") == parse_time("2025-03-12T15:00:00+01:00") == 1741788000
    assert parse_time("2025-03-12T14:00", tz="UTC") == 1741788000


def test_zurich_days_around_the_dst_change():
    starts = period_starts("d", 1743285600, 1743372000, "Europe/Zurich")  # 2025-03-29 22:00Z .. 03-30 22:00Z
    assert [b - a for a, b in zip(starts, starts[1:])] == [86400, 23 * 3600]
    assert period_start("m", 1743372000, "Europe/Zurich") == 1740783600  # 2025-03-01 00:00 CET
    assert period_start("w", 1743371999, "Europe/Zurich") == 1742770800  # Monday 2025-03-24 00:00 CET
    assert period_start("w", 1743372000, "Europe/Zurich") == 1743372000  # Monday 2025-03-31 00:00 CEST


def test_bucket_follows_the_range():
    day = 86400
    assert [choose_bucket(0, n * day) for n in (2, 60, 365, 5 * 365)] == ["hour", "day", "week", "month"]


def test_a_range_is_cut_into_whole_periods_largest_first_and_raw_hours_at_its_edges():
    zurich = "Europe/Zurich"
    start = parse_time("2025-02-26T15:00", zurich)  # a Wednesday afternoon
    end = parse_time("2027-03-10T06:00", zurich)
    scope = Scope(Filters(tz=zurich), start, end, None, None, None, zurich, {})
    cut = pieces(scope, ("y", "m", "w", "d"))
    assert [p[0] for p in cut] == [None, "d", "m", "y", "m", "w", "d", None]
    assert cut[3][1:] == (parse_time("2026-01-01", zurich), parse_time("2027-01-01", zurich))
    assert all(a[2] == b[1] for a, b in zip(cut, cut[1:]))  # contiguous: nothing read twice or skipped
    hours = sum((b - a) // 3600 for g, a, b in cut if g is None)
    assert hours == 9 + 6  # 15:00-24:00 on the first day, 00:00-06:00 on the last
    assert pieces(scope.narrowed(zone=None), ("y", "m")) == [(None, start, end)]  # no complete rollups: all raw


def test_measures_add_field_by_field_and_zero_adds_nothing():
    a = Measures(1, 2, 30, 4, 100.0, 150.0, 200.0, 0)
    b = Measures(sessions=2, rows=1, operations=5, bytes_mid=8.0, unbounded_rows=1)
    assert a + b == Measures(3, 3, 35, 4, 100.0, 158.0, 200.0, 1)
    assert ZERO + a == a + ZERO == a
    assert measures_of([3, None, 7, 0, None, 1.5, None, 0]) == Measures(3, 0, 7, 0, 0, 1.5, 0, 0)
    with pytest.raises(AttributeError):
        a.operations = 1  # a value: a sum is a new one


def test_measures_of_a_size_bucket_follow_its_weights():
    small = Measures.of_size(weights(1024, 2048), rows=2, operations=10)
    assert small == Measures(0, 2, 10, 10, 10240.0, 15360.0, 20480.0, 0)
    assert small.bytes_fields() == {"bytes_low": 10240.0, "bytes": 15360.0, "bytes_high": 20480.0}
    unbounded = Measures.of_size(weights(8 << 20, None), rows=1, operations=3)
    assert unbounded.small_operations == 0 and unbounded.unbounded_rows == 1
    assert (small + unbounded).bytes_fields()["bytes_high"] is None  # an open bucket has no upper bound
    assert not ZERO.active and Measures(operations=1).active and Measures(sessions=1).active
    rows = [SizeRow(("u1",), 1, 2, 10), SizeRow(("u2",), 2, 1, 3), SizeRow(("u1",), 1, 1, 5)]
    by_user = sizes_total_by(rows, {1: weights(1024, 2048), 2: weights(8 << 20, None)})
    assert by_user == {("u1",): Measures.of_size(weights(1024, 2048), 3, 15), ("u2",): unbounded}


def test_a_scope_is_a_value_and_its_copies_are_others():
    scope = Scope(Filters(), 0, 7200, (1, 2), None, None, "UTC", {})
    with pytest.raises(FrozenInstanceError):
        scope.user_ids = (1,)  # type: ignore[misc]
    narrowed = scope.narrowed(user_ids=[2, 1, 3])
    assert narrowed.user_ids == (1, 2, 3) and scope.user_ids == (1, 2)
    assert narrowed != scope and scope.narrowed(user_ids=[2, 1]) == scope  # equal values: the same question
    assert not vars(scope).get("memo")  # nothing read travels with a scope: a Reader holds it

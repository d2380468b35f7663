"""Attributing IO to jobs: hand-built cases an admin can check by hand, and exact conservation on random data."""

import random

import numpy as np
import pytest

from clusterdash.db.attribution import (
    NO_END,
    WEIGHT_SCALE,
    IORows,
    Placements,
    attribute,
    cpus_per_node,
    hour_shares,
    job_hours,
    seconds_in_hour,
    split_rows,
)

H = 1_741_780_800  # 2025-03-12 12:00 UTC, a whole hour
HOUR = 3600
ALICE, BOB = 1, 2
NODE1, NODE2, NODE3 = 11, 12, 13


def placements(*jobs: tuple) -> Placements:
    """(job, user, machine, start, end, cpus) per placement."""
    columns = list(zip(*jobs)) if jobs else [()] * 6
    job, user, machine, start, end, cpus = (np.array(c, dtype=np.int64) for c in columns)
    return Placements(job=job, user=user, machine=machine, start=start, end=end, cpus=cpus)


def io(*rows: tuple) -> IORows:
    """(hour, user, machine, ops) per stored row."""
    columns = list(zip(*rows)) if rows else [()] * 4
    hour, user, machine, ops = (np.array(c, dtype=np.int64) for c in columns)
    return IORows(hour=hour, user=user, machine=machine, ops=ops)


def split(rows: IORows, jobs: Placements, now: int = H + 10 * HOUR) -> list[tuple[int, dict[int, int]]]:
    """Per row: (outside, {job: ops})."""
    result = attribute(rows, jobs, now)
    out: list[tuple[int, dict[int, int]]] = [(int(o), {}) for o in result.outside]
    for row, job, ops in zip(result.row.tolist(), result.job.tolist(), result.ops.tolist()):
        out[row][1][job] = ops
    return out


def test_seconds_in_hour():
    assert seconds_in_hour(H, H - 100, H + 100, now=H + HOUR) == 100
    assert seconds_in_hour(H, H - HOUR, H + 2 * HOUR, now=H + HOUR) == HOUR
    assert seconds_in_hour(H, H + 900, H + 1000, now=H + HOUR) == 100
    assert seconds_in_hour(H, H + HOUR, H + 2 * HOUR, now=H + 3 * HOUR) == 0  # starts as the hour ends
    assert seconds_in_hour(H, H - 2 * HOUR, H, now=H + HOUR) == 0  # ended as it began
    assert seconds_in_hour(H, H - 2 * HOUR, None, now=H + 1800) == 1800  # running: until now
    assert seconds_in_hour(H, H + 600, None, now=H + 5 * HOUR) == 3000
    assert seconds_in_hour(H, None, None, now=H + HOUR) == 0  # never started


def test_cpus_per_node():
    assert cpus_per_node(10, 3) == [4, 3, 3]
    assert cpus_per_node(8, 2) == [4, 4]
    assert cpus_per_node(2, 3) == [1, 1, 1]  # at least one each
    assert cpus_per_node(None, 2) == [1, 1]  # unknown
    assert cpus_per_node(16, 1) == [16]


def test_job_hours_cut_a_job_at_hour_boundaries_and_agree_with_seconds_in_hour():
    jobs = placements((7, ALICE, NODE1, H + 1000, H + 2 * HOUR + 600, 4))
    hours = job_hours(jobs, now=H + 5 * HOUR, first_hour=H - HOUR, end_hour=H + 5 * HOUR)
    assert hours.hour.tolist() == [H, H + HOUR, H + 2 * HOUR]
    assert (hours.first.tolist(), hours.last.tolist()) == ([1000, 0, 0], [HOUR, HOUR, 600])
    assert hours.cpus.tolist() == [4, 4, 4]
    clipped = job_hours(jobs, now=H + 5 * HOUR, first_hour=H + HOUR, end_hour=H + 2 * HOUR)
    assert clipped.hour.tolist() == [H + HOUR]

    rng = random.Random(1)
    now = H + 40 * HOUR
    spans = []
    for job in range(300):
        start = H + rng.randrange(-5 * HOUR, 30 * HOUR)
        end = None if rng.random() < 0.2 else start + rng.randrange(0, 8 * HOUR)
        spans.append((job, ALICE, NODE1, start, NO_END if end is None else end, 1))
    hours = job_hours(placements(*spans), now, H, H + 48 * HOUR)
    got = {(j, h): s for j, h, s in zip(hours.job.tolist(), hours.hour.tolist(), hours.seconds.tolist())}
    for job, _, _, start, end, _ in spans:
        for hour in range(H, H + 48 * HOUR, HOUR):
            expected = seconds_in_hour(hour, start, None if end == NO_END else end, now)
            assert got.get((job, hour), 0) == expected, (job, hour)


def test_two_jobs_sharing_an_hour_on_one_machine_split_by_cpus():
    jobs = placements((101, ALICE, NODE1, H - 50, H + 2 * HOUR, 4), (102, ALICE, NODE1, H, H + HOUR, 2))
    assert split(io((H, ALICE, NODE1, 300), (H, ALICE, NODE1, 7)), jobs) == [
        (0, {101: 200, 102: 100}),
        (0, {101: 5, 102: 2}),  # 4.67 and 2.33: the larger remainder gets the operation left over
    ]


def test_a_job_spanning_nodes_counts_its_cpus_on_each_node():
    big = [(201, ALICE, node, H, H + HOUR, cpus) for node, cpus in zip((NODE1, NODE2, NODE3), cpus_per_node(10, 3))]
    small = (202, ALICE, NODE2, H, H + HOUR, 3)
    rows = io((H, ALICE, NODE1, 90), (H, ALICE, NODE2, 90), (H, ALICE, NODE3, 90))
    assert split(rows, placements(*big, small)) == [(0, {201: 90}), (0, {201: 45, 202: 45}), (0, {201: 90})]


def test_a_job_starting_mid_hour_leaves_the_time_before_it_outside():
    jobs = placements((301, ALICE, NODE1, H + 900, H + 3 * HOUR, 64))
    assert split(io((H, ALICE, NODE1, 400), (H + HOUR, ALICE, NODE1, 400)), jobs) == [
        (100, {301: 300}),  # 45 of 60 minutes, whatever its CPUs
        (0, {301: 400}),
    ]


def test_io_with_no_job_is_outside_and_jobs_take_only_their_users_io():
    jobs = placements((401, ALICE, NODE1, H, H + HOUR, 8))
    rows = io((H, BOB, NODE1, 50), (H, ALICE, NODE2, 60), (H + HOUR, ALICE, NODE1, 70), (H, ALICE, NODE1, 80))
    assert split(rows, jobs) == [(50, {}), (60, {}), (70, {}), (0, {401: 80})]
    assert split(rows, placements()) == [(50, {}), (60, {}), (70, {}), (80, {})]


def test_at_each_moment_the_io_belongs_to_the_jobs_running_then():
    # A: 4 CPUs for the first half-hour; B: 1 CPU all hour. First half 4:1, second half B alone: A 0.4, B 0.6.
    jobs = placements((501, ALICE, NODE1, H, H + 1800, 4), (502, ALICE, NODE1, H - HOUR, H + HOUR, 1))
    assert split(io((H, ALICE, NODE1, 1000)), jobs) == [(0, {501: 400, 502: 600})]


def test_a_running_job_counts_until_now():
    jobs = placements((601, ALICE, NODE1, H - HOUR, NO_END, 2))
    assert split(io((H, ALICE, NODE1, 100)), jobs, now=H + 1800) == [(50, {601: 50})]
    assert split(io((H, ALICE, NODE1, 100)), jobs, now=H + 9 * HOUR) == [(0, {601: 100})]


def test_ties_go_to_outside_first_then_to_the_lower_job_id():
    # Outside, 701 and 702 each hold a third of the hour.
    jobs = placements((702, ALICE, NODE1, H + 1200, H + 2400, 1), (701, ALICE, NODE1, H + 2400, H + HOUR, 1))
    assert split(io((H, ALICE, NODE1, 1), (H, ALICE, NODE1, 2), (H, ALICE, NODE1, 4)), jobs) == [
        (1, {}),
        (1, {701: 1}),
        (2, {701: 1, 702: 1}),
    ]


def test_counts_too_large_for_a_naive_product_are_split_exactly():
    jobs = placements((801, ALICE, NODE1, H, H + 1000, 3), (802, ALICE, NODE1, H + 500, H + 3000, 7))
    huge = 2**50 + 12345
    ((outside, by_job),) = split(io((H, ALICE, NODE1, huge)), jobs)
    assert outside + sum(by_job.values()) == huge
    assert abs(outside - huge * 600 / HOUR) < 1e-6 * huge


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="whole hours"):
        attribute(io((H + 1, ALICE, NODE1, 5)), placements((1, ALICE, NODE1, H, H + 10, 1)), H + HOUR)
    with pytest.raises(ValueError, match="negative"):
        attribute(io((H, ALICE, NODE1, -5)), placements(), H + HOUR)


def random_case(rng: random.Random, cpu_choices=(1, 2, 3, 4, 8, 16, 48)) -> tuple[IORows, Placements, int]:
    hours = [H + HOUR * i for i in range(6)]
    users, machines = [1, 2, 3], [10, 20, 30, 40]
    spans = []
    for job in rng.sample(range(1, 10_000), rng.randrange(0, 25)):
        start = hours[0] + rng.randrange(-HOUR, 7 * HOUR)
        end = NO_END if rng.random() < 0.15 else start + rng.randrange(1, 3 * HOUR)
        cpus = rng.choice(cpu_choices)
        for node in rng.sample(machines, rng.choice([1, 1, 1, 2, 3])):
            spans.append((job, rng.choice(users) if not spans or rng.random() < 0.3 else spans[-1][1], node, start,
                          end, cpus))  # fmt: skip
    rows = [
        (hour, user, machine, rng.choice([0, 1, 2, 3, 7, rng.randrange(10**6), rng.randrange(10**12)]))
        for hour in hours
        for user in users
        for machine in machines
        for _ in range(rng.randrange(0, 3))
    ]
    return io(*rows), placements(*spans), hours[0] + rng.randrange(3 * HOUR, 7 * HOUR)


@pytest.mark.parametrize("seed", range(40))
def test_conservation_and_proportionality_on_random_data(seed):
    rng = random.Random(seed)
    rows, jobs, now = random_case(rng)
    result = attribute(rows, jobs, now)

    given = result.outside.copy()
    np.add.at(given, result.row, result.ops)
    assert given.tolist() == rows.ops.tolist()  # attributed + outside == stored, every row, exactly
    assert (result.ops > 0).all() and (result.outside >= 0).all()

    # Each participant is within one operation of its exact quota ops x weight / total.
    shares = hour_shares(job_hours(jobs, now, H, H + 6 * HOUR))
    keys = zip(shares.hour.tolist(), shares.user.tolist(), shares.machine.tolist())
    cells = {key: i for i, key in enumerate(keys)}
    totals = shares.total.tolist()
    attributed: dict[tuple[int, int], int] = {}
    for row, job, ops in zip(result.row.tolist(), result.job.tolist(), result.ops.tolist()):
        attributed[(row, job)] = ops
    for row, (h, u, m, ops) in enumerate(zip(*(c.tolist() for c in (rows.hour, rows.user, rows.machine, rows.ops)))):
        cell = cells.get((h, u, m))
        if cell is None:
            assert result.outside[row] == ops
            continue
        total = totals[cell]
        lo, hi = shares.bounds[cell], shares.bounds[cell + 1]
        for job, weight in zip(shares.job[lo:hi].tolist(), shares.weight[lo:hi].tolist()):
            assert abs(attributed.get((row, job), 0) - ops * weight / total) < 1 + 1e-9 * ops
        assert abs(int(result.outside[row]) - ops * int(shares.outside[cell]) / total) < 1 + 1e-9 * ops


@pytest.mark.parametrize("seed", range(10))
def test_the_result_does_not_depend_on_input_order_or_on_the_other_cells(seed):
    rng = random.Random(1000 + seed)
    rows, jobs, now = random_case(rng)
    whole = split(rows, jobs, now)

    order = np.random.default_rng(seed).permutation(len(jobs.job))
    shuffled = Placements(*(getattr(jobs, name)[order] for name in ("job", "user", "machine", "start", "end", "cpus")))
    assert split(rows, shuffled, now) == whole

    for row in range(0, len(rows.ops), 7):  # one row alone: the cell is weighed without the others
        alone = IORows(*(getattr(rows, name)[row : row + 1] for name in ("hour", "user", "machine", "ops")))
        assert split(alone, jobs, now) == [whole[row]]


@pytest.mark.parametrize("seed", range(10))
def test_weights_are_exact_for_common_cpu_counts(seed):
    """With CPU counts dividing 5040 x seconds, no segment is rounded: each cell's weights add up to a whole hour."""
    rng = random.Random(2000 + seed)
    _, jobs, now = random_case(rng, cpu_choices=(1, 2, 4))
    shares = hour_shares(job_hours(jobs, now, H, H + 6 * HOUR))
    counts = np.diff(shares.bounds)
    simple = counts <= 3  # 3 jobs of 1, 2 or 4 CPUs sum to a divisor of 5040
    assert (shares.total[simple] == HOUR * WEIGHT_SCALE).all()
    assert (shares.total <= HOUR * WEIGHT_SCALE).all()


def test_split_rows_with_no_jobs_keeps_everything_outside():
    rows = io((H, ALICE, NODE1, 5), (H, BOB, NODE2, 0))
    result = split_rows(rows, hour_shares(job_hours(placements(), H, H, H + HOUR)))
    assert (result.outside.tolist(), len(result.row)) == ([5, 0], 0)


def test_absurd_cpu_counts_still_split_the_io_by_seconds():
    # 2 x 10**7 CPUs running: every segment's weight rounds to nothing; the cell falls back to seconds.
    jobs = placements((901, ALICE, NODE1, H, H + HOUR, 10**7), (902, ALICE, NODE1, H, H + HOUR, 10**7))
    assert split(io((H, ALICE, NODE1, 10)), jobs) == [(0, {901: 5, 902: 5})]

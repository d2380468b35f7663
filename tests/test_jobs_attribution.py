"""The IO shared among jobs through the real database (both backends), by the real ingest paths: IO through the
Loader (ingest_paths), jobs through `jobs ingest`'s library call, in either order. Hand-built cases whose shares an
admin can check by hand, then exact conservation on random data arriving in random order."""

from __future__ import annotations

import random

import pytest
from sqlalchemy import select

from clusterdash.db.jobs.check import check_conservation
from clusterdash.db.schema import job_days, jobs
from clusterdash.ingest.jobs import ingest_sacct_files
from clusterdash.ingest.pipeline import ingest_paths
from clusterdash.ingest.read import BATCH_BLOCKS
from tests.jobtools import H0, HOUR, io_log, per_session, sacct_line, stored_sessions, write_sacct
from tests.logtools import block

RD = "[4K, 8K)"  # a large bucket (not small IO)
SMALL = "[1K, 2K)"


def _io(engine, tmp_path, hours: dict, name: str = "io.log") -> None:
    ingest_paths(engine, [str(io_log(tmp_path / name, hours))])


def _jobs(engine, tmp_path, *lines: str, name: str = "sacct.txt"):
    return ingest_sacct_files(engine, [str(write_sacct(tmp_path / name, *lines))], "UTC")


def _shares(engine) -> dict:
    with engine.connect() as conn:
        return per_session(conn)


def _exact(engine) -> None:
    with engine.connect() as conn:
        check = check_conservation(conn)
    assert check.exact, check


def test_two_jobs_sharing_an_hour_on_one_machine_split_by_cpu_seconds(engine, tmp_path):
    _io(engine, tmp_path, {H0: {("rd", "n1", "alice"): {RD: 600, SMALL: 6}}})
    # Job 1: 4 CPUs the whole hour; job 2: 2 CPUs the whole hour -> 2/3 and 1/3, of the large and the small part.
    _jobs(engine, tmp_path, sacct_line(1, "alice", "n1", H0 - 60, H0 + HOUR + 60, cpus=4),
          sacct_line(2, "alice", "n1", H0, H0 + HOUR, cpus=2))  # fmt: skip
    assert _shares(engine) == {(H0, "alice", "n1", "rd"): {1: 404, 2: 202}}
    _exact(engine)


def test_a_job_starting_mid_hour_leaves_the_hour_before_it_outside(engine, tmp_path):
    _io(engine, tmp_path, {H0: {("rd", "n1", "alice"): {RD: 1000}}, H0 + HOUR: {("rd", "n1", "alice"): {RD: 10}}})
    # Starts at 12:45: a quarter of the first hour is the job's whatever its CPUs; the next hour is all its own.
    _jobs(engine, tmp_path, sacct_line(7, "alice", "n1", H0 + 2700, H0 + 3 * HOUR, cpus=64))
    assert _shares(engine) == {(H0, "alice", "n1", "rd"): {7: 250}, (H0 + HOUR, "alice", "n1", "rd"): {7: 10}}
    _exact(engine)


def test_a_job_spanning_nodes_takes_the_io_of_each_node_with_its_cpus_there(engine, tmp_path):
    io = {("rd", node, "bob"): {RD: 900} for node in ("n1", "n2", "n3")}
    _io(engine, tmp_path, {H0: io})
    # Job 10: 10 CPUs on n[1-3] -> 4, 3, 3; job 11: 6 CPUs on n2 -> on n2 the IO splits 3 : 6.
    _jobs(engine, tmp_path, sacct_line(10, "bob", "n[1-3]", H0, H0 + HOUR, cpus=10, nnodes=3),
          sacct_line(11, "bob", "n2", H0, H0 + HOUR, cpus=6))  # fmt: skip
    assert _shares(engine) == {
        (H0, "bob", "n1", "rd"): {10: 900},
        (H0, "bob", "n2", "rd"): {10: 300, 11: 600},
        (H0, "bob", "n3", "rd"): {10: 900},
    }
    with engine.connect() as conn:
        nodes = conn.execute(select(jobs.c.nnodes, jobs.c.cpus).where(jobs.c.job_id_raw == 10)).one()
    assert tuple(nodes) == (3, 10)
    _exact(engine)


def test_io_with_no_job_stays_outside_and_other_users_jobs_take_nothing(engine, tmp_path):
    _io(engine, tmp_path, {H0: {("rd", "n1", "alice"): {RD: 50}, ("wr", "n1", "carol"): {RD: 70}}})
    _jobs(engine, tmp_path, sacct_line(3, "alice", "n2", H0, H0 + HOUR), sacct_line(4, "dave", "n1", H0, H0 + HOUR))
    assert _shares(engine) == {}
    with engine.connect() as conn:
        check = check_conservation(conn)
        assert conn.execute(select(job_days)).all() == []
    assert (check.stored, check.attributed, check.outside) == (120, 0, 120) and check.exact


@pytest.mark.parametrize("jobs_first", [True, False])
def test_jobs_arriving_before_or_after_the_io_give_the_same_shares(engine, tmp_path, jobs_first):
    hours = {
        H0: {("rd", "n1", "alice"): {RD: 333, SMALL: 5}, ("wr", "n1", "alice"): {RD: 41}},
        H0 + HOUR: {("rd", "n1", "alice"): {RD: 77}},
    }
    lines = [sacct_line(1, "alice", "n1", H0 + 600, H0 + HOUR + 900, cpus=3),
             sacct_line(2, "alice", "n1", H0 + 1200, H0 + 1500, cpus=8)]  # fmt: skip
    if jobs_first:
        _jobs(engine, tmp_path, *lines)
        _io(engine, tmp_path, hours)
    else:
        _io(engine, tmp_path, hours)
        _jobs(engine, tmp_path, *lines)
    # Hour 12: nobody 600 s, job 1 alone 2700 s, both 300 s at 3 : 8 CPUs -> outside 1/6, job 1 0.7727, job 2
    # 0.0606. Large reads 333 -> 55.5 | 257.3 | 20.2 -> 55+1, 257, 20; small 5 -> 0.83 | 3.86 | 0.30 -> 0+1, 3+1, 0
    # (largest remainders); writes 41 -> 6.8 | 31.7 | 2.5 -> 6+1, 31+1, 2. Hour 13: job 1 900 s: 77 / 4 -> 19.
    assert _shares(engine) == {
        (H0, "alice", "n1", "rd"): {1: 261, 2: 20},
        (H0, "alice", "n1", "wr"): {1: 32, 2: 2},
        (H0 + HOUR, "alice", "n1", "rd"): {1: 19},
    }
    _exact(engine)


def test_a_running_job_then_completed_is_one_job_with_its_final_state_and_end(engine, tmp_path):
    hours = {H0 + k * HOUR: {("rd", "n1", "erin"): {RD: 100}} for k in range(4)}
    _io(engine, tmp_path, hours)
    running = sacct_line(5, "erin", "n1", H0, None, state="RUNNING", now=H0 + HOUR + 1800)
    first = _jobs(engine, tmp_path, running, name="pull1.txt")
    assert (first.stored.new, first.stored.updated) == (1, 0)
    # Seen running until 13:30: it takes IO up to there, not beyond (it might have ended since).
    assert _shares(engine) == {(H0, "erin", "n1", "rd"): {5: 100}, (H0 + HOUR, "erin", "n1", "rd"): {5: 50}}
    done = _jobs(engine, tmp_path, running, sacct_line(5, "erin", "n1", H0, H0 + 3 * HOUR), name="pull2.txt")
    assert (done.stored.new, done.stored.updated, done.stored.unchanged) == (0, 1, 0)
    with engine.connect() as conn:
        row = conn.execute(select(jobs.c.state, jobs.c.ended, jobs.c.ran_until)).all()
    assert row == [("COMPLETED", H0 + 3 * HOUR, H0 + 3 * HOUR)]
    assert _shares(engine) == {(H0 + k * HOUR, "erin", "n1", "rd"): {5: 100} for k in range(3)}
    again = _jobs(engine, tmp_path, running, name="pull1.txt")  # an older record read later changes nothing
    assert (again.stored.unchanged, again.shared.sessions) == (1, 0)
    _exact(engine)


def test_reading_a_file_again_changes_nothing_and_bad_lines_are_kept_once(engine, tmp_path):
    _io(engine, tmp_path, {H0: {("rd", "n1", "alice"): {RD: 10}}})
    lines = [sacct_line(1, "alice", "n1", H0, H0 + HOUR), "1|1|alice|tik", sacct_line(2, "alice", "n1", H0, H0 + 60)]
    first = _jobs(engine, tmp_path, *lines)
    assert [(r.line, r.reason.split(":")[0]) for r in first.rejected] == [(2, "4 fields separated by '|', expected 14")]
    assert first.rejected[0].source.endswith("sacct.txt") and first.rejected_new == 1
    before = _shares(engine)
    again = _jobs(engine, tmp_path, *lines)
    assert (again.stored.new, again.stored.updated, again.stored.unchanged, again.rejected_new) == (0, 0, 2, 0)
    assert _shares(engine) == before
    _exact(engine)


def _random_case(rng: random.Random):
    """IO over 30 hours of 4 users on 5 machines, and 25 jobs (some running, some multi-node, some pending)."""
    users, nodes = ["u1", "u2", "u3", "u4"], ["m1", "m2", "m3", "m4", "m5"]
    hours: dict[int, dict] = {}
    for k in range(30):
        entries = {}
        for _ in range(rng.randint(1, 8)):
            key = (rng.choice(["rd", "wr"]), rng.choice(nodes), rng.choice(users))
            entries[key] = {
                label: rng.randint(1, 10 ** rng.randint(1, 6)) for label in rng.sample([RD, SMALL, "[1M, 2M)"], 2)
            }
        hours[H0 + k * HOUR] = entries
    lines = []
    for job in range(1, 26):
        start = H0 + rng.randrange(-5 * HOUR, 30 * HOUR)
        length = rng.choice([60, 1800, 4000, 20000, 80000])
        count = rng.choice([1, 1, 1, 2, 3])
        chosen = sorted(rng.sample(nodes, count))
        node_list = ",".join(chosen)
        cpus = rng.choice([1, 2, 3, 7, 16]) * count
        end = start + length if rng.random() < 0.8 else None
        lines.append(sacct_line(job, rng.choice(users), node_list, start, end, cpus=cpus, nnodes=count,
                                now=start + length // 2))  # fmt: skip
        if end is None and rng.random() < 0.5:  # later news of the same job
            lines.append(sacct_line(job, lines[-1].split("|")[2], node_list, start, start + length, cpus=cpus,
                                    nnodes=count))  # fmt: skip
    lines.append(sacct_line(99, "u1", "m1", None, None, state="PENDING"))
    return hours, lines


@pytest.mark.parametrize("seed", [1, 2])
def test_conservation_is_exact_on_random_data_arriving_in_any_order(engine, tmp_path, seed):
    rng = random.Random(seed)
    hours, lines = _random_case(rng)
    hour_keys = sorted(hours)
    rng.shuffle(hour_keys)
    steps = [("io", hour_keys[i : i + 7]) for i in range(0, len(hour_keys), 7)]
    steps += [("jobs", lines[i : i + 6]) for i in range(0, len(lines), 6)]
    rng.shuffle(steps)
    for n, (kind, part) in enumerate(steps):
        if kind == "io":
            _io(engine, tmp_path, {h: hours[h] for h in part}, name=f"io{n}.log")
        else:
            _jobs(engine, tmp_path, *part, name=f"sacct{n}.txt")
    with engine.connect() as conn:
        check = check_conservation(conn)
        stored = stored_sessions(conn)
        shared = per_session(conn)
    assert check.exact, check
    assert check.attributed > 0 and check.outside > 0  # the data has both
    assert all(sum(jobs_there.values()) <= stored[cell] for cell, jobs_there in shared.items())


def test_an_hour_completed_later_in_the_same_transaction_is_shared_with_its_completed_counts(engine, tmp_path):
    """The Loader shares the sessions it stored without reading them back, but a session a later batch of the same
    transaction completed (a second, fuller copy of the hour further down the file) holds more than it stored."""
    _jobs(engine, tmp_path, sacct_line(1, "alice", "n1", H0, H0 + HOUR))
    first = block(H0 + HOUR + 15, {("rd", "n1", "alice"): {RD: 100}})
    filler = [block(H0 + k * HOUR + 15, {("rd", "n2", "bob"): {RD: 1}}) for k in range(2, BATCH_BLOCKS + 3)]
    fuller = block(H0 + HOUR + 15, {("rd", "n1", "alice"): {RD: 100, SMALL: 50}})
    log = tmp_path / "io.log"
    log.write_text(first + "".join(filler) + fuller)
    report = ingest_paths(engine, [str(log)], progress=False)
    assert report.added.blocks_merged == 1  # the copies were in two batches of one transaction
    assert _shares(engine) == {(H0, "alice", "n1", "rd"): {1: 150}}
    _exact(engine)

"""Judging rules as hours arrive, on both backends, through the real ingest with the evaluation as its after-commit
hook: hand-built hours with a known answer (a threshold crossed exactly at its edge, a sustained window broken by a
gap, a baseline with too little history, a half-written hour completed later, the same file read again, cooldowns
across a restart of the evaluation), and every kind of subject, measure and filter."""

from __future__ import annotations

import os
import time

import pytest
from sqlalchemy import text

from clusterdash.alerts.evaluate import Evaluator
from clusterdash.db.periods import HOUR
from clusterdash.db.setup import prepare_database
from tests.alerttools import (
    BASE,
    WEEK,
    evaluate_log,
    hour_block,
    ingest_with,
    judged_hours,
    keys,
    log_text,
    merged,
    reads,
    rules,
    stored_alerts,
)

H = [BASE + n * HOUR for n in range(12)]

OPERATIONS_ABOVE_1000 = """
    [[rule]]
    name = "ops"
    subject = "user"
    measure = "operations"
    above = 1000
"""


def test_a_threshold_holds_only_strictly_above_it(engine, tmp_path):
    evaluate_log(
        engine, tmp_path, rules(OPERATIONS_ABOVE_1000), {H[0]: merged(reads("alice", 1000), reads("bob", 1001))}
    )
    [alert] = stored_alerts(engine)
    assert (alert.key, alert.value, alert.threshold, alert.first_hour, alert.since) == (
        "ops/user=bob",
        1001,
        1000,
        H[0],
        H[0],
    )
    assert alert.state == "open" and alert.notify == "off"  # no channel set up: recorded, not sent


SUSTAINED = """
    [[rule]]
    name = "busy"
    subject = "user"
    measure = "operations"
    window = "3h"
    mode = "sustained"
    above = 100
"""


def test_a_sustained_window_is_broken_by_a_missing_hour_and_whole_once_it_arrives(engine, tmp_path):
    busy = reads("alice", 500)
    hours = {H[0]: busy, H[1]: busy, H[3]: busy, H[4]: busy}  # H[2] missing from the log
    hours[H[5]] = merged(busy, reads("bob", 500))
    hours[H[6]] = merged(busy, reads("bob", 50))  # bob: a quiet hour in the log breaks his window too
    hours[H[7]] = merged(busy, reads("bob", 500))
    path = tmp_path / "io_usage.log"
    path.write_text(log_text(hours))
    evaluator = Evaluator(engine, rules(SUSTAINED), notifying=False)
    ingest_with(engine, path, evaluator)
    # H[4]'s window (H[2]..H[4]) lacks H[2]; the first whole one ends at H[5] (H[3]..H[5]).
    assert keys(stored_alerts(engine)) == [("busy/user=alice", H[5])]
    [alert] = stored_alerts(engine)
    assert (alert.since, alert.last_hour, alert.value) == (H[3], H[7], 500)

    # The missing hour arrives late (a rotated copy read afterwards): its hour, and the later windows holding it,
    # are judged again, and the alert now began with the first whole window, H[0]..H[2].
    with open(path, "a") as f:
        f.write(hour_block(H[2], busy))
    ingest_with(engine, path, evaluator)
    [alert] = stored_alerts(engine)
    assert (alert.key, alert.first_hour, alert.since, alert.last_hour) == ("busy/user=alice", H[2], H[0], H[7])


BASELINE = """
    [[rule]]
    name = "spike"
    subject = "user"
    measure = "operations"
    baseline = { factor = 5, floor = 100, weeks = 4, min_weeks = 2 }
"""


def test_a_baseline_needs_enough_weeks_of_history(engine, tmp_path):
    now = BASE + 5 * WEEK
    hours = {
        now - 3 * WEEK - 5 * HOUR: reads("carol", 10),  # carol's first hour: before the weeks looked at
        now - 2 * WEEK: reads("alice", 100),
        now - WEEK: merged(reads("alice", 100), reads("erin", 100)),  # erin: first seen here, one week only
        now: merged(reads("alice", 501), reads("carol", 150), reads("dave", 10_000), reads("erin", 10_000)),
    }
    evaluate_log(engine, tmp_path, rules(BASELINE), hours)
    found = {a.key: a for a in stored_alerts(engine)}
    # alice: median of two weeks of 100: fires above 500. carol: two weeks in the log after she was first seen,
    # without rows (0 each): any value above the floor. dave (new) and erin (one week) have too little history.
    assert set(found) == {"spike/user=alice", "spike/user=carol"}
    assert (found["spike/user=alice"].baseline, found["spike/user=alice"].threshold) == (100, 500)
    assert (found["spike/user=carol"].baseline, found["spike/user=carol"].threshold) == (0, 100)


def test_a_baseline_with_one_week_of_history_does_not_fire(engine, tmp_path):
    now = BASE + 5 * WEEK
    hours = {now - WEEK: reads("alice", 100), now: reads("alice", 100_000)}
    evaluate_log(engine, tmp_path, rules(BASELINE), hours)
    assert stored_alerts(engine) == []
    assert now in judged_hours(engine)  # judged, and found too little history


SHARE_AND_OPS = """
    [[rule]]
    name = "small-share"
    subject = "user"
    measure = "small_share"
    above = 0.6
    min_operations = 10

    [[rule]]
    name = "ops"
    subject = "user"
    measure = "operations"
    above = 1500
"""


def test_a_half_written_hour_is_judged_once_complete_with_its_final_counts(engine, tmp_path):
    path = tmp_path / "io_usage.log"
    first = hour_block(H[0], reads("alice", 10))
    whole = hour_block(H[1], merged(reads("alice", 1000, label="[2K, 4K)"), reads("alice", 1000, machine="tik02")))
    cut = whole.index("@rd_client(tik02")
    path.write_text(first + whole[:cut])  # the writer has printed alice's small reads, not yet her large ones
    evaluator = Evaluator(engine, rules(SHARE_AND_OPS), notifying=False)
    ingest_with(engine, path, evaluator, settle=3600)  # the file changed within `settle`: its last block is open
    assert set(judged_hours(engine)) == {H[0]}  # H[1] is stored (the dashboard shows it) but not judged
    assert stored_alerts(engine) == []  # judged now, 100 % small reads would have fired small-share

    with open(path, "a") as f:
        f.write(whole[cut:] + hour_block(H[2], reads("alice", 10)))
    ingest_with(engine, path, evaluator, settle=3600)
    [alert] = stored_alerts(engine)
    assert (alert.key, alert.value, alert.first_hour) == ("ops/user=alice", 2000, H[1])  # the final count
    assert judged_hours(engine)[H[1]][:2] == (2, 2000)  # two sessions, 2000 operations: what it was judged on


def test_a_block_that_grows_after_it_was_judged_is_judged_again_without_a_second_alert(engine, tmp_path):
    path = tmp_path / "io_usage.log"
    whole = hour_block(H[0], merged(reads("alice", 1600), reads("alice", 400, machine="tik02")))
    cut = whole.index("@rd_client(tik02")
    path.write_text(whole[:cut])
    stale = time.time() - 60
    os.utime(path, (stale, stale))  # unchanged for a minute: taken as complete (bpftrace writes a block at once)
    evaluator = Evaluator(engine, rules(SHARE_AND_OPS), notifying=False)
    ingest_with(engine, path, evaluator, settle=1)
    [alert] = stored_alerts(engine)
    assert alert.value == 1600
    with open(path, "a") as f:  # the writer had stalled longer than `settle`: the rest comes later
        f.write(whole[cut:])
    ingest_with(engine, path, evaluator, settle=0)
    [again] = stored_alerts(engine)
    assert (again.id, again.value, again.peak, again.first_hour) == (alert.id, 2000, 2000, H[0])


def test_reading_the_same_file_again_judges_nothing_again(engine, tmp_path):
    evaluator = evaluate_log(engine, tmp_path, rules(OPERATIONS_ABOVE_1000), {H[0]: reads("bob", 5000)})
    [before] = stored_alerts(engine)
    judged = judged_hours(engine)
    path = tmp_path / "io_usage.log"
    ingest_with(engine, path, evaluator)  # from the stored position
    ingest_with(engine, path, evaluator, resume=False)  # the whole file again
    assert stored_alerts(engine) == [before] and judged_hours(engine) == judged
    assert [a.updated_at for a in stored_alerts(engine)] == [before.updated_at]


COOLDOWN = """
    [[rule]]
    name = "ops"
    subject = "user"
    measure = "operations"
    above = 100
    cooldown = "3h"
"""


def test_cooldown_holds_across_a_new_evaluator_and_counts_from_the_resolution(engine, tmp_path):
    high, low = reads("alice", 500), reads("alice", 5)
    path = tmp_path / "io_usage.log"
    ruleset = rules(COOLDOWN)

    def run(hours):  # a new Evaluator each time: the state is the database's, as after a restart
        with open(path, "a") as f:
            f.write(log_text(hours))
        ingest_with(engine, path, Evaluator(engine, ruleset, notifying=False))

    run({H[0]: high, H[1]: low})  # fires at H[0], resolves at H[1]
    [alert] = stored_alerts(engine)
    assert (alert.state, alert.resolved_hour) == ("resolved", H[1])
    run({H[2]: high})  # within 3 h of the resolution: the same alert opens again, nothing new to send
    [alert] = stored_alerts(engine)
    assert (alert.state, alert.first_hour, alert.last_hour, alert.resolved_hour) == ("open", H[0], H[2], None)
    run({H[3]: low, H[5]: high})  # resolved at H[3]; H[5] is 2 h after it: still the same alert
    assert len(stored_alerts(engine)) == 1
    run({H[6]: low, H[9]: high})  # resolved at H[6]; H[9] is 3 h after: a new alert
    first, second = stored_alerts(engine)
    assert (first.state, first.resolved_hour, second.first_hour, second.state) == ("resolved", H[6], H[9], "open")


EVERY_KIND = """
    [[rule]]
    name = "machine-bytes"
    subject = "machine"
    measure = "bytes"
    above = 150_000_000          # estimated: count x bucket midpoint

    [[rule]]
    name = "pair-writes"
    subject = "user_machine"
    measure = "operations"
    direction = "wr"
    above = 50

    [[rule]]
    name = "type-small"
    subject = "machine_type"
    measure = "small_operations"
    above = 150

    [[rule]]
    name = "role-ops"
    subject = "role"
    measure = "operations"
    above = 1000
    roles = ["staff"]

    [[rule]]
    name = "server-ops"
    subject = "server"
    measure = "operations"
    above = 1500
    exclude_users = ["backup"]

    [[rule]]
    name = "spread"
    subject = "user"
    measure = "machines"
    above = 2
    min_operations = 100

    [[rule]]
    name = "mid-sizes"
    subject = "user"
    measure = "operations"
    sizes = ["4K", "64K"]
    machine_types = ["itet"]
    above = 90

    [[rule]]
    name = "off"
    subject = "server"
    measure = "operations"
    above = 0
    enabled = false
"""


def test_every_subject_measure_and_filter(engine, tmp_path):
    hour = {
        ("rd", "tik01", "tik", "alice", "stud"): {"[1K, 2K)": 100, "[1M, 2M)": 100},  # 100 x 1.5 MiB = 157 MB
        ("wr", "tik01", "tik", "alice", "stud"): {"[4K, 8K)": 60},
        ("rd", "tik02", "tik", "alice", "stud"): {"[2K, 4K)": 60},
        ("rd", "tik03", "tik", "alice", "stud"): {"[2K, 4K)": 10},  # her third machine
        ("wr", "art01", "itet", "bob", "staff"): {"[8K, 16K)": 100, "[64K, 128K)": 1000},
        ("rd", "art01", "itet", "carol", "staff"): {"[16K, 32K)": 80},
        ("rd", "tik02", "tik", "backup", "staff"): {"[1M, 2M)": 1},
        ("rd", "tik01", "tik", "dave", "stud"): {"[2K, 4K)": 40, "[4K, 8K)": 30, "[8K, 16K)": 5},
        ("rd", "tik02", "tik", "dave", "stud"): {"[2K, 4K)": 5},
        ("rd", "tik03", "tik", "dave", "stud"): {"[2K, 4K)": 5},
    }
    evaluate_log(engine, tmp_path, rules(EVERY_KIND), {H[0]: hour})
    found = {a.key: a.value for a in stored_alerts(engine)}
    assert found == {
        "machine-bytes/machine=tik01": 100 * 1.5 * 2**20
        + 100 * 1.5 * 2**10
        + 60 * 6 * 2**10
        + 40 * 3 * 2**10
        + 30 * 6 * 2**10
        + 5 * 12 * 2**10,
        "pair-writes/user=alice&machine=tik01": 60,
        "pair-writes/user=bob&machine=art01": 1100,
        "type-small/machine_type=tik": 100 + 60 + 10 + 40 + 5 + 5,  # buckets at or below 4 KiB
        "role-ops/role=staff": 100 + 1000 + 80 + 1,
        "server-ops/server": 2 * 100 + 60 + 60 + 10 + 1100 + 80 + 40 + 30 + 5 + 5 + 5,  # not backup's
        "spread/user=alice": 3,  # dave too has 3 machines, with 85 ops in all: under min_operations
        "mid-sizes/user=bob": 100,  # [8K, 16K) only: [64K, 128K) is not wholly below 64K; carol's 80 <= 90
    }


def test_a_replay_finds_what_the_evaluation_found_hour_by_hour(engine, tmp_path):
    """The dry run judges a whole range at once; the follower judges an hour at a time: the same alerts."""
    from clusterdash.alerts.replay import replay
    from clusterdash.ingest.demo import generate_lines
    from tests.logtools import FIXED_START

    text = "".join(generate_lines(days=4, seed=5, start=FIXED_START))
    blocks = text.split("\nLog:")
    ruleset = rules(
        """
        [[rule]]
        name = "heavy"
        subject = "user"
        measure = "operations"
        above = 300_000
        cooldown = "2h"
        [[rule]]
        name = "small-sustained"
        subject = "machine_type"
        measure = "small_share"
        window = "3h"
        mode = "sustained"
        above = 0.2
        [[rule]]
        name = "spread"
        subject = "user"
        measure = "machines"
        window = "6h"
        above = 2
        cooldown = "0m"
        """
    )
    path = tmp_path / "io_usage.log"
    evaluator = Evaluator(engine, ruleset, notifying=False)
    for n, piece in enumerate(blocks):
        with open(path, "a") as f:
            f.write(piece if n == 0 else "\nLog:" + piece)
        ingest_with(engine, path, evaluator, settle=0)
    evaluated = sorted((a.key, a.first_hour, a.last_hour, a.resolved_hour) for a in stored_alerts(engine))
    replayed = replay(engine, ruleset, 0, 2**33)
    assert replayed.hours == len(judged_hours(engine)) and len(evaluated) >= 3
    assert sorted((a.key, a.first_hour, a.last_hour, a.resolved_hour) for a in replayed.alerts) == evaluated


def test_a_failing_judgement_is_logged_recorded_and_retried_and_the_ingest_goes_on(engine, tmp_path, caplog):
    path = tmp_path / "io_usage.log"
    path.write_text(log_text({H[0]: reads("bob", 5000)}))
    evaluator = Evaluator(engine, rules(OPERATIONS_ABOVE_1000), notifying=False)
    with engine.begin() as conn:
        conn.execute(text('DROP TABLE "AlertDeliveries"'))
        conn.execute(text('DROP TABLE "Alerts"'))
    ingest_with(engine, path, evaluator)
    with engine.connect() as conn:
        assert conn.execute(text('SELECT COUNT(*) FROM "LogEntries"')).scalar() == 1  # the ingest went on
    assert "judging 1 hour(s) failed" in caplog.text
    assert judged_hours(engine)[H[0]][2] is not None  # recorded as failed, with why
    prepare_database(engine, "UTC")  # the tables are back
    with open(path, "a") as f:
        f.write(hour_block(H[1], reads("bob", 10)))
    ingest_with(engine, path, evaluator)  # the next hours: the failed one is judged again with them
    [alert] = stored_alerts(engine)
    assert (alert.first_hour, alert.resolved_hour) == (H[0], H[1])
    assert all(error is None for *_, error in judged_hours(engine).values())


@pytest.mark.parametrize("age_hours, expected", [(2, "pending"), (30, "stale")])
def test_an_alert_about_an_old_hour_is_kept_not_sent(engine, tmp_path, age_hours, expected):
    now = BASE + age_hours * HOUR + HOUR
    path = tmp_path / "io_usage.log"
    path.write_text(log_text({BASE: reads("bob", 5000)}))
    evaluator = Evaluator(engine, rules(OPERATIONS_ABOVE_1000), notifying=True, max_age=24 * HOUR, clock=lambda: now)
    ingest_with(engine, path, evaluator)
    [alert] = stored_alerts(engine)
    assert alert.notify == expected

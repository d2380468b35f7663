"""The follower killed with SIGKILL again and again, at many points of a long ingest, while a writer appends
(half blocks too), rotates and truncates the log; restarted each time. In the end the database must equal a
one-shot ingest of every byte written.

Kill moments are drawn from a seeded generator: some while Python is still starting (before any commit), some
as soon as the follower says it is storing a batch (inside the transaction, or just after its commit), some
after a random time (anywhere: between commits, while reading, while waiting).
"""

from __future__ import annotations

import random
import re
import shutil
import time
from collections import Counter

from sqlalchemy import select

from clusterdash.db.engine import make_engine
from clusterdash.db.schema import ingest_files
from tests.followtools import Follower, append, demo_blocks, reference, text_of, wait_until_equal

KILLS = 24
KILL_TIMING_STEP = 0.005  # seconds: how finely the loops below pick the moment of a kill (they wait for no result)
BLOCKS = demo_blocks(13, 3)  # about 300 hours, 5 MB: catch-ups take several batches of 64 blocks
STORING = re.compile(r"storing \d+ block")


def stored_offsets(url: str) -> tuple:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return tuple(sorted(conn.execute(select(ingest_files.c.path, ingest_files.c.offset)).all()))
    finally:
        engine.dispose()


def where_it_died(log: str) -> str:
    """Classify the kill by the follower's last words."""
    lines = [line for line in log.splitlines() if " DEBUG " in line or " INFO " in line or " WARNING " in line]
    if not any(STORING.search(line) for line in lines):
        return "before any commit"
    last = lines[-1]
    return "as a commit began (in it or just after)" if STORING.search(last) else "between commits"


def test_killed_at_many_points_the_follower_ends_equal_to_the_reference(tmp_path, sqlite_url, sqlite_engine):
    rng = random.Random(20251128)
    logs = tmp_path / "logs"
    logs.mkdir()
    path = logs / "io_usage.log"
    path.touch()
    log_file = tmp_path / "follower.log"
    written = ""  # every byte written, in order: the reference's input
    next_block = 0
    partial = ""  # the part of the next block not written yet, after a half-written one

    def write_some(blocks: int) -> None:
        """Append `blocks` blocks; sometimes stop in the middle of the next one, even in the middle of a line."""
        nonlocal written, next_block, partial
        text = partial
        partial = ""
        end = min(len(BLOCKS), next_block + blocks)
        text += text_of(BLOCKS[next_block:end])
        next_block = end
        if next_block < len(BLOCKS) and rng.random() < 0.4:
            cut = rng.randrange(1, len(BLOCKS[next_block]))
            text += BLOCKS[next_block][:cut]
            partial = BLOCKS[next_block][cut:]
            next_block += 1
        append(path, text)
        written += text

    write_some(50)
    points = []
    for round_number in range(KILLS):
        follower = Follower(sqlite_url, path, log_file, poll=0.1, settle=0.3, verbose=True)
        how = rng.choice(["while starting", "when storing", "when storing", "after a while", "after a while"])
        if how == "when storing" and next_block >= len(BLOCKS):
            how = "after a while"  # nothing left to write, so perhaps nothing to store
        if how == "when storing":
            nth_commit = rng.randint(1, 4)
        delay = rng.uniform(0.0, 0.4) if how == "while starting" else rng.uniform(0.0, 1.2)
        if round_number == 9:  # logrotate create, while it starts
            path.rename(logs / "io_usage.log.1")
            path.touch()
        if round_number == 17:  # logrotate copytruncate, while it starts
            (logs / "io_usage.log.1").rename(logs / "io_usage.log.2")
            shutil.copyfile(path, logs / "io_usage.log.1")
            with open(path, "r+b") as f:
                f.truncate(0)
        write_some(rng.randrange(1, 11))  # the writer goes on while the follower runs
        # These loops pick the moment of the kill; they wait for no result. Times count from the follower's first
        # log line (its imports take a while, longer on a loaded machine), except while it is still starting.
        if how != "while starting":
            follower.wait_for_log("following", timeout=30)
        deadline = time.monotonic() + (3.0 if how == "when storing" else delay)
        while time.monotonic() < deadline and follower.process.poll() is None:
            if how == "when storing" and len(STORING.findall(follower.log())) >= nth_commit:
                break  # kill as the nth commit of blocks begins (or after 3 s if there are fewer to make)
            time.sleep(KILL_TIMING_STEP)
        follower.check_alive()
        follower.kill()
        points.append((where_it_died(follower.log()), len(written), stored_offsets(sqlite_url)))
        if rng.random() < 0.5:
            write_some(rng.randrange(0, 7))  # and while it is dead

    blocks_during_kills = next_block
    write_some(len(BLOCKS))
    if partial:
        append(path, partial)
        written += partial
    follower = Follower(sqlite_url, path, log_file, poll=0.1, settle=0.3)
    wait_until_equal(sqlite_url, reference(tmp_path, written), timeout=60)
    follower.stop()

    kinds = Counter(kind for kind, _, _ in points)
    print(
        f"\n{len(points)} kills: {dict(kinds)}; {len({p[2] for p in points})} distinct stored states; "
        f"{blocks_during_kills} of {len(BLOCKS)} blocks written while it was being killed"
    )
    assert len(points) >= 20 and len(set(points)) >= 20  # each at another point of the writing
    assert len({p[2] for p in points}) >= 5  # and of the reading: the follower made progress between kills
    assert kinds["before any commit"] and kinds["as a commit began (in it or just after)"]
    assert kinds["between commits"]

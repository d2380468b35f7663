"""Helpers for the follow-mode tests: log text cut into blocks, the follower as a real subprocess, waiting on
conditions with a deadline, and the database's whole content to compare with a one-shot reference."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

from sqlalchemy import select

from clusterdash.db.engine import make_engine
from clusterdash.db.schema import io_operations, io_size_ranges, log_entries, machines, user_sessions, users
from clusterdash.db.setup import prepare_database
from clusterdash.ingest.demo import generate_lines
from clusterdash.ingest.pipeline import ingest_paths
from tests.logtools import FIXED_START
from tests.waiting import POLL_SECONDS

REPO = Path(__file__).resolve().parents[1]


@lru_cache(maxsize=8)
def demo_blocks(days: int, seed: int) -> tuple[str, ...]:
    """A generated log cut at its Log: lines: element 0 holds the preamble (bpftrace's 'Attaching' line) and the
    first block, every other element one block. Joined, they are the whole log."""
    text = "".join(generate_lines(days=days, seed=seed, start=FIXED_START))
    cuts = [m.start() + 1 for m in re.finditer(r"\nLog:", text)]
    bounds = [0, *cuts[1:], len(text)]  # the preamble stays with the first block
    return tuple(text[a:b] for a, b in zip(bounds, bounds[1:]))


def text_of(blocks) -> str:
    return "".join(blocks)


def split_mid_line(block: str) -> tuple[str, str]:
    """A block cut inside the count of one of its histogram rows, as a writer caught mid-line leaves it."""
    row = re.search(r"^\S[^\n]{15} *\d{2,} \|", block[len(block) // 3 :], re.MULTILINE)
    cut = len(block) // 3 + row.start() + 22
    return block[:cut], block[cut:]


def append(path: Path, text: str | bytes) -> None:
    with open(path, "ab") as f:
        f.write(text if isinstance(text, bytes) else text.encode())


def wait_until(
    condition: Callable[[], object], timeout: float, message: str | Callable[[], str], interval: float = 0.05
):
    """Poll `condition` until it returns something true; fail with `message` (or what it returns, computed then)
    after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            what = message() if callable(message) else message
            raise AssertionError(f"timed out after {timeout}s waiting until {what}")
        time.sleep(interval)


def every_count(url: str) -> dict:
    """What the database holds, in comparable form: every count by (epoch, direction, machine, user, bucket),
    the hours with their lost-event flags, and each session's rolled-up totals."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            counts = conn.execute(
                select(
                    user_sessions.c.epoch,
                    user_sessions.c.direction,
                    machines.c.name,
                    users.c.username,
                    io_size_ranges.c.label,
                    io_operations.c.count,
                )
                .join(user_sessions, io_operations.c.session_id == user_sessions.c.id)
                .join(users, users.c.id == user_sessions.c.user_id)
                .join(machines, machines.c.id == user_sessions.c.machine_id)
                .join(io_size_ranges, io_size_ranges.c.id == io_operations.c.size_range_id)
            ).all()
            hours = conn.execute(select(log_entries.c.epoch, log_entries.c.lost_events)).all()
            sessions = conn.execute(
                select(
                    user_sessions.c.epoch,
                    user_sessions.c.direction,
                    machines.c.name,
                    users.c.username,
                    user_sessions.c.operations,
                    user_sessions.c.bytes_mid,
                )
                .join(users, users.c.id == user_sessions.c.user_id)
                .join(machines, machines.c.id == user_sessions.c.machine_id)
            ).all()
    finally:
        engine.dispose()
    return {
        "counts": sorted(map(tuple, counts)),
        "hours": sorted(map(tuple, hours)),
        "sessions": sorted(map(tuple, sessions)),
    }


def reference(tmp_path: Path, text: str | bytes, name: str = "reference") -> dict:
    """every_count of a one-shot ingest of `text` (all the bytes ever written) into a fresh database."""
    folder = tmp_path / name
    folder.mkdir(exist_ok=True)
    log = folder / "all.log"
    log.write_bytes(text if isinstance(text, bytes) else text.encode())
    url = f"sqlite:///{folder / 'reference.db'}"
    engine = make_engine(url)
    prepare_database(engine, "UTC")
    ingest_paths(engine, [str(log)], progress=False)
    engine.dispose()
    return every_count(url)


def stored_hours(url: str) -> int:
    try:
        return len(every_count(url)["hours"])
    except Exception:  # noqa: BLE001 - the follower may not have created the schema yet
        return 0


def describe_difference(got: dict, want: dict) -> str:
    lines = []
    for key in want:
        missing = sorted(set(want[key]) - set(got[key]))
        extra = sorted(set(got[key]) - set(want[key]))
        if missing or extra:
            lines.append(f"{key}: {len(missing)} missing (e.g. {missing[:3]}), {len(extra)} extra (e.g. {extra[:3]})")
    return "; ".join(lines) or "equal"


def wait_until_equal(url: str, want: dict, timeout: float = 20.0) -> None:
    """Wait until the database holds exactly `want`; on timeout, say what differs."""
    deadline = time.monotonic() + timeout
    while True:
        got = every_count(url)
        if got == want:
            return
        if time.monotonic() > deadline:
            raise AssertionError(
                f"database differs from the reference after {timeout}s: {describe_difference(got, want)}"
            )
        time.sleep(POLL_SECONDS)


class Follower:
    """`python -m clusterdash --db URL ingest --follow PATH` as a real subprocess, its log in a file."""

    def __init__(
        self,
        url: str,
        path: Path,
        log_file: Path,
        poll: float | None = 0.2,
        settle: float | None = 0.5,
        verbose: bool = False,
        args: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
    ) -> None:
        """args: more options for `ingest`; env: CLUSTERDASH_* settings for it (the test's own are not passed)."""
        command = [sys.executable, "-m", "clusterdash", "--db", url, "ingest", "--follow", str(path), *args]
        if poll is not None:
            command += ["--poll", str(poll)]
        if settle is not None:
            command += ["--settle", str(settle)]
        if verbose:
            command.append("--verbose")
        self.log_file = log_file
        self.log_start = log_file.stat().st_size if log_file.exists() else 0
        self._log = open(log_file, "ab")  # noqa: SIM115 - closed by stop()
        environ = {k: v for k, v in os.environ.items() if not k.startswith("CLUSTERDASH_")} | (env or {})
        self.process = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT, cwd=REPO, env=environ)

    def log(self) -> str:
        """What this run has logged so far."""
        with open(self.log_file, "rb") as f:
            f.seek(self.log_start)
            return f.read().decode("utf-8", "replace")

    def wait_for_log(self, pattern: str, timeout: float = 10.0, count: int = 1) -> str:
        regex = re.compile(pattern, re.MULTILINE)

        def seen():
            self.check_alive()
            return len(regex.findall(self.log())) >= count

        wait_until(seen, timeout, lambda: f"the follower logs {pattern!r} ({count}x); it logged:\n{self.log()}")
        return self.log()

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise AssertionError(f"the follower exited with {self.process.returncode}:\n{self.log()}")

    def pause(self) -> None:
        """SIGSTOP: the follower keeps its state and open files but cannot look until resume()."""
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.process.send_signal(signal.SIGCONT)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        """Ask the follower to stop; it must exit 0."""
        self.process.send_signal(sig)
        code = self.process.wait(timeout)
        self._log.close()
        assert code == 0, f"the follower exited with {code} after signal {sig}:\n{self.log()}"
        return code

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(10)
        self._log.close()


class PausablePostgres:
    """A PostgreSQL server of its own that a test can stop and start again on the same port: a database that
    goes away for a while and comes back."""

    def __init__(self) -> None:
        from tests.pgserver import PostgresServer

        self.server = PostgresServer().start()

    def _pg_ctl(self, *args: str) -> None:
        self.server._run(str(self.server.bin / "pg_ctl"), "-D", str(self.server.data), *args)

    def pause(self) -> None:
        self._pg_ctl("-m", "fast", "-w", "stop")

    def resume(self) -> None:
        self._pg_ctl(
            "-l",
            str(self.server.data / "server.log"),
            "-w",
            "-o",
            f"-p {self.server.port} -c listen_addresses=127.0.0.1 -k {self.server.data} -c fsync=off",
            "start",
        )

    def stop(self) -> None:
        self.server.stop()

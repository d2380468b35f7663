"""The database parts of the jobs benchmark (scripts/bench_jobs.py runs them): a demo year of IO with its batch jobs,
through the real ingest, on SQLite files in bench-data/ (kept between runs).

  conservation  the demo year's sacct output ingested after its IO; the attribution checked against a fresh sharing
                of every stored session: attributed + outside == stored, exactly (db.jobs.check)
  ingest        `jobs ingest` of a year of sacct for a 40-node cluster (300k jobs by default, over the demo's
                users and machines, so that they share its IO) into the year's IO: target <= 10 s, attribution in
                it; and the same file read again (nothing changes)
  pull          `jobs pull` of one new hour (a stand-in sacct printing it) into the year with its jobs: the whole
                pull, and the part that is not the sacct call (target: well under a second)
  io            a month of IO ingested into a fresh database with no jobs, with the year's demo jobs, and with the
                300k jobs, runs alternating (paired): medians and ratios (target: within a few percent)
"""

from __future__ import annotations

import os
import shutil
import stat
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from clusterdash.db.engine import make_engine  # noqa: E402
from clusterdash.db.jobs.check import check_conservation  # noqa: E402
from clusterdash.db.setup import prepare_database  # noqa: E402
from clusterdash.ingest.demo import simulate  # noqa: E402
from clusterdash.ingest.jobs import ingest_sacct_files  # noqa: E402
from clusterdash.ingest.pipeline import ingest_paths  # noqa: E402
from clusterdash.ingest.pull import pull_jobs  # noqa: E402
from clusterdash.ingest.synthetic.population import ALL_MACHINES  # noqa: E402
from clusterdash.ingest.synthetic.render import ATTACHING_LINE  # noqa: E402
from clusterdash.ingest.synthetic.slurm import batch_jobs, sacct_lines  # noqa: E402

DATA = ROOT / "bench-data" / "jobs"
ZONE = "Europe/Zurich"
START = datetime(2025, 1, 1, tzinfo=ZoneInfo(ZONE))
HOUR = 3600
SEED = 1


def _timed(action):  # type: ignore[no-untyped-def]
    wall, cpu = time.perf_counter(), time.process_time()
    result = action()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def _line(label: str, value: str) -> None:
    print(f"  {label:<56}{value}")


def year_files(days: int = 365) -> dict[str, Path]:
    """The demo year's log and sacct output (at its end; an hour before its end; and what a pull at its end for the
    last two hours prints), written once."""
    DATA.mkdir(parents=True, exist_ok=True)
    files = {name: DATA / f"year-{days}d-{name}" for name in ("io.log", "sacct.txt", "sacct-before.txt", "pull.txt")}
    files["month.log"] = DATA / "month.log"
    if all(path.exists() for path in files.values()):
        return files
    print(f"writing a demo year ({days} days) and its sacct output to {DATA} ...", flush=True)
    simulation, hours, last = simulate(days, SEED, START, None)
    with open(files["io.log"], "w", encoding="ascii") as out, open(files["month.log"], "w", encoding="ascii") as month:
        out.write(ATTACHING_LINE)
        month.write(ATTACHING_LINE)
        month_end = int(START.timestamp()) + 30 * 86400
        for block in hours:
            text = "".join(block.lines)
            out.write(text)
            if int(block.lines[0].rsplit("(", 1)[1].rstrip(")\n")) <= month_end:
                month.write(text)
    found = batch_jobs(simulation.started, SEED)
    files["sacct.txt"].write_text("".join(sacct_lines(found, now=last)))
    files["sacct-before.txt"].write_text("".join(sacct_lines(found, now=last - HOUR)))
    files["pull.txt"].write_text("".join(sacct_lines(found, now=last, since=last - 2 * HOUR)))
    return files


def io_database(files: dict[str, Path]) -> Path:
    """A SQLite file holding the demo year's IO and no jobs, built once."""
    db = DATA / "year-io.db"
    if not db.exists():
        print(f"ingesting {files['io.log'].name} into {db.name} ...", flush=True)
        engine = make_engine(f"sqlite:///{db}.tmp")
        prepare_database(engine, ZONE)
        ingest_paths(engine, [str(files["io.log"])], progress=False)
        engine.dispose()
        Path(f"{db}.tmp").rename(db)
    return db


def _copy(db: Path, name: str) -> str:
    target = DATA / name
    for suffix in ("", "-wal", "-shm"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(db, target)
    return f"sqlite:///{target}"


def big_sacct(jobs: int, seed: int = 0) -> Path:
    """A year of sacct output for a 40-node cluster with `jobs` jobs, over the demo's users and machines."""
    from bench_jobs import generate  # the generator of every form sacct prints

    path = DATA / f"sacct-{jobs}.txt"
    if not path.exists():
        simulation, _, _ = simulate(1, SEED, START, None)
        users = [p.login for p in simulation.people]
        nodes = [m.name for m in ALL_MACHINES] + ["tikcpu01"]  # the demo's 39 and one more: 40 nodes
        print(f"writing {path.name} ...", flush=True)
        path.write_text(generate(jobs, seed, users=users, nodes=nodes))
    return path


def part_conservation(files: dict[str, Path]) -> bool:
    print("the demo year: its IO, then its jobs (sacct at the year's end); the attribution checked")
    url = _copy(io_database(files), "conservation.db")
    engine = make_engine(url)
    report, wall, cpu = _timed(lambda: ingest_sacct_files(engine, [str(files["sacct.txt"])], ZONE))
    _line("jobs ingest of the demo year's sacct", f"{wall:6.2f} s wall {cpu:6.2f} s CPU, {report.stored.new:,} jobs")
    with engine.connect() as conn:
        check, wall, _ = _timed(lambda: check_conservation(conn))
    engine.dispose()
    _line("sessions / JobUsage rows", f"{check.sessions:,} / {check.rows:,}")
    _line("operations stored", f"{check.stored:,}")
    _line("  attributed to jobs", f"{check.attributed:,} ({check.attributed / max(check.stored, 1):.1%})")
    _line("  outside jobs", f"{check.outside:,} ({check.outside / max(check.stored, 1):.1%})")
    _line("attributed + outside == stored, every session", "exact" if check.exact else f"BROKEN {check}")
    _line("JobUsage == a fresh sharing; JobDays == JobUsage by day", f"{check.differing_rows + check.differing_days} "
          f"rows differ (checked in {wall:.1f} s)")  # fmt: skip
    return check.exact


def part_ingest(files: dict[str, Path], jobs: int) -> None:
    path = big_sacct(jobs)
    print(f"jobs ingest of {path.name} ({path.stat().st_size / 1e6:.0f} MB) into the demo year's IO")
    url = _copy(io_database(files), "ingest.db")
    engine = make_engine(url)
    report, wall, cpu = _timed(lambda: ingest_sacct_files(engine, [str(path)], ZONE))
    _line("first read (target <= 10 s)", f"{wall:6.2f} s wall {cpu:6.2f} s CPU")
    _line("  jobs stored / lines rejected", f"{report.stored.new:,} / {len(report.rejected):,}")
    _line("  attribution: sessions shared, JobUsage rows", f"{report.shared.sessions:,}, {report.shared.rows:,}")
    again, wall, cpu = _timed(lambda: ingest_sacct_files(engine, [str(path)], ZONE))
    _line("read again (nothing changes)", f"{wall:6.2f} s wall {cpu:6.2f} s CPU, {again.stored.unchanged:,} unchanged")
    engine.dispose()


FAKE_SACCT = '#!/bin/sh\ncat "$BENCH_SACCT_OUTPUT"\n'


def part_pull(files: dict[str, Path], repeats: int) -> None:
    print("jobs pull of one new hour into the demo year with its jobs (a stand-in sacct prints the hour)")
    bin_dir = DATA / "bin"
    bin_dir.mkdir(exist_ok=True)
    script = bin_dir / "sacct"
    script.write_text(FAKE_SACCT)
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    os.environ["PATH"] = f"{bin_dir}{os.pathsep}{os.environ['PATH']}"
    os.environ["BENCH_SACCT_OUTPUT"] = str(files["pull.txt"])
    lines = files["pull.txt"].read_text().count("\n")
    totals, sacct, rest = [], [], []
    for _ in range(repeats):
        url = _copy(io_database(files), "pull.db")
        engine = make_engine(url)
        ingest_sacct_files(engine, [str(files["sacct-before.txt"])], ZONE)
        pulled, wall, _ = _timed(lambda: pull_jobs(engine, "sacct", ZONE, since=int(START.timestamp())))  # noqa: B023
        engine.dispose()
        totals.append(wall)
        sacct.append(pulled.sacct_seconds)
        rest.append(pulled.report.seconds)
    _line("sacct lines in the pull / jobs new, updated", f"{lines:,} / {pulled.report.stored.new}, "
          f"{pulled.report.stored.updated}")  # fmt: skip
    _line(f"whole pull, median of {repeats}", f"{statistics.median(totals):6.3f} s")
    _line("  the sacct call (the stand-in)", f"{statistics.median(sacct):6.3f} s")
    _line("  storing and sharing (target: well under a second)", f"{statistics.median(rest):6.3f} s")


def part_io(files: dict[str, Path], repeats: int, jobs: int) -> None:
    print(f"a month of IO into a fresh database: no jobs, the demo year's jobs, {jobs:,} jobs (paired, {repeats} runs)")
    variants = {"no jobs": None, "the demo year's jobs": files["sacct.txt"], f"{jobs:,} jobs": big_sacct(jobs)}
    seeded = {}
    for label, sacct in variants.items():
        url = _copy_empty(f"io-{len(seeded)}.db")
        engine = make_engine(url)
        prepare_database(engine, ZONE)
        if sacct is not None:
            ingest_sacct_files(engine, [str(sacct)], ZONE)
        engine.dispose()
        seeded[label] = DATA / f"io-{len(seeded)}.db"
    times: dict[str, list[float]] = {label: [] for label in variants}
    walls: dict[str, list[float]] = {label: [] for label in variants}
    for _ in range(repeats):
        for label, db in seeded.items():
            url = _copy(db, "io-run.db")
            engine = make_engine(url)
            _, wall, cpu = _timed(lambda: ingest_paths(engine, [str(files["month.log"])], progress=False))  # noqa: B023
            engine.dispose()
            times[label].append(cpu)
            walls[label].append(wall)
    base = statistics.median(times["no jobs"])
    print("  CPU seconds of the ingest (another process's load inflates the wall time, far less the CPU time):")
    for label, values in times.items():
        median = statistics.median(values)
        _line(f"{label}: median (min-max)", f"{median:6.3f} s ({min(values):.3f}-{max(values):.3f}), "
              f"x{median / base:.3f}; wall median {statistics.median(walls[label]):.3f} s")  # fmt: skip


def _copy_empty(name: str) -> str:
    target = DATA / name
    for suffix in ("", "-wal", "-shm"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    return f"sqlite:///{target}"

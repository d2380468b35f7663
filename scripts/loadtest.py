"""Load test: the Procfile's gunicorn on a year of data, signed in, while `clusterdash ingest --follow` takes a new
hour every few seconds. Loopback only; every client count and duration is bounded.

    python scripts/loadtest.py                          # both runs (about 8 minutes)
    python scripts/loadtest.py --run day --seconds 120  # a working day only
    python scripts/loadtest.py --run saturation --levels 25,50,100,150,200
    python scripts/loadtest.py --run saturation --levels 50 --code /path/to/other/checkout --auth none  # to compare

A working day: 50 open dashboard sessions (45 scoped users, 5 staff) with live refresh on (the check every
CLUSTERDASH_REFRESH seconds, and when it sees new data the redraw a browser does: every panel's callback), 5 of
them interacting (every 5 s a new time range, direction or selection: the view callback, then every panel's
callback, at most 6 at once as a browser sends them); 2 scripts polling the API every second with tokens (an
admin's and a user's, sending back the ETag they hold). Printed: p50/p95/p99 of an interaction (all its
callbacks answered), of a redraw and of API requests, errors, and how long each new hour took to be stored.

Saturation: N clients in a closed loop (no think time) over the seven API endpoints with an admin's token, each
on a mix of filters; N raised level by level until p95 passes 1 s. Printed: requests/s and p50/p95/p99 per level.

Why a bounded pool of threads and not locust: the scenario is a set of sessions whose unit is an interaction
(several callbacks sent at once, timed until the last answers), which threads express directly; locust would
bring gevent (which patches the standard library) and its own Flask web UI into the environment the app runs
from, for no figure these threads cannot give. The data is built once in bench-data/loadtest/ (a year of demo
log, as scripts/bench_queries.py makes it) and restored before each run.
"""

from __future__ import annotations

import argparse
import random
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "scripts")]

from bench_queries import demo_log  # noqa: E402
from loadclients import DashSession, callback_specs, views_for  # noqa: E402

from clusterdash.db.periods import HOUR  # noqa: E402

HERE = ROOT / "bench-data" / "loadtest"
ZONE = "Europe/Zurich"
PASSWORD = "load-test-password"
REFRESH = 30.0
HOUR_EVERY = 5.0  # seconds between two hours appended to the followed log
MAX_CLIENTS = 400
MAX_SECONDS = 900


@dataclass
class Record:
    """What a run measured: latencies (ms) by kind, errors, the follower's lag per hour (s)."""

    times: dict[str, list[float]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    lags: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, kind: str, ms: float) -> None:
        with self.lock:
            self.times.setdefault(kind, []).append(ms)

    def error(self, what: str) -> None:
        with self.lock:
            self.errors.append(what[:300])


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))] if ordered else float("nan")


# -- the data --------------------------------------------------------------------------------------------------


def prepare() -> None:
    """A year of demo log ingested, with accounts, kept as the originals every run starts from."""
    HERE.mkdir(parents=True, exist_ok=True)
    if (HERE / "year.db.orig").exists():
        return
    from clusterdash.auth.passwords import hash_password
    from clusterdash.db import accounts, query
    from clusterdash.db.engine import make_engine
    from clusterdash.db.filters import Filters
    from clusterdash.db.setup import prepare_database
    from clusterdash.ingest.pipeline import ingest_paths

    shutil.copyfile(demo_log(365), HERE / "io_usage.log")
    engine = make_engine(f"sqlite:///{HERE / 'year.db'}")
    prepare_database(engine, ZONE)
    print("ingesting a year ...", flush=True)
    ingest_paths(engine, [str(HERE / "io_usage.log")], progress=False)
    with engine.connect() as conn:
        busiest = [r["user"] for r in query.users_table(conn, Filters())]
    hashed, now = hash_password(PASSWORD), int(time.time())
    for i, name in enumerate(busiest[:45]):
        accounts.add_account(engine, f"user{i:02d}", "user", hashed, "", now)
        accounts.set_usernames(engine, f"user{i:02d}", [name], now)
    for i in range(5):
        accounts.add_account(engine, f"staff{i}", "staff", hashed, "", now)
    accounts.add_account(engine, "ops", "admin", None, "", now)
    engine.dispose()
    for name in ("year.db", "io_usage.log"):
        shutil.copyfile(HERE / name, HERE / f"{name}.orig")


def restore() -> str:
    for name in ("year.db", "io_usage.log"):
        shutil.copyfile(HERE / f"{name}.orig", HERE / name)
    for stale in ("year.db-wal", "year.db-shm"):
        (HERE / stale).unlink(missing_ok=True)
    return f"sqlite:///{HERE / 'year.db'}"


def token_for(url: str, login: str) -> str:
    from clusterdash.auth.tokens import new_token
    from clusterdash.db import accounts
    from clusterdash.db.engine import make_engine

    engine = make_engine(url)
    made = new_token()
    accounts.add_token(engine, made.token_id, made.token_hash, login, "loadtest", "loadtest", int(time.time()), None)
    engine.dispose()
    return made.token


# -- the processes ---------------------------------------------------------------------------------------------


def start_gunicorn(url: str, port: int, code: Path = ROOT, auth: str = "local") -> subprocess.Popen:
    """The Procfile's command, bound to loopback, running the code in `code` (this checkout by default)."""
    procfile = (ROOT / "Procfile").read_text().split("web:", 1)[1].split()
    gunicorn = shutil.which("gunicorn", path=str(Path(sys.executable).parent)) or "gunicorn"
    command = [gunicorn if a == "gunicorn" else a.strip("'") for a in procfile]
    command[command.index("--bind") + 1] = f"127.0.0.1:{port}"
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(code),
        "CLUSTERDASH_DB": url,
        "CLUSTERDASH_TZ": ZONE,
        "CLUSTERDASH_AUTH": auth,
        "CLUSTERDASH_PUBLIC_WITHOUT_AUTH": "1" if auth == "none" else "0",  # (bound to loopback all the same)
        "CLUSTERDASH_REFRESH": str(REFRESH),
        "XDG_RUNTIME_DIR": str(HERE),
    }
    process = subprocess.Popen(command, cwd=HERE, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/sign-in", timeout=2).status_code == 200:
                return process
        except requests.RequestException:
            time.sleep(0.2)
    raise SystemExit("gunicorn did not answer within 120 s")


def start_follower(url: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "clusterdash", "--db", url, "ingest", "--follow", str(HERE / "io_usage.log")]
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "CLUSTERDASH_TZ": ZONE}
    return subprocess.Popen(command, cwd=HERE, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)  # fmt: skip


def stop(process: subprocess.Popen) -> None:
    import os

    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(process.pid, signal.SIGKILL)


def append_hours(url: str, stop_event: threading.Event, record: Record) -> threading.Thread:
    """Every HOUR_EVERY seconds, the next hour of the same simulated cluster appended to the followed log; the time
    until the follower has stored it is the lag."""
    from sqlalchemy import create_engine

    from clusterdash.db.query import latest_block_epoch
    from clusterdash.ingest.synthetic.simulation import Simulation

    engine = create_engine(url)
    with engine.connect() as conn:
        last = latest_block_epoch(conn)
    hours = Simulation(1, last - last % HOUR, up_at=None).hours()

    def run() -> None:
        while not stop_event.wait(HOUR_EVERY):
            block = next(b for b in hours if b is not None)
            epoch = int(block.lines[0].split("(")[1].split(")")[0])
            appended = time.monotonic()
            with open(HERE / "io_usage.log", "a") as log:
                log.write("".join(block.lines))
            while not stop_event.is_set():
                with engine.connect() as conn:
                    if (latest_block_epoch(conn) or 0) >= epoch:
                        record.lags.append(time.monotonic() - appended)
                        break
                time.sleep(0.05)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


# -- the runs --------------------------------------------------------------------------------------------------

API_PATHS = ("stats", "users", "machines", "usage/user/{user}", "usage/machine/{machine}", "usage/time", "usage/size")


def api_mix(base: str, token: str, rng: random.Random) -> list[str]:
    """The seven endpoints on a mix of filters (the ranges and selections an admin uses)."""
    headers = {"Authorization": f"Bearer {token}"}

    def get(path: str) -> dict:
        response = requests.get(f"{base}/api/{path}", headers=headers, timeout=60)
        if response.status_code != 200:
            raise SystemExit(f"loadtest: /api/{path} answered {response.status_code}: {response.text[:200]}")
        return response.json()

    users, machines = get("users?limit=20")["users"], get("machines?limit=5")["machines"]
    end = get("stats")["range"]["end_epoch"]
    # Filters the asker may use: a role of one of their own users (a scoped user knows no other role).
    filters = ["", f"start={end - 7 * 86400}", f"start={end - 30 * 86400}", "direction=rd",
               f"role={users[0]['role']}", f"user={users[0]['user']}", f"machine={machines[0]['machine']}",
               "size=4K"]  # fmt: skip
    urls = []
    for path in API_PATHS:
        for f in filters:
            filled = path.format(user=rng.choice(users)["user"], machine=rng.choice(machines)["machine"])
            extra = "&group_by=user" if path == "usage/time" and rng.random() < 0.5 else ""
            urls.append(f"{base}/api/{filled}?{f}{extra}")
    rng.shuffle(urls)
    return urls


def timed_get(session: requests.Session, url: str, record: Record, kind: str, etags: dict | None = None) -> None:
    headers = {"If-None-Match": etags[url]} if etags is not None and url in etags else {}
    started = time.perf_counter()
    try:
        response = session.get(url, headers=headers, timeout=60)
        record.add(kind, (time.perf_counter() - started) * 1000)
        if response.status_code not in (200, 304):
            record.error(f"{kind} {url}: {response.status_code}")
        elif etags is not None and response.headers.get("ETag"):
            etags[url] = response.headers["ETag"]
    except requests.RequestException as exc:
        record.error(f"{kind} {url}: {exc}")


def working_day(base: str, url: str, seconds: float, record: Record) -> None:
    specs = callback_specs(base, "staff0", PASSWORD)
    stop_event = threading.Event()
    sessions = [DashSession(base, f"user{i:02d}", PASSWORD, specs, record) for i in range(45)]
    sessions += [DashSession(base, f"staff{i}", PASSWORD, specs, record) for i in range(5)]
    with ThreadPoolExecutor(8) as pool:  # sign in and load the pages (argon2: a few at a time)
        list(pool.map(lambda s: s.open(), sessions))
    rng = random.Random(5)
    threads = [threading.Thread(target=s.live, args=(REFRESH, rng.uniform(0, REFRESH), stop_event), daemon=True)
               for s in sessions]  # fmt: skip
    for s in sessions[40:45]:  # three users and two staff interact
        threads.append(threading.Thread(target=s.interact, args=(views_for(s), 5.0, stop_event), daemon=True))
    scripts = [(token_for(url, "ops"), "api admin"), (token_for(url, "user00"), "api user")]
    for token, kind in scripts:
        urls = api_mix(base, token, random.Random(kind))
        threads.append(threading.Thread(target=poll_api, args=(urls, token, kind, record, stop_event), daemon=True))
    follower = append_hours(url, stop_event, record)
    for t in threads:
        t.start()
    stop_event.wait(seconds)
    stop_event.set()
    for t in [*threads, follower]:
        t.join(timeout=120)


def poll_api(urls: list[str], token: str, kind: str, record: Record, stop_event: threading.Event) -> None:
    session, etags = requests.Session(), {}
    session.headers["Authorization"] = f"Bearer {token}"
    i = 0
    while not stop_event.wait(1.0):
        timed_get(session, urls[i % len(urls)], record, kind, etags)
        i += 1


def saturation(base: str, url: str, levels: list[int], seconds: float) -> list[tuple[int, float, Record]]:
    token = token_for(url, "ops")
    urls = api_mix(base, token, random.Random(1))
    results = []
    stop_hours = threading.Event()
    follower = append_hours(url, stop_hours, Record())
    for clients in levels:
        record, stop_event = Record(), threading.Event()

        def loop(offset: int, record: Record = record, stop_event: threading.Event = stop_event) -> None:
            session = requests.Session()
            session.headers["Authorization"] = f"Bearer {token}"
            i = offset
            while not stop_event.is_set():
                timed_get(session, urls[i % len(urls)], record, "api")
                i += 1

        threads = [threading.Thread(target=loop, args=(i * 7,), daemon=True) for i in range(min(clients, MAX_CLIENTS))]
        started = time.monotonic()
        for t in threads:
            t.start()
        stop_event.wait(seconds)
        stop_event.set()
        for t in threads:
            t.join(timeout=120)
        rate = len(record.times.get("api", [])) / (time.monotonic() - started)
        results.append((clients, rate, record))
        report_line(f"{clients} clients", record.times.get("api", []), f"{rate:.0f} requests/s, "
                    f"{len(record.errors)} errors")  # fmt: skip
        if pct(record.times.get("api", []), 0.95) > 1000:
            break
    stop_hours.set()
    follower.join(timeout=60)
    return results


def report_line(label: str, values: list[float], extra: str = "") -> None:
    print(f"  {label:<28} n={len(values):>6}  p50 {pct(values, .5):7.0f} ms  p95 {pct(values, .95):7.0f} ms  "
          f"p99 {pct(values, .99):7.0f} ms  {extra}", flush=True)  # fmt: skip


def with_server(body: Callable[[str, str], None], code: Path = ROOT, auth: str = "local") -> None:
    from tests.browser import free_port

    url = restore()
    port = free_port()
    server = start_gunicorn(url, port, code, auth)
    follower = start_follower(url)
    try:
        body(f"http://127.0.0.1:{port}", url)
    finally:
        stop(follower)
        stop(server)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", choices=("day", "saturation", "both"), default="both")
    parser.add_argument("--seconds", type=float, default=120, help="length of the working day (and of each level/4)")
    parser.add_argument("--levels", default="25,50,100,150,200,300", help="saturation: client counts, in order")
    parser.add_argument("--code", type=Path, default=ROOT, help="saturation: run gunicorn from this checkout")
    parser.add_argument("--auth", default="local", help="saturation: the server's CLUSTERDASH_AUTH")
    args = parser.parse_args()
    seconds = min(args.seconds, MAX_SECONDS)
    prepare()
    if args.run in ("day", "both"):
        record = Record()
        print(f"\na working day ({seconds:.0f} s): 50 sessions, 5 interacting every 5 s, 2 API scripts, an hour "
              f"every {HOUR_EVERY:g} s", flush=True)  # fmt: skip
        with_server(lambda base, url: working_day(base, url, seconds, record))
        for kind in ("interaction", "redraw", "refresh check", "api admin", "api user", "page load"):
            report_line(kind, record.times.get(kind, []))
        lags = record.lags
        print(f"  errors: {len(record.errors)} {record.errors[:3]}")
        print(f"  follower: {len(lags)} hours stored, lag median {statistics.median(lags or [0]):.2f} s, "
              f"max {max(lags or [0]):.2f} s", flush=True)  # fmt: skip
    if args.run == "both":
        # Each run in a process of its own, as each was measured: after a working day in this process, the
        # saturation server once refused the token made for it (401), a state left by the first run.
        command = [sys.executable, __file__, "--run", "saturation", "--seconds", str(args.seconds)]
        command += ["--levels", args.levels, "--code", str(args.code), "--auth", args.auth]
        raise SystemExit(subprocess.run(command, check=False).returncode)
    if args.run == "saturation":
        levels = [min(int(n), MAX_CLIENTS) for n in args.levels.split(",")]
        print(f"\nsaturation: a closed loop over the seven API endpoints, signed in (a token), {seconds / 4:.0f} s "
              "a level, the follower running", flush=True)  # fmt: skip
        print(f"  server: {args.code}, auth {args.auth}", flush=True)
        with_server(lambda base, url: saturation(base, url, levels, seconds / 4), args.code, args.auth)


if __name__ == "__main__":
    main()

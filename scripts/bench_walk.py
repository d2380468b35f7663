"""The incident walk (issue 16) timed in a real browser on a year of data: each action's time to settle.

    python scripts/bench_walk.py                       # SQLite: a year of demo data in bench-data/ (built once)
    python scripts/bench_walk.py --runs 5
    python scripts/bench_walk.py --db postgresql+psycopg://postgres@127.0.0.1:5432/bench

The year is built as scripts/bench_queries.py builds it (the same demo log, rollups in Europe/Zurich) and reused.
The real app is served from this process (scripts/screenshots.py's threaded werkzeug server) and driven
by headless Chromium through tests/walk.py, the walk the browser test makes: from the default view, drag 12:00 to
18:00 of the day before the newest data across the time chart, click the busiest user there who used two
machines, click that user's busiest machine, shift-click the second. Each action is timed in the page from its
mouse-up until every callback it caused has been answered and drawn (tests/walk.py says exactly how). Before
each run the panels' query cache is emptied, so every run asks the database as the first admin of the day does.
Target: each action settles in <= 1 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

TARGET_MS = 1000.0
DAYS = 365


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="database to walk (default: a year of demo data in bench-data/, built once)")
    parser.add_argument("--runs", type=int, default=3, help="walks, each on a fresh page with an empty query cache")
    args = parser.parse_args()

    import logging

    import bench_queries
    from screenshots import serve, settle
    from selenium import webdriver

    from clusterdash.db import query
    from clusterdash.db.engine import make_engine
    from clusterdash.web import panels
    from tests.browser import chrome_options
    from tests.walk import Walker, choose_subjects, yesterday_afternoon

    zone = bench_queries.ZONE
    url = args.db or f"sqlite:///{bench_queries.DATA / f'bench-{DAYS}d.db'}"
    if args.db is None:
        bench_queries.DATA.mkdir(exist_ok=True)
        bench_queries.build(url, DAYS)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
    base, server = serve(url, zone)
    engine = make_engine(url)
    with engine.connect() as conn:
        facts = query.database_stats(conn)
        latest = query.latest_block_epoch(conn)
    start, end = yesterday_afternoon(latest, zone)
    user, machine_y, machine_z = choose_subjects(engine, int(start.timestamp()), int(end.timestamp()), zone)
    print(
        f"database: {facts['blocks']:,} hours ({facts['first']} .. {facts['last']}), {facts['rows']:,} histogram "
        f"rows; zone {zone}\nthe walk: {start:%Y-%m-%d %H:%M} – {end:%H:%M}, user {user}, machines {machine_y} "
        f"and {machine_z}\n"
    )

    driver = webdriver.Chrome(options=chrome_options())
    runs: list[list] = []
    try:
        for _ in range(args.runs):
            panels.clear_cache()
            driver.get("about:blank")
            driver.get(base + "/")
            settle(driver)  # the default view drawn
            walker = Walker(driver)
            walker.drag_hours("series-graph", f"{start:%Y-%m-%d %H:%M}", f"{end:%Y-%m-%d %H:%M}")
            walker.click_bar("users-graph", user)
            walker.click_bar("machines-graph", machine_y)
            walker.click_bar("machines-graph", machine_z, add=True)
            runs.append(walker.steps)
            expected = f"user={user}&machine={machine_y}&machine={machine_z}"
            if not driver.current_url.endswith(expected):
                raise SystemExit(f"the walk ended elsewhere: {driver.current_url}")
    finally:
        driver.quit()
        server.shutdown()

    print(f"{'action':<52} " + " ".join(f"{'run ' + str(i + 1):>7}" for i in range(len(runs))) + "   median  requests")
    worst = 0.0
    for index, step in enumerate(runs[0]):
        times = [run[index].settle_ms for run in runs]
        median = statistics.median(times)
        worst = max(worst, median)
        cells = " ".join(f"{t:7.0f}" for t in times)
        flag = "" if median <= TARGET_MS else "  <-- over target"
        print(f"{step.action[:52]:<52} {cells}  {median:7.0f}  {step.requests:8d}{flag}")
    print(
        f"\nslowest action (median): {worst:.0f} ms (target {TARGET_MS:.0f} ms); load average "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (a busy machine inflates every figure)"
    )
    return 0 if worst <= TARGET_MS else 1


if __name__ == "__main__":
    sys.exit(main())

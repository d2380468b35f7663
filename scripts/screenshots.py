"""Regenerate the README's dashboard screenshots into docs/screenshots/ from the real app in headless Chromium.

    python scripts/screenshots.py                  # a fresh 30-day demo database, seed 0
    python scripts/screenshots.py --db sqlite:///data/clusterdash.db --out /tmp/shots

Every state is opened by URL (the dashboard keeps its whole view in the query string), so the
pictures show exactly what those links show. Needs chromium and chromedriver (scripts/setup.sh --test).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WIDTH = 1280


def demo_database(folder: Path) -> str:
    from clusterdash import config
    from clusterdash.alerts.service import DEMO_RULES, Alerting, setup_from_settings
    from clusterdash.db.engine import make_engine
    from clusterdash.db.setup import prepare_database
    from clusterdash.ingest.demo import ingest_demo

    url = f"sqlite:///{folder / 'demo.db'}"
    engine = make_engine(url)
    prepare_database(engine, "UTC")
    # The demo's rules judged as its hours are stored, as `serve --demo` does, so the alerts panel has alerts.
    alerting = Alerting(engine, setup_from_settings(config.from_environment(alerts=str(DEMO_RULES), tz="UTC")))
    ingest_demo(engine, folder / "io_usage.log", days=30, seed=0, after_commit=alerting.after_commit)
    engine.dispose()
    return url


def serve(db_url: str, tz: str) -> tuple[str, object]:
    """The app in a background thread on a free port; returns (base URL, server)."""
    from werkzeug.serving import make_server

    from clusterdash.alerts.service import DEMO_RULES
    from clusterdash.web.app import create_app

    app = create_app({"db": db_url, "tz": tz, "refresh": 3600, "alerts": str(DEMO_RULES)})
    server = make_server("127.0.0.1", 0, app.server, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_port}", server


def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options

    options = Options()
    for argument in (
        "--headless=new",
        f"--window-size={WIDTH},1000",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
    ):
        options.add_argument(argument)
    binary = next((shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)
    if binary:
        options.binary_location = binary
    return webdriver.Chrome(options=options)


def settle(driver, timeout: float = 30) -> None:
    """Until the panels have drawn and no callback is pending, then a moment for plotly's transitions."""
    deadline = time.monotonic() + timeout
    script = (
        "return document.readyState === 'complete' && !!document.querySelector('._dash-loading') === false && "
        "document.querySelectorAll('[data-dash-is-loading=\"true\"]').length === 0 && "
        "(document.querySelectorAll('.js-plotly-plot').length >= 6 || !!document.querySelector('.empty-card'));"
    )
    while time.monotonic() < deadline and not driver.execute_script(script):
        time.sleep(0.2)
    time.sleep(1.0)


def shoot(driver, url: str, path: Path, full_page: bool = True) -> None:
    driver.set_window_size(WIDTH, 1000)
    driver.get(url)
    settle(driver)
    if full_page:
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(WIDTH, min(int(height), 5000))
        settle(driver, 5)
    driver.save_screenshot(str(path))
    print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


def incident_path(db_url: str, tz: str) -> str:
    """Where the incident walk ends (tests/walk.py): 12:00 to 18:00 the day before the newest data, its busiest
    user with two machines, on those two machines."""
    from clusterdash.db import query
    from clusterdash.db.engine import make_engine
    from clusterdash.web import interactions, state
    from tests.walk import choose_subjects, yesterday_afternoon

    engine = make_engine(db_url)
    with engine.connect() as conn:
        start, end = yesterday_afternoon(query.latest_block_epoch(conn), tz)
    first, last = int(start.timestamp()), int(end.timestamp())
    user, machine_y, machine_z = choose_subjects(engine, first, last, tz)
    engine.dispose()
    view = state.View(tz=tz, users=(user,), machines=(machine_y, machine_z)).with_range(first, last)
    return "".join(interactions.url_for(view, state.View(tz=tz)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="database to show (default: a fresh 30-day demo)")
    parser.add_argument("--tz", default="Europe/Zurich", help="display time zone")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    from clusterdash.db import query
    from clusterdash.db.engine import make_engine
    from clusterdash.db.filters import Filters

    with tempfile.TemporaryDirectory() as scratch:
        db_url = args.db or demo_database(Path(scratch))
        with make_engine(db_url).connect() as conn:
            latest = query.latest_block_epoch(conn)
            top = query.users_table(conn, Filters(start=latest - 7 * 86400), limit=1)[0]["user"]
            machine = query.machines_table(conn, Filters(start=latest - 7 * 86400), limit=1)[0]
        base, server = serve(db_url, args.tz)
        empty_base, empty_server = serve(f"sqlite:///{Path(scratch) / 'empty.db'}", args.tz)
        driver = browser()
        try:
            shoot(driver, f"{base}/", args.out / "overview.png")
            shoot(driver, f"{base}/?user={top}", args.out / "user-selected.png")
            shoot(driver, f"{base}/user/{top}?range=30d", args.out / "user-profile.png")
            shoot(
                driver,
                f"{base}/?range=30d&metric=bytes&group_by=machine&machine_type={machine['machine_type']}&size=1M",
                args.out / "machine-type-bytes.png",
            )
            shoot(driver, f"{base}{incident_path(db_url, args.tz)}", args.out / "incident-window.png", full_page=False)
            shoot(driver, f"{empty_base}/", args.out / "empty-database.png", full_page=False)
        finally:
            driver.quit()
            server.shutdown()
            empty_server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())

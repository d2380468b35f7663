"""Browser-test support for the dashboard: Chrome options, a fail-fast setup check, demo databases, page helpers.

dash[testing]'s `dash_duo` drives headless Chromium (run pytest with --headless). Without chromium,
chromedriver or a display it would fail only after a 30 s timeout with a vague message; `dashboard`
checks first and fails at once, saying what is missing. The Chrome options come from the
`pytest_setup_options` hook in tests/conftest.py, which calls `chrome_options` here.

Offline check, twice over: Chrome resolves every host except the test server's to "not found"
(so a request elsewhere fails and logs a console error), and `outside_requests` lists every
resource the page loaded that is not on the server's host (the browser's resource timing).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest

from tests.waiting import POLL_SECONDS

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "chrome")


def chromium_binary() -> str | None:
    return next((path for path in map(shutil.which, CHROMIUM_CANDIDATES) if path), None)


def chrome_options():
    from selenium.webdriver.chrome.options import Options

    options = Options()
    for argument in (
        "--headless=new",
        "--window-size=1280,1024",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
    ):
        options.add_argument(argument)
    binary = chromium_binary()
    if binary:
        options.binary_location = binary
    return options


def check_browser_setup(config) -> None:
    """Fail now, clearly, rather than after dash_duo's 30 s timeout."""
    missing = []
    if not chromium_binary():
        missing.append("a Chromium browser (apt-get install -y chromium)")
    if not shutil.which("chromedriver"):
        missing.append("chromedriver on PATH (apt-get install -y chromium-driver)")
    try:
        config.getoption("headless")
    except ValueError:
        missing.append('dash[testing] (pip install "dash[testing]")')
    else:
        if not config.getoption("headless") and not os.environ.get("DISPLAY"):
            missing.append("--headless (there is no display)")
    if missing:
        pytest.fail(
            "browser tests need " + "; ".join(missing) + " — or run `bash scripts/test.sh`, which installs them",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def demo_db_url(tmp_path_factory) -> str:
    """Two weeks of synthetic log, ingested once per test session."""
    from clusterdash.db.engine import make_engine
    from clusterdash.db.setup import prepare_database
    from clusterdash.ingest.demo import ingest_demo

    folder = tmp_path_factory.mktemp("dashboard-demo")
    url = f"sqlite:///{folder / 'demo.db'}"
    engine = make_engine(url)
    prepare_database(engine, "UTC")
    ingest_demo(engine, folder / "io_usage.log", days=14, seed=3)
    engine.dispose()
    return url


@pytest.fixture
def dashboard(request):
    """dash_duo, after checking the browser setup; the page is opened by `open_dashboard`."""
    check_browser_setup(request.config)
    return request.getfixturevalue("dash_duo")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def open_dashboard(duo, db_url: str, path: str = "/", **settings):
    """Start the app on `db_url` in dash_duo's thread server and open `path`; waits for the panels."""
    from clusterdash.web.app import create_app

    app = create_app({"db": db_url, "refresh": 3600, **settings})
    duo.start_server(app, port=free_port())  # not Dash's fixed 8050: test runs can overlap
    if path != "/":
        duo.driver.get(duo.server_url + path)
    return app


def wait_for_panels(duo, timeout: float = 20) -> None:
    """Until every graph has drawn (a plot, or the no-data message) and no callback is pending."""
    duo.wait_for_element("#users-graph .main-svg", timeout=timeout)
    wait_until(
        duo,
        lambda: duo.driver.execute_script(
            "return document.querySelectorAll('[data-dash-is-loading=\"true\"]').length === 0 && "
            "document.querySelectorAll('.js-plotly-plot').length >= 6"
        ),
        timeout,
        "panels to finish drawing",
    )


def wait_until(duo, condition, timeout: float = 15, what: str = "condition"):
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            value = condition()
            if value:
                return value
        except Exception as exc:  # noqa: BLE001 - the page may be mid-render
            last_error = exc
        time.sleep(POLL_SECONDS)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}" + (f" ({last_error})" if last_error else ""))


def figure_data(duo, graph_id: str) -> list[dict]:
    """The traces a graph currently draws, as plotly holds them in the page."""
    script = (
        "var gd = document.querySelector('#' + arguments[0] + ' .js-plotly-plot');"
        "return gd && gd.data ? JSON.stringify(gd.data.map(function (t) {"
        "  return {name: t.name, x: t.x, y: t.y, z: t.z, customdata: t.customdata}; })) : null;"
    )
    text = duo.driver.execute_script(script, graph_id)
    return json.loads(text) if text else []


def page_text(duo, selector: str) -> str:
    return duo.driver.execute_script(
        "var e = document.querySelector(arguments[0]); return e ? e.innerText : '';", selector
    )


def outside_requests(duo) -> list[str]:
    """Every resource the page loaded that is not on the test server's host."""
    host = urlparse(duo.server_url).netloc
    urls = duo.driver.execute_script(
        "return [location.href].concat(performance.getEntriesByType('resource').map(function (e) { return e.name; }));"
    )
    return [url for url in urls if urlparse(url).netloc != host and not url.startswith(("data:", "blob:"))]


def screenshot(duo, name: str, full_page: bool = True) -> Path:
    """Save test-artifacts/<name>.png; full_page grows the window to the page's height first."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    driver = duo.driver
    size = driver.get_window_size()
    if full_page:
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(size["width"], max(size["height"], min(int(height) + 20, 6000)))
        # plotly re-lays out responsive graphs on resize: wait until no component is loading
        wait_until(
            duo,
            lambda: driver.execute_script(
                "return document.querySelectorAll('[data-dash-is-loading=\"true\"]').length === 0"
            ),
            10,
            "the page to settle after resizing",
        )
    driver.save_screenshot(str(path))
    if full_page:
        driver.set_window_size(size["width"], size["height"])
    return path

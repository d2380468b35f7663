"""Signing in through the page in a real headless Chromium, with local accounts and against a real slapd; what a
scoped user's browser receives holds no other username: not the page's text and markup, not the JSON of any
callback answer, not the CSV download. The page runs under the Content-Security-Policy with a clean console."""

from __future__ import annotations

import json
import threading

import pytest

from clusterdash.db import query
from clusterdash.db.engine import make_engine
from clusterdash.db.filters import Filters
from clusterdash.web.app import create_app
from tests.authtools import PASSWORD, add_account, forget_accounts, names_found
from tests.browser import free_port, page_text, wait_for_panels, wait_until
from tests.ldapserver import ALICE

pytestmark = pytest.mark.browser


@pytest.fixture
def site(demo_db_url):
    engine = make_engine(demo_db_url)
    forget_accounts(engine)
    with engine.connect() as conn:
        everyone = [r["user"] for r in query.users_table(conn, Filters())]
    yield demo_db_url, engine, everyone
    forget_accounts(engine)
    engine.dispose()


def start(duo, url: str, **settings):
    """The real app on dash_duo's server, every callback answer recorded as the browser received it."""
    app = create_app({"db": url, "refresh": 3600, **settings})
    answers: list[str] = []
    lock = threading.Lock()

    @app.server.after_request
    def record(response):
        if response.mimetype == "application/json" and not response.direct_passthrough:
            with lock:
                answers.append(response.get_data(as_text=True))
        return response

    duo.start_server(app, navigate=False, port=free_port())
    return app, answers


def sign_in_through_the_page(duo, login: str, password: str) -> None:
    driver = duo.driver
    driver.get(duo.server.url + "/")
    wait_until(duo, lambda: "/sign-in" in driver.current_url, 15, "the sign-in page")
    assert driver.find_element("css selector", "h1").text == "Sign in"
    driver.find_element("id", "login").send_keys(login)
    driver.find_element("id", "password").send_keys(password)
    driver.find_element("id", "sign-in").click()
    wait_for_panels(duo)


def download(answer) -> bool:
    """Whether a recorded answer is the CSV download's."""
    return isinstance(answer, dict) and "table-download" in answer.get("response", {})


def page_markup(duo) -> str:
    """Everything the page holds: its markup (SVG text and attributes included) and the charts' data."""
    return duo.driver.execute_script(
        "return document.documentElement.outerHTML + JSON.stringify("
        "Array.from(document.querySelectorAll('.js-plotly-plot')).map(function (g) { return g.data; }));"
    )


def test_a_local_user_signs_in_and_the_browser_receives_nothing_of_anyone_else(dashboard, site):
    url, engine, everyone = site
    me = everyone[3]
    add_account(engine, "reader", "user", [me])
    _, answers = start(dashboard, url, auth="local")
    sign_in_through_the_page(dashboard, "reader", PASSWORD)
    assert "reader" in page_text(dashboard, "#nav-signed-in") and "Sign out" in page_text(dashboard, "#nav-signed-in")
    assert "your share" in page_text(dashboard, "#headline-share").lower()
    button = dashboard.driver.find_element("id", "table-csv-button")
    dashboard.driver.execute_script("arguments[0].scrollIntoView({block: 'center'}); arguments[0].click();", button)
    wait_until(dashboard, lambda: any(download(json.loads(a)) for a in answers), 15, "the CSV download")
    # Someone else's profile page answers like a user that does not exist.
    dashboard.driver.get(dashboard.server.url + f"/user/{everyone[0]}")
    wait_for_panels(dashboard)
    wait_until(dashboard, lambda: "No user named" in page_text(dashboard, "#profile-card"), 15, "the profile card")
    others = set(everyone) - {me}
    assert not names_found(page_markup(dashboard), others - {everyone[0]})
    received = "\n".join(answers)
    assert me in received and not names_found(received, others - {everyone[0]})
    csv_text = next(d["response"]["table-download"]["data"]["content"] for d in map(json.loads, answers) if download(d))
    assert {line.split(",")[0] for line in csv_text.splitlines()[1:]} == {me}
    assert dashboard.get_logs() == [], "browser console errors (the Content-Security-Policy refused something?)"
    loaded = dashboard.driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert loaded and all(u.startswith(dashboard.server.url) for u in loaded)  # nothing from elsewhere
    dashboard.driver.execute_script("window.scrollTo(0, 0);")
    dashboard.driver.find_element("id", "sign-out").click()
    wait_until(dashboard, lambda: "/sign-in" in dashboard.driver.current_url, 15, "the sign-in page after signing out")


def test_a_directory_user_signs_in_through_the_page(dashboard, site, ldap_server):
    url, engine, everyone = site
    add_account(engine, "alice", "user", everyone[5:7], password=None)
    start(
        dashboard,
        url,
        auth="ldap",
        ldap_url=ldap_server.ldaps_url,
        ldap_ca_file=str(ldap_server.ca_file),
        ldap_user_dn=ldap_server.user_dn_template,
    )
    sign_in_through_the_page(dashboard, ALICE.login, ALICE.password)
    assert ALICE.display_name in page_text(dashboard, "#nav-signed-in")
    drawn = json.loads(
        dashboard.driver.execute_script(
            "return JSON.stringify(document.querySelector('#users-graph .js-plotly-plot').data[0].customdata)"
        )
    )
    assert sorted(drawn) == sorted(everyone[5:7])
    assert dashboard.get_logs() == []

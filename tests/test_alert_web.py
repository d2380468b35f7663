"""Where people see alerts, on both backends: GET /api/alerts with the common filters (and its OpenAPI schema), the
/alerts page with the rules read-only, the dashboard's alerts panel, the marks on the series chart, and the access
scope (a signed-in user sees only the alerts about themselves)."""

from __future__ import annotations

import json

import jsonschema
import pytest

from clusterdash.alerts.rulefile import RuleFileError
from clusterdash.db.filters import Filters
from clusterdash.db.query import alert_list
from clusterdash.web import panels
from clusterdash.web.state import View
from tests.alerttools import BASE, evaluate_log, heavy_rule, merged, reads, rule_file
from tests.authtools import add_account, auth_app, forget_accounts, sign_in

HOUR = 3600
RULES = (
    heavy_rule(direction="rd")
    + """
    [[rule]]
    name = "busy-machine"
    subject = "machine"
    measure = "operations"
    above = 3000
    severity = "critical"
"""
)
HOSTILE = "<b>x</b>"


@pytest.fixture
def alerting_app(engine, db_url, tmp_path):
    """The app over a database where alerts fired: bob and tik01 at BASE (bob's resolved an hour later, tik01's
    holding again at BASE + 2 h, within its cooldown), the hostile name and carl at BASE + 2 h."""
    from clusterdash.alerts.rulefile import load_rules
    from clusterdash.web.app import create_app

    path = rule_file(tmp_path, RULES)
    hours = {
        BASE: reads("bob", 5000),
        BASE + HOUR: reads("bob", 10),
        BASE + 2 * HOUR: merged(reads(HOSTILE, 2000), reads("carl", 2000)),
    }
    evaluate_log(engine, tmp_path, load_rules(path), hours)
    return create_app({"db": db_url, "tz": "UTC", "refresh": 3600, "alerts": str(path)})


def test_api_alerts_takes_the_common_filters_and_matches_its_schema(alerting_app):
    client = alerting_app.server.test_client()
    schema = client.get("/api/openapi.json").get_json()["paths"]["/api/alerts"]["get"]["responses"]
    everything = client.get("/api/alerts").get_json()
    for query, keys in [
        ("", ["busy-machine/machine=tik01", "heavy/user=%3Cb%3Ex%3C%2Fb%3E", "heavy/user=carl", "heavy/user=bob"]),
        ("?state=resolved", ["heavy/user=bob"]),
        ("?user=bob", ["heavy/user=bob"]),
        ("?machine=tik01&severity=critical", ["busy-machine/machine=tik01"]),
        ("?rule=heavy&state=open", ["heavy/user=%3Cb%3Ex%3C%2Fb%3E", "heavy/user=carl"]),
        (
            f"?start={BASE + 2 * HOUR}",
            ["busy-machine/machine=tik01", "heavy/user=%3Cb%3Ex%3C%2Fb%3E", "heavy/user=carl"],
        ),
        (f"?end={BASE + HOUR}", ["busy-machine/machine=tik01", "heavy/user=bob"]),
        ("?limit=1", ["busy-machine/machine=tik01"]),
    ]:
        response = client.get("/api/alerts" + query)
        assert response.status_code == 200, query
        jsonschema.validate(response.get_json(), schema["200"]["content"]["application/json"]["schema"])
        assert sorted(a["key"] for a in response.get_json()["alerts"]) == sorted(keys), query
    bob = next(a for a in everything["alerts"] if a["key"] == "heavy/user=bob")
    assert bob["link"] == "/user/bob?start=2025-03-11T13:00Z&end=2025-03-12T14:00Z&direction=rd&group_by=machine&top=8"
    assert (bob["state"], bob["resolved"], bob["value"]) == ("resolved", "2025-03-12T14:00:00Z", 5000)
    assert [r["name"] for r in everything["rules"]] == ["heavy", "busy-machine"]
    for query, parameter in [
        ("?state=maybe", "state"),
        ("?severity=loud", "severity"),
        ("?limit=5000", "limit"),
        ("?format=csv", "format"),
        ("?rule=" + "x" * 100, "rule"),
        ("?start=yesterday", "start"),
    ]:
        response = client.get("/api/alerts" + query)
        assert response.status_code == 400 and response.get_json()["parameter"] == parameter, query
        jsonschema.validate(response.get_json(), schema["400"]["content"]["application/json"]["schema"])


def test_the_alerts_page_escapes_names_and_shows_the_rules_read_only(alerting_app):
    page = alerting_app.server.test_client().get("/alerts")
    body = page.get_data(as_text=True)
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert HOSTILE not in body and "user &lt;b&gt;x&lt;/b&gt;" in body
    assert "Open (3)" in body and "Recent (1)" in body
    assert (
        "href='/user/bob?start=2025-03-11T13:00Z&amp;end=2025-03-12T14:00Z&amp;direction=rd&amp;group_by=machine&amp;top=8'"
        in body
    )
    assert "a user&#x27;s read operations in one hour above 1,000" in body and "read-only" in body


def test_the_alerts_panel_lists_the_views_alerts_each_linked(alerting_app, engine):
    view = View(preset="custom", start=BASE, end=BASE + 3 * HOUR)
    panel = alerting_app.clusterdash_alerts.panel(engine, view)
    text = str(panel)
    assert "href='/machine/tik01?" in text.replace('"', "'") and "heavy: user carl" in text
    only_bob = alerting_app.clusterdash_alerts.panel(
        engine, View(preset="custom", start=BASE, end=BASE + 3 * HOUR, users=("bob",))
    )
    assert "heavy: user bob" in str(only_bob) and "carl" not in str(only_bob)


def test_the_series_chart_marks_the_hours_alerts_fired(alerting_app, engine):
    figure = panels.series(engine, View(preset="custom", start=BASE, end=BASE + 3 * HOUR))
    marks = figure["data"][-1]
    assert marks["name"] == "alerts" and len(marks["x"]) == 4
    assert marks["x"] == ["2025-03-12 13:30", "2025-03-12 13:30", "2025-03-12 15:30", "2025-03-12 15:30"]
    assert "heavy (warning)" in marks["hovertext"] and "&lt;" not in "".join(marks["hovertext"])


def test_a_signed_in_user_sees_only_the_alerts_about_themselves(alerting_app, engine):
    with engine.connect() as conn:
        assert [a["key"] for a in alert_list(conn, Filters(visible_users=("bob",)))] == ["heavy/user=bob"]
        assert alert_list(conn, Filters(visible_users=("nobody",))) == []
        assert len(alert_list(conn, Filters(visible_users=None))) == 4


def test_the_alerts_page_and_api_of_a_signed_in_user_hold_their_own_alerts_only(engine, db_url, tmp_path):
    """Signed in as a `user` mapped to bob: /alerts and /api/alerts name no other subject, no recipient address and
    no rule (rules name whom they exclude and tell); an admin sees all of them."""
    from clusterdash.alerts.rulefile import load_rules

    path = rule_file(tmp_path, RULES)
    hours = {BASE: merged(reads("bob", 5000), reads("carl", 5000))}
    evaluate_log(engine, tmp_path, load_rules(path), hours)
    forget_accounts(engine)
    add_account(engine, "bob", "user", ["bob"])
    add_account(engine, "root", "admin")
    app = auth_app(db_url, "local", tz="UTC", alerts=str(path))
    client, admin = app.server.test_client(), app.server.test_client()
    assert client.get("/alerts").status_code == 303 and client.get("/api/alerts").status_code == 401
    assert sign_in(client, "bob").status_code == 303 and sign_in(admin, "root").status_code == 303

    page = client.get("/alerts").get_data(as_text=True)
    document = client.get("/api/alerts").get_json()
    assert "user bob" in page and "carl" not in page and "tik01" not in page and "Rules" not in page
    assert [a["key"] for a in document["alerts"]] == ["heavy/user=bob"] and document["rules"] == []
    assert "carl" not in json.dumps(document)
    assert client.get("/api/alerts?user=carl").status_code == 400  # like a name nothing stored has

    everything = admin.get("/api/alerts").get_json()
    assert {a["key"] for a in everything["alerts"]} >= {"heavy/user=bob", "heavy/user=carl"}
    assert len(everything["rules"]) == 2 and "carl" in admin.get("/alerts").get_data(as_text=True)
    forget_accounts(engine)


def test_a_bad_rule_file_stops_the_app_factory(db_url, tmp_path):
    from clusterdash.web.app import create_app

    bad = rule_file(tmp_path, '[[rule]]\nname = "x"\nsubject = "user"\nmeasure = "ops"\nabove = 1\n')
    with pytest.raises(RuleFileError, match='rule "x": measure: must be one of operations'):
        create_app({"db": db_url, "alerts": str(bad)})

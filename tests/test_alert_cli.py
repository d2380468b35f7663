"""`clusterdash alerts check | list` and --alerts on ingest, through click's runner on both backends: an invalid
rule file is a clear error naming the rule and field before anything is ingested; the dry run prints what would
have fired; the list shows the state; the demo's default rules fire on the demo's data."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from clusterdash.alerts.service import DEMO_RULES, Alerting, setup_from_settings
from clusterdash.cli import cli
from clusterdash.config import from_environment
from clusterdash.db.schema import log_entries
from clusterdash.ingest.demo import ingest_demo
from tests.alerttools import BASE, heavy_rule, log_text, merged, reads, rule_file, stored_alerts

HOUR = 3600
RULES = heavy_rule(cooldown="1h")
BAD = """
    [[rule]]
    name = "heavy"
    subject = "user"
    measure = "operations"
    window = "3x"
    above = 1000

    [[rule]]
    name = "spread"
    subject = "machine"
    measure = "machines"
    above = 2
"""


def blocks(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(log_entries)).scalar()


@pytest.mark.parametrize("command", [["ingest"], ["serve"], ["alerts", "check"]])
def test_an_invalid_rule_file_is_a_clear_error_before_anything_is_read(run_cli, engine, tmp_path, command):
    log = tmp_path / "io_usage.log"
    log.write_text(log_text({BASE: reads("bob", 5000)}))
    args = [*command, "--alerts", str(rule_file(tmp_path, BAD))] + ([str(log)] if command == ["ingest"] else [])
    result = run_cli(*args)
    assert result.exit_code == 1 and "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert "rules.toml: rule \"heavy\": window: cannot read '3x' as a duration" in lines[0]
    assert 'rules.toml: rule "spread": measure: machines counts the machines a user is active on' in lines[1]
    assert blocks(engine) == 0  # nothing was ingested


def test_an_unusable_alert_setting_is_named(run_cli, tmp_path, monkeypatch):
    monkeypatch.setenv("CLUSTERDASH_ALERTS_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("CLUSTERDASH_ALERTS_FROM", "clusterdash@example.edu")
    monkeypatch.setenv("CLUSTERDASH_ALERTS_SMTP_PORT", "smtp")
    result = run_cli("alerts", "check", "--alerts", str(rule_file(tmp_path, RULES)))
    assert result.exit_code == 1 and "alerts_smtp_port: must be a number from 1 to 65535 (got 'smtp')" in result.output


def test_ingest_judges_and_check_replays_and_list_shows(run_cli, engine, tmp_path):
    rules = rule_file(tmp_path, RULES)
    log = tmp_path / "io_usage.log"
    log.write_text(
        log_text({BASE: reads("bob", 5000), BASE + HOUR: reads("bob", 10), BASE + 3 * HOUR: reads("bob", 2000)})
    )
    result = run_cli("ingest", "--alerts", str(rules), "--settle", "0", str(log))
    assert result.exit_code == 0, result.output
    assert "alerts: 3 hour(s) judged, 2 alert(s) opened, 1 resolved" in result.output
    summary = json.loads(run_cli("ingest", "--json", "--alerts", str(rules), str(log)).output)
    assert summary["alerts"] == {"hours_judged": 0, "opened": 0, "resolved": 0, "failed_judgements": 0}

    check = run_cli("alerts", "check", "--alerts", str(rules), "--dry-run", "--since", "1d", "--tz", "UTC")
    assert check.exit_code == 0, check.output
    assert "heavy (warning): a user's operations in one hour above 1,000; cooldown 1h" in check.output
    assert "channels: none (alerts are recorded and shown, not sent)" in check.output
    assert "replayed 3 stored hour(s)" in check.output and "2 alert(s) would have fired" in check.output
    assert "2025-03-12 13:00 UTC  WARNING heavy: user bob: 5,000, 5.0x the threshold 1,000  (held 1 h)" in check.output
    replayed = json.loads(run_cli("alerts", "check", "--alerts", str(rules), "--dry-run", "--json").output)
    assert [(a["key"], a["fired"]) for a in replayed["dry_run"]["alerts"]] == [
        ("heavy/user=bob", "2025-03-12T13:00:00Z"),
        ("heavy/user=bob", "2025-03-12T16:00:00Z"),
    ]
    assert [(a.first_hour, a.state) for a in stored_alerts(engine)] == [(BASE, "resolved"), (BASE + 3 * HOUR, "open")]

    listed = run_cli("alerts", "list", "--tz", "UTC")
    assert listed.exit_code == 0
    assert listed.output.splitlines()[0].startswith("open     warning  heavy: user bob; fired 2025-03-12 16:00 UTC")
    assert "message off" in listed.output
    rows = json.loads(run_cli("alerts", "list", "--state", "resolved", "--json").output)
    assert [(r["key"], r["state"], r["deliveries"]) for r in rows] == [("heavy/user=bob", "resolved", [])]


def test_check_without_a_rule_file_says_how_to_give_one(run_cli):
    result = run_cli("alerts", "check")
    assert result.exit_code == 2 and "no rule file: give --alerts PATH or set CLUSTERDASH_ALERTS" in result.output


def test_every_alerts_command_has_help_with_an_example():
    for name in cli.commands["alerts"].commands:
        result = CliRunner().invoke(cli, ["alerts", name, "--help"])
        assert result.exit_code == 0 and "Example" in result.output, name


def test_the_demo_rules_fire_a_few_times_on_the_demo_data(engine, tmp_path):
    """What `serve --demo` shows a newcomer: its default rules fire on its month of data, more than one of them."""
    setup = setup_from_settings(from_environment({}, tz="UTC"), default_rules=DEMO_RULES)
    alerting = Alerting(engine, setup)
    ingest_demo(engine, tmp_path / "demo.log", days=30, seed=0, after_commit=alerting.after_commit)
    found = stored_alerts(engine)
    assert 3 <= len(found) <= 40, [a.key for a in found]
    assert len({a.rule for a in found}) >= 2
    assert {a.notify for a in found} == {"off"}  # no channel set up: shown, not sent


def test_reads_with_merged_entries_are_counted_once(engine, tmp_path):
    """Two entries of one user on two machines in one hour: the user's value is their sum."""
    from tests.alerttools import evaluate_log, rules

    evaluate_log(engine, tmp_path, rules(RULES), {BASE: merged(reads("bob", 600), reads("bob", 600, machine="tik02"))})
    [alert] = stored_alerts(engine)
    assert (alert.value, alert.machines) == (1200, ("tik01", "tik02"))

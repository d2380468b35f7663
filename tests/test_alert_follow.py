"""Alerts from the follower as a real process (`clusterdash ingest --follow --alerts ...`), on both backends, with a
real SMTP server in the test process: an hour that crosses a rule, appended to the followed log, is one message
within 5 s; a cooldown holds across a SIGKILL and a restart; two followers on one database send an alert once."""

from __future__ import annotations

import re
import time

from clusterdash.db.engine import make_engine
from clusterdash.db.periods import HOUR, floor_hour
from tests.alerttools import heavy_rule, hour_block, judged_hours, reads, rule_file, stored_alerts
from tests.followtools import Follower, append, wait_until
from tests.mailtools import Mailbox

ADMIN = "admin@example.edu"
RULES = heavy_rule(cooldown="2h")


def settings(smtp: Mailbox) -> dict[str, str]:
    return {
        "CLUSTERDASH_ALERTS_SMTP_HOST": "127.0.0.1",
        "CLUSTERDASH_ALERTS_SMTP_PORT": str(smtp.port),  # type: ignore[attr-defined]
        "CLUSTERDASH_ALERTS_FROM": "clusterdash@example.edu",
        "CLUSTERDASH_ALERTS_ADMINS": ADMIN,
        "CLUSTERDASH_ALERTS_BASE_URL": "http://dash.example.edu:8050",
    }


def recent_hours(count: int) -> list[int]:
    """`count` consecutive hours ending two hours ago: fresh, so their alerts are sent (alerts_max_age)."""
    last = floor_hour(int(time.time())) - 2 * HOUR
    return [last - (count - 1 - n) * HOUR for n in range(count)]


class Judged:
    """Waits until the follower's evaluation has judged an hour (its row in AlertHours)."""

    def __init__(self, url: str) -> None:
        self.engine = make_engine(url)

    def wait(self, hour: int, timeout: float = 20.0) -> None:
        wait_until(lambda: hour in _judged(self.engine), timeout, f"hour {hour} is judged")

    def close(self) -> None:
        self.engine.dispose()


def _judged(engine) -> set[int]:
    try:
        return set(judged_hours(engine))
    except Exception:  # noqa: BLE001 - the follower may not have created the tables yet
        return set()


def follower(db_url: str, log, tmp_path, smtp, name: str = "follower.log", verbose: bool = False) -> Follower:
    rules = rule_file(tmp_path, RULES)
    return Follower(
        db_url,
        log,
        tmp_path / name,
        poll=0.2,
        settle=0.3,
        verbose=verbose,
        args=("--alerts", str(rules)),
        env=settings(smtp),
    )


def blocks_taken(running: Follower) -> int:
    """Blocks the follower has taken so far, new or already stored (its log at debug level says so)."""
    return sum(int(n) for n in re.findall(r"took (\d+) block\(s\)", running.log()))


def test_an_hour_that_crosses_a_rule_is_one_message_within_five_seconds(db_url, tmp_path, smtp):
    hours = recent_hours(3)
    log = tmp_path / "io_usage.log"
    log.write_text(hour_block(hours[0], reads("bob", 10)))
    judged = Judged(db_url)
    running = follower(db_url, log, tmp_path, smtp)
    try:
        judged.wait(hours[0])
        appended = time.monotonic()
        append(log, hour_block(hours[1], reads("bob", 5000)))
        wait_until(lambda: smtp.to(ADMIN), 5.0, "the alert's message arrives at the SMTP server")
        latency = time.monotonic() - appended
        append(log, hour_block(hours[2], reads("bob", 7000)))  # it holds on: judged, updated, not sent again
        judged.wait(hours[2])
        running.check_alive()
    finally:
        running.stop()
        judged.close()
    [mail] = smtp.messages
    assert mail.rcpt_tos == [ADMIN] and mail.message["Subject"] == "[clusterdash] WARNING heavy: user bob"
    assert "http://dash.example.edu:8050/user/bob?start=" in mail.part("plain")
    assert latency < 5.0
    [alert] = stored_alerts(make_engine(db_url))
    assert (alert.value, alert.notify) == (7000, "sent")


def test_a_cooldown_holds_across_a_killed_and_restarted_follower(db_url, tmp_path, smtp):
    hours = recent_hours(7)
    heavy, quiet = reads("bob", 5000), reads("bob", 10)
    log = tmp_path / "io_usage.log"
    log.write_text(hour_block(hours[0], heavy))
    judged = Judged(db_url)
    first = follower(db_url, log, tmp_path, smtp)
    try:
        wait_until(lambda: smtp.to(ADMIN), 20, "the first alert is sent")
        append(log, hour_block(hours[1], quiet))  # resolved at hours[1]
        judged.wait(hours[1])
    finally:
        first.kill()  # SIGKILL: no goodbye
    second = follower(db_url, log, tmp_path, smtp, name="follower2.log")
    try:
        append(log, hour_block(hours[2], heavy))  # 1 h after the resolution, within the 2 h cooldown: not sent
        judged.wait(hours[2])
        append(log, hour_block(hours[3], quiet))  # resolved again at hours[3]
        judged.wait(hours[3])
        append(log, hour_block(hours[5], heavy))  # 2 h after it: a new alert
        wait_until(lambda: len(smtp.to(ADMIN)) == 2, 20, "the second alert is sent")
    finally:
        second.stop()
        judged.close()
    first_alert, second_alert = stored_alerts(make_engine(db_url))
    assert (first_alert.first_hour, first_alert.last_hour, first_alert.resolved_hour) == (hours[0], hours[2], hours[3])
    assert second_alert.first_hour == hours[5] and len(smtp.messages) == 2


def test_two_followers_on_one_database_send_an_alert_once(db_url, tmp_path, smtp):
    hours = recent_hours(3)
    log = tmp_path / "io_usage.log"
    log.write_text(hour_block(hours[0], reads("bob", 10)))
    judged = Judged(db_url)
    one = follower(db_url, log, tmp_path, smtp, name="one.log", verbose=True)
    two = follower(db_url, log, tmp_path, smtp, name="two.log", verbose=True)
    try:
        judged.wait(hours[0])
        append(log, hour_block(hours[1], reads("bob", 5000)) + hour_block(hours[2], reads("eve", 5000)))
        wait_until(lambda: len(smtp.to(ADMIN)) >= 2, 20, "both alerts are sent")
        for running in (one, two):  # both have read all three hours: one stored them, the other found them stored
            wait_until(lambda r=running: blocks_taken(r) >= 3, 20, lambda r=running: f"3 blocks taken:\n{r.log()}")
    finally:
        one.stop()  # each sends what is still pending on its way out: a duplicate would be sent here
        two.stop()
        judged.close()
    subjects = sorted(m.message["Subject"] for m in smtp.messages)
    assert subjects == ["[clusterdash] WARNING heavy: user bob", "[clusterdash] WARNING heavy: user eve"]
    assert {a.notify for a in stored_alerts(make_engine(db_url))} == {"sent"}

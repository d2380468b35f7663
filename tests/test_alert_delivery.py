"""Sending what the evaluation opened, on both backends, to real receivers (an SMTP server and an HTTP server in the
test process): each alert once, with its view's link; a channel that is down is retried, recorded, and the ingest
does not wait for it; two senders racing on one database send each alert once; a digest is one message per
recipient."""

from __future__ import annotations

import threading

from clusterdash.alerts.notify import EmailChannel, Notifier, Retry, UserAddresses, WebhookChannel
from clusterdash.alerts.service import Alerting, AlertSetup
from clusterdash.alerts.settings import Pacing
from clusterdash.db.engine import make_engine
from clusterdash.web.state import alert_view_in
from tests.alerttools import (
    BASE,
    deliveries,
    heavy_rule,
    hour_block,
    ingest_with,
    log_text,
    merged,
    reads,
    rules,
    stored_alerts,
)
from tests.followtools import wait_until
from tests.mailtools import DeadPort, SilentPort, WebhookReceiver

HOUR = 3600
ADMIN = "admin@example.edu"
BASE_URL = "https://dash.example.edu/"
NOW = BASE + 3 * HOUR  # the wall clock the tests run at: the hours are fresh
HEAVY = rules(heavy_rule(direction="rd", recipients="both"))


def email(port: int, timeout: float = 5.0) -> EmailChannel:
    return EmailChannel(
        host="127.0.0.1",
        port=port,
        sender="clusterdash@example.edu",
        admins=(ADMIN,),
        users=UserAddresses(template="{user}@example.edu"),
        timeout=timeout,
    )


def alerting(engine, notifier: Notifier, digest: int = 0, clock=lambda: NOW) -> Alerting:
    setup = AlertSetup(HEAVY, notifier, Pacing(digest=digest, max_age=24 * HOUR))
    return Alerting(engine, setup, view=alert_view_in("UTC"), clock=clock)


def ingest_hours(engine, tmp_path, target: Alerting, hours: dict) -> None:
    path = tmp_path / "io_usage.log"
    with open(path, "a") as f:
        f.write(log_text(hours))
    ingest_with(engine, path, target.evaluator)


def test_an_alert_is_sent_once_to_its_recipients_with_the_link_to_its_view(engine, tmp_path, smtp):
    target = alerting(engine, Notifier(email=email(smtp.port), base_url=BASE_URL))
    ingest_hours(engine, tmp_path, target, {BASE: merged(reads("bob", 5000), reads("alice", 10))})
    target.sender.send_due()
    assert sorted(m.rcpt_tos[0] for m in smtp.messages) == [ADMIN, "bob@example.edu"]
    mail = smtp.to(ADMIN)[0]
    assert mail.message["Subject"] == "[clusterdash] WARNING heavy: user bob"
    body = mail.part("plain")
    assert "5,000, 5.0x the threshold 1,000" in body and "tik01" in body
    link = "https://dash.example.edu/user/bob?start=2025-03-11T13%3A00Z&end=2025-03-12T14%3A00Z&direction=rd&group_by=machine&top=8"
    assert link in body
    [alert] = stored_alerts(engine)
    assert alert.notify == "sent" and alert.notified_by == target.sender.name
    assert sorted((d.channel, d.recipient, d.ok, d.attempts) for d in deliveries(engine)) == [
        ("email", ADMIN, True, 1),
        ("email", "bob@example.edu", True, 1),
    ]
    ingest_hours(engine, tmp_path, target, {BASE + HOUR: reads("bob", 6000)})  # it holds on: updated, not sent again
    target.sender.send_due()
    assert len(smtp.messages) == 2 and stored_alerts(engine)[0].value == 6000


def test_the_webhook_gets_the_alert_as_json(engine, tmp_path):
    with WebhookReceiver() as hook:
        target = alerting(engine, Notifier(webhook=WebhookChannel(hook.url + "/hook"), base_url=BASE_URL))
        ingest_hours(engine, tmp_path, target, {BASE: reads("bob", 5000)})
        target.sender.send_due()
        [post] = hook.posts
    data = post.json()
    assert data["alerts"][0]["key"] == "heavy/user=bob" and data["alerts"][0]["link"].startswith(BASE_URL + "user/bob?")
    assert data["text"].startswith("[clusterdash] WARNING heavy: user bob")


def test_a_channel_that_is_down_is_retried_recorded_and_the_ingest_does_not_wait(engine, tmp_path):
    silent = SilentPort()  # accepts, never answers: each try waits for its timeout
    try:
        notifier = Notifier(email=email(silent.port, timeout=1.5), retry=Retry((0.0, 0.0)))
        target = alerting(engine, notifier).start()
        ingest_hours(engine, tmp_path, target, {BASE: reads("bob", 5000)})
        wait_until(lambda: stored_alerts(engine)[0].notify == "sending", 10, "the sender claims the alert")
        # The sender is stuck on its first tries (3 x 1.5 s): the ingest goes on meanwhile.
        ingest_hours(engine, tmp_path, target, {BASE + HOUR: reads("bob", 10), BASE + 2 * HOUR: reads("carl", 9000)})
        assert stored_alerts(engine)[0].notify == "sending" and len(stored_alerts(engine)) == 2
        target.close()
    finally:
        silent.close()
    first, second = stored_alerts(engine)
    assert first.state == "resolved" and first.notify == "failed"
    tried = [d for d in deliveries(engine) if d.alert_id == first.id]
    assert {(d.ok, d.attempts) for d in tried if d.recipient == ADMIN} == {(False, 3)}
    assert "cannot reach 127.0.0.1" in tried[0].reason
    assert second.notify in ("failed", "sending")  # tried after the first, or not yet: never "sent"


def test_a_refused_connection_is_recorded_and_nothing_is_lost(engine, tmp_path):
    dead = DeadPort()
    try:
        target = alerting(engine, Notifier(email=email(dead.port), retry=Retry((0.0, 0.0))))
        ingest_hours(engine, tmp_path, target, {BASE: reads("bob", 5000), BASE + HOUR: reads("ann", 5000)})
        target.sender.send_due()
    finally:
        dead.close()
    assert [a.notify for a in stored_alerts(engine)] == ["failed", "failed"]
    rows = deliveries(engine)
    assert {d.ok for d in rows} == {False} and max(d.attempts for d in rows) == 3
    assert any(d.reason.startswith("not tried: ") for d in rows)  # the others, once the server was found down


def test_two_senders_racing_on_one_database_send_each_alert_once(engine, db_url, tmp_path, smtp):
    users = [f"user{n:02d}" for n in range(20)]
    first = alerting(engine, Notifier(email=email(smtp.port)))
    ingest_hours(engine, tmp_path, first, {BASE: merged(*(reads(u, 5000 + n) for n, u in enumerate(users)))})
    other_engine = make_engine(db_url)  # another connection pool, as another process would have
    second = alerting(other_engine, Notifier(email=email(smtp.port)))
    start = threading.Barrier(2)
    sent: dict[str, list] = {}

    def race(name: str, target: Alerting) -> None:
        start.wait()
        sent[name] = target.sender.send_due()

    threads = [threading.Thread(target=race, args=pair) for pair in (("one", first), ("two", second))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    other_engine.dispose()
    to_admin = [m.message["Subject"] for m in smtp.to(ADMIN)]
    assert sorted(to_admin) == sorted(f"[clusterdash] WARNING heavy: user {u}" for u in users)  # each once
    assert len(smtp.messages) == 2 * len(users)  # and once to each user
    assert {a.notify for a in stored_alerts(engine)} == {"sent"}
    assert len(deliveries(engine)) == 2 * len(users)


def test_a_digest_gathers_what_fired_into_one_message_per_recipient(engine, tmp_path, smtp):
    clock = [NOW]
    target = alerting(engine, Notifier(email=email(smtp.port)), digest=600, clock=lambda: clock[0])
    ingest_hours(engine, tmp_path, target, {BASE: merged(reads("bob", 5000), reads("ann", 7000))})
    clock[0] += 60
    ingest_hours(engine, tmp_path, target, {BASE + HOUR: merged(reads("bob", 5000), reads("cy", 3000))})
    assert target.sender.send_due() == [] and smtp.messages == []  # the oldest has waited 60 s of 600
    clock[0] += 540
    target.sender.send_due()
    [digest] = smtp.to(ADMIN)
    assert digest.message["Subject"].startswith("[clusterdash] 3 alerts (3 warning): WARNING heavy: user")
    assert sorted(m.rcpt_tos[0] for m in smtp.messages) == sorted(
        [ADMIN, "ann@example.edu", "bob@example.edu", "cy@example.edu"]
    )
    assert all(d.digest for d in deliveries(engine))


def test_what_is_pending_at_exit_is_sent_before_the_ingest_ends(engine, tmp_path, smtp):
    target = alerting(engine, Notifier(email=email(smtp.port))).start()
    path = tmp_path / "io_usage.log"
    path.write_text(hour_block(BASE, reads("bob", 5000)))
    ingest_with(engine, path, target.evaluator)
    target.close()  # what `clusterdash ingest` does when it is done
    assert len(smtp.to(ADMIN)) == 1 and stored_alerts(engine)[0].notify == "sent"

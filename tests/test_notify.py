"""Alert delivery against real receivers: an SMTP server (aiosmtpd) and an HTTP server in the test process.

Messages are checked for their content and recipients; a channel that is down is retried the stated number of times
and reported failed without raising; digests group per recipient; names from the log cannot add mail headers and are
escaped in HTML. Waits between retries go to an injected sleep, so no test waits for them.
"""

from __future__ import annotations

import json

import pytest

from clusterdash.alerts.messages import Alert, compose, one_line, view_link
from clusterdash.alerts.notify import Delivery, EmailChannel, Notifier, Retry, UserAddresses, WebhookChannel
from clusterdash.alerts.rules import Above, Baseline, Measure, Rule, Subject, Window
from clusterdash.alerts.settings import NAMES, flag, notifier_from_settings
from clusterdash.errors import BadParameter, InputError, UserError
from tests.mailtools import DeadPort, Mailbox, SilentPort, SMTPServer, WebhookReceiver

HOUR = 3600
LATEST = 1741784400  # 2025-03-12 13:00 UTC: 14:00 in Zurich (CET)
ADMINS = ("admin@example.edu", "ops@example.edu")
NOW = 1741790000.0

SMALL_READS = Rule(
    name="small-reads",
    subject="user",
    measure=Measure("small_operations", "rd"),
    condition=Above(1_000_000),
    window=Window(3, "sustained"),
    recipients="both",
    description="Many small reads from one user.",
)
SERVER_BYTES = Rule(
    name="server-bytes",
    subject="server",
    measure=Measure("bytes"),
    condition=Above(2**40),
    severity="critical",
)
SPIKE = Rule(
    name="spike",
    subject="user",
    measure=Measure("operations"),
    condition=Baseline(factor=5, floor=200_000),
    recipients="both",
    severity="info",
)
MACHINES = tuple(f"tikgpu{n:02d}" for n in range(1, 13))


def alert(user: str = "alice", rule: Rule = SMALL_READS, **changes) -> Alert:
    subject = Subject("server") if rule.subject == "server" else Subject("user", user=user)
    fields = dict(value=2_412_345, hour=LATEST, since=LATEST - 2 * HOUR, machines=MACHINES)
    if rule.subject == "user":
        fields.update(path=("user", user), query=[("user", user), ("dir", "rd")])
    return Alert(rule=rule, subject=subject, **{**fields, **changes})


@pytest.fixture
def webhook():
    with WebhookReceiver() as receiver:
        yield receiver


def email_channel(port: int, **changes) -> EmailChannel:
    fields = dict(
        host="127.0.0.1",
        port=port,
        sender="clusterdash@example.edu",
        admins=ADMINS,
        users=UserAddresses(template="{user}@example.edu"),
        timeout=5.0,
    )
    return EmailChannel(**{**fields, **changes})


def notifier(port: int | None = None, hook: str | None = None, **email_changes) -> Notifier:
    return Notifier(
        email=None if port is None else email_channel(port, **email_changes),
        webhook=None if hook is None else WebhookChannel(hook, timeout=5.0),
        base_url="https://dash.example.edu/cd/",
        tz="Europe/Zurich",
    )


def send(target: Notifier, alerts, digest=False):
    sleeps: list[float] = []
    deliveries = target.send(alerts, digest=digest, sleep=sleeps.append, clock=lambda: NOW)
    return deliveries, sleeps


def outcome(deliveries: list[Delivery]) -> list[tuple[str, str, str, int]]:
    return [(d.channel, d.recipient, d.status, d.attempts) for d in deliveries]


# --- content and recipients ---------------------------------------------------------------------------------------


def test_one_alert_mails_each_admin_and_the_subject_user_saying_what_who_where_how_much_since_and_where_to_look(smtp):
    deliveries, sleeps = send(notifier(smtp.port), [alert()])
    assert outcome(deliveries) == [
        ("email", "admin@example.edu", "delivered", 1),
        ("email", "ops@example.edu", "delivered", 1),
        ("email", "alice@example.edu", "delivered", 1),
    ]
    assert sleeps == [] and all(d.alerts == ("small-reads/user=alice",) and d.at == NOW for d in deliveries)
    assert [m.rcpt_tos for m in smtp.messages] == [["admin@example.edu"], ["ops@example.edu"], ["alice@example.edu"]]
    mail = smtp.to("alice@example.edu")[0]
    assert mail.mail_from == "clusterdash@example.edu" and mail.message["To"] == "alice@example.edu"
    assert mail.message["From"] == "clusterdash@example.edu" and mail.message["Auto-Submitted"] == "auto-generated"
    assert mail.message["Subject"] == "[clusterdash] WARNING small-reads: user alice"
    assert mail.message["Date"].datetime.timestamp() == NOW
    text = mail.part("plain")
    for line in (
        "WARNING small-reads: user alice",
        "Many small reads from one user.",
        "What:  small read operations (at most 4 KiB) in each of 3 consecutive hours",
        "Who:   user alice",
        "Where: 12 machines: tikgpu01, tikgpu02, tikgpu03, tikgpu04, tikgpu05 and 7 more",
        "Value: 2,412,345, 2.4x the threshold 1,000,000",
        "Since: 2025-03-12 12:00 CET, through the hour ending 2025-03-12 15:00 CET",
        "View:  https://dash.example.edu/cd/user/alice?user=alice&dir=rd",
    ):
        assert line + "\n" in text, line
    page = mail.part("html")
    assert '<a href="https://dash.example.edu/cd/user/alice?user=alice&amp;dir=rd">' in page
    assert "<th" in page and "2,412,345, 2.4x the threshold 1,000,000" in page


def test_a_baseline_alert_says_the_usual_value_and_the_rule(smtp):
    deliveries, _ = send(notifier(smtp.port), [alert(rule=SPIKE, value=1_200_000, baseline=150_000)])
    assert all(d.ok for d in deliveries)
    text = smtp.to("alice@example.edu")[0].part("plain")
    assert (
        "Value: 1,200,000, against the usual 150,000 (median of this hour of the week over 4 weeks); "
        "it fires above 5x that and at least 200,000\n"
    ) in text


def test_the_link_keeps_the_base_path_and_encodes_every_name():
    base = "https://dash.example.edu/cd/"
    link = view_link(base, ("user", "a b/c?"), [("user", "a&b=c"), ("from", "2025-03-12T14:00Z")])
    assert link == "https://dash.example.edu/cd/user/a%20b%2Fc%3F?user=a%26b%3Dc&from=2025-03-12T14%3A00Z"
    assert view_link("http://127.0.0.1:8050", (), "?user=alice&dir=rd") == "http://127.0.0.1:8050/?user=alice&dir=rd"
    assert view_link("http://h/", (), "user=x%0d%0aSet-Cookie:1") == "http://h/?user=x%0D%0ASet-Cookie%3A1"
    assert view_link("", ("user", "alice")) == ""


def test_the_webhook_receives_json_with_a_text_line_and_each_alerts_fields(webhook):
    deliveries, _ = send(notifier(hook=webhook.url + "/hooks/T0K3N"), [alert(), alert(rule=SERVER_BYTES)])
    assert outcome(deliveries) == [
        ("webhook", webhook.url, "delivered", 1),
        ("webhook", webhook.url, "delivered", 1),
    ]
    assert [post.path for post in webhook.posts] == ["/hooks/T0K3N", "/hooks/T0K3N"]
    post = webhook.posts[0]
    assert post.headers["Content-Type"] == "application/json"
    data = post.json()
    assert data["text"].startswith("[clusterdash] WARNING small-reads: user alice\n")
    (sent,) = data["alerts"]
    assert sent["key"] == "small-reads/user=alice" and sent["subject"] == {"kind": "user", "user": "alice"}
    assert (sent["value"], sent["limit"], sent["severity"]) == (2_412_345, 1_000_000, "warning")
    assert (sent["hour"], sent["since"]) == ("2025-03-12T13:00:00Z", "2025-03-12T11:00:00Z")
    assert sent["link"] == "https://dash.example.edu/cd/user/alice?user=alice&dir=rd"
    assert sent["machines"] == list(MACHINES) and sent["measure"] == "small_operations"
    assert webhook.posts[1].json()["alerts"][0]["subject"] == {"kind": "server"}


def test_the_webhook_token_never_shows_in_a_delivery_or_a_repr():
    channel = WebhookChannel("https://hooks.example.com:8443/services/SECRET?token=SECRET")
    assert channel.shown == "https://hooks.example.com:8443" and "SECRET" not in repr(channel)
    assert "hunter2" not in repr(email_channel(25, password="hunter2"))


def test_admins_only_and_user_only_rules_reach_only_those(smtp, webhook):
    target = notifier(smtp.port, webhook.url)
    user_only = Rule(**{**SMALL_READS.__dict__, "name": "to-user", "recipients": "user"})
    deliveries, _ = send(target, [alert(rule=SERVER_BYTES), alert(rule=user_only)])
    assert outcome(deliveries) == [
        ("email", "admin@example.edu", "delivered", 1),
        ("email", "ops@example.edu", "delivered", 1),
        ("webhook", webhook.url, "delivered", 1),
        ("email", "alice@example.edu", "delivered", 1),
    ]
    assert len(webhook.posts) == 1 and webhook.posts[0].json()["alerts"][0]["rule"] == "server-bytes"


def test_user_mail_can_be_turned_off_and_a_mapping_wins_over_the_template(smtp):
    off = notifier(smtp.port, users=UserAddresses(template="{user}@example.edu", enabled=False))
    deliveries, _ = send(off, [alert()])
    assert [d.recipient for d in deliveries] == list(ADMINS)
    mapped = UserAddresses(template="{user}@example.edu", mapping={"alice": "alice.smith@physics.example.edu"})
    deliveries, _ = send(notifier(smtp.port, admins=(), users=mapped), [alert(), alert("bob")])
    assert outcome(deliveries) == [
        ("email", "alice.smith@physics.example.edu", "delivered", 1),
        ("email", "bob@example.edu", "delivered", 1),
    ]


def test_a_user_without_a_usable_address_is_reported_failed_and_the_others_still_get_it(smtp):
    no_template = notifier(smtp.port, users=UserAddresses())
    deliveries, _ = send(no_template, [alert()])
    assert outcome(deliveries)[-1] == ("email", "user alice", "failed", 0)
    assert "no address for this user" in deliveries[-1].reason
    assert [d.status for d in deliveries[:-1]] == ["delivered", "delivered"]
    deliveries, _ = send(notifier(smtp.port), [alert("bad/name")])
    assert outcome(deliveries)[-1] == ("email", "user bad/name", "failed", 0)
    assert "cannot form an address" in deliveries[-1].reason


def test_an_admin_who_is_also_the_subject_gets_one_message(smtp):
    target = notifier(smtp.port, admins=("alice@example.edu",))
    deliveries, _ = send(target, [alert()])
    assert outcome(deliveries) == [("email", "alice@example.edu", "delivered", 1)]
    assert len(smtp.messages) == 1


# --- digests -------------------------------------------------------------------------------------------------------


def test_a_digest_sends_each_recipient_one_message_with_all_of_their_alerts_most_severe_first(smtp, webhook):
    alerts = [alert("alice"), alert(rule=SERVER_BYTES, value=2**41), alert("alice", rule=SPIKE, baseline=1000)]
    target = notifier(smtp.port, webhook.url)
    deliveries, _ = send(target, alerts, digest=True)
    assert outcome(deliveries) == [
        ("email", "admin@example.edu", "delivered", 1),
        ("email", "ops@example.edu", "delivered", 1),
        ("webhook", webhook.url, "delivered", 1),
        ("email", "alice@example.edu", "delivered", 1),
    ]
    assert deliveries[0].alerts == ("small-reads/user=alice", "server-bytes/server", "spike/user=alice")
    assert deliveries[3].alerts == ("small-reads/user=alice", "spike/user=alice")
    admin = smtp.to("admin@example.edu")[0]
    assert admin.message["Subject"] == (
        "[clusterdash] 3 alerts (1 critical, 1 warning, 1 info): CRITICAL server-bytes: the whole server, ..."
    )
    text = admin.part("plain")
    order = [text.index(title) for title in ("CRITICAL server-bytes", "WARNING small-reads", "INFO spike")]
    assert order == sorted(order) and text.startswith("3 alerts from clusterdash:\n\nCRITICAL server-bytes")
    assert "Value: 2 TiB (estimated), 2.0x the threshold 1 TiB (estimated)\n" in text
    user_mail = smtp.to("alice@example.edu")[0]
    assert user_mail.message["Subject"].startswith("[clusterdash] 2 alerts (1 warning, 1 info): WARNING small-reads")
    assert "server-bytes" not in user_mail.part("plain")  # a user sees only the alerts about them
    assert [a["rule"] for a in webhook.posts[0].json()["alerts"]] == ["server-bytes", "small-reads", "spike"]


def test_without_digest_each_alert_is_its_own_message(smtp):
    alerts = [alert("alice"), alert(rule=SERVER_BYTES), alert("alice", rule=SPIKE, baseline=1000)]
    deliveries, _ = send(notifier(smtp.port), alerts)
    assert len(deliveries) == len(smtp.messages) == 3 + 2 + 3  # admins and alice, admins, admins and alice
    assert len(smtp.to("admin@example.edu")) == 3 and len(smtp.to("alice@example.edu")) == 2


# --- failures: retried, bounded, reported, never raised ------------------------------------------------------------


def test_a_mail_server_that_is_down_is_tried_three_times_then_reported_and_the_rest_not_tried():
    dead = DeadPort()
    try:
        deliveries, sleeps = send(notifier(dead.port), [alert(), alert("bob")])
    finally:
        dead.close()
    assert sleeps == [1.0, 4.0]  # one message's retries: after it, the channel is known to be down
    assert outcome(deliveries)[0] == ("email", "admin@example.edu", "failed", 3)
    assert (
        deliveries[0].reason.startswith(f"cannot reach 127.0.0.1:{dead.port}: ") and "refused" in deliveries[0].reason
    )
    assert all(d.status == "failed" and d.attempts == 0 for d in deliveries[1:]) and len(deliveries) == 6
    assert all(d.reason.startswith("not tried: cannot reach") for d in deliveries[1:])


def test_one_channel_down_does_not_stop_the_other(webhook):
    dead = DeadPort()
    try:
        deliveries, sleeps = send(notifier(dead.port, webhook.url), [alert(rule=SERVER_BYTES)])
    finally:
        dead.close()
    assert outcome(deliveries) == [
        ("email", "admin@example.edu", "failed", 3),
        ("email", "ops@example.edu", "failed", 0),
        ("webhook", webhook.url, "delivered", 1),
    ]
    assert sleeps == [1.0, 4.0] and len(webhook.posts) == 1


def test_a_webhook_that_is_down_is_tried_three_times_and_reported():
    dead = DeadPort()
    try:
        deliveries, sleeps = send(notifier(hook=f"http://127.0.0.1:{dead.port}/hook"), [alert()])
    finally:
        dead.close()
    assert outcome(deliveries) == [("webhook", f"http://127.0.0.1:{dead.port}", "failed", 3)]
    assert sleeps == [1.0, 4.0] and "refused" in deliveries[0].reason


def test_a_webhook_that_never_answers_times_out_on_each_try():
    silent = SilentPort()
    try:
        target = Notifier(webhook=WebhookChannel(f"http://127.0.0.1:{silent.port}/", timeout=0.2))
        deliveries, sleeps = send(target, [alert()])
    finally:
        silent.close()
    assert outcome(deliveries) == [("webhook", f"http://127.0.0.1:{silent.port}", "failed", 3)]
    assert "timed out" in deliveries[0].reason and sleeps == [1.0, 4.0]


def test_a_temporary_smtp_refusal_is_retried_and_a_permanent_one_is_not(smtp):
    smtp.refuse = {"admin@example.edu": "451 4.3.0 try again later", "ops@example.edu": "550 5.1.1 no such user"}
    deliveries, sleeps = send(notifier(smtp.port), [alert()])
    assert outcome(deliveries) == [
        ("email", "admin@example.edu", "failed", 3),
        ("email", "ops@example.edu", "failed", 1),
        ("email", "alice@example.edu", "delivered", 1),
    ]
    assert deliveries[0].reason == "SMTP 451 4.3.0 try again later" and sleeps == [1.0, 4.0]
    assert deliveries[1].reason == "SMTP 550 5.1.1 no such user"
    assert smtp.rcpt_tries == {"admin@example.edu": 3, "ops@example.edu": 1, "alice@example.edu": 1}


def test_webhook_answers_server_errors_retried_client_errors_and_redirects_not(webhook):
    target = notifier(hook=webhook.url)
    webhook.replies = [503, 200]
    deliveries, sleeps = send(target, [alert()])
    assert outcome(deliveries) == [("webhook", webhook.url, "delivered", 2)] and sleeps == [1.0]
    webhook.replies = [400]
    deliveries, sleeps = send(target, [alert()])
    assert outcome(deliveries) == [("webhook", webhook.url, "failed", 1)] and sleeps == []
    assert deliveries[0].reason == "HTTP 400 Bad Request"
    webhook.replies = [302]
    deliveries, _ = send(target, [alert()])
    assert outcome(deliveries) == [("webhook", webhook.url, "failed", 1)] and deliveries[0].reason == "HTTP 302 Found"
    assert len(webhook.posts) == 4  # no GET followed the redirect, nothing else was sent


def test_starttls_required_but_not_offered_fails_without_retrying(smtp):
    deliveries, sleeps = send(notifier(smtp.port, starttls=True), [alert()])
    assert outcome(deliveries)[0] == ("email", "admin@example.edu", "failed", 1) and sleeps == []
    assert "STARTTLS" in deliveries[0].reason and not smtp.messages


def test_the_login_comes_from_the_password_file_and_a_wrong_password_is_not_retried(tmp_path):
    box = Mailbox()
    server = SMTPServer(box, login="cd", password="s3cret pass")
    server.start()
    try:
        secret = tmp_path / "smtp-password"
        secret.write_text("s3cret pass\n")
        values = settings(alerts_smtp_port=str(server.port), alerts_smtp_user="cd")
        target = notifier_from_settings({**values, "alerts_smtp_password_file": str(secret)})
        deliveries = target.send([alert(rule=SERVER_BYTES)], sleep=[].append)
        assert [d.status for d in deliveries] == ["delivered"] and len(box.messages) == 1
        wrong = notifier_from_settings({**values, "alerts_smtp_password": "guess"})
        deliveries, sleeps = send(wrong, [alert(rule=SERVER_BYTES), alert(rule=SPIKE, baseline=5)])
        assert [(d.recipient, d.status, d.attempts) for d in deliveries] == [
            ("admin@example.edu", "failed", 1),
            ("admin@example.edu", "failed", 0),
            ("user alice", "failed", 0),  # no template, no mapping: no address
        ]
        assert deliveries[0].reason.startswith("SMTP login refused by 127.0.0.1:") and sleeps == []
        assert "guess" not in repr(wrong) and len(box.messages) == 1
    finally:
        server.stop()


def test_a_failure_while_composing_is_reported_not_raised(smtp):
    broken = Notifier(email=email_channel(smtp.port), tz="No/Such_Zone")
    deliveries, _ = send(broken, [alert()])
    assert [d.status for d in deliveries] == ["failed"] * 3
    assert all(d.reason.startswith("unexpected error: ") for d in deliveries) and not smtp.messages
    assert Notifier().send([alert()]) == []  # no channel configured: nothing to do


def test_retry_counts_follow_the_policy():
    dead = DeadPort()
    try:
        target = Notifier(email=email_channel(dead.port), retry=Retry(delays=(0.5,)))
        deliveries, sleeps = send(target, [alert(rule=SERVER_BYTES)])
    finally:
        dead.close()
    assert deliveries[0].attempts == 2 and sleeps == [0.5]


# --- names from the log are data ----------------------------------------------------------------------------------

INJECTED = "eve\r\nBcc: mallory@evil.example\r\nX-Injected: yes"


def test_a_user_name_with_cr_lf_cannot_add_headers_or_recipients(smtp):
    mapped = UserAddresses(template="{user}@example.edu", mapping={INJECTED: "eve@example.edu"})
    deliveries, _ = send(notifier(smtp.port, users=mapped), [alert(INJECTED)])
    assert [d.status for d in deliveries] == ["delivered"] * 3
    assert [m.rcpt_tos for m in smtp.messages] == [["admin@example.edu"], ["ops@example.edu"], ["eve@example.edu"]]
    for mail in smtp.messages:
        headers = mail.message
        assert headers["Bcc"] is None and headers["X-Injected"] is None
        assert (
            headers["Subject"]
            == "[clusterdash] WARNING small-reads: user eve Bcc: mallory@evil.example X-Injected: yes"
        )
        assert "mallory" not in str(headers["To"])
        assert "Who:   user eve Bcc: mallory@evil.example X-Injected: yes\n" in mail.part("plain")
    assert "mallory@evil.example" not in smtp.rcpt_tries
    # Through the template the same name forms no address at all.
    deliveries, _ = send(notifier(smtp.port), [alert(INJECTED)])
    assert deliveries[-1].status == "failed" and "cannot form an address" in deliveries[-1].reason


def test_names_are_escaped_in_the_html_part_and_plain_in_the_text(smtp):
    name = '<script>alert("x")</script>'
    deliveries, _ = send(notifier(smtp.port, admins=("admin@example.edu",)), [alert(name, machines=("m<1>",))])
    mail = smtp.to("admin@example.edu")[0]
    assert "<script>" not in mail.part("html") and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in mail.part(
        "html"
    )
    assert "m&lt;1&gt;" in mail.part("html")
    assert f"Who:   user {name}\n" in mail.part("plain") and "1 machine: m<1>" in mail.part("plain")
    assert "user/%3Cscript%3Ealert%28%22x%22%29%3C%2Fscript%3E?user=%3Cscript%3E" in mail.part("plain")


def test_one_line_flattens_every_line_break_and_bounds_the_length():
    assert one_line("a\r\nb\u2028c\x85d\te") == "a b c d e"
    assert one_line("x" * 300) == "x" * 199 + "…"


def test_compose_needs_an_alert_and_an_alert_its_rules_kind_of_subject():
    with pytest.raises(ValueError, match="at least one alert"):
        compose([])
    with pytest.raises(ValueError, match="is about user, not server"):
        Alert(rule=SMALL_READS, subject=Subject("server"), value=1, hour=LATEST, since=LATEST)


# --- settings ------------------------------------------------------------------------------------------------------

DEFAULTS = {
    "alerts_base_url": "",
    "alerts_smtp_host": "",
    "alerts_smtp_port": 25,
    "alerts_smtp_starttls": False,
    "alerts_smtp_user": "",
    "alerts_smtp_password": "",
    "alerts_smtp_password_file": "",
    "alerts_from": "",
    "alerts_admins": "",
    "alerts_user_email": "",
    "alerts_user_map": "",
    "alerts_user_mail": True,
    "alerts_webhook": "",
    "alerts_timeout": 10.0,
    "tz": "UTC",
}


def settings(**changes) -> dict:
    base = {
        **DEFAULTS,
        "alerts_smtp_host": "127.0.0.1",
        "alerts_from": "clusterdash@example.edu",
        "alerts_admins": "admin@example.edu",
    }
    return {**base, **changes}


def test_settings_give_the_channels_they_name():
    assert set(DEFAULTS) == set(NAMES)
    assert notifier_from_settings(DEFAULTS) == Notifier()
    target = notifier_from_settings(
        settings(
            alerts_smtp_port="2525",
            alerts_smtp_starttls="yes",
            alerts_admins="a@example.edu, b@example.edu c@example.edu",
            alerts_user_email="{user}@example.edu",
            alerts_user_mail="false",
            alerts_webhook="https://hooks.example.edu/x",
            alerts_timeout="3",
            alerts_base_url="https://dash.example.edu/",
            tz="Europe/Zurich",
        )
    )
    assert target.email is not None and target.webhook is not None
    assert (target.email.port, target.email.starttls, target.email.timeout) == (2525, True, 3.0)
    assert target.email.admins == ("a@example.edu", "b@example.edu", "c@example.edu")
    assert target.email.users == UserAddresses(template="{user}@example.edu", enabled=False)
    assert (target.webhook.url, target.base_url, target.tz) == (
        "https://hooks.example.edu/x",
        "https://dash.example.edu/",
        "Europe/Zurich",
    )


def test_a_user_map_file_gives_addresses_and_names_its_bad_entries(tmp_path):
    good = tmp_path / "users.toml"
    good.write_text('alice = "alice.smith@example.edu"\n"odd name" = "odd@example.edu"\n')
    target = notifier_from_settings(settings(alerts_user_map=str(good)))
    assert target.email is not None
    assert dict(target.email.users.mapping) == {"alice": "alice.smith@example.edu", "odd name": "odd@example.edu"}
    bad = tmp_path / "bad.toml"
    bad.write_text('alice = "not an address"\nbob = 5\n')
    with pytest.raises(UserError) as caught:
        notifier_from_settings(settings(alerts_user_map=str(bad)))
    assert str(caught.value).splitlines() == [
        f"{bad}: 'alice': 'not an address' is not an email address",
        f"{bad}: 'bob': 5 is not an email address",
    ]


@pytest.mark.parametrize(
    ("changes", "name", "message"),
    [
        (dict(alerts_admins="admin@example.edu, Eve <eve@evil>"), "alerts_admins", "is not an email address"),
        (dict(alerts_from=""), "alerts_from", "needed when alerts_smtp_host is set"),
        (dict(alerts_from="x\r\nBcc: y@z"), "alerts_from", "is not an email address"),
        (dict(alerts_smtp_port="smtp"), "alerts_smtp_port", "must be a number from 1 to 65535"),
        (dict(alerts_smtp_port="0"), "alerts_smtp_port", "must be a number from 1 to 65535"),
        (dict(alerts_smtp_starttls="maybe"), "alerts_smtp_starttls", "as yes or no"),
        (dict(alerts_user_email="@example.edu"), "alerts_user_email", "with {user} once in it"),
        (dict(alerts_user_email="{user}{user}@x.edu"), "alerts_user_email", "with {user} once in it"),
        (dict(alerts_webhook="file:///etc/passwd"), "alerts_webhook", "http:// or https:// URL"),
        (dict(alerts_base_url="dash.example.edu"), "alerts_base_url", "http:// or https:// URL"),
        (dict(alerts_timeout="0"), "alerts_timeout", "from 0.1 to 120"),
        (dict(alerts_smtp_password="a", alerts_smtp_password_file="/x"), "alerts_smtp_password_file", "not both"),
        (dict(tz="Mars/Olympus"), "tz", "unknown time zone"),
    ],
)
def test_a_setting_that_cannot_be_used_is_named(changes, name, message):
    with pytest.raises(BadParameter) as caught:
        notifier_from_settings(settings(**changes))
    assert caught.value.name == name and message in caught.value.message


def test_unreadable_secret_or_map_files_are_input_errors_naming_the_setting(tmp_path):
    missing = str(tmp_path / "nope")
    with pytest.raises(InputError, match=r"^alerts_smtp_password_file: cannot read .*nope"):
        notifier_from_settings(settings(alerts_smtp_password_file=missing))
    with pytest.raises(InputError, match=r"^alerts_user_map: cannot read .*nope"):
        notifier_from_settings(settings(alerts_user_map=missing))
    empty = tmp_path / "empty"
    empty.write_text("\n")
    with pytest.raises(BadParameter, match="is empty"):
        notifier_from_settings(settings(alerts_smtp_password_file=str(empty)))


def test_flag_reads_yes_and_no():
    assert [flag(v) for v in ("1", "TRUE", " yes ", "on", True)] == [True] * 5
    assert [flag(v) for v in ("0", "False", "no", "off", "", False)] == [False] * 6
    with pytest.raises(ValueError, match="as yes or no"):
        flag("maybe")


def test_the_webhook_body_is_plain_json_data():
    data = compose([alert(), alert(rule=SPIKE, baseline=None)], "https://d/").data
    assert json.loads(json.dumps(data)) == data
    assert [a["baseline"] for a in data["alerts"]] == [None, None] and data["alerts"][1]["limit"] == 200_000

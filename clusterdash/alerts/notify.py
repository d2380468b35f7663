"""Delivering alerts: email over SMTP (smtplib) and a JSON webhook (urllib), with bounded retries, and the outcome
as values, one `Delivery` per recipient per channel. Delivery never raises: the ingest that calls it must go on
when the mail server is down.

Who is told: a rule's `recipients` say admins, the subject user, or both. Admins get mail at the admin addresses
and the webhook's POST; the subject user gets mail at the address a mapping or a template gives (a site can turn
user mail off). In digest mode every recipient gets one message holding all of their alerts; otherwise one per
alert.

Failures: each try is bounded by the channel's timeout. A temporary failure (no connection, a timeout, an SMTP 4xx
reply, an HTTP 5xx, 408 or 429) is tried again after each of `Retry.delays` (3 tries: now, after 1 s, after 4 s);
a permanent one (a refused recipient, a 4xx from the webhook, failed authentication) is not. Once a channel could
not be reached at all, its other messages in the same call are reported failed without being tried, so a dead mail
server costs one message's retries per call, not every message's.
"""

from __future__ import annotations

import http.client
import json
import logging
import re
import smtplib
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from urllib.parse import urlsplit

from clusterdash.alerts.messages import Alert, Message, compose, one_line

log = logging.getLogger(__name__)

# An address we send to: a plain local part and a domain (no display name, no comments, no list).
ADDRESS = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)
# A user name that may stand as the local part of a template address: a login, nothing that could end the address.
LOGIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$")
MAX_RESPONSE = 65536  # bytes of a webhook's answer read before closing


@dataclass(frozen=True)
class Retry:
    delays: tuple[float, ...] = (1.0, 4.0)  # seconds waited before the 2nd, 3rd, ... try

    @property
    def tries(self) -> int:
        return len(self.delays) + 1


@dataclass(frozen=True)
class UserAddresses:
    """Where mail to a user goes: the mapping's entry, else the template with {user} replaced, else nowhere."""

    template: str = ""  # e.g. '{user}@example.edu'
    mapping: Mapping[str, str] = field(default_factory=dict)
    enabled: bool = True  # False: no mail to users at all

    def address(self, user: str) -> str:
        """The user's address; ValueError saying why there is none."""
        if user in self.mapping:
            return self.mapping[user]
        if not self.template:
            raise ValueError("no address for this user (not in the mapping, and no template is set)")
        if not LOGIN.match(user):
            raise ValueError("the user name cannot form an address (letters, digits, '.', '_', '+', '-' only)")
        address = self.template.replace("{user}", user)
        if not ADDRESS.match(address):
            raise ValueError("the template does not give a valid address for this user")
        return address


@dataclass(frozen=True)
class EmailChannel:
    host: str
    sender: str  # the From address
    port: int = 25
    starttls: bool = False
    username: str = ""  # log in when set
    password: str = field(default="", repr=False)
    admins: tuple[str, ...] = ()
    users: UserAddresses = field(default_factory=UserAddresses)
    timeout: float = 10.0  # seconds, per try


@dataclass(frozen=True)
class WebhookChannel:
    url: str = field(repr=False)  # its path or query may hold a token
    timeout: float = 10.0  # seconds, per try

    @property
    def shown(self) -> str:
        """The URL without what may be secret: scheme, host and port only."""
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.hostname or ''}" + (f":{parts.port}" if parts.port else "")


@dataclass(frozen=True)
class Delivery:
    """The outcome of one message to one recipient on one channel."""

    channel: str  # 'email' or 'webhook'
    recipient: str  # an address, 'user NAME' when a user has no usable address, or the webhook's scheme://host
    alerts: tuple[str, ...]  # the keys of the alerts the message carried
    ok: bool
    attempts: int  # 0: not tried (no address, or the channel was already found unreachable in this call)
    reason: str = ""  # why it failed (the last try's error); '' when delivered
    at: float = 0.0  # when the last try ended (the clock's time)

    @property
    def status(self) -> str:
        return "delivered" if self.ok else "failed"


@dataclass(frozen=True)
class _Outgoing:
    channel: str
    recipient: str
    alerts: tuple[Alert, ...]


class _Failure(Exception):
    def __init__(self, reason: str, temporary: bool, unreachable: bool = False) -> None:
        super().__init__(reason)
        self.reason, self.temporary, self.unreachable = reason, temporary, unreachable


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirected POST would arrive as a GET without its body: report the redirect instead."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


@dataclass(frozen=True)
class Notifier:
    email: EmailChannel | None = None
    webhook: WebhookChannel | None = None
    base_url: str = ""  # the dashboard's address, for links
    tz: str = "UTC"  # times in messages
    retry: Retry = field(default_factory=Retry)

    def send(
        self,
        alerts: Sequence[Alert],
        digest: bool = False,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> list[Delivery]:
        """Deliver `alerts` to their recipients: one Delivery per message (per alert and recipient, or per recipient
        in digest mode) in the order sent, then one for each subject user without a usable address. Never raises."""
        try:
            outgoing, unaddressed = self._route(alerts, digest, clock)
        except Exception as exc:  # a bug here must not stop the ingest: report it as a failure
            log.exception("alerts: routing failed")
            reason = f"unexpected error: {type(exc).__name__}: {exc}"
            keys = tuple(str(getattr(alert, "key", "?")) for alert in alerts)
            return [Delivery("-", "-", keys, False, 0, reason, clock())]
        results: list[Delivery] = []
        unreachable: dict[str, str] = {}
        for out in outgoing:
            keys = tuple(alert.key for alert in out.alerts)
            if out.channel in unreachable:
                reason = f"not tried: {unreachable[out.channel]}"
                results.append(Delivery(out.channel, out.recipient, keys, False, 0, reason, clock()))
                continue
            try:
                delivery, failure = self._deliver(out, keys, sleep, clock)
            except Exception as exc:  # composing failed (a bug): report it, go on with the next message
                log.exception("alerts: cannot compose the message")
                failure = _Failure(f"unexpected error: {type(exc).__name__}: {exc}", temporary=False)
                delivery = Delivery(out.channel, out.recipient, keys, False, 0, failure.reason, clock())
            if failure is not None and failure.unreachable:
                unreachable[out.channel] = failure.reason
            if not delivery.ok:
                log.warning(
                    "alerts: %s to %s failed after %d tries: %s",
                    delivery.channel,
                    delivery.recipient,
                    delivery.attempts,
                    delivery.reason,
                )
            results.append(delivery)
        return results + unaddressed

    def _route(
        self, alerts: Sequence[Alert], digest: bool, clock: Callable[[], float]
    ) -> tuple[list[_Outgoing], list[Delivery]]:
        """(messages to send, deliveries already failed: users without a usable address)."""
        groups: dict[tuple[str, str, int], list[Alert]] = {}
        failed: list[Delivery] = []
        for index, alert in enumerate(alerts):
            targets: list[tuple[str, str]] = []
            if alert.rule.tells_admins:
                if self.email is not None:
                    targets += [("email", address) for address in self.email.admins]
                if self.webhook is not None:
                    targets.append(("webhook", self.webhook.shown))
            if alert.rule.tells_user and self.email is not None and self.email.users.enabled:
                user = alert.subject.user or ""
                try:
                    targets.append(("email", self.email.users.address(user)))
                except ValueError as exc:
                    who = f"user {one_line(user, 80)}"
                    failed.append(Delivery("email", who, (alert.key,), False, 0, str(exc), clock()))
            for target in dict.fromkeys(targets):  # an admin who is also the subject gets it once
                groups.setdefault((*target, -1 if digest else index), []).append(alert)
        outgoing = [_Outgoing(key[0], key[1], tuple(group)) for key, group in groups.items()]
        return outgoing, failed

    def _deliver(
        self, out: _Outgoing, keys: tuple[str, ...], sleep: Callable[[float], None], clock: Callable[[], float]
    ) -> tuple[Delivery, _Failure | None]:
        message = compose(out.alerts, self.base_url, self.tz)
        if out.channel == "email":
            assert self.email is not None
            email = _email(message, self.email, out.recipient, clock())
            email_channel = self.email

            def once() -> None:
                _smtp_send(email_channel, email, out.recipient)

        else:
            assert self.webhook is not None
            body, webhook = json.dumps(message.data).encode("utf-8"), self.webhook

            def once() -> None:
                _post(webhook, body)

        attempts, failure = _with_retries(once, self.retry, sleep)
        reason = "" if failure is None else failure.reason
        return Delivery(out.channel, out.recipient, keys, failure is None, attempts, reason, clock()), failure


def _with_retries(
    once: Callable[[], None], retry: Retry, sleep: Callable[[float], None]
) -> tuple[int, _Failure | None]:
    """(tries made, the last failure or None when delivered)."""
    for attempt in range(1, retry.tries + 1):
        try:
            once()
            return attempt, None
        except _Failure as failure:
            if not failure.temporary or attempt == retry.tries:
                return attempt, failure
        except Exception as exc:  # a bug in a channel must not stop the ingest: report it
            log.exception("alerts: unexpected error while sending")
            return attempt, _Failure(f"unexpected error: {type(exc).__name__}: {exc}", temporary=False)
        sleep(retry.delays[attempt - 1])
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns on its last try


# --- email ---------------------------------------------------------------------------------------------------------


def _email(message: Message, channel: EmailChannel, recipient: str, now: float) -> EmailMessage:
    mail = EmailMessage()
    mail["Subject"] = one_line(message.subject)  # already one line: flattened again, as the header's own guard
    mail["From"] = channel.sender
    mail["To"] = recipient
    mail["Date"] = formatdate(now, usegmt=True)
    mail["Message-ID"] = make_msgid(domain=channel.sender.rpartition("@")[2] or None)
    mail["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to an alert
    mail.set_content(message.text)
    mail.add_alternative(message.html, subtype="html")
    return mail


def _smtp_code(code: int, text: bytes | str) -> _Failure:
    detail = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    return _Failure(one_line(f"SMTP {code} {detail}", 300), temporary=400 <= code < 500)


def _smtp_send(channel: EmailChannel, mail: EmailMessage, recipient: str) -> None:
    where = f"{channel.host}:{channel.port}"
    try:
        with smtplib.SMTP(channel.host, channel.port, timeout=channel.timeout) as smtp:
            if channel.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if channel.username:
                smtp.login(channel.username, channel.password)
            smtp.send_message(mail, from_addr=channel.sender, to_addrs=[recipient])
    except smtplib.SMTPRecipientsRefused as exc:
        code, text = exc.recipients.get(recipient, (550, b"refused"))
        raise _smtp_code(code, text) from None
    except smtplib.SMTPAuthenticationError as exc:
        raise _Failure(f"SMTP login refused by {where} ({exc.smtp_code})", False, unreachable=True) from None
    except smtplib.SMTPNotSupportedError as exc:
        raise _Failure(f"{where}: {one_line(str(exc), 200)}", False, unreachable=True) from None
    except smtplib.SMTPConnectError as exc:
        raise _Failure(f"cannot connect to {where}: SMTP {exc.smtp_code}", True, unreachable=True) from None
    except smtplib.SMTPResponseException as exc:
        raise _smtp_code(exc.smtp_code, exc.smtp_error) from None
    except (smtplib.SMTPException, OSError) as exc:  # refused, timed out, unknown host, disconnected, TLS
        raise _Failure(f"cannot reach {where}: {one_line(str(exc) or type(exc).__name__, 200)}", True, True) from None


# --- webhook -------------------------------------------------------------------------------------------------------


def _post(channel: WebhookChannel, body: bytes) -> None:
    request = urllib.request.Request(
        channel.url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "User-Agent": "clusterdash-alerts"},
    )
    try:
        with _OPENER.open(request, timeout=channel.timeout) as response:
            response.read(MAX_RESPONSE)
    except urllib.error.HTTPError as exc:
        exc.close()
        temporary = exc.code in (408, 429) or exc.code >= 500
        raise _Failure(one_line(f"HTTP {exc.code} {exc.reason}", 200), temporary) from None
    except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise _Failure(f"cannot reach {channel.shown}: {one_line(str(reason), 200)}", True, True) from None

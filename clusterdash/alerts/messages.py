"""What an alert message says: the `Alert` value the evaluation produces, and one message for one or several alerts
(a digest) as a subject line, plain text, HTML and the JSON a webhook receives.

A message says what (the rule and its measure), who and where (the subject, the users or machines involved), how
much against the threshold, since when, and links to the dashboard view that shows it.

Names from the log are data. In the plain text they appear as they are, with control characters flattened to spaces;
in the HTML part they are escaped; in the subject line (a mail header) they are flattened to one line, so a name
holding CR/LF cannot start a header of its own; in the link they are percent-encoded by urllib.
"""

from __future__ import annotations

import html
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from clusterdash.alerts.rules import (
    SEVERITIES,
    Above,
    Rule,
    Subject,
    alert_key,
    describe,
    format_duration,
    measure_text,
    number_text,
    window_text,
)
from clusterdash.db.periods import HOUR
from clusterdash.db.sizes import bytes_text
from clusterdash.db.timefmt import iso_utc, local_text

PRODUCT = "clusterdash"
MAX_NAMES_SHOWN = 5  # users or machines listed by name in one line; the rest are counted
MAX_SUBJECT_LINE = 200
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")

Query = str | Sequence[tuple[str, str]]


@dataclass(frozen=True)
class Alert:
    """One rule holding for one subject: what the evaluation hands to delivery (and stores as alert state)."""

    rule: Rule
    subject: Subject
    value: float  # the measure over the rule's window (the sum, or the sustained minimum)
    hour: int  # start (UTC epoch) of the latest hour judged
    since: int  # start (UTC epoch) of the first hour of the episode: the window in which it first fired
    baseline: float | None = None  # a Baseline rule: the median it was compared with
    users: tuple[str, ...] = ()  # who: the users involved, largest first (evaluation's choice of how many)
    machines: tuple[str, ...] = ()  # where: the machines the IO came from, largest first
    path: tuple[str, ...] = ()  # the dashboard page: ('user', 'alice') is /user/alice; () is the dashboard
    query: Query = ()  # the view: (key, value) pairs, or a query string such as web.state.to_query returns

    def __post_init__(self) -> None:
        alert_key(self.rule, self.subject)  # raises when the subject is not of the rule's kind

    @property
    def key(self) -> str:
        return alert_key(self.rule, self.subject)

    @property
    def limit(self) -> float:
        """What the value had to pass: the threshold, or factor x median and at least the floor."""
        condition = self.rule.condition
        if isinstance(condition, Above):
            return condition.value
        if self.baseline is None:
            return condition.floor
        return max(condition.factor * self.baseline, condition.floor)


@dataclass(frozen=True)
class Message:
    subject: str  # one line
    text: str
    html: str
    data: dict[str, Any]  # the JSON body a webhook receives


def one_line(text: str, limit: int = MAX_SUBJECT_LINE) -> str:
    """Control characters (CR, LF, tab, ...) as single spaces, at most `limit` characters: safe in a header."""
    flat = _CONTROL.sub(" ", str(text)).strip()
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def view_link(base_url: str, path: Sequence[str] = (), query: Query = ()) -> str:
    """The dashboard URL for a view: the base URL's scheme, host and path prefix, then `path` segments and the
    query, each name percent-encoded. '' when no base URL is set."""
    if not base_url:
        return ""
    base = urlsplit(base_url)
    pairs = parse_qsl(query.lstrip("?"), keep_blank_values=True) if isinstance(query, str) else list(query)
    page = base.path.rstrip("/") + "/" + "/".join(quote(segment, safe="") for segment in path)
    return urlunsplit((base.scheme, base.netloc, page, urlencode(pairs, quote_via=quote), ""))


# --- the parts of one alert --------------------------------------------------------------------------------------


def _names(kind: str, names: Sequence[str]) -> str:
    shown = ", ".join(one_line(name, 80) for name in names[:MAX_NAMES_SHOWN])
    more = f" and {len(names) - MAX_NAMES_SHOWN} more" if len(names) > MAX_NAMES_SHOWN else ""
    return f"{len(names)} {kind}{'s' if len(names) != 1 else ''}: {shown}{more}"


def _who_where(alert: Alert) -> tuple[str, str]:
    subject = alert.subject
    names = {key: one_line(value, 80) for key, value in subject.names().items()}
    users = _names("user", alert.users) if alert.users else "all users"
    machines = _names("machine", alert.machines) if alert.machines else "any machine"
    if subject.kind == "user":
        return f"user {names['user']}", machines
    if subject.kind == "user_machine":
        return f"user {names['user']}", f"machine {names['machine']}"
    if subject.kind == "machine":
        return users, f"machine {names['machine']}"
    if subject.kind == "machine_type":
        return users, f"machine type {names['machine_type']}" + (f" ({machines})" if alert.machines else "")
    if subject.kind == "role":
        return f"role {names['role']}" + (f" ({users})" if alert.users else ""), machines
    return users, "the whole server" + (f" ({machines})" if alert.machines else "")


def _amount(rule: Rule, value: float) -> str:
    kind = rule.measure.kind
    if kind == "bytes":
        return f"{bytes_text(value)} (estimated)"
    if kind == "small_share":
        return f"{100 * value:.1f} %"
    if kind == "machines":
        return f"{number_text(round(value))} machines"
    return number_text(round(value))


def _against(alert: Alert) -> str:
    rule, limit = alert.rule, alert.limit
    if isinstance(rule.condition, Above):
        times = f"{alert.value / limit:.1f}x" if limit > 0 else "above"
        return f"{_amount(rule, alert.value)}, {times} the threshold {_amount(rule, limit)}"
    base = rule.condition
    usual = "no usual value" if alert.baseline is None else f"the usual {_amount(rule, alert.baseline)}"
    return (
        f"{_amount(rule, alert.value)}, against {usual} (median of this hour of the week over {base.weeks} weeks); "
        f"it fires above {number_text(base.factor)}x that and at least {_amount(rule, base.floor)}"
    )


def _what(rule: Rule) -> str:
    parts = [f"{measure_text(rule.measure)} {window_text(rule.window)}"]
    kept = rule.filters
    if kept.roles:
        parts.append("roles " + ", ".join(kept.roles))
    if kept.machine_types:
        parts.append("machine types " + ", ".join(kept.machine_types))
    if kept.exclude_users:
        parts.append("not users " + ", ".join(kept.exclude_users))
    return "; ".join(parts)


def _rows(alert: Alert, base_url: str, tz: str) -> list[tuple[str, str]]:
    who, where = _who_where(alert)
    through = local_text(alert.hour + HOUR, tz)
    return [
        ("What", _what(alert.rule)),
        ("Who", who),
        ("Where", where),
        ("Value", _against(alert)),
        ("Since", f"{local_text(alert.since, tz)}, through the hour ending {through}"),
        ("View", view_link(base_url, alert.path, alert.query) or "(no link: the dashboard's address is not set)"),
        ("Rule", f"{alert.rule.name}: {describe(alert.rule)}; cooldown {format_duration(alert.rule.cooldown)}"),
    ]


def _title(alert: Alert) -> str:
    return f"{alert.rule.severity.upper()} {alert.rule.name}: {alert.subject.text()}"


def alert_line(alert: Alert) -> str:
    """One line for a terminal or a list: 'WARNING heavy-small-reads: user alice: 2,412,345, 2.4x the threshold
    1,000,000'."""
    return one_line(f"{_title(alert)}: {_against(alert)}", 1000)


def alert_data(alert: Alert, base_url: str = "") -> dict[str, Any]:
    """One alert as plain JSON data (times ISO-8601 UTC)."""
    rule = alert.rule
    return {
        "key": alert.key,
        "rule": rule.name,
        "severity": rule.severity,
        "description": rule.description,
        "summary": describe(rule),
        "subject": {"kind": alert.subject.kind, **alert.subject.names()},
        "measure": rule.measure.kind,
        "direction": rule.measure.direction,
        "value": alert.value,
        "limit": alert.limit,
        "baseline": alert.baseline,
        "hour": iso_utc(alert.hour),
        "since": iso_utc(alert.since),
        "users": list(alert.users),
        "machines": list(alert.machines),
        "link": view_link(base_url, alert.path, alert.query) or None,
    }


# --- a message ---------------------------------------------------------------------------------------------------


def _in_order(alerts: Sequence[Alert]) -> list[Alert]:
    """Most severe first, then oldest first: the order a digest lists them in."""
    return sorted(alerts, key=lambda a: (-SEVERITIES.index(a.rule.severity), a.since, a.key))


def _subject_line(alerts: list[Alert]) -> str:
    if len(alerts) == 1:
        return one_line(f"[{PRODUCT}] {_title(alerts[0])}")
    counts = Counter(alert.rule.severity for alert in alerts)
    tally = ", ".join(f"{counts[s]} {s}" for s in reversed(SEVERITIES) if counts[s])
    return one_line(f"[{PRODUCT}] {len(alerts)} alerts ({tally}): {_title(alerts[0])}, ...")


def _text_block(alert: Alert, base_url: str, tz: str) -> str:
    lines = [one_line(_title(alert), 1000)]
    if alert.rule.description:
        lines.append(alert.rule.description)
    lines.append("")
    lines += [f"{label + ':':<7}{value}" for label, value in _rows(alert, base_url, tz)]
    return "\n".join(lines)


def _html_block(alert: Alert, base_url: str, tz: str) -> str:
    e = html.escape
    parts = [f"<h3>{e(one_line(_title(alert), 1000))}</h3>"]
    if alert.rule.description:
        parts.append(f"<p>{e(alert.rule.description)}</p>")
    parts.append("<table>")
    link = view_link(base_url, alert.path, alert.query)
    for label, value in _rows(alert, base_url, tz):
        cell = f'<a href="{e(link)}">{e(link)}</a>' if label == "View" and link else e(value)
        parts.append(f'<tr><th align="left" valign="top">{e(label)}</th><td>{cell}</td></tr>')
    parts.append("</table>")
    return "\n".join(parts)


def compose(alerts: Sequence[Alert], base_url: str = "", tz: str = "UTC") -> Message:
    """One message for one alert, or a digest of several (most severe first). Times are shown in `tz`."""
    if not alerts:
        raise ValueError("a message needs at least one alert")
    ordered = _in_order(alerts)
    subject = _subject_line(ordered)
    intro = "" if len(ordered) == 1 else f"{len(ordered)} alerts from {PRODUCT}:\n\n"
    text = "\n\n".join(_text_block(alert, base_url, tz) for alert in ordered)
    body = intro + text + f"\n\n-- \nSent by {PRODUCT}. Times are {tz}.\n"
    blocks = "\n<hr>\n".join(_html_block(alert, base_url, tz) for alert in ordered)
    page = (
        f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{html.escape(subject)}</title></head><body>\n'
        + (f"<p>{len(ordered)} alerts from {PRODUCT}:</p>\n" if len(ordered) > 1 else "")
        + blocks
        + f"\n<p><small>Sent by {PRODUCT}. Times are {html.escape(tz)}.</small></p>\n</body></html>\n"
    )
    summary = [subject] + [
        one_line(f"{_title(alert)}: {_against(alert)} {view_link(base_url, alert.path, alert.query)}", 1000)
        for alert in ordered
    ]
    data = {"text": "\n".join(summary), "alerts": [alert_data(alert, base_url) for alert in ordered]}
    return Message(subject=subject, text=body, html=page, data=data)

"""The non-chart panels as components: headline figures, data health, the profile card, chips, live status.

Pure like figures.py: plain dicts in (the shapes db.query returns), components out. Dash shows every string as
text (markup in a name stays literal); names also go through `format.visible`, so a control character in one
cannot reorder or hide the text around it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import dash_bootstrap_components as dbc
from dash import dcc, html

from clusterdash.web import filterbar
from clusterdash.web import format as fmt
from clusterdash.web.coverage import RecurringGap

STALE_AFTER_SECONDS = 2 * 3600  # the tracer writes hourly: two hours without a block means something is wrong


def figure_card(label: str, value: str, note: str = "", title: str | None = None) -> html.Div:
    return html.Div(
        [
            html.Div(label, className="figure-label"),
            html.Div(value, className="figure-value"),
            html.Div(note, className="figure-note"),
        ],
        className="figure-card",
        title=title,
    )


NO_WRITES_HINT = "no writes recorded in this range: the tracer's write probe may be off"


def _directions(direction: str | None, writes_recorded: bool) -> tuple[str, str | None]:
    """(what the operations count, a warning title or None): never "reads and writes" when no write is stored."""
    if direction == "rd":
        return "reads", None
    if not writes_recorded:
        return ("reads only (no writes recorded)" if direction == "both" else "none recorded"), NO_WRITES_HINT
    return ("reads and writes" if direction == "both" else "writes"), None


def headline(totals: dict[str, Any], metric: str) -> list:
    """totals: operations, bytes, small_operations, users, machines, direction, writes_recorded (whether any write
    is stored in the range, whoever did it; see panels.headline)."""
    ops, small = totals["operations"], totals["small_operations"]
    counted, warning = _directions(totals.get("direction"), totals.get("writes_recorded", True))
    return [
        figure_card("Operations", fmt.count(ops), counted, title=warning and warning[0].upper() + warning[1:]),
        figure_card(
            "Estimated bytes",
            fmt.size(totals["bytes"]),
            "count × bucket midpoint",
            title="Bytes are estimated: each bucket's operation count times the bucket's midpoint",
        ),
        figure_card("Active users", fmt.count(totals["users"]), "with IO in the range"),
        figure_card("Active machines", fmt.count(totals["machines"]), "with IO in the range"),
        figure_card("Small IO", fmt.percent(small, ops), "of operations under 4 KiB"),
    ]


def share(figures: dict[str, Any], metric: str) -> html.Div:
    """A signed-in user's share of the cluster: their own figure beside everyone else's (db.query.everyone_else)."""
    key = "bytes" if metric == "bytes" else "operations"
    shown = fmt.size if key == "bytes" else fmt.count
    own, others = figures["own"][key], figures[key]
    return html.Div(
        [
            figure_card("Your share", fmt.percent(own, own + others), f"of the cluster's {key} in the range"),
            figure_card("Everyone else", shown(others), f"{key}, all other users together"),
        ],
        className="headline share",
    )


def _fact(label: str, value, css: str = "") -> html.Li:
    return html.Li([html.Span(label, className="label"), html.Span(value, className=f"value {css}")])


def recurring_text(pattern: RecurringGap) -> str:
    """'no data at 03:00 on 12 of 14 days', or for a run of hours 'no data 03:00–05:00 on ...'."""
    first, end = pattern.first_hour, pattern.first_hour + pattern.hours
    when = f"at {first:02d}:00" if pattern.hours == 1 else f"{first:02d}:00–{end % 24:02d}:00"
    return f"no data {when} on {pattern.days_missing:,} of {pattern.days:,} days"


def health(
    facts: dict[str, Any], tz: str, recurring: Sequence[RecurringGap] = (), writes_recorded: bool = True
) -> list:
    """facts: the shape of db.query.data_health; `recurring`: gaps at the same hour every day
    (coverage.recurring_gaps); `writes_recorded`: whether any write is stored in the range."""
    fresh = facts["freshness"]
    age = fresh["age_seconds"]
    stale = age is not None and age > STALE_AFTER_SECONDS
    hours = facts["range"]["hours"]
    gap_list = facts["gaps"]
    gap_hours = sum(g["hours"] for g in gap_list)
    items = [
        _fact("Last block", f"{fmt.when(fresh['last_block_epoch'], tz)}"),
        _fact("Age of last block", fmt.age(age), "health-warn" if stale else "health-ok"),
        _fact("Hours with data in range", f"{facts['blocks']:,} of {hours:,} ({fmt.percent(facts['blocks'], hours)})"),
        _fact(
            "Gaps in range",
            f"{len(gap_list):,} ({gap_hours:,} h without a block)" if gap_list else "none",
            "health-warn" if gap_list else "health-ok",
        ),
        _fact(
            "Hours with lost events",
            f"{facts['hours_with_lost_events']:,}",
            "health-warn" if facts["hours_with_lost_events"] else "health-ok",
        ),
        _fact(
            "Rejected lines in range",
            f"{facts['rejected_lines']:,}",
            "health-warn" if facts["rejected_lines"] else "health-ok",
        ),
    ]
    if recurring:
        items.append(_fact("Recurring gap", "; ".join(recurring_text(p) for p in recurring), "health-warn"))
    if not writes_recorded and facts["blocks"]:
        items.append(_fact("Writes in range", "none recorded: the write probe may be off", "health-warn"))
    if facts.get("rejected_lines_outside_blocks"):
        items.append(
            _fact("Rejected lines outside any block", f"{facts['rejected_lines_outside_blocks']:,}", "health-warn")
        )
    children = [html.Ul(items, className="health-list")]
    if gap_list:
        shown = gap_list[-8:]
        children.append(
            html.Details(
                [
                    html.Summary(f"latest {len(shown)} gap(s)" if len(gap_list) > len(shown) else "the gaps"),
                    html.Ul(
                        [
                            html.Li(
                                f"{fmt.when(g['start_epoch'], tz, False)} – {fmt.when(g['end_epoch'], tz)} "
                                f"({g['hours']} h)"
                            )
                            for g in reversed(shown)
                        ],
                        className="mb-0 ps-3",
                    ),
                ],
                className="health-details",
            )
        )
    children.append(html.Div("A gap is missing data, not quiet hours: charts shade it grey.", className="panel-note"))
    return children


def profile(
    kind: str, name: str, info: dict[str, Any] | None, tz: str, link: Callable[[str, str], str] | None = None
) -> Any:
    """The profile card for /user/<name> or /machine/<name> (or any single selected user or machine). `link(kind,
    name)`: the href of another profile (the busiest machines of a user link to theirs, and back)."""
    if info is None:
        return dbc.Alert(
            [
                html.Strong(f"No {kind} named “{fmt.visible(name)}”"),
                f" in the database. Check the spelling, or pick a {kind} from the charts below.",
            ],
            color="warning",
            className="mb-3",
        )
    totals = info["totals"]
    ops = totals["operations"]
    if kind == "user":
        identity = [
            html.Span(fmt.visible(info.get("role") or "unknown role"), className="badge text-bg-light me-1"),
            html.Span(fmt.visible(info.get("affiliation") or "no affiliation"), className="badge text-bg-light"),
        ]
        others, other_key, other_label = info.get("machines", []), "machine", "machines"
    else:
        identity = [html.Span(fmt.visible(info.get("machine_type") or "unknown type"), className="badge text-bg-light")]
        others, other_key, other_label = info.get("users", []), "user", "users"
    busiest = [o for o in others if o["operations"]][:5]
    sizes = [s for s in info.get("sizes", []) if s["operations"]]
    top_size = max(sizes, key=lambda s: s["operations"])["label"] if sizes else "–"
    facts = [
        ("First seen", html.Span(fmt.when(epoch_of(info.get("first_hour")), tz), title=HOUR_SHOWN)),
        ("Last seen", html.Span(fmt.when(epoch_of(info.get("last_hour")), tz), title=HOUR_SHOWN)),
        ("Operations in range", f"{fmt.count(ops)} ({fmt.percent(totals['rd_operations'], ops)} reads)"),
        ("Estimated bytes", fmt.size(totals.get("bytes"))),
        ("Small IO (< 4 KiB)", fmt.percent(totals["small_operations"], ops)),
        ("Most common IO size", fmt.visible(top_size)),
        (f"{other_label.capitalize()} in range", f"{len([o for o in others if o['operations']]):,}"),
    ]
    other_kind = "machine" if kind == "user" else "user"
    busiest_text: list = []
    for o in busiest:
        shown = fmt.visible(o[other_key])
        busiest_text += [
            ", " if busiest_text else "",
            dcc.Link(shown, href=link(other_kind, o[other_key]), className="profile-link") if link else shown,
            f" ({fmt.percent(o['operations'], ops)})",
        ]
    body = [
        html.Div([html.H2(fmt.visible(name), className="profile-name"), *identity]),
        html.Div(
            [html.Span([html.Span(label, className="label"), value]) for label, value in facts],
            className="profile-facts",
        ),
        html.Div(
            [html.Span(f"Busiest {other_label}: ", className="label"), html.Span(busiest_text or "none")],
            className="profile-facts",
        ),
        *comparison(info, totals),
    ]
    if not ops:
        body.append(
            html.Div(f"No IO in this time range: widen it (All) to see this {kind}'s history.", className="panel-note")
        )
    return dbc.Card(dbc.CardBody(body), className=f"profile {kind}")


HOUR_SHOWN = "the start of the hour its block reports: the hour the charts draw it in"


def standing_text(standing: dict[str, Any] | None) -> str:
    """'3rd of 93 users by operations, 5th by bytes', or why there is no rank."""
    if not standing or standing["operations"]["rank"] is None:
        return f"no IO in this range (of {standing['of']:,} {standing['among']} with IO)" if standing else "–"
    ops, by_bytes = standing["operations"]["rank"], standing["bytes"]["rank"]
    return (
        f"{fmt.ordinal(ops)} of {standing['of']:,} {standing['among']} by operations, "
        f"{fmt.ordinal(by_bytes)} by estimated bytes"
    )


def share_text(standing: dict[str, Any] | None) -> str:
    """'14.2 % of operations, 5.1 % of estimated bytes' (of everyone's, under the same filters)."""
    if not standing:
        return "–"
    return (
        f"{fmt.share(standing['operations']['share'])} of operations, "
        f"{fmt.share(standing['bytes']['share'])} of estimated bytes"
    )


def usual_text(usual: dict[str, Any] | None, totals: dict[str, Any]) -> str:
    """'1.2M operations, 3.4 GiB; now 4.2× its usual operations, 0.8× its bytes', or why there is no usual level."""
    if not usual:
        return "–"
    if not usual["enough_history"]:
        return str(usual["note"])
    level = f"{fmt.count(usual['operations'])} operations, {fmt.size(usual['bytes'])}"
    if not usual["operations"]:
        return f"{level} (none usually: no ratio)" if totals["operations"] else level
    now = [f"{fmt.ratio(usual['ratio']['operations'])} its usual operations"]
    if usual["ratio"]["bytes"] is not None:
        now.append(f"{fmt.ratio(usual['ratio']['bytes'])} its bytes")
    return f"{level}; now {', '.join(now)}"


def comparison(info: dict[str, Any], totals: dict[str, Any]) -> list:
    """The profile's comparison lines: rank, share of everyone's total, usual level (absent from older answers)."""
    if "standing" not in info:
        return []
    lines = []
    if info["standing"] is not None:  # (None for a signed-in user who sees only their own IO)
        among = info["standing"]["among"]
        lines += [
            ("Rank", standing_text(info["standing"]), f"among all {among} with IO under the same filters"),
            ("Share of all " + among, share_text(info["standing"]), "of the total of every one of them in the range"),
        ]
    lines.append(
        ("Usual for the range", usual_text(info.get("usual"), totals), (info.get("usual") or {}).get("definition"))
    )
    return [
        html.Div(
            [html.Span([html.Span(label, className="label"), value], title=why) for label, value, why in lines],
            className="profile-facts profile-compare",
        )
    ]


def epoch_of(iso: str | None) -> int | None:
    """An answer's ISO-8601 UTC time as an epoch (None stays None)."""
    if not iso:
        return None
    from datetime import datetime

    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp())


def chips(items: Sequence[Any]) -> list:
    """items: interactions.Chip values (dimension, value, text, href)."""
    if not items:
        return [html.Span("none — click a bar to filter every panel", className="none")]
    return [filterbar.chip(c.dimension, c.value, fmt.visible(c.text), c.href) for c in items]


def live_status(latest: int | None, age_seconds: float | None, tz: str) -> list:
    stale = age_seconds is not None and age_seconds > STALE_AFTER_SECONDS
    if latest is None:
        return [html.Span(className="dot stale"), "no data yet"]
    return [
        html.Span(className="dot stale" if stale else "dot"),
        f"data to {fmt.when(latest, tz)} · {fmt.age(age_seconds)} ago",
    ]

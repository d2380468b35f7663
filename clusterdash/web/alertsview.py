"""Alerts in the web tier: the alerts panel on the dashboard, the /alerts page and the /api/alerts document, each
alert linked to the dashboard view that shows it (state.alert_view). The web tier's one seam with clusterdash/alerts:
the rule file is read and checked once at start and shown read-only. The web never judges or sends: the ingest
does (`ingest`, `serve --follow`, `serve --demo`), and the database holds what it found.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import dash_bootstrap_components as dbc
import flask
from dash import html as dhtml
from sqlalchemy import Connection, Engine

from clusterdash.alerts.rulefile import load_rules
from clusterdash.alerts.rules import RuleSet, describe, format_duration, ruleset_data
from clusterdash.db import query
from clusterdash.db.filters import Filters
from clusterdash.db.periods import HOUR
from clusterdash.web import format as fmt
from clusterdash.web import panels, state
from clusterdash.web.auth import current_scope

PANEL_ROWS = 5  # alerts listed in the dashboard's panel (the rest: /alerts)
PAGE_ROWS = 200
SEVERITY_COLORS = {"critical": "danger", "warning": "warning", "info": "info"}


def rules_from_settings(values: Mapping[str, Any]) -> RuleSet | None:
    """The rule file the settings name (`alerts`), checked (RuleFileError naming the rule and field), or None."""
    path = str(values.get("alerts") or "").strip()
    return load_rules(Path(path).expanduser()) if path else None


def subject_text(subject: Mapping[str, str]) -> str:
    """'user alice', 'user alice on machine tik01', 'the whole server'."""
    names = {k: v for k, v in subject.items() if k != "kind"}
    if not names:
        return "the whole server"
    if set(names) == {"user", "machine"}:
        return f"user {names['user']} on machine {names['machine']}"
    return " ".join(f"{field.replace('_', ' ')} {name}" for field, name in names.items())


def mark_text(mark: Mapping[str, Any]) -> str:
    """What a chart marker says about an alert: 'user-spike (warning): user alice'."""
    return f"{mark['rule']} ({mark['severity']}): {subject_text(mark['subject'])}"


@dataclass(frozen=True)
class AlertsView:
    """The alerts as the web shows them: `rules` (None: no rule file set), links made with `defaults`."""

    rules: RuleSet | None
    defaults: state.View

    def link(self, row: Mapping[str, Any]) -> str:
        """The dashboard URL (path and query) of the view that shows an alert."""
        rule = self.rules.get(row["rule"]) if self.rules is not None else None
        direction = rule.measure.direction if rule is not None else "both"
        names = {k: v for k, v in row["subject"].items() if k != "kind"}
        path, search = state.alert_view(
            names, row["since_epoch"], row["last_hour_epoch"] + HOUR, direction, self.defaults
        )
        return "/" + "/".join(quote(segment, safe="") for segment in path) + search

    def amount(self, row: Mapping[str, Any], field: str) -> str:
        """An alert's value or limit as its measure is read: bytes in binary units, a share in percent."""
        rule = self.rules.get(row["rule"]) if self.rules is not None else None
        kind = rule.measure.kind if rule is not None else "operations"
        value = row[field]
        if kind == "bytes":
            return fmt.size(value)
        if kind == "small_share":
            return f"{100 * value:.1f} %"
        return fmt.count(value)

    def rows(self, conn: Connection, filters: Filters, **options: Any) -> list[dict[str, Any]]:
        rows = query.alert_list(conn, filters, **options)
        for row in rows:
            row["link"] = self.link(row)
        return rows

    def document(
        self,
        conn: Connection,
        filters: Filters,
        state_name: str,
        rules: Iterable[str],
        severities: Iterable[str],
        limit: int,
    ) -> dict[str, Any]:
        """GET /api/alerts: the alerts that match (each with its link) and the rules, read-only."""
        rows = self.rows(conn, filters, state=state_name, rules=tuple(rules), severities=tuple(severities), limit=limit)
        # The rules name whom they exclude and tell: an asker with an access scope sees their own alerts only.
        shown = self.rules if filters.visible_users is None else None
        return {
            "range": {"start_epoch": filters.start, "end_epoch": filters.end, "tz": filters.tz},
            "alerts": rows,
            "rules": ruleset_data(shown) if shown is not None else [],
        }

    # -- the dashboard's panel -----------------------------------------------------------------------------------

    def panel(self, engine: Engine, view: state.View) -> list:
        """The alerts panel's body: open and recent alerts in the view's range and selection, each opening its
        view."""
        if self.rules is None:
            return [dhtml.P("No alert rules are set (CLUSTERDASH_ALERTS).", className="text-muted small mb-0")]
        with engine.connect() as conn:
            filters = panels.filters_for(view, query.latest_block_epoch(conn), without=("sizes",))
            rows = self.rows(conn, filters, limit=PANEL_ROWS)
        if not rows:
            return [dhtml.P("No alerts in this time range.", className="text-muted small mb-0")]
        items = [_panel_item(row, view.tz, self.amount(row, "value"), self.amount(row, "threshold")) for row in rows]
        return [dhtml.Ul(items, className="alert-list")]

    # -- the /alerts page ----------------------------------------------------------------------------------------

    def page(self, engine: Engine, scope: tuple[str, ...] | None = None) -> str:
        """The alerts page: open alerts, then recent ones, then the rules (read-only). Every name is escaped. With
        an access scope (`scope`: the usernames a signed-in user may see) only alerts about those users, without
        the deliveries (the admins' addresses) or the rules (whom they exclude)."""
        tz = self.defaults.tz
        everything = scope is None
        with engine.connect() as conn:
            rows = self.rows(conn, Filters(tz=tz, visible_users=scope), limit=PAGE_ROWS, deliveries=everything)
        e = html.escape
        parts = [
            "<!DOCTYPE html><html><head><meta charset='utf-8'><title>clusterdash: alerts</title>",
            "<link rel='stylesheet' href='/assets/bootstrap.min.css'>",
            "<link rel='stylesheet' href='/assets/clusterdash.css'>",
            "</head><body><div class='container-fluid page'>",
            "<p><a href='/'>&larr; dashboard</a></p><h1 class='h4'>Alerts</h1>",
        ]
        for title, chosen in (
            ("Open", [r for r in rows if r["state"] == "open"]),
            ("Recent", [r for r in rows if r["state"] != "open"]),
        ):
            parts.append(f"<h2 class='h5 mt-3'>{title} ({len(chosen)})</h2>")
            if not chosen:
                parts.append("<p class='text-muted'>None.</p>")
                continue
            parts.append(
                "<table class='table table-sm alerts-table'><thead><tr><th>fired</th><th>latest hour</th>"
                "<th>severity</th><th>rule</th><th>about</th><th>value</th><th>limit</th><th>message</th>"
                "<th>view</th></tr></thead><tbody>"
            )
            for row in chosen:
                parts.append(
                    "<tr>"
                    f"<td>{e(fmt.when(row['first_hour_epoch'], tz))}</td>"
                    f"<td>{e(fmt.when(row['last_hour_epoch'], tz))}</td>"
                    f"<td>{e(row['severity'])}</td><td>{e(row['rule'])}</td>"
                    f"<td>{e(fmt.visible(subject_text(row['subject'])))}</td>"
                    f"<td>{e(self.amount(row, 'value'))}</td><td>{e(self.amount(row, 'threshold'))}</td>"
                    f"<td title='{e(_deliveries_text(row))}'>{e(row['notify'])}</td>"
                    f"<td><a href='{e(row['link'])}'>open</a></td></tr>"
                )
            parts.append("</tbody></table>")
        parts.append(self._rules_html() if everything else "")
        parts.append("</div></body></html>")
        return "\n".join(parts)

    def _rules_html(self) -> str:
        e = html.escape
        if self.rules is None:
            return "<h2 class='h5 mt-3'>Rules</h2><p class='text-muted'>No rule file is set (CLUSTERDASH_ALERTS).</p>"
        parts = [
            f"<h2 class='h5 mt-3'>Rules</h2><p class='text-muted small'>From {e(self.rules.source)}, read-only: "
            "edit the file and restart to change them.</p>",
            "<table class='table table-sm rules-table'><thead><tr><th>rule</th><th>severity</th><th>fires on</th>"
            "<th>cooldown</th><th>tells</th><th>enabled</th></tr></thead><tbody>",
        ]
        for rule in self.rules.rules:
            parts.append(
                f"<tr><td title='{e(rule.description)}'>{e(rule.name)}</td><td>{e(rule.severity)}</td>"
                f"<td>{e(describe(rule))}</td><td>{e(format_duration(rule.cooldown))}</td>"
                f"<td>{e(rule.recipients)}</td><td>{'yes' if rule.enabled else 'no'}</td></tr>"
            )
        parts.append("</tbody></table>")
        return "".join(parts)


def _deliveries_text(row: Mapping[str, Any]) -> str:
    lines = [
        f"{d['channel']} to {d['recipient']}: {'delivered' if d['ok'] else 'failed'} after {d['attempts']} "
        f"tr{'y' if d['attempts'] == 1 else 'ies'}" + (f" ({d['reason']})" if d["reason"] else "")
        for d in row.get("deliveries", [])
    ]
    return "; ".join(lines) or "no message sent"


def _panel_item(row: Mapping[str, Any], tz: str, value: str, limit: str) -> dhtml.Li:
    color = SEVERITY_COLORS.get(row["severity"], "secondary")
    return dhtml.Li(
        [
            dbc.Badge(row["severity"], color=color, className="me-1"),
            dhtml.A(f"{row['rule']}: {fmt.visible(subject_text(row['subject']))}", href=row["link"]),
            dhtml.Span(
                f" {'open since' if row['state'] == 'open' else 'fired'} {fmt.when(row['first_hour_epoch'], tz)}; "
                f"{value} against {limit}",
                className="text-muted small",
            ),
        ],
        className=f"alert-item alert-{row['state']}",
    )


def register_page(server: flask.Flask, engine: Engine, view: AlertsView) -> None:
    """Serve the alerts page at /alerts."""

    @server.get("/alerts")
    def alerts_page():
        return flask.Response(view.page(engine, current_scope()), mimetype="text/html")

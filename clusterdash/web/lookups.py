"""Small lookups the view callback, the live check and the app factory make besides the panels: the newest block,
the hours a view shows (as the panels ask for them), its range held to the stored data, a link's names checked, the
stored size labels."""

from __future__ import annotations

from sqlalchemy import Engine

from clusterdash.db import query
from clusterdash.db.filters import Filters
from clusterdash.errors import BadParameter
from clusterdash.web import format as fmt
from clusterdash.web import state
from clusterdash.web.panels import question


def latest_epoch(engine: Engine) -> int | None:
    with engine.connect() as conn:
        return query.latest_block_epoch(conn)


def window(engine: Engine, view: state.View) -> tuple[int | None, int | None]:
    """The hours the view shows, as UTC epochs [start, end): its range as the panels ask for it (held to the stored
    data), an open end ("All") the data's first or last hour; None where there is no data."""
    filters, extent = question(engine, view)
    return hours_shown(filters, extent)


def hours_shown(filters: Filters, extent: tuple[int, int] | None) -> tuple[int | None, int | None]:
    """[first hour, end hour) a question covers, its open ends the stored data's (`extent`)."""
    start, end = filters.hour_range()
    if extent is not None:
        start, end = extent[0] if start is None else start, extent[1] if end is None else end
    return start, end


def range_text(engine: Engine, view: state.View) -> str:
    """The hours the view shows, exactly: '2025-03-05 14:00 – 2025-03-12 14:00 CET'."""
    start, end = window(engine, view)
    return "" if start is None or end is None else fmt.span(start, end, view.tz)


def known_sizes(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return [b["label"] for b in query.size_buckets(conn)]


def held_range(engine: Engine, view: state.View) -> tuple[state.View, str]:
    """The view with its custom range held to the hours that have data (View.clamped), as every URL the page
    writes holds it, and a note when that changed it."""
    with engine.connect() as conn:
        held = view.clamped(query.data_extent(conn))
    return held, "" if held == view else "the time range was held to the stored data"


def checked_link(engine: Engine, view: state.View) -> tuple[state.View, str]:
    """A view read from a link, held to the stored data: its custom range to the hours that have data, and a
    notice naming what was changed or names nothing stored has (the closest stored names with it; the view keeps
    them, and the panels say they have no IO), both within what the asker may see (view.visible_users). The
    profile's own name is the profile card's to report."""
    held, note = held_range(engine, view)
    notes = [note] if note else []
    with engine.connect() as conn:
        names = {d: view.selected(d) for d in ("users", "machines", "machine_types", "roles")}
        asked = Filters(visible_users=view.visible_users, **names)  # names and suggestions within the asker's scope
        if view.profile:
            asked = asked.with_(**{state.PROFILES[view.profile[0]]: ()})
        try:
            query.check_names(conn, asked)
        except BadParameter as exc:
            notes.append(str(exc))
    return held, "; ".join(notes)

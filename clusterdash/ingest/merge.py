"""Blocks read more than once: two copies of an hour in one batch become one block, and a block already stored
gains the sessions and rows a later read found (it was half-written when first read, or two copies disagree). A
stored row keeps its first count."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import NamedTuple

from sqlalchemy import Connection, Row, select

from clusterdash.db.schema import io_operations, log_entries, user_sessions
from clusterdash.ingest.blocks import Block, Histograms
from clusterdash.ingest.directory import Directory, update_by_id
from clusterdash.ingest.sessions import SESSION_TOTALS, NewSessions, session_totals


def merge_duplicate_epochs(blocks: Iterable[Block]) -> list[Block]:
    """One block per epoch: a batch can hold two copies of the same hour (e.g. a file and its rotated copy).
    The first copy's rows win; later copies only add what the first lacks. The blocks given are left as they are
    (the union is a new block), so that each can still be stored alone (see load.Loader)."""
    by_epoch: dict[int, int] = {}  # epoch -> its block's place in `merged`
    merged: list[Block] = []
    unions: set[int] = set()  # epochs whose block in `merged` is a union made here
    for block in blocks:
        if block.epoch is None:
            merged.append(block)
            continue
        at = by_epoch.get(block.epoch)
        if at is None:
            by_epoch[block.epoch] = len(merged)
            merged.append(block)
            continue
        if block.epoch not in unions:
            merged[at] = _union_of(merged[at])
            unions.add(block.epoch)
        first = merged[at]
        first.digest = None  # its content is now the union of two copies
        first.lost_events = max(first.lost_events, block.lost_events)
        first.rejected.extend(block.rejected)
        entries = {e.key: e for e in first.entries}
        for entry in block.entries:
            mine = entries.get(entry.key)
            if mine is None:
                entries[entry.key] = copy = dataclasses.replace(entry, rows=dict(entry.rows))
                first.entries.append(copy)
            else:
                for bucket, count in entry.rows.items():
                    mine.rows.setdefault(bucket, count)
    return merged


def _union_of(block: Block) -> Block:
    """A copy of a block that other copies' rows can be added to."""
    union = Block(block.epoch, block.wallclock, block.line, block.anchor, block.end_line, block.lost_events)
    union.rejected = list(block.rejected)
    union.source = block.source
    union.entries = [dataclasses.replace(e, rows=dict(e.rows)) for e in block.entries]
    return union


class Merged(NamedTuple):
    """What merge_blocks found: how many blocks gained something and how many did not, and the stored rows to
    update (store_merged)."""

    blocks: int
    unchanged: int
    lost_events: list[dict]  # LogEntries: id, lost_events
    totals: list[dict]  # UserSessions: id and SESSION_TOTALS


def merge_blocks(conn: Connection, directory: Directory, merge: list[tuple[Block, Row]], new: NewSessions) -> Merged:
    """Add to stored blocks (each with its LogEntries row) the sessions and rows they lack, through `new`; a stored
    row keeps its count. Reads only: the stored rows to update are returned, for store_merged."""
    merged = unchanged = 0
    entry_ids = [previous.id for _, previous in merge]
    stored_sessions = {}
    for s in conn.execute(
        select(
            user_sessions.c.id,
            user_sessions.c.log_entry_id,
            user_sessions.c.direction,
            user_sessions.c.machine_id,
            user_sessions.c.user_id,
        ).where(user_sessions.c.log_entry_id.in_(entry_ids))
    ):
        stored_sessions[(s.log_entry_id, s.direction, s.machine_id, s.user_id)] = s.id
    label_of = {v: k for k, v in directory.buckets.items()}
    stored_rows: dict[int, dict[str, int]] = {}
    if stored_sessions:
        rows = select(io_operations.c.session_id, io_operations.c.size_range_id, io_operations.c.count).where(
            io_operations.c.session_id.in_(list(stored_sessions.values()))
        )
        for session_id, size_range_id, count in conn.execute(rows):
            stored_rows.setdefault(session_id, {})[label_of[size_range_id]] = count
    totals_updates: list[dict] = []
    lost_updates: list[dict] = []
    for block, previous in merge:
        changed = False
        epoch = previous.epoch  # the block's, as stored
        for entry in block.entries:
            key = (
                previous.id,
                entry.direction,
                directory.machine_id(entry.machine, entry.machine_type, epoch),
                directory.user_id(entry.user, entry.role, entry.affiliation, epoch),
            )
            session_id = stored_sessions.get(key)
            if session_id is None:
                new.add(directory, epoch, previous.id, Histograms.of([entry]))
                changed = True
                continue
            have = stored_rows.setdefault(session_id, {})
            added = {b: c for b, c in entry.rows.items() if c and b not in have}
            if not added:
                continue
            for label, count in added.items():
                new.added_rows.append((session_id, label, count))
                new.added_operations[entry.direction] += count
            have.update(added)
            t = session_totals(have)
            totals_updates.append({"id": session_id, **dataclasses.asdict(t)})
            changed = True
        if block.lost_events > previous.lost_events:
            lost_updates.append({"id": previous.id, "lost_events": block.lost_events})
            changed = True
        if changed:
            merged += 1
        else:
            unchanged += 1
    return Merged(merged, unchanged, lost_updates, totals_updates)


def store_merged(conn: Connection, merged: Merged) -> None:
    update_by_id(conn, log_entries, merged.lost_events, ("lost_events",))
    update_by_id(conn, user_sessions, merged.totals, SESSION_TOTALS)

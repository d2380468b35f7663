"""Follow mode: keep reading the blocks appended to io_usage.log, exactly once, through rotation, truncation,
rsync replacement, deletion and crashes.

Exactly-once rests on two things built elsewhere: the loader stores a block once
whatever file it is read from, and saves the position to resume from in the same
transaction as the rows it covers (load.Loader, position.py). This module
decides which file to read and from where; tail.py, when a block may be taken:

* a block is taken when it is complete (the next `Log:` line has arrived), or
  when the file has been quiet for `settle` seconds; the stored position never
  moves past a block taken that way, so if it grows it is read again and merged;
* the file is watched (watchdog wakes the loop at once), and polled every
  `poll` seconds anyway: inotify sees nothing that another host writes over NFS;
* the name is checked on every look: another inode behind it is a rotation
  (finish the old file through the open descriptor, then read the new one) or
  an rsync replacement (it holds the bytes already read: go on from there); the
  same inode holding other bytes is a truncation (finish the old content from
  its copy beside it, if there is one, then read from the start);
* on start, the file read last under this name is looked for beside it (by its
  content, e.g. io_usage.log.1 or io_usage.log.2.gz) if the name no longer holds it;
* a database that is locked or away is retried with backoff (tail.py), and the
  position only moves when the transaction that carries it commits.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from clusterdash.ingest.load import AfterCommit
from clusterdash.ingest.paths import rotated_siblings
from clusterdash.ingest.position import LogFile, Position, latest_position, signed64
from clusterdash.ingest.read import last_block_of
from clusterdash.ingest.tail import Reading, Stopping, Tail
from clusterdash.ingest.watch import watch_for_changes

log = logging.getLogger("clusterdash.follow")


class Follower:
    """Follows one path until `stop` is set. Use run() in a thread of its own or in the main thread. `poll` and
    `settle` (seconds) have no defaults here: their defaults are the settings' (config.SETTINGS). after_commit: told
    the hours of the blocks taken after each commit (load.AfterCommit)."""

    def __init__(
        self,
        engine: Engine,
        path: str | os.PathLike,
        *,
        poll: float,
        settle: float,
        stop: threading.Event | None = None,
        after_commit: AfterCommit | None = None,
    ) -> None:
        self.engine = engine
        self.path = Path(path).expanduser().absolute()
        self.poll, self.settle = max(0.01, float(poll)), max(0.0, float(settle))
        self.stop = stop if stop is not None else threading.Event()
        self.tail = Tail(engine, self.poll, self.settle, self.stop, after_commit)
        self.wake = threading.Event()
        self.current: Reading | None = None
        self.retiring: Reading | None = None  # the file the name pointed at before a rotation, being finished
        self.missing = False
        self.unreadable = False
        self.finished_tail: bytes | None = None  # the last block of the file finished last

    def request_stop(self) -> None:
        """Ask the loop to stop after the transaction in hand (safe from a signal handler)."""
        self.stop.set()
        self.wake.set()

    def run(self) -> None:
        log.info(
            "following %s (polling every %gs; a last block is taken after %gs of quiet)",
            self.path,
            self.poll,
            self.settle,
        )
        watcher = watch_for_changes(self.path, self.wake)
        if watcher is None:
            log.warning("cannot watch %s for changes: polling every %gs only", self.path.parent, self.poll)
        try:
            self._catch_up_after_restart()
            while not self.stop.is_set():
                self.wake.clear()
                timeout = self.step()
                self.wake.wait(timeout)
        except Stopping:
            pass
        finally:
            if watcher is not None:
                watcher.stop()
                watcher.join(timeout=5)
            for reading in (self.current, self.retiring):
                if reading is not None:
                    reading.file.close()
        log.info("stopped following %s", self.path)

    # --- one look at the file ---------------------------------------------------------------------------------

    def step(self) -> float:
        """Look at the path once, read what is new; returns the seconds until the next look is due."""
        if self.retiring is not None and not self._retire_step(self.retiring):
            return self.tail.timeout(self.retiring)
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            if not self.missing:
                where = f"keeping the position (byte {self.current.position.offset})" if self.current else "waiting"
                log.warning("%s is missing; %s until it is back", self.path, where)
                self.missing = True
            # A rotation may be under way: the open descriptor still reads the old file.
            return self.tail.read(self.current) if self.current is not None else self.poll
        if self.missing:
            log.info("%s is back", self.path)
            self.missing = False
        if self.current is not None:
            if (signed64(st.st_dev), signed64(st.st_ino)) != self.current.file.identity:
                self._path_names_another_file(self.current)
            elif not self.current.intact():
                self._truncated(self.current)
        if self.retiring is not None:
            return 0.0  # start finishing the old file right away
        if self.current is None:
            self.current = self._open_reading()
            if self.current is None:
                return self.poll
        return self.tail.read(self.current)

    # --- rotation, replacement, truncation ----------------------------------------------------------------------

    def _path_names_another_file(self, current: Reading) -> None:
        try:
            new = LogFile.open(self.path)
        except OSError:
            return  # gone again already: the next look decides
        if current.position.offset > 0 and new.holds(*current.head_fingerprint, current.position):
            log.info(
                "replacement seen: %s is now another file (inode %d) holding the same bytes up to byte %d "
                "(rsync?); reading on from there",
                self.path,
                new.inode,
                current.position.offset,
            )
            current.file.close()
            self.current = Reading(new, current.position, current.row_id)
            return
        new.close()
        log.info(
            "rotation seen: %s now names another file (inode %d -> %d); finishing the old file first",
            self.path,
            current.file.inode,
            new.inode,
        )
        current.changed_at = time.monotonic()  # the writer may still append to the old file until it reopens
        self.retiring, self.current, self.finished_tail = current, None, None

    def _retire_step(self, retiring: Reading) -> bool:
        """Read on in the rotated file until it has been quiet for `settle` seconds; then take its last block and
        close it. Returns whether it is done."""
        if not self.tail.quiet(retiring, time.monotonic()):
            self.tail.read(retiring)
            return False
        self.tail.read(retiring, final=True)
        log.info("finished the old file (inode %d) at byte %d", retiring.file.inode, retiring.size_seen or 0)
        self.finished_tail = last_block_of(retiring.file, retiring.position.offset)
        retiring.file.close()
        self.retiring = None
        return True

    def _truncated(self, current: Reading) -> None:
        self.finished_tail = None  # the copy, if there is one, is what the new content follows
        log.warning(
            "truncation seen: %s no longer holds the bytes read up to byte %d (copytruncate?); "
            "reading it again from the start",
            self.path,
            current.position.offset,
        )
        copy, _ = self._find_beside(*current.head_fingerprint, current.position)
        if copy is None:
            log.warning(
                "no copy of the old content of %s beside it: blocks written after byte %d and truncated "
                "away before they were read, if any, are lost",
                self.path,
                current.position.offset,
            )
        else:
            log.info(
                "reading the rest of the old content from its copy %s, from byte %d", copy.path, current.position.offset
            )
            self._finish(Reading(copy, current.position, None))
        current.file.close()
        self.current = None

    # --- on start: what happened while stopped ------------------------------------------------------------------

    def _catch_up_after_restart(self) -> None:
        """If the file read last under this name is no longer there, find it beside the name, read it to its end,
        then any file rotated after it; the name itself is read next by the loop."""
        latest = self.tail.retrying(
            lambda: self.tail.read_only(lambda conn: latest_position(conn, self.path)), "reading the stored position"
        )
        if latest is None:
            return
        if latest.head_length > 0:  # else it was empty when last seen: any file would "hold" it
            try:
                with LogFile.open(self.path) as now_there:
                    if now_there.holds_stored(latest):
                        return
                    same_inode = now_there.identity == (latest.device, latest.inode)
            except OSError:
                same_inode = False
            # The same inode holding other bytes: truncated, or a new file on a reused inode (rotated, deleted).
            what = "truncation or rotation" if same_inode else "rotation"
            found, newer_files = self._find_beside(latest.head_fingerprint, latest.head_length, latest.position)
            if found is not None:
                log.info(
                    "%s seen while stopped: the file read last as %s is now %s; reading it on from byte %d",
                    what,
                    self.path,
                    found.path,
                    latest.position.offset,
                )
                # Its progress goes to a row of its own: the row saved last under the name must stay there, so
                # that if this start dies before the name's new file is stored, the next one looks here again.
                self._finish(Reading(found, latest.position, None))
                for newer in newer_files:
                    self._finish_rotated(newer, "rotated while stopped")
                return
            log.warning(
                "%s seen while stopped: the file read last as %s (up to byte %d) is not beside it any more",
                what,
                self.path,
                latest.position.offset,
            )
        # The file cannot be recognised beside the name: read whatever was rotated since its position was saved
        # (files read before cost only their last block, from their own stored positions).
        for sibling in reversed(rotated_siblings(self.path)):
            try:
                modified = sibling.stat().st_mtime
            except OSError:
                continue
            if modified >= latest.updated_at - 1:
                self._finish_rotated(sibling, "modified since the last position was saved")

    def _finish_rotated(self, path: Path, why: str) -> None:
        try:
            reading = self.tail.reading_of(LogFile.open(path))
        except OSError:
            return
        reading.continues = lambda: self.finished_tail or b""  # the rotated file read just before, if any
        log.info("reading %s, %s, from byte %d", path, why, reading.position.offset)
        self._finish(reading)

    def _find_beside(
        self, head_fingerprint: str, head_length: int, position: Position
    ) -> tuple[LogFile | None, list[Path]]:
        """The rotated file beside the path that holds `position` (the old file under its new name, or its copy,
        plain or compressed), and the files rotated after it, oldest first."""
        siblings = rotated_siblings(self.path)  # newest first
        for index, path in enumerate(siblings):
            try:
                candidate = LogFile.open(path)
            except OSError:
                continue
            try:
                if candidate.holds(head_fingerprint, head_length, position):
                    return candidate, list(reversed(siblings[:index]))
            except (OSError, EOFError):  # e.g. a damaged .gz
                pass
            candidate.close()
        return None, []

    def _finish(self, reading: Reading) -> None:
        """Read a file that nobody writes any more to its end, its last block included; then close it."""
        try:
            self.tail.read(reading, final=True)
            self.finished_tail = last_block_of(reading.file, reading.position.offset)
        finally:
            reading.file.close()

    # --- opening the file under the name -------------------------------------------------------------------------

    def _open_reading(self) -> Reading | None:
        try:
            file = LogFile.open(self.path)
        except FileNotFoundError:
            return None
        except OSError as exc:
            if not self.unreadable:
                log.error("cannot read %s: %s; trying again every %gs", self.path, exc.strerror or exc, self.poll)
                self.unreadable = True
            return None
        self.unreadable = False
        reading = self.tail.reading_of(file)
        reading.continues = self._continuation
        log.info("reading %s from byte %d", self.path, reading.position.offset)
        return reading

    def _continuation(self) -> bytes:
        """The last block of the file written before the one now read: the one finished last, or else the
        newest rotated file beside the name."""
        if self.finished_tail is not None:
            return self.finished_tail
        siblings = rotated_siblings(self.path)
        if not siblings:
            return b""
        try:
            with LogFile.open(siblings[0]) as previous:
                return last_block_of(previous)
        except (OSError, EOFError):
            return b""


def start_follower_thread(
    engine: Engine,
    path: str,
    settings: Mapping[str, Any],
    stop_event: threading.Event,
    after_commit: AfterCommit | None = None,
) -> threading.Thread:
    """Follow `path` in a background thread until `stop_event` is set (for `serve --follow`). `settings`: the
    values of config.SETTINGS (poll, settle). The thread is a daemon: it never keeps the process alive."""
    follower = Follower(
        engine, path, poll=settings["poll"], settle=settings["settle"], stop=stop_event, after_commit=after_commit
    )

    def run() -> None:
        try:
            follower.run()
        except Exception:
            log.exception("following %s stopped on an unexpected error", path)

    thread = threading.Thread(target=run, name="clusterdash-follow", daemon=True)
    thread.start()
    return thread


def follow_until_signalled(
    engine: Engine, path: str, poll: float, settle: float, after_commit: AfterCommit | None = None
) -> None:
    """Follow `path` in this thread until SIGINT or SIGTERM; the transaction in hand is finished first."""
    follower = Follower(engine, path, poll=poll, settle=settle, after_commit=after_commit)

    def on_signal(signum, _frame) -> None:
        log.info("%s received: stopping after the transaction in hand", signal.Signals(signum).name)
        follower.request_stop()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        follower.run()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)

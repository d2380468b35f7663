"""The followed file's surroundings: watchdog events that wake the follower, and the rotated files beside it."""

from __future__ import annotations

import logging
import os
import re
import threading
from pathlib import Path

log = logging.getLogger("clusterdash.follow")

# Events that can mean new bytes, a new file or a rotation. Opening and closing without writing are not: the
# follower itself causes those whenever it looks at a file.
_WAKING_EVENTS = {"created", "modified", "moved", "deleted", "closed"}


def watch_for_changes(path: Path, wake: threading.Event):
    """Set `wake` whenever the file system reports a change to `path` or to a file rotated beside it. Returns
    the running watchdog observer (.stop() and .join() it), or None when the directory cannot be watched; polling still
    finds every change, only later."""
    try:
        from watchdog.events import FileSystemEventHandler
        from watchdog.observers import Observer
    except ImportError:  # pragma: no cover - watchdog is a dependency, but polling alone is still correct
        return None
    prefix = path.name

    class WakeOnChange(FileSystemEventHandler):
        def on_any_event(self, event) -> None:
            if event.event_type not in _WAKING_EVENTS:
                return
            for changed in (event.src_path, getattr(event, "dest_path", "")):
                if changed and os.path.basename(os.fsdecode(changed)).startswith(prefix):
                    wake.set()
                    return

    observer = Observer()
    try:
        observer.schedule(WakeOnChange(), str(path.parent), recursive=False)
        observer.start()
    except (OSError, RuntimeError) as exc:  # no such directory, inotify limits reached, ...
        log.debug("watchdog cannot watch %s: %s", path.parent, exc)
        return None
    return observer


_ROTATION_NUMBER = re.compile(r"\.(\d+)(?:\.gz)?$")
# What logrotate appends to a name: .1, .2.gz, -20250312, -2025-03-12.gz. Not .swp, .bak, .tmp: not logs.
_ROTATION_SUFFIX = re.compile(r"^[.-]\d[\d-]*(?:\.gz)?$")


def rotated_siblings(path: Path) -> list[Path]:
    """Files beside `path` named as logrotate names its rotations, newest first: numbered rotations by their
    number (io_usage.log.1, then io_usage.log.2.gz; compressing a file gives it a new modification time, so that
    cannot order them), then dated ones (io_usage.log-20250312) by their name, latest date first."""
    try:
        entries = [
            p
            for p in path.parent.iterdir()
            if p.name.startswith(path.name) and _ROTATION_SUFFIX.match(p.name[len(path.name) :])
        ]
    except OSError:
        return []
    numbered, dated = [], []
    for entry in entries:
        try:
            if not entry.is_file():
                continue
        except OSError:
            continue
        m = _ROTATION_NUMBER.search(entry.name)
        if m and not re.search(r"-\d", entry.name[len(path.name) :]):
            numbered.append((int(m.group(1)), entry))
        else:
            dated.append(entry)
    return [entry for _, entry in sorted(numbered)] + sorted(dated, key=lambda e: e.name, reverse=True)

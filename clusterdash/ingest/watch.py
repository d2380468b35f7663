"""Watchdog events that wake the follower when the followed file, or a file rotated beside it, changes."""

from __future__ import annotations

import logging
import os
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

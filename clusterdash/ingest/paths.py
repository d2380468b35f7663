"""Which files to read: the paths a user names (files, directories, globs), and logrotate's names for the
rotations of a log (io_usage.log.1, io_usage.log.2.gz, io_usage.log-20250312), oldest to newest."""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Iterable
from pathlib import Path

from clusterdash.errors import InputError

# A numbered rotation: io_usage.log.1, io_usage.log.2.gz (the higher the number, the older the file).
ROTATION_NUMBER = re.compile(r"\.(\d+)(?:\.gz)?$")
# What logrotate appends to a name: .1, .2.gz, -20250312, -2025-03-12.gz. Not .swp, .bak, .tmp: not logs.
_ROTATION_SUFFIX = re.compile(r"^[.-]\d[\d-]*(?:\.gz)?$")
_DATED = re.compile(r"-\d")


def rotation_of(path: Path) -> tuple[str, int]:
    """(the name without its rotation number, that number: 0 for a name without one)."""
    m = ROTATION_NUMBER.search(path.name)
    return (path.name[: m.start()], int(m.group(1))) if m else (path.name, 0)


def expand_paths(paths: Iterable[str]) -> list[Path]:
    """Files named, files matching a glob, and for a directory its `*.log*` files. Oldest rotation first
    (io_usage.log.3.gz, .2.gz, .1, then io_usage.log), which is the order the hours were written in."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            found.extend(p for p in sorted(path.iterdir()) if p.is_file() and ".log" in p.name)
        elif path.exists():
            found.append(path)
        elif glob.has_magic(raw):
            matches = sorted(Path(p) for p in glob.glob(os.path.expanduser(raw)))
            if not matches:
                raise InputError(f"{raw}: no file matches this pattern")
            found.extend(p for p in matches if p.is_file())
        else:
            raise InputError(f"{raw}: no such file or directory")
    for path in found:
        if not os.access(path, os.R_OK):
            raise InputError(f"{path}: permission denied")

    def oldest_first(p: Path) -> tuple[str, str, int]:
        name, number = rotation_of(p)
        return str(p.parent), name, -number

    return sorted(dict.fromkeys(found), key=oldest_first)


def predecessors(files: list[Path]) -> list[Path | None]:
    """For each file (in the order expand_paths gives), the file written just before it: the previous rotation
    of the same log in the list, or else, for a live log, its newest rotation beside it."""
    found: list[Path | None] = []
    for i, path in enumerate(files):
        if i > 0 and _same_log(files[i - 1], path):
            found.append(files[i - 1])
        else:
            siblings = rotated_siblings(path)
            found.append(siblings[0] if siblings else None)
    return found


def _same_log(a: Path, b: Path) -> bool:
    return a.parent == b.parent and rotation_of(a)[0] == rotation_of(b)[0]


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
        m = ROTATION_NUMBER.search(entry.name)
        if m and not _DATED.search(entry.name[len(path.name) :]):
            numbered.append((int(m.group(1)), entry))
        else:
            dated.append(entry)
    return [entry for _, entry in sorted(numbered)] + sorted(dated, key=lambda e: e.name, reverse=True)

"""The `clusterdash` command: a thin click layer over the library. Options in, library calls out; no SQL, no regex.

Each command's docstring is its --help, with an example. The group and what the commands share live in base.py;
each module below registers its commands on the group when imported.
"""

from clusterdash.cli import alerts, data, jobs, users, web  # noqa: F401 - registers their commands
from clusterdash.cli.base import cli, main

__all__ = ["cli", "main"]

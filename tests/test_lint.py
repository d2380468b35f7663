"""Lint and format as habits: the suite, and so CI, fails on what ruff or mypy find, with their output. The same
checks run before each commit through pre-commit (.pre-commit-config.yaml). The tools are those of the running
environment (the `test` extra), run as `python -m`, so the versions here, in the hook and in CI are one."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CODE = ("clusterdash", "tests", "scripts")


def _tool(*args: str) -> tuple[int, str]:
    done = subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=300)
    return done.returncode, (done.stdout + done.stderr)[-20_000:]


def test_ruff_check_finds_nothing():
    status, output = _tool("ruff", "check", "--no-cache", *CODE)
    assert status == 0, output


def test_the_code_is_formatted():
    status, output = _tool("ruff", "format", "--check", "--no-cache", *CODE)
    assert status == 0, output + "\n(`ruff format clusterdash tests scripts` formats it)"


def test_mypy_finds_nothing_in_the_database_layer():
    status, output = _tool("mypy", "clusterdash/db", "--ignore-missing-imports")
    assert status == 0, output

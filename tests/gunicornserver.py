"""gunicorn started the way the deployment recipe starts it: the ExecStart of docs/deploy/clusterdash-web.service.

Only the program's path (this virtualenv's gunicorn), the socket's path (a temporary one) and, where a test
says so, the application are replaced; the worker settings and the rest are the unit's. It can listen on a
loopback port as well, so a test can also knock on gunicorn's door directly, as a local user could.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from tests.browser import free_port
from tests.servertools import ServerUnavailable, wait_for

ROOT = Path(__file__).resolve().parent.parent
UNIT = ROOT / "docs" / "deploy" / "clusterdash-web.service"
UNIT_SOCKET = "unix:/run/clusterdash/web.sock"
UNIT_APP = "clusterdash.web.app:create_server()"


def unit_command(unit: Path = UNIT) -> list[str]:
    """The unit's ExecStart, split as systemd splits it (quotes, no shell)."""
    lines = [line for line in unit.read_text().splitlines() if line.startswith("ExecStart=")]
    if len(lines) != 1:
        raise AssertionError(f"{unit.name}: expected one ExecStart line, found {len(lines)}")
    return shlex.split(lines[0].removeprefix("ExecStart="))


@dataclass
class GunicornServer:
    app: str = UNIT_APP
    env: dict[str, str] = field(default_factory=dict)
    base: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="clusterdash-gunicorn-", dir="/tmp")))
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def socket_path(self) -> Path:
        return self.base / "web.sock"

    @property
    def upstream(self) -> str:
        """The socket as nginx names an upstream."""
        return f"unix:{self.socket_path}"

    def command(self) -> list[str]:
        command = unit_command()
        gunicorn = shutil.which("gunicorn", path=str(Path(sys.executable).parent)) or shutil.which("gunicorn")
        if gunicorn is None:
            raise ServerUnavailable("gunicorn is not installed (it is an install requirement)")
        for expected in (UNIT_SOCKET, UNIT_APP):
            if expected not in command:
                raise AssertionError(f"{UNIT.name} no longer contains {expected!r}: update tests/gunicornserver.py")
        command = [self.upstream if a == UNIT_SOCKET else self.app if a == UNIT_APP else a for a in command]
        return [gunicorn, *command[1:], "--bind", f"127.0.0.1:{self.port}"]

    def start(self) -> GunicornServer:
        # XDG_RUNTIME_DIR as in the unit: gunicorn's control socket is this server's own, not one in $HOME
        env = {**os.environ, "PYTHONPATH": str(ROOT), "XDG_RUNTIME_DIR": str(self.base), **self.env}
        self.process = subprocess.Popen(
            self.command(),
            cwd=self.base,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # its own process group: stop() reaches the workers too
        )
        wait_for(self._ready, f"gunicorn on {self.socket_path}", seconds=60)
        return self

    def _ready(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise ServerUnavailable(f"gunicorn exited with {self.process.returncode}: {self.process.stdout.read()}")
        try:
            with socket.socket(socket.AF_UNIX) as unix:
                unix.connect(str(self.socket_path))
            return True
        except OSError:
            return False

    def stop(self) -> str:
        """SIGTERM (a graceful shutdown, as systemd stops it); its output."""
        out = ""
        try:
            if self.process is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGTERM)
                try:
                    out, _ = self.process.communicate(timeout=30)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(self.process.pid, signal.SIGKILL)
                    out, _ = self.process.communicate(timeout=10)
        finally:
            shutil.rmtree(self.base, ignore_errors=True)
        return out

"""What the throwaway servers of the auth tests (slapd, nginx) share: finding a system tool, running it with
a clear failure, waiting on a condition, and a throwaway TLS certificate authority."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.waiting import POLL_SECONDS

START_SECONDS = 15.0


class ServerUnavailable(RuntimeError):
    """A system package a test server needs is missing, or the server did not start: the message says which."""


def system_tool(name: str, package: str) -> str:
    """The path of a system program (also looked up in /usr/sbin, which is not on every PATH)."""
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if not path:
        raise ServerUnavailable(
            f"{name} not found: apt-get install -y --no-install-recommends {package}"
            " (bash scripts/setup.sh --test does)"
        )
    return path


def run_tool(*args: object) -> str:
    """Run a program to completion; its stdout, or ServerUnavailable with its own error message."""
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        raise ServerUnavailable(f"{Path(str(args[0])).name} failed: {(result.stderr or result.stdout).strip()}")
    return result.stdout


def wait_for(condition: Callable[[], bool], what: str, seconds: float = START_SECONDS) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise ServerUnavailable(f"timed out after {seconds:.0f} s waiting for {what}")
        time.sleep(POLL_SECONDS)


@dataclass(frozen=True)
class Certificates:
    """A throwaway CA and a server certificate for 127.0.0.1, ::1 and localhost that it signed (PEM files)."""

    ca: Path
    cert: Path
    key: Path


def make_certificates(directory: Path) -> Certificates:
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, ca, key, csr, cert = (directory / n for n in ("ca.key", "ca.pem", "server.key", "server.csr", "server.pem"))
    openssl = system_tool("openssl", "openssl")
    run_tool(openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=clusterdash test CA",
             "-keyout", ca_key, "-out", ca)  # fmt: skip
    run_tool(openssl, "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", key, "-out", csr)
    extensions = directory / "san.cnf"
    extensions.write_text("subjectAltName = IP:127.0.0.1, IP:::1, DNS:localhost\n")
    run_tool(openssl, "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-days", "2",
             "-extfile", extensions, "-out", cert)  # fmt: skip
    return Certificates(ca=ca, cert=cert, key=key)

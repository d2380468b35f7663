"""A real nginx (the Debian package) running the deployment recipe, docs/deploy/nginx.conf, for the tests.

The recipe is a site file; `NginxServer` wraps it in a main configuration that keeps everything nginx writes
(pid, logs, temporary files) under its own temporary directory, and replaces only what must differ on a
test machine: the ports (free loopback ports, IPv4 and IPv6), the certificate (a throwaway CA's), the
password file (made with `openssl passwd -6`, as the README says) and the upstream. Everything else, in
particular the header rules, is the recipe's own text. `nginx_proxy` is a fixture factory: call it with an
upstream (`unix:/path` or `127.0.0.1:port`) and a {login: password} mapping; it stops what it started.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.browser import free_port
from tests.servertools import ServerUnavailable, make_certificates, run_tool, system_tool, wait_for

ROOT = Path(__file__).resolve().parent.parent
RECIPE = ROOT / "docs" / "deploy" / "nginx.conf"
PACKAGE = "nginx-light"

# What the recipe says -> what the test uses (each must be found in the recipe, so an edit cannot silently
# leave the test running something else).
RECIPE_UPSTREAM = "server unix:/run/clusterdash/web.sock;"
RECIPE_CERTIFICATE = "/etc/ssl/certs/clusterdash.example.edu.pem"
RECIPE_KEY = "/etc/ssl/private/clusterdash.example.edu.key"
RECIPE_PASSWORDS = "/etc/nginx/clusterdash.htpasswd"
RECIPE_LISTEN = {
    "listen 80;": "listen 127.0.0.1:{http};",
    "listen [::]:80;": "listen [::1]:{http};",
    "listen 443 ssl http2;": "listen 127.0.0.1:{https} ssl http2;",
    "listen [::]:443 ssl http2;": "listen [::1]:{https} ssl http2;",
}


@dataclass
class NginxServer:
    upstream: str
    users: dict[str, str]
    base: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="clusterdash-nginx-", dir="/tmp")))
    http_port: int = field(default_factory=free_port)
    https_port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.https_port}"

    @property
    def ipv6_url(self) -> str:
        return f"https://[::1]:{self.https_port}"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def ca_file(self) -> Path:
        return self.base / "tls" / "ca.pem"

    def site(self, recipe: str, certificate: Path, key: Path) -> str:
        replacements = {
            RECIPE_UPSTREAM: f"server {self.upstream};",
            RECIPE_CERTIFICATE: str(certificate),
            RECIPE_KEY: str(key),
            RECIPE_PASSWORDS: str(self.base / "htpasswd"),
            **{old: new.format(http=self.http_port, https=self.https_port) for old, new in RECIPE_LISTEN.items()},
        }
        for old, new in replacements.items():
            if old not in recipe:
                raise AssertionError(f"{RECIPE.name} no longer contains {old!r}: update tests/nginxserver.py")
            recipe = recipe.replace(old, new)
        return recipe

    def main_config(self) -> str:
        temp = "\n".join(
            f"    {kind}_temp_path {self.base / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        # `user root` only because the test runs as root: the workers must reach the temporary directory
        return f"""user root;
worker_processes 1;
pid {self.base / "nginx.pid"};
error_log {self.base / "error.log"} info;
events {{ worker_connections 64; }}
http {{
    access_log {self.base / "access.log"};
{temp}
    include {self.base / "site.conf"};
}}
"""

    def start(self) -> NginxServer:
        nginx, openssl = system_tool("nginx", PACKAGE), system_tool("openssl", "openssl")
        certificates = make_certificates(self.base / "tls")
        lines = [
            f"{login}:{run_tool(openssl, 'passwd', '-6', password).strip()}" for login, password in self.users.items()
        ]
        (self.base / "htpasswd").write_text("\n".join(lines) + "\n")
        (self.base / "site.conf").write_text(self.site(RECIPE.read_text(), certificates.cert, certificates.key))
        (self.base / "nginx.conf").write_text(self.main_config())
        command = [nginx, "-p", str(self.base), "-e", str(self.base / "error.log"), "-c", str(self.base / "nginx.conf")]
        run_tool(*command, "-t")  # a configuration error is reported as nginx words it
        self.process = subprocess.Popen([*command, "-g", "daemon off;"], stderr=subprocess.PIPE, text=True)
        wait_for(self._listening, f"nginx to listen on {self.url}")
        return self

    def _listening(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise ServerUnavailable(f"nginx exited with {self.process.returncode}: {self.error_log()}")
        try:
            with socket.create_connection(("127.0.0.1", self.https_port), timeout=1):
                return True
        except OSError:
            return False

    def error_log(self) -> str:
        path = self.base / "error.log"
        return path.read_text()[-2000:] if path.exists() else ""

    def stop(self) -> None:
        try:
            if self.process is not None and self.process.poll() is None:
                self.process.terminate()  # SIGTERM: nginx's fast shutdown
                self.process.communicate(timeout=30)
        finally:
            shutil.rmtree(self.base, ignore_errors=True)


@pytest.fixture
def nginx_proxy() -> Iterator[Callable[..., NginxServer]]:
    """A factory: nginx_proxy(upstream, users) -> a running NginxServer with the recipe's configuration."""
    started: list[NginxServer] = []

    def start(upstream: str, users: dict[str, str]) -> NginxServer:
        server = NginxServer(upstream, users)
        started.append(server)
        try:
            return server.start()
        except ServerUnavailable as exc:
            pytest.fail(f"a real nginx is needed for the deployment tests: {exc}", pytrace=False)

    yield start
    for server in started:
        server.stop()

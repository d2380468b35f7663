"""Real receivers for the notification tests: an SMTP server (aiosmtpd) and an HTTP server for webhooks, both in
the test process on free loopback ports, plus a port where nothing answers.

aiosmtpd 1.4's Controller cannot take port=0 (it checks its server by connecting to the port it was given:
aio-libs/aiosmtpd#276), so `SMTPServer` binds the socket itself and hands it to the event loop.
"""

from __future__ import annotations

import email
import email.policy
import json
import socket
import threading
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage

    def part(self, subtype: str) -> str:
        body = self.message.get_body(preferencelist=(subtype,))
        assert body is not None, f"no text/{subtype} part"
        return body.get_content().replace("\r\n", "\n")  # as sent over SMTP: CRLF line ends


@dataclass
class Mailbox:
    """The SMTP handler: keeps what it accepts; `refuse` maps an address to the reply its RCPT gets."""

    messages: list[Received] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)
    rcpt_tries: dict[str, int] = field(default_factory=dict)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        self.rcpt_tries[address] = self.rcpt_tries.get(address, 0) + 1
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos), message))  # type: ignore[arg-type]
        return "250 OK"

    def to(self, address: str) -> list[Received]:
        return [m for m in self.messages if address in m.rcpt_tos]


class SMTPServer(Controller):
    """A real SMTP server on a free loopback port. `login`/`password`: require nothing, but accept only these."""

    def __init__(self, handler: Mailbox, login: str | None = None, password: str | None = None) -> None:
        self._socket = socket.create_server(("127.0.0.1", 0))
        extra: dict[str, Any] = {}
        if login is not None:
            expected = LoginPassword(login.encode(), (password or "").encode())
            # handled=False: aiosmtpd itself answers 235 or 535.
            check = lambda *args: AuthResult(success=args[-1] == expected, handled=False)  # noqa: E731
            extra = dict(authenticator=check, auth_require_tls=False)
        super().__init__(handler, hostname="127.0.0.1", port=self._socket.getsockname()[1], **extra)

    def _create_server(self):
        return self.loop.create_server(self._factory_invoker, sock=self._socket)


@pytest.fixture
def smtp():
    """A real SMTP server for the test (a pytest fixture: tests/conftest.py loads this module as a plugin); its
    Mailbox, with the server's port as `port`."""
    box = Mailbox()
    server = SMTPServer(box)
    server.start()
    box.port = server.port  # type: ignore[attr-defined]
    yield box
    server.stop()


@dataclass
class Post:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class WebhookReceiver(ThreadingHTTPServer):
    """Records each POST; answers with the next status in `replies` (200 when none is left)."""

    daemon_threads = True

    def __init__(self) -> None:
        self.posts: list[Post] = []
        self.replies: list[int] = []
        super().__init__(("127.0.0.1", 0), _Handler)
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def __enter__(self) -> WebhookReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()
        self.thread.join(10)


class _Handler(BaseHTTPRequestHandler):
    server: WebhookReceiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.server.posts.append(Post(self.path, dict(self.headers), body))
        status = self.server.replies.pop(0) if self.server.replies else 200
        self.send_response(status)
        if 300 <= status < 400:
            self.send_header("Location", "/elsewhere")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: Any) -> None:
        pass


class DeadPort:
    """A loopback port held by a bound socket that does not listen: connecting is refused at once, every time, and
    no other process can take the port meanwhile."""

    def __init__(self) -> None:
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]

    def close(self) -> None:
        self.socket.close()


class SilentPort:
    """A loopback port that accepts connections (the kernel completes them) and never answers: a client times out."""

    def __init__(self) -> None:
        self.socket = socket.create_server(("127.0.0.1", 0), backlog=16)
        self.port = self.socket.getsockname()[1]

    def close(self) -> None:
        self.socket.close()

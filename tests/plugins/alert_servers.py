"""Real local servers for the alert channel tests: an HTTP receiver (JSON webhooks, chat APIs) and
an SMTP server with STARTTLS and login (aiosmtpd), its certificate made by the openssl CLI."""

from __future__ import annotations

import email
import email.policy
import json
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiohttp import web
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from perpflow.devstack.ports import free_port

SMTP_USER, SMTP_PASSWORD = "alerts", "s3cret-pw-4711"


@dataclass(frozen=True)
class Received:
    status: int  # what the receiver answered
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """Answers ``answer`` and ``reply`` (JSON, or text when a string) to every request on any path;
    keeps each request."""

    answer: int = 200
    reply: dict[str, Any] | str = field(default_factory=dict)
    url: str = ""
    requests: list[Received] = field(default_factory=list)

    def accepted(self) -> list[Received]:
        return [r for r in self.requests if r.status < 300]

    @property
    def host(self) -> str:
        return self.url.removeprefix("http://")


@asynccontextmanager
async def receiver(answer: int = 200, reply: dict[str, Any] | str | None = None) -> AsyncIterator[Receiver]:
    rec = Receiver(answer, {} if reply is None else reply)

    async def receive(request: web.Request) -> web.Response:
        body = await request.read()
        rec.requests.append(Received(rec.answer, request.method, request.path, dict(request.headers), body))
        if isinstance(rec.reply, str):
            return web.Response(text=rec.reply, status=rec.answer)
        return web.json_response(rec.reply, status=rec.answer)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", receive)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    rec.url = f"http://{host}:{port}"
    try:
        yield rec
    finally:
        await runner.cleanup()


def self_signed_cert(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost, and its key (EC P-256: made in milliseconds)."""
    openssl = shutil.which("openssl")
    assert openssl, "the openssl CLI is needed to make the SMTP test server's certificate"
    cert, key = directory / "smtp-cert.pem", directory / "smtp-key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


class Mailbox:
    """aiosmtpd's handler: keeps every message it accepted, parsed."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[Envelope] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)
        self.envelopes.append(envelope)
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        return "250 Message accepted for delivery"


@dataclass
class SmtpServer:
    port: int
    mailbox: Mailbox
    tls_sessions: list[bool]  # each authenticated session: was it over TLS?

    def url(self, password: str = SMTP_PASSWORD, to: str = "ops@example.org", verify: bool = True) -> str:
        """A ``mailtos://`` URL logging in over STARTTLS; ``verify=no`` skips the certificate check."""
        return (
            f"mailtos://{SMTP_USER}:{password}@127.0.0.1:{self.port}?mode=starttls"
            f"&from=perpflow@example.org&to={to}{'' if verify else '&verify=no'}"
        )


def _authenticator(tls_sessions: list[bool]) -> Any:
    def check(server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            SMTP_USER.encode(),
            SMTP_PASSWORD.encode(),
        )
        if ok:
            tls_sessions.append(session.ssl is not None)
        return AuthResult(success=ok, handled=False)

    return check


@contextmanager
def smtp_server(cert: Path, key: Path, port: int | None = None) -> Iterator[SmtpServer]:
    """An SMTP server on ``port`` (a free one by default) that requires STARTTLS, then a login."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    server = SmtpServer(port or free_port(), Mailbox(), [])
    controller = Controller(
        server.mailbox,
        hostname="127.0.0.1",
        port=server.port,
        tls_context=context,
        require_starttls=True,
        auth_required=True,
        auth_require_tls=True,
        authenticator=_authenticator(server.tls_sessions),
    )
    controller.start()
    try:
        yield server
    finally:
        controller.stop()

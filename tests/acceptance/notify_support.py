"""A real SMTP server (aiosmtpd, STARTTLS with a test certificate authority, AUTH) and a
webhook receiver that checks ailoop's HMAC signature and drops repeated ids, on 127.0.0.1."""

from __future__ import annotations

import email
import email.policy
import hashlib
import hmac
import http.server
import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

SMTP_USER, SMTP_PASSWORD = "ailoop-bot", "smtp-password-for-tests"
HOOK_SECRET = "hook-secret-for-tests-0123456789"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Mailbox:
    port: int
    messages: list[EmailMessage] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        return "250 OK"


def _authenticate(server: Any, session: Any, envelope: Any, mechanism: str,
                  auth_data: Any) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and auth_data.login == SMTP_USER.encode() \
        and auth_data.password == SMTP_PASSWORD.encode()
    return AuthResult(success=ok)


@pytest.fixture
def smtp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Mailbox]:
    """The server requires STARTTLS before AUTH and mail; the client trusts its test CA."""
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    monkeypatch.setenv("AILOOP_SMTP_USER", SMTP_USER)
    monkeypatch.setenv("AILOOP_SMTP_PASSWORD", SMTP_PASSWORD)
    box = Mailbox(free_port())
    controller = Controller(box, hostname="127.0.0.1", port=box.port, tls_context=context,
                            require_starttls=True, authenticator=_authenticate,
                            auth_require_tls=True)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


@dataclass
class Receiver:
    url: str
    received: list[dict[str, Any]] = field(default_factory=list)  # distinct ids, in order
    duplicates: int = 0
    refuse_next: int = 0  # answer 500 to this many deliveries first
    bad_signatures: int = 0


@pytest.fixture
def webhook(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    port = free_port()
    receiver = Receiver(f"http://127.0.0.1:{port}/hooks/ailoop")
    seen: set[str] = set()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if receiver.refuse_next > 0:
                receiver.refuse_next -= 1
                self.send_response(500)
                self.end_headers()
                return
            stamp = self.headers.get("X-Ailoop-Timestamp", "")
            expected = "sha256=" + hmac.new(HOOK_SECRET.encode(), stamp.encode() + b"." + body,
                                            hashlib.sha256).hexdigest()
            fresh = stamp.isdigit() and abs(time.time() - int(stamp)) < 300
            if not (fresh and hmac.compare_digest(
                    expected, self.headers.get("X-Ailoop-Signature", ""))):
                receiver.bad_signatures += 1
                self.send_response(401)
                self.end_headers()
                return
            key = self.headers.get("Idempotency-Key", "")
            if key in seen:
                receiver.duplicates += 1  # dropped, as the docs tell receivers to
            else:
                seen.add(key)
                receiver.received.append(json.loads(body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("ACME_HOOK_URL", receiver.url)
    monkeypatch.setenv("ACME_HOOK_SECRET", HOOK_SECRET)
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()

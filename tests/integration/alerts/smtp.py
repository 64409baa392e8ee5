"""A real SMTP server for the tests (aiosmtpd, on 127.0.0.1): it records every message it
accepts; optionally with STARTTLS (a throw-away CA and certificate for 127.0.0.1) and AUTH.
And a real local HTTP receiver speaking an SMS gateway's API (SMSEagle's JSON-RPC, one of
apprise's SMS services with a settable host)."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import ipaddress
import json
import logging
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from coldtrail.localservices import free_tcp_port

SMTP_USER, SMTP_PASSWORD = "tracking", "smtp-pass-0123"
# aiosmtpd logs each connection's steps from its own thread, also after a test has ended (and
# pytest closed the stream a command's logging setup wrote to): what it received is asserted
# instead.
logging.getLogger("mail.log").setLevel(logging.CRITICAL)


@dataclass(frozen=True)
class Received:
    sender: str
    recipients: list[str]
    message: EmailMessage

    def part(self, subtype: str) -> str:
        for part in self.message.walk():
            if part.get_content_type() == f"text/{subtype}":
                return str(part.get_content())
        raise AssertionError(f"no text/{subtype} part in {self.message['Subject']!r}")


@dataclass
class Mailbox:
    received: list[Received] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)
    refused_logins: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        parsed = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        with self._lock:
            self.received.append(Received(str(envelope.mail_from), list(envelope.rcpt_tos), parsed))
        return "250 OK"

    def authenticate(
        self, server: Any, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        if isinstance(data, LoginPassword) and (
            data.login.decode(),
            data.password.decode(),
        ) == (SMTP_USER, SMTP_PASSWORD):
            self.logins.append(data.login.decode())
            return AuthResult(success=True)
        self.refused_logins += 1
        return AuthResult(success=False, handled=False)


def _cert(directory: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1: (ca.pem, server.pem, server.key)."""
    now = dt.datetime.now(dt.UTC)

    def build(
        name: str, key: ec.EllipticCurvePrivateKey, issuer: Any, ca: bool
    ) -> x509.Certificate:
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer[0].subject if issuer else subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if not ca:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False,
            )
        return builder.sign(issuer[1] if issuer else key, hashes.SHA256())

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = build("coldtrail test CA", ca_key, None, True)
    server = build("127.0.0.1", key, (ca, ca_key), False)
    paths = (directory / "ca.pem", directory / "server.pem", directory / "server.key")
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(server.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


@dataclass
class SmtpServer:
    port: int
    mailbox: Mailbox
    ca_file: Path | None


def smtp_server(directory: Path | None = None) -> Iterator[SmtpServer]:
    """A running SMTP server; with ``directory``, STARTTLS required and AUTH (LOGIN/PLAIN)."""
    mailbox = Mailbox()
    port = free_tcp_port()
    options: dict[str, Any] = {}
    ca_file = None
    if directory is not None:
        ca_file, cert, key = _cert(directory)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        options = {
            "tls_context": context,
            "require_starttls": True,
            "authenticator": mailbox.authenticate,
            "auth_require_tls": True,
        }
    controller = Controller(mailbox, hostname="127.0.0.1", port=port, **options)
    controller.start()
    try:
        yield SmtpServer(port, mailbox, ca_file)
    finally:
        controller.stop()


@dataclass
class SmsGateway:
    """A local HTTP receiver answering as an SMSEagle gateway (``/jsonrpc/sms``)."""

    port: int = field(default_factory=free_tcp_port)
    received: list[dict[str, Any]] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    def url_template(self) -> str:
        return f"smseagle://sms-token-0123456789@127.0.0.1:{self.port}/{{contact}}"

    def __enter__(self) -> SmsGateway:
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                payload = json.loads(body)
                gateway.received.append({"path": self.path, **payload})
                answer = json.dumps(
                    {"result": {"message_id": len(gateway.received), "status": "ok"}}
                )
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(answer.encode())

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()

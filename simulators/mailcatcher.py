"""The demo's mail catcher: a local SMTP server (aiosmtpd) in the demo's own asyncio loop that
accepts every message, writes it to a folder as an ``.eml`` file (any mail client opens it) and
lists it for the demo's summary. Nothing is relayed anywhere.

The notification dispatcher reaches it through apprise's ``mailto://`` plugin, as it would reach
a real SMTP server: :meth:`MailCatcher.shopper_url_template` is the
``COLDTRAIL_NOTIFY_SHOPPER_URL_TEMPLATE`` that sends every shopper e-mail here.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

log = logging.getLogger(__name__)

DEMO_SENDER = "shop@demo.coldtrail.test"
_UNSAFE = re.compile(r"[^A-Za-z0-9@._+-]+")


@dataclass(frozen=True, slots=True)
class CaughtMail:
    to: list[str]
    sender: str
    subject: str
    at: datetime
    file: str
    """The ``.eml`` file it was written to."""


class _Handler:
    def __init__(self, catcher: MailCatcher) -> None:
        self.catcher = catcher

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        self.catcher.keep(list(envelope.rcpt_tos), str(envelope.mail_from or ""), content)
        return "250 Message accepted for delivery"


class MailCatcher:
    def __init__(self, folder: Path, host: str = "127.0.0.1", port: int = 0) -> None:
        self.folder = folder
        self.host = host
        self.port = port
        self.messages: list[CaughtMail] = []
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        """Listen (``port`` 0: any free port); the port it listens on."""
        # aiosmtpd logs every SMTP command at INFO: the demo's output is for people.
        logging.getLogger("mail.log").setLevel(logging.WARNING)
        self.folder.mkdir(parents=True, exist_ok=True)
        loop = asyncio.get_running_loop()
        handler = _Handler(self)
        self._server = await loop.create_server(
            lambda: SMTP(handler, hostname="coldtrail-demo", loop=loop), self.host, self.port
        )
        self.port = int(self._server.sockets[0].getsockname()[1])
        log.info("mail catcher on smtp://%s:%d, e-mails in %s", self.host, self.port, self.folder)
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    def shopper_url_template(self, sender: str = DEMO_SENDER) -> str:
        """An apprise URL sending to this server, with ``{contact}`` for the recipient."""
        return f"mailto://{self.host}:{self.port}?from={sender}&to={{contact}}&mode=insecure"

    def keep(self, to: list[str], sender: str, content: bytes) -> CaughtMail:
        message: Any = BytesParser(policy=policy.default).parsebytes(content)
        name = f"{len(self.messages) + 1:03d}-{_UNSAFE.sub('_', ','.join(to))[:80]}.eml"
        path = self.folder / name
        path.write_bytes(content)
        mail = CaughtMail(
            to=to,
            sender=sender,
            subject=str(message.get("Subject", "")),
            at=datetime.now(UTC),
            file=str(path),
        )
        self.messages.append(mail)
        log.info("e-mail to %s caught: %s (%s)", ", ".join(to), mail.subject, path.name)
        return mail

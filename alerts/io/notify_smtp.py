"""The shoppers' e-mails over SMTP: plain text and HTML parts, the List-Unsubscribe headers,
STARTTLS or TLS and AUTH as configured (:class:`coldtrail.settings.SmtpSettings`).

The standard library's smtplib (blocking: in a worker thread, as apprise is). Every failure
(refused connection, a server without STARTTLS when it is required, a refused login or
recipient, a timeout) is a failed :class:`SendResult` whose error names the step, never the
password; the dispatcher retries it from the outbox.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
import time
from email.message import EmailMessage
from email.utils import formataddr, make_msgid

from alerts.io.notify_channels import Message, SendResult
from coldtrail.settings import SmtpSettings


class SmtpNotifier:
    def __init__(self, settings: SmtpSettings, tls: ssl.SSLContext | None = None) -> None:
        self.settings = settings
        ca_file = str(settings.ca_file) if settings.ca_file else None
        self.tls = tls or ssl.create_default_context(cafile=ca_file)

    async def send(self, message: Message) -> SendResult:
        return await asyncio.to_thread(self._send, message)

    def email(self, message: Message) -> EmailMessage:
        """The e-mail of ``message``: text and HTML alternatives, its headers."""
        if not message.to:
            raise ValueError("an e-mail needs its recipient")
        mail = EmailMessage()
        mail["Subject"] = message.subject
        mail["From"] = formataddr(
            (message.sender_name or self.settings.sender_name or "", self.settings.sender)
        )
        mail["To"] = message.to
        mail["Message-ID"] = make_msgid(domain=self.settings.sender.rsplit("@", 1)[-1])
        mail["X-Coldtrail-Key"] = message.key
        mail.set_content(message.body)
        if message.html:
            mail.add_alternative(message.html, subtype="html")
        for name, value in message.headers:  # after the content, which resets Content-*
            mail[name] = value
        return mail

    def _send(self, message: Message) -> SendResult:
        started = time.monotonic()
        s = self.settings
        step = "connect"
        try:
            mail = self.email(message)
            if s.security == "tls":
                client: smtplib.SMTP = smtplib.SMTP_SSL(
                    s.host, s.port, timeout=s.timeout_s, context=self.tls
                )
            else:
                client = smtplib.SMTP(s.host, s.port, timeout=s.timeout_s)
            with client:
                step = "ehlo"
                client.ehlo()
                if s.security == "starttls":
                    step = "starttls"
                    if not client.has_extn("starttls"):
                        raise smtplib.SMTPNotSupportedError(
                            "the server does not offer STARTTLS (security=starttls)"
                        )
                    client.starttls(context=self.tls)
                    client.ehlo()
                if s.username:
                    step = "login"
                    password = s.password.get_secret_value() if s.password else ""
                    client.login(s.username, password)
                step = "send"
                refused = client.send_message(mail)
            if refused:
                return SendResult(
                    False, f"smtp send: recipient refused {refused}", time.monotonic() - started
                )
            return SendResult(True, None, time.monotonic() - started)
        except (OSError, smtplib.SMTPException, ValueError) as exc:
            error = f"smtp {step}: {type(exc).__name__}: {exc}"
            if s.password is not None:
                error = error.replace(s.password.get_secret_value(), "***")
            return SendResult(False, error, time.monotonic() - started)

"""Where notifications go: the channels of each audience, and sending through apprise.

A channel is one apprise URL from the settings (ops and quality) or the shopper URL template
filled with the shipment's contact. Its id is derived from the URL with its credentials masked,
so that every dispatcher with the same configuration agrees on it and a password can be
rotated without orphaning what is queued. URLs hold secrets: they never reach the log, the
database or an error message (:meth:`Channels.redact`).

``Notifier`` is the port the dispatcher sends through; :class:`AppriseNotifier` its adapter.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import hashlib
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import quote, unquote, urlencode, urlsplit, urlunsplit

import apprise
from apprise.utils.parse import parse_urls
from pydantic import SecretStr

from alerts.notifications import Audience
from coldtrail.errors import ConfigError
from coldtrail.settings import NotifySettings

log = logging.getLogger(__name__)

SETTING: dict[Audience, str] = {
    "ops": "COLDTRAIL_NOTIFY_OPS_URLS",
    "quality": "COLDTRAIL_NOTIFY_QUALITY_URLS",
    "shopper": "COLDTRAIL_NOTIFY_SHOPPER_URL_TEMPLATE",
}
IDEMPOTENCY_HEADER = "Idempotency-Key"
# apprise's generic webhooks, which take extra HTTP headers as ``+Name=value`` URL parameters.
WEBHOOK_SCHEMES = frozenset({"json", "jsons", "xml", "xmls", "form", "forms"})
_ASSET = apprise.AppriseAsset(storage_mode="memory")


@dataclass(frozen=True, slots=True)
class Channel:
    channel_id: str
    audience: Audience
    label: str
    """The URL with its credentials masked (safe to log and store)."""
    url: SecretStr = field(repr=False)
    """An apprise URL; for the shopper, a template with ``{contact}``; ``smtp://host`` for the
    shoppers' e-mails (sent by :class:`alerts.io.notify_smtp.SmtpNotifier`)."""
    medium: str | None = None
    """'email' or 'sms': this channel serves the shoppers' subscriptions of that medium (the
    address is the subscription's); None: the older shopper channel (the shipment's contact),
    or a staff channel."""

    @property
    def transport(self) -> str:
        return "smtp" if self.medium == "email" else "apprise"

    def target(self, contact: str | None = None) -> str:
        """The URL to send to (the shopper's contact filled in, URL-quoted)."""
        url = self.url.get_secret_value()
        if self.transport == "smtp":
            return url
        if self.audience == "shopper":
            if not contact:
                raise ValueError("a shopper channel needs the shopper's contact")
            url = url.replace("{contact}", quote(contact, safe="@+"))
        return url


@dataclass(frozen=True, slots=True)
class Channels:
    by_id: dict[str, Channel]

    def of(self, audience: Audience) -> list[Channel]:
        return [c for c in self.by_id.values() if c.audience == audience]

    def redact(self, text: str) -> str:
        """``text`` with every credential of every channel masked."""
        for secret in sorted(self._secrets(), key=len, reverse=True):
            text = text.replace(secret, "***")
        return text

    def _secrets(self) -> Iterator[str]:
        for channel in self.by_id.values():
            url = channel.url.get_secret_value()
            yield url
            with contextlib.suppress(ValueError):
                parts = urlsplit(url)
                for part in (parts.password, parts.username):
                    if part and len(part) >= 3:
                        yield part
                        yield unquote(part)
            # apprise puts tokens in the path (slack://TokenA/TokenB/TokenC): mask each segment
            # of the path too, but not the short, common ones (an audience name, a '#channel').
            for segment in url.split("://", 1)[-1].split("?")[0].split("/"):
                if len(segment) >= 12:
                    yield segment


def build_channels(settings: NotifySettings) -> Channels:
    """The channels of ``settings``, each URL checked by apprise; ConfigError naming the entry
    (by its index, never its text) when apprise cannot use one."""
    channels: dict[str, Channel] = {}
    for audience, urls in (("ops", settings.ops_urls), ("quality", settings.quality_urls)):
        for index, secret in enumerate(urls):
            where = f"{SETTING[audience]}[{index}]"  # type: ignore[index]
            label = _check(secret.get_secret_value(), where)
            channel = Channel(_channel_id(audience, label), audience, label, secret)  # type: ignore[arg-type]
            if channel.channel_id in channels:
                raise ConfigError(f"{where} repeats an earlier channel ({label})")
            channels[channel.channel_id] = channel
    template = settings.shopper_url_template
    if template is not None:
        where = SETTING["shopper"]
        sample = template.get_secret_value().replace("{contact}", "shopper@example.com")
        _check(sample, where)
        parts = urlsplit(template.get_secret_value())
        label = f"{parts.scheme}://{parts.hostname or ''} (shopper contact)"
        channel = Channel(_channel_id("shopper", label), "shopper", label, template)
        channels[channel.channel_id] = channel
    if settings.smtp is not None:
        smtp = settings.smtp
        label = f"smtp://{smtp.host}:{smtp.port} (shopper e-mail)"
        url = SecretStr(f"smtp://{smtp.host}:{smtp.port}")
        channel = Channel(_channel_id("shopper", label), "shopper", label, url, "email")
        channels[channel.channel_id] = channel
    sms = settings.sms_url_template
    if sms is not None:
        where = "COLDTRAIL_NOTIFY_SMS_URL_TEMPLATE"
        _check(sms.get_secret_value().replace("{contact}", "+33600000000"), where)
        parts = urlsplit(sms.get_secret_value())
        label = f"{parts.scheme}://{parts.hostname or ''} (shopper SMS)"
        channel = Channel(_channel_id("shopper", label), "shopper", label, sms, "sms")
        channels[channel.channel_id] = channel
    return Channels(channels)


def _check(url: str, where: str) -> str:
    """The masked form of ``url`` (apprise's privacy URL, without its query), or ConfigError."""
    if len(parse_urls(url)) != 1:  # type: ignore[no-untyped-call]
        raise ConfigError(f"invalid configuration: {where} must be exactly one apprise URL")
    with _quiet_apprise():
        plugin = apprise.Apprise.instantiate(url, asset=_ASSET)
    if plugin is None:
        scheme = url.split("://", 1)[0] if "://" in url else "?"
        raise ConfigError(
            f"invalid configuration: {where} is not an apprise URL that apprise can use"
            f" (scheme {scheme[:20]!r}; see https://appriseit.com for the URL of each service)"
        )
    masked: str = plugin.url(privacy=True)  # type: ignore[no-untyped-call]
    return masked.split("?", 1)[0]


_QUIET: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "coldtrail_quiet_apprise", default=False
)


class _QuietFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not _QUIET.get()


_FILTER = _QuietFilter()


@contextlib.contextmanager
def _quiet_apprise() -> Iterator[None]:
    """apprise logs an URL it cannot parse, secrets included: keep that out of our log (in
    this thread or task only; other sends still log and capture)."""
    logger = logging.getLogger("apprise")
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
    token = _QUIET.set(True)
    try:
        yield
    finally:
        _QUIET.reset(token)


def _channel_id(audience: str, label: str) -> str:
    return f"{audience}-{hashlib.sha256(label.encode()).hexdigest()[:12]}"


def with_idempotency_key(url: str, key: str) -> str:
    """``url`` with an ``Idempotency-Key: key`` header, where apprise's service allows one."""
    scheme = url.split("://", 1)[0].lower()
    if scheme not in WEBHOOK_SCHEMES:
        return url
    parts = urlsplit(url)
    extra = urlencode({f"+{IDEMPOTENCY_HEADER}": key})
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit(parts._replace(query=query))


@dataclass(frozen=True, slots=True)
class Message:
    url: SecretStr = field(repr=False)
    subject: str
    body: str
    level: str
    key: str
    transport: str = "apprise"
    """'apprise', or 'smtp' (an e-mail to ``to`` with ``html`` and ``headers``)."""
    to: str | None = field(default=None, repr=False)
    html: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    sender_name: str | None = None


@dataclass(frozen=True, slots=True)
class SendResult:
    ok: bool
    error: str | None
    duration_s: float


class Notifier(Protocol):
    async def send(self, message: Message) -> SendResult: ...


_NOTIFY_TYPE = {
    "info": apprise.NotifyType.INFO,
    "success": apprise.NotifyType.SUCCESS,
    "warning": apprise.NotifyType.WARNING,
    "failure": apprise.NotifyType.FAILURE,
}


class AppriseNotifier:
    """Sends one message through apprise (whose ``notify()`` blocks: in a worker thread)."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s

    async def send(self, message: Message) -> SendResult:
        return await asyncio.to_thread(self._send, message)

    def _send(self, message: Message) -> SendResult:
        started = time.monotonic()
        sender = apprise.Apprise(asset=_ASSET)
        with _quiet_apprise():
            added = sender.add(with_idempotency_key(message.url.get_secret_value(), message.key))
        if not added:
            return SendResult(False, "apprise cannot use this channel's URL", 0.0)
        with sender.notify(
            body=message.body,
            title=message.subject,
            notify_type=_NOTIFY_TYPE.get(message.level, apprise.NotifyType.INFO),
            timeout=self.timeout_s,
        ) as result:
            duration = time.monotonic() - started
            if result:
                return SendResult(True, None, duration)
            details = "; ".join(
                entry.message for entry in result.logs() if entry.level in ("WARNING", "ERROR")
            )
            return SendResult(False, f"{result.status.name}: {details or 'no detail'}", duration)


class TransportNotifier:
    """Sends each message through the notifier of its transport (apprise, smtp)."""

    def __init__(self, by_transport: dict[str, Notifier]) -> None:
        self.by_transport = by_transport

    async def send(self, message: Message) -> SendResult:
        notifier = self.by_transport.get(message.transport)
        if notifier is None:
            return SendResult(False, f"no {message.transport} sender is configured", 0.0)
        return await notifier.send(message)

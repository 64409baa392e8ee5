"""The dispatcher's shopper side: the message of a shopper's step as it is sent (name, brand,
address and unsubscribe link read at that moment), and the quiet hours.

An e-mail (the SMTP channel) has plain text and HTML parts and the List-Unsubscribe headers
(RFC 2369, one-click RFC 8058); an SMS (through apprise) a short text with the link; the older
shopper channel (``COLDTRAIL_NOTIFY_SHOPPER_URL_TEMPLATE``, the shipment's contact) the plain
text. A subscription unsubscribed or erased after its message was queued sends nothing: the
address is read here, not stored with the message.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar
from zoneinfo import ZoneInfo

import psycopg
from pydantic import SecretStr

from alerts.io import notify_queries as q
from alerts.io.notify_channels import Channel, Message
from alerts.shopper_links import unsubscribe_url
from alerts.shopper_render import Frame, render_shopper
from alerts.shopper_steps import BY_TEMPLATE, QuietHours
from coldtrail.errors import ConfigError
from coldtrail.settings import NotifySettings

log = logging.getLogger(__name__)

UNSUBSCRIBED = "the shopper unsubscribed from this channel, or their address was erased"


class Row(Protocol):
    """What this module reads of a claimed outbox row."""

    @property
    def notification_id(self) -> int: ...
    @property
    def key(self) -> str: ...
    @property
    def audience(self) -> str: ...
    @property
    def template(self) -> str: ...
    @property
    def shipment_id(self) -> int | None: ...
    @property
    def subscription_id(self) -> int | None: ...


R = TypeVar("R", bound=Row)


@dataclass(frozen=True, slots=True)
class ShopperFrame:
    name: str | None
    brand: Mapping[str, Any]
    address: str | None


class ShopperMessages:
    def __init__(self, settings: NotifySettings) -> None:
        self.public_url = settings.public_url
        self.secret = settings.link_secret.get_secret_value() if settings.link_secret else ""
        self.zone = ZoneInfo(settings.shopper_timezone)
        try:
            self.quiet = (
                QuietHours.parse(settings.quiet_hours, settings.shopper_timezone)
                if settings.quiet_hours
                else None
            )
        except ValueError as exc:
            raise ConfigError(
                f"invalid configuration: COLDTRAIL_NOTIFY_QUIET_HOURS: {exc}"
            ) from None

    def quiet_until(self, template: str, now: datetime) -> datetime | None:
        """When a message of ``template`` may go, if it must wait for the quiet hours' end."""
        step = BY_TEMPLATE.get(template)
        if self.quiet is None or step is None or step.urgent:
            return None
        return self.quiet.until(now)

    async def hold_quiet(
        self, conn: psycopg.AsyncConnection[Any], rows: Sequence[R], now: datetime
    ) -> list[R]:
        """The rows to send now; the others (shopper steps in the quiet hours) wait for their
        end, without an attempt counted (in the caller's transaction)."""
        send = []
        for row in rows:
            until = self.quiet_until(row.template, now) if row.audience == "shopper" else None
            if until is None:
                send.append(row)
                continue
            reason = f"quiet hours until {until.isoformat()}"
            await conn.execute(
                q.DEFER, {"id": row.notification_id, "until": until, "reason": reason}
            )
            log.info(
                "notification %d (%s) waits for the end of the quiet hours (%s)",
                row.notification_id,
                row.key,
                until.isoformat(),
            )
        return send

    async def frames(
        self, conn: psycopg.AsyncConnection[Any], rows: Sequence[Row]
    ) -> dict[int, ShopperFrame]:
        """What surrounds each shopper row's message, read now (name, brand, address)."""
        return {
            row.notification_id: await self.frame(conn, row.shipment_id, row.subscription_id)
            for row in rows
            if row.audience == "shopper"
        }

    async def frame(
        self,
        conn: psycopg.AsyncConnection[Any],
        shipment_id: int | None,
        subscription_id: int | None,
    ) -> ShopperFrame:
        cur = await conn.execute(
            q.SHOPPER_FRAME, {"shipment_id": shipment_id, "subscription_id": subscription_id}
        )
        row = await cur.fetchone()
        if row is None:
            return ShopperFrame(None, {}, None)
        name, brand, address = row
        return ShopperFrame(name, brand if isinstance(brand, dict) else {}, address)

    def message(
        self,
        *,
        key: str,
        template: str,
        language: str | None,
        context: Mapping[str, Any],
        channel: Channel,
        frame: ShopperFrame,
        subscription_id: int | None,
        contact: str | None,
    ) -> Message:
        """The message of one outbox row; ValueError when it cannot be sent (no address)."""
        link = None
        if subscription_id is not None and self.public_url and self.secret:
            link = unsubscribe_url(self.public_url, self.secret, subscription_id)
        brand = frame.brand
        text = render_shopper(
            template,
            language,
            {**context, "remedy": _text(brand.get("remedy"))},
            Frame(
                name=frame.name,
                brand=_text(brand.get("name")),
                color=_text(brand.get("primary_color")),
                help_url=_text(brand.get("help_url")),
                unsubscribe_url=link,
                zone=self.zone,
            ),
        )
        if channel.medium is not None:
            if not frame.address:
                raise LookupError(UNSUBSCRIBED)
            address = frame.address
        else:
            address = contact or ""
        if channel.medium == "email":
            headers: tuple[tuple[str, str], ...] = ()
            if link:
                headers = (
                    ("List-Unsubscribe", f"<{link}>"),
                    ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
                )
            return Message(
                url=SecretStr(channel.target()),
                subject=text.subject,
                body=text.text,
                level=text.level,
                key=key,
                transport="smtp",
                to=address,
                html=text.html,
                headers=(*headers, ("Content-Language", text.language)),
                sender_name=_text(brand.get("name")),
            )
        if channel.medium == "sms":
            # SMS services put the title before the body: the short text says everything.
            return Message(
                url=SecretStr(channel.target(address)),
                subject="",
                body=text.sms,
                level=text.level,
                key=key,
            )
        return Message(
            url=SecretStr(channel.target(address)),
            subject=text.subject,
            body=text.text,
            level=text.level,
            key=key,
        )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None

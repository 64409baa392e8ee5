"""The shopper's messages through real channels: e-mail to a real SMTP server (aiosmtpd, with
STARTTLS and AUTH), SMS through apprise to a real local HTTP receiver; with a real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb
from pydantic import SecretStr

from alerts.io.notify_channels import AppriseNotifier, TransportNotifier, build_channels
from alerts.io.notify_dispatch import Dispatcher
from alerts.io.notify_smtp import SmtpNotifier
from alerts.io.shopper_notices import queue_step
from alerts.shopper_links import verify
from api import queries_shoppers as qs
from coldtrail.settings import NotifySettings, SmtpSettings
from tests.integration.alerts.conftest import FakeClock, add_shipment, notify_settings
from tests.integration.alerts.smtp import (
    SMTP_PASSWORD,
    SMTP_USER,
    SmsGateway,
    SmtpServer,
    smtp_server,
)

pytestmark = pytest.mark.integration

SECRET = "test-link-secret-0123456789abcdef0123"
PUBLIC = "http://shop-tracking.example"
BRAND = {
    "name": "Pharmacie du Parc",
    "primary_color": "#0b6e4f",
    "help_url": "https://pharmacie.example/aide",
    "remedy": "replacement",
}


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[SmtpServer]:
    yield from smtp_server(tmp_path)


@pytest.fixture
def sms() -> Iterator[SmsGateway]:
    with SmsGateway() as gateway:
        yield gateway


def settings_for(db: str, smtp: SmtpServer, sms: SmsGateway | None, **more: Any) -> NotifySettings:
    password = more.pop("password", SMTP_PASSWORD)
    return notify_settings(
        db,
        smtp=SmtpSettings(
            host="127.0.0.1",
            port=smtp.port,
            security="starttls",
            username=SMTP_USER,
            password=SecretStr(password),
            sender="tracking@pharmacie.example",
            ca_file=smtp.ca_file,
            timeout_s=10,
        ),
        sms_url_template=SecretStr(sms.url_template()) if sms else None,
        public_url=PUBLIC,
        link_secret=SecretStr(SECRET),
        **more,
    )


async def dispatcher(
    conn: psycopg.AsyncConnection[Any], settings: NotifySettings, clock: FakeClock | None = None
) -> Dispatcher:
    assert settings.smtp is not None
    notifier = TransportNotifier(
        {"apprise": AppriseNotifier(10), "smtp": SmtpNotifier(settings.smtp)}
    )
    # Rows are due at the database's now(): a clock a little ahead finds them.
    clock = clock or FakeClock(datetime.now(UTC) + timedelta(minutes=1))
    d = Dispatcher(conn, settings, build_channels(settings), notifier, clock=clock)
    await d.register_channels()
    return d


async def shipment(
    conn: psycopg.AsyncConnection[Any], number: str, language: str = "fr", name: str = "Camille"
) -> int:
    shipment_id = await add_shipment(conn, number, language=language)
    await conn.execute(
        "UPDATE shipments SET shopper_name = %s, brand = %s WHERE shipment_id = %s",
        (name, Jsonb(BRAND), shipment_id),
    )
    return shipment_id


async def step(
    conn: psycopg.AsyncConnection[Any], shipment_id: int, template: str, **context: Any
) -> int:
    async with conn.transaction():
        return await queue_step(conn, shipment_id, template, context)


async def outcomes(conn: psycopg.AsyncConnection[Any]) -> list[tuple[str, str, str, str | None]]:
    cur = await conn.execute(
        "SELECT n.notice_key, coalesce(c.medium, '-'), n.state, n.last_error"
        " FROM notifications n LEFT JOIN notification_channels c USING (channel_id)"
        " ORDER BY n.notification_id"
    )
    return [tuple(row) for row in await cur.fetchall()]  # type: ignore[misc]


async def test_a_step_is_an_email_in_french_with_both_parts_and_the_unsubscribe_headers(
    conn: psycopg.AsyncConnection[Any], db: str, smtp: SmtpServer, sms: SmsGateway
) -> None:
    d = await dispatcher(conn, settings_for(db, smtp, sms))
    sid = await shipment(conn, "CT-MAIL-1")
    await qs.subscribe(conn, sid, "email", "camille@example.com", ["progress", "delivery"], "fr")
    await qs.subscribe(conn, sid, "sms", "+33612345678", ["progress"], "fr")

    assert await step(conn, sid, "out_for_delivery", tracking_number="CT-MAIL-1",
                      time="2026-03-01T07:45:00+00:00", location="Lyon") == 2  # fmt: skip
    assert await step(conn, sid, "out_for_delivery", tracking_number="CT-MAIL-1") == 0  # once
    assert await d.run_once() == 2

    [mail] = smtp.mailbox.received
    assert smtp.mailbox.logins == [SMTP_USER]  # AUTH, after STARTTLS (aiosmtpd requires it)
    assert mail.recipients == ["camille@example.com"]
    message = mail.message
    assert message["From"] == "Pharmacie du Parc <tracking@pharmacie.example>"
    assert message["Subject"] == (
        "Pharmacie du Parc · Votre colis CT-MAIL-1 est en cours de livraison"
    )
    assert message["Content-Language"] == "fr"
    assert message["X-Coldtrail-Key"] == f"shipment:{sid}:step:out_for_delivery"
    assert message.get_content_type() == "multipart/alternative"
    text, page = mail.part("plain"), mail.part("html")
    assert text.startswith("Bonjour Camille,")
    assert "en cours de livraison aujourd'hui" in text
    assert "Une question ? https://pharmacie.example/aide" in text
    unsubscribe = message["List-Unsubscribe"].strip("<>")
    assert unsubscribe.startswith(f"{PUBLIC}/u/")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    ref = unsubscribe.rsplit("/", 1)[1]
    assert verify(SECRET, ref) is not None and verify("another-secret", ref) is None
    assert f"Pour ne plus recevoir ces messages : {unsubscribe}" in text
    assert f'<a href="{unsubscribe}">' in page and "#0b6e4f" in page
    assert "Bonjour Camille," in page

    [texted] = sms.received
    assert texted["path"] == "/jsonrpc/sms"
    assert texted["params"]["to"] == "+33612345678"
    assert texted["params"]["message"].startswith("Pharmacie du Parc: Votre colis CT-MAIL-1")
    assert "Stop : http://shop-tracking.example/u/" in texted["params"]["message"]

    assert [(m, state) for _, m, state, _ in await outcomes(conn)] == [
        ("email", "sent"),
        ("sms", "sent"),
    ]
    cur = await conn.execute("SELECT outcome FROM notification_attempts ORDER BY attempt_id")
    assert [row[0] for row in await cur.fetchall()] == ["sent", "sent"]


async def test_english_and_the_kinds_chosen_and_an_unsubscribed_channel_sends_nothing(
    conn: psycopg.AsyncConnection[Any], db: str, smtp: SmtpServer, sms: SmsGateway
) -> None:
    d = await dispatcher(conn, settings_for(db, smtp, sms))
    sid = await shipment(conn, "CT-MAIL-2", language="en", name="Sam")
    await qs.subscribe(conn, sid, "email", "sam@example.com", ["delivery"], "en")
    await qs.subscribe(conn, sid, "sms", "+447700900123", ["progress"], "en")

    # Progress: only the SMS wants it. A failed attempt: only the e-mail.
    assert await step(conn, sid, "in_transit", tracking_number="CT-MAIL-2") == 1
    assert await step(conn, sid, "attempt_failed", tracking_number="CT-MAIL-2",
                      time="2026-03-01T09:00:00+00:00", message="Nobody home") == 1  # fmt: skip
    # Unsubscribed after the message was queued, before it went: nothing is sent.
    await qs.unsubscribe(conn, sid, "sms")
    await d.run_once()
    [mail] = smtp.mailbox.received
    assert (
        mail.message["Subject"] == "Pharmacie du Parc · We could not deliver your parcel CT-MAIL-2"
    )
    text = mail.part("plain")
    assert text.startswith("Hello Sam,")
    assert "What to do:" in text and "The carrier says: Nobody home" in text
    assert sms.received == []
    states = {
        key.rsplit(":", 1)[1]: (medium, state, error)
        for key, medium, state, error in await outcomes(conn)
    }
    assert states["in_transit"] == (
        "sms",
        "skipped",
        "the shopper unsubscribed from this channel, or their address was erased",
    )
    # The next progress step finds no subscription that wants it: one skipped row says why.
    assert await step(conn, sid, "out_for_delivery", tracking_number="CT-MAIL-2") == 1
    rows = await outcomes(conn)
    assert rows[-1][1:] == (
        "-",
        "skipped",
        "shipment CT-MAIL-2: the shopper has no subscription to progress messages",
    )


async def test_a_refused_login_is_recorded_and_retried_without_the_password(
    conn: psycopg.AsyncConnection[Any], db: str, smtp: SmtpServer
) -> None:
    d = await dispatcher(conn, settings_for(db, smtp, None, password="wrong-password-42"))
    sid = await shipment(conn, "CT-MAIL-3")
    await qs.subscribe(conn, sid, "email", "camille@example.com", ["progress"], "fr")
    await step(conn, sid, "info_received", tracking_number="CT-MAIL-3")
    await d.run_once()
    assert smtp.mailbox.received == [] and smtp.mailbox.refused_logins >= 1  # PLAIN, LOGIN
    [(_, _, state, error)] = await outcomes(conn)
    assert state == "pending"
    assert error is not None and error.startswith("smtp login: SMTPAuthenticationError")
    assert "wrong-password-42" not in error
    cur = await conn.execute("SELECT outcome, error FROM notification_attempts")
    [(outcome, recorded)] = await cur.fetchall()
    assert outcome == "error" and recorded == error


async def test_quiet_hours_hold_the_steps_not_a_condition_incident_and_nothing_after_delivery(
    conn: psycopg.AsyncConnection[Any], db: str, smtp: SmtpServer
) -> None:
    # 22:30 in Paris (21:30 UTC in winter): within 21:00-08:00.
    clock = FakeClock(datetime(2027, 1, 15, 21, 30, tzinfo=UTC))
    settings = settings_for(
        db, smtp, None, quiet_hours="21:00-08:00", shopper_timezone="Europe/Paris"
    )
    d = await dispatcher(conn, settings, clock)
    sid = await shipment(conn, "CT-MAIL-4")
    await qs.subscribe(conn, sid, "email", "camille@example.com", ["progress", "incidents"], "fr")
    await step(conn, sid, "in_transit", tracking_number="CT-MAIL-4")
    await step(conn, sid, "condition_incident", tracking_number="CT-MAIL-4",
               started_at="2027-01-15T20:05:00+00:00", peak=9.4, limit=8.0)  # fmt: skip
    await d.run_once()
    [incident] = smtp.mailbox.received
    text = incident.part("plain")
    assert incident.message["Subject"].endswith(
        "Important : la température de votre colis CT-MAIL-4"
    )
    # What happened (in the shopper's zone, with a decimal comma), what it means, the remedy.
    assert "le 15/01/2027 à 21:05 CET" in text and "9,4 °C" in text
    assert "n'est peut-être plus sûr" in text
    assert "nous vous envoyons un remplacement sans frais" in text
    cur = await conn.execute(
        "SELECT state, next_attempt_at, attempts, deferred FROM notifications"
        " WHERE notice_key LIKE '%%in_transit'"
    )
    state, next_at, attempts, deferred = await cur.fetchone()  # type: ignore[misc]
    assert (state, attempts, deferred) == ("pending", 0, 1)
    assert next_at == datetime(2027, 1, 16, 7, 0, tzinfo=UTC)  # 08:00 in Paris
    clock.now = next_at + timedelta(seconds=1)
    await d.run_once()
    assert [m.message["Subject"].split(" · ")[1] for m in smtp.mailbox.received] == [
        "Important : la température de votre colis CT-MAIL-4",
        "Votre colis CT-MAIL-4 est en route",
    ]
    # Delivered: the closing message; nothing after it.
    await conn.execute(
        "INSERT INTO checkpoints (shipment_id, source, external_id, checkpoint_time, status)"
        " VALUES (%s, 'carrier', 'd1', now(), 'Delivered')",
        (sid,),
    )
    await qs.subscribe(
        conn, sid, "email", "camille@example.com", ["progress", "delivery", "incidents"], "fr"
    )
    assert await step(conn, sid, "delivered", tracking_number="CT-MAIL-4") == 1
    assert await step(conn, sid, "out_for_delivery", tracking_number="CT-MAIL-4") == 0
    assert await step(conn, sid, "delay", tracking_number="CT-MAIL-4") == 0


async def test_erasing_a_shopper_stops_their_messages_and_forgets_them(
    conn: psycopg.AsyncConnection[Any], db: str, smtp: SmtpServer
) -> None:
    d = await dispatcher(conn, settings_for(db, smtp, None))
    sid = await shipment(conn, "CT-MAIL-5")
    await qs.subscribe(conn, sid, "email", "camille@example.com", ["progress"], "fr")
    await step(conn, sid, "in_transit", tracking_number="CT-MAIL-5")
    await qs.erase(conn, [sid])
    await d.run_once()
    assert smtp.mailbox.received == []
    cur = await conn.execute(
        "SELECT s.shopper_name, s.shopper_contact, s.shopper_erased_at IS NOT NULL, b.address"
        " FROM shipments s JOIN shopper_subscriptions b USING (shipment_id)"
        " WHERE s.shipment_id = %s",
        (sid,),
    )
    assert await cur.fetchone() == (None, None, True, None)


async def test_a_server_without_starttls_gets_nothing_when_starttls_is_required(
    conn: psycopg.AsyncConnection[Any], db: str
) -> None:
    for plain in smtp_server(None):  # no TLS at all
        d = await dispatcher(conn, settings_for(db, plain, None))
        sid = await shipment(conn, "CT-MAIL-6")
        await qs.subscribe(conn, sid, "email", "camille@example.com", ["progress"], "fr")
        await step(conn, sid, "in_transit", tracking_number="CT-MAIL-6")
        await d.run_once()
        assert plain.mailbox.received == []  # neither the password nor the message in clear
        [(_, _, state, error)] = await outcomes(conn)
        assert state == "pending"
        assert error == (
            "smtp starttls: SMTPNotSupportedError: the server does not offer STARTTLS"
            " (security=starttls)"
        )

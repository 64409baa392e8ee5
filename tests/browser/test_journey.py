"""The shopper told at each step, in a real browser (issue 17's first acceptance test): a shopper
subscribes by e-mail on the tracking page; the next step sends an e-mail in French that a real
SMTP server (aiosmtpd, STARTTLS and AUTH) receives; its unsubscribe link works, and the step
after sends nothing. The API runs in a real uvicorn, the dispatcher is ``run_dispatcher`` (what
``coldtrail alerts notify`` runs), PostgreSQL is real."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from playwright.async_api import Browser, expect
from pydantic import SecretStr

from alerts.io.notify_dispatch import run_dispatcher
from coldtrail.settings import DatabaseSettings, NotifySettings, SmtpSettings
from ingest import migrate
from tests.browser.seed import Demo, seed
from tests.integration.alerts.smtp import SMTP_PASSWORD, SMTP_USER, SmtpServer, smtp_server
from tests.integration.api.exception_rows import AS_ALICE, settings_with_users
from tests.integration.api.sse import serve

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

LINK_SECRET = "browser-tests-link-secret-0123456789abcdef"


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[SmtpServer]:
    yield from smtp_server(tmp_path)


@pytest.fixture
async def site(database_url: str, smtp: SmtpServer) -> AsyncIterator[tuple[str, Demo, str]]:
    migrate.migrate(database_url)
    settings = settings_with_users(
        database_url,
        live_poll_s=0.1,
        jwt_secret=SecretStr("browser-tests-jwt-secret-0123456789abcdef"),
        link_secret=SecretStr(LINK_SECRET),
        public_burst=1000,
        public_rate_per_min=6000,
    )
    async with serve(settings) as base:
        notify = NotifySettings(
            database=DatabaseSettings(url=SecretStr(database_url)),
            smtp=SmtpSettings(
                host="127.0.0.1",
                port=smtp.port,
                username=SMTP_USER,
                password=SecretStr(SMTP_PASSWORD),
                sender="suivi@pharmacie-du-parc.example",
                ca_file=smtp.ca_file,
                timeout_s=10,
            ),
            public_url=base,
            link_secret=SecretStr(LINK_SECRET),
            poll_interval_s=0.2,
        )
        stop = asyncio.Event()
        dispatcher = asyncio.create_task(run_dispatcher(notify, stop))
        try:
            yield base, await seed(base, database_url), database_url
        finally:
            stop.set()
            await dispatcher


async def post_checkpoint(
    base: str, demo: Demo, external_id: str, status: str, **more: Any
) -> None:
    async with httpx.AsyncClient(base_url=base, headers=AS_ALICE) as client:
        response = await client.post(
            "/v1/checkpoints",
            json={
                "tracking_number": demo.tracking_number,
                "source": "demo-carrier",
                "external_id": external_id,
                "time": datetime.now(UTC).isoformat(),
                "status": status,
                **more,
            },
        )
        assert response.status_code == 201, response.text


async def until(check: Any, what: str, seconds: float = 15.0) -> Any:
    async with asyncio.timeout(seconds):
        while not (result := check()):  # noqa: ASYNC110 (another thread receives)
            await asyncio.sleep(0.1)
    assert result, what
    return result


def outbox(url: str, template: str) -> list[tuple[str, str, str | None]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT n.channel_id, n.state, n.last_error FROM notifications n"
            " WHERE n.audience = 'shopper' AND n.template = %s ORDER BY n.notification_id",
            (template,),
        ).fetchall()
    return [(str(a), str(b), c) for a, b, c in rows]


async def test_a_shopper_subscribes_by_email_is_told_in_french_and_unsubscribes(
    browser: Browser, site: tuple[str, Demo, str], smtp: SmtpServer, screenshots: Path
) -> None:
    base, demo, url = site
    context = await browser.new_context(
        viewport={"width": 390, "height": 844},
        locale="fr-FR",
        extra_http_headers={"Accept-Language": "fr"},
    )
    page = await context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    await page.goto(f"{base}/t/{demo.token}")
    await expect(page.locator("#headline")).to_have_text("En cours de livraison")

    # The shopper subscribes by e-mail, to every kind of message (all are ticked).
    await expect(page.locator("#notify-title")).to_have_text("Restez informé")
    await page.get_by_label("E-mail").fill("camille@example.com")
    await page.locator("#notify-email-on").click()
    await expect(page.locator("#notify-status")).to_have_text(
        "Abonné : vous serez prévenu à la prochaine étape."
    )
    await expect(page.locator("#notify-email-current")).to_have_text(
        "E-mail : les messages vont à c•••@example.com"
    )
    await page.screenshot(path=str(screenshots / "journey-subscribed.png"), full_page=True)
    assert smtp.mailbox.received == []  # the steps before the subscription told nobody

    # The next step: the carrier could not deliver.
    await post_checkpoint(base, demo, "cp-attempt", "AttemptFail", message="Absent")
    await until(lambda: smtp.mailbox.received, "the e-mail of the failed attempt")
    [mail] = smtp.mailbox.received
    assert mail.recipients == ["camille@example.com"]
    assert mail.message["From"] == "Pharmacie du Parc <suivi@pharmacie-du-parc.example>"
    assert mail.message["Subject"] == (
        "Pharmacie du Parc · Nous n'avons pas pu livrer votre colis CT-LYON-0042"
    )
    text = mail.part("plain")
    assert text.startswith("Bonjour Camille,")
    assert "Que faire :" in text and "Le transporteur indique : Absent" in text
    assert "<p>Bonjour Camille,</p>" in mail.part("html")
    link = mail.message["List-Unsubscribe"].strip("<>")
    assert link.startswith(f"{base}/u/") and f"Pour ne plus recevoir ces messages : {link}" in text

    # Its unsubscribe link works, without the tracking link's token.
    unsubscribe = await context.new_page()
    await unsubscribe.goto(link)
    await expect(unsubscribe.locator("h1")).to_have_text(
        "Ne plus recevoir de messages sur ce colis par e-mail ?"
    )
    await unsubscribe.locator("#unsubscribe").click()
    await expect(unsubscribe.locator("#unsubscribed")).to_have_text(
        "C'est fait : vous ne recevrez plus de messages sur ce colis par e-mail."
    )
    await unsubscribe.screenshot(path=str(screenshots / "journey-unsubscribed.png"))
    await page.reload()
    await expect(page.locator("#notify-email-on")).to_be_visible()  # subscribe again, if wished

    # The step after (the delivery, which a subscriber would be told of) sends nothing.
    await post_checkpoint(base, demo, "cp-delivered", "Delivered", received_by="Camille Petit")
    [(channel, state, reason)] = outbox(url, "delivered")
    assert (channel, state) == ("", "skipped")
    assert reason == "shipment CT-LYON-0042: the shopper has no subscription to delivery messages"
    [(_, sent, _)] = outbox(url, "attempt_failed")[-1:]
    assert sent == "sent"
    await asyncio.sleep(1.0)  # five dispatcher polls
    assert len(smtp.mailbox.received) == 1
    assert errors == []

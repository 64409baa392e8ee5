"""Carriers on the pages, in a real browser: the shopper's page names the carrier of a leg, its
tracking number and a link to its own page; the ops console lists the legs and adds one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, expect
from pydantic import SecretStr

from ingest import migrate
from tests.browser.seed import Demo, seed
from tests.browser.test_pages import PageErrors, login, no_horizontal_overflow, shot
from tests.integration.api.exception_rows import AS_ALICE, settings_with_users
from tests.integration.api.sse import serve

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

NUMBER = "6A18987970674"


@pytest.fixture
async def site(database_url: str) -> AsyncIterator[tuple[str, Demo]]:
    migrate.migrate(database_url)
    settings = settings_with_users(
        database_url,
        live_poll_s=0.1,
        jwt_secret=SecretStr("browser-tests-jwt-secret-0123456789abcdef"),
        public_burst=1000,
        public_rate_per_min=6000,
    )
    async with serve(settings) as base:
        demo = await seed(base, database_url)
        async with httpx.AsyncClient(base_url=base, headers=AS_ALICE) as client:
            leg = {"kind": "carrier", "carrier": "colissimo", "carrier_tracking_number": NUMBER}
            response = await client.post(f"/v1/shipments/{demo.tracking_number}/legs", json=leg)
            assert response.status_code == 201, response.text
        yield base, demo


async def test_the_shopper_sees_the_carrier_and_its_link(
    browser: Browser, site: tuple[str, Demo], screenshots: Path
) -> None:
    base, demo = site
    for width in (1280, 360):
        context = await browser.new_context(
            viewport={"width": width, "height": 900}, extra_http_headers={"Accept-Language": "fr"}
        )
        page = await context.new_page()
        errors = PageErrors(page)
        await page.goto(f"{base}/t/{demo.token}")
        carriers = page.locator("#carriers")
        await expect(carriers).to_contain_text(f"Transporté par Colissimo · {NUMBER}")
        link = carriers.get_by_role("link", name="suivre sur le site du transporteur")
        await expect(link).to_have_attribute(
            "href", f"https://www.laposte.fr/outils/suivre-vos-envois?code={NUMBER}"
        )
        await no_horizontal_overflow(page, width)
        await shot(page, screenshots, f"track-carrier-{width}.png")
        assert errors.errors == []
        await context.close()


async def test_ops_lists_and_adds_legs(
    browser: Browser, site: tuple[str, Demo], screenshots: Path
) -> None:
    base, demo = site
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    errors = PageErrors(page)
    await login(page, base)
    await page.goto(f"{base}/ops#/shipment/{demo.tracking_number}")
    legs = page.locator("#ship-legs")
    await expect(legs).to_contain_text(f"1. Colissimo {NUMBER} · not polled yet")
    await page.get_by_label("Carrier", exact=True).fill("dhl")
    await page.get_by_label("Tracking number or vehicle").fill("JD014600006101234567")
    await page.get_by_role("button", name="Add leg").click()
    await expect(legs).to_contain_text("2. DHL JD014600006101234567")
    await page.get_by_label("Carrier", exact=True).fill("pigeon")
    await page.get_by_label("Tracking number or vehicle").fill("X1")
    await page.get_by_role("button", name="Add leg").click()
    await expect(page.locator("#ship-legs-title + ul + form + p.form-error")).to_be_visible()
    await shot(page, screenshots, "ops-legs-1280.png")
    assert errors.errors == [] or all("422" in e for e in errors.errors), errors.errors
    await context.close()

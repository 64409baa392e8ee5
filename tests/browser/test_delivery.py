"""Delivery ends the story, in a real browser (issue 14's acceptance): after a Delivered
checkpoint the van keeps driving and measuring, and the shopper's page shows no position or
reading from after the delivery, live or after a reload; it shows the proof of delivery and the
final condition instead."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import psycopg
import pytest
from playwright.async_api import Browser, Page, expect
from pydantic import SecretStr

from ingest import migrate
from tests.browser.seed import GATEWAY, TAG, Demo, seed
from tests.integration.api.conftest import insert_positions, insert_readings, judge
from tests.integration.api.exception_rows import AS_ALICE, settings_with_users
from tests.integration.api.sse import serve

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

AFTER = 12.3
"""What the van's logger reads after the delivery (the demo's readings stay below 9.5 °C)."""


@pytest.fixture
async def site(database_url: str) -> AsyncIterator[tuple[str, Demo, str]]:
    migrate.migrate(database_url)
    settings = settings_with_users(
        database_url,
        live_poll_s=0.1,
        jwt_secret=SecretStr("browser-tests-jwt-secret-0123456789abcdef"),
        public_burst=1000,
        public_rate_per_min=6000,
    )
    async with serve(settings) as base:
        yield base, await seed(base, database_url), database_url


def accept_fixes(url: str) -> None:
    with psycopg.connect(url) as conn:
        conn.execute("UPDATE positions SET outcome = 'moving' WHERE outcome IS NULL")


async def visible_text(page: Page) -> str:
    return await page.locator("main").inner_text()


async def test_after_delivery_the_page_shows_nothing_the_van_measures(
    browser: Browser, site: tuple[str, Demo, str], screenshots: Path
) -> None:
    base, demo, url = site
    delivered_at = demo.started + timedelta(minutes=117)
    # A fix after the delivery's time, stored before the carrier says it delivered.
    insert_positions(url, [(demo.started + timedelta(minutes=119), GATEWAY, 500, GATEWAY,
                            45.7800, 4.9000)])  # fmt: skip
    accept_fixes(url)
    await judge(url)
    context = await browser.new_context(
        viewport={"width": 1280, "height": 900},
        locale="en-GB",
        extra_http_headers={"Accept-Language": "en"},
    )
    page = await context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    await page.goto(f"{base}/t/{demo.token}")
    await expect(page.locator("#headline")).to_have_text("Out for delivery")
    await expect(page.locator("#live")).to_contain_text("Live")
    await expect(page.locator("#delivery")).to_be_hidden()
    route_before = await page.locator("#map path.route-line").get_attribute("d")

    # The carrier tells, three minutes late, that it delivered at minute 117.
    async with httpx.AsyncClient(base_url=base, headers=AS_ALICE) as client:
        response = await client.post(
            "/v1/checkpoints",
            json={
                "tracking_number": demo.tracking_number,
                "source": "demo-carrier",
                "external_id": "cp-delivered",
                "time": delivered_at.isoformat(),
                "status": "Delivered",
                "location": "Villeurbanne",
                "received_by": "Camille Petit",
                "signature_name": "C. Petit",
                "photo_url": "https://pod.example-carrier.com/photos/8842.jpg",
            },
        )
        assert response.status_code == 201, response.text
        await judge(url)  # ingest's rule runner: the delivery cut the custody, judge it again
        view = (await client.get(f"/v1/track/{demo.token}")).json()
    await expect(page.locator("#headline")).to_have_text("Delivered", timeout=10_000)
    await expect(page.locator("#delivery-text")).to_contain_text("received by Camille Petit")
    await expect(page.locator("#delivery-text")).to_contain_text("at Villeurbanne")
    await expect(page.locator("#delivery-condition")).to_have_text(
        "Excursion during transit, see details"
    )
    photo = page.get_by_role("link", name="Photo of the delivery")
    await expect(photo).to_have_attribute("href", "https://pod.example-carrier.com/photos/8842.jpg")
    await expect(page.locator("#delivery-proof")).to_contain_text("Signed: C. Petit")
    await expect(page.locator("#live")).to_have_text("Delivered: tracking has ended")
    await expect(page.locator("#map-caption")).to_contain_text("Last position before delivery")
    # The fix of minute 119 is gone from the route; the readings stop before minute 117.
    assert await page.locator("#map path.route-line").get_attribute("d") != route_before
    last_fix = max(p["time"] for p in view["route"])
    assert last_fix < delivered_at.isoformat().replace("+00:00", "Z")
    assert view["condition"]["last"]["time"] < delivered_at.isoformat().replace("+00:00", "Z")
    steps = await page.locator("#timeline li .what").all_text_contents()
    assert "Handed over: tracking ended" in steps
    # As a shopper opening the link now sees it (the map fitted to the route once).
    await page.reload()
    await expect(page.locator("#live")).to_have_text("Delivered: tracking has ended")
    summary = await page.locator("#chart-summary").text_content() or ""
    points = int(summary.split()[0])
    route_frozen = await page.locator("#map path.route-line").get_attribute("d")

    # The van drives on to its next customers and its logger reads 12.3 °C.
    now = demo.started + timedelta(minutes=121)
    insert_readings(url, [(now + timedelta(minutes=m), TAG, 900 + m, AFTER) for m in range(3)])
    insert_positions(
        url,
        [(now + timedelta(minutes=m), GATEWAY, 900 + m, GATEWAY, 45.79 + m / 100, 4.91)
         for m in range(3)],
    )  # fmt: skip
    accept_fixes(url)
    await judge(url)
    await page.wait_for_timeout(1500)  # fifteen polls of the live stream (were it still open)
    for attempt in ("live", "reloaded"):
        await expect(page.locator("#headline")).to_have_text("Delivered")
        assert "12.3" not in await visible_text(page), attempt
        route_now = await page.locator("#map path.route-line").get_attribute("d")
        assert route_now == route_frozen, (attempt, route_now, route_frozen)
        summary = await page.locator("#chart-summary").text_content() or ""
        assert int(summary.split()[0]) == points, (attempt, summary)
        await page.reload()
    await page.locator("details.chart-table summary").click()
    assert "12.3" not in await visible_text(page)
    async with httpx.AsyncClient(base_url=base) as client:
        after = (await client.get(f"/v1/track/{demo.token}")).json()
    cut = delivered_at.isoformat().replace("+00:00", "Z")
    assert after["route"] == view["route"] and after["position"] == view["position"]
    assert all(p["time"] < cut for p in after["temperatures"])
    assert after["temperatures"] == view["temperatures"]
    await page.set_viewport_size({"width": 360, "height": 780})
    await page.wait_for_timeout(400)
    await page.screenshot(path=str(screenshots / "shopper-delivered-360.png"), full_page=True)
    assert errors == [], errors
    await context.close()

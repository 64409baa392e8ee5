"""The shopper's page and the ops console in a real browser (chromium through Playwright),
against a real uvicorn API and a real PostgreSQL: what a shopper sees and how it updates live,
an agent working an exception to its resolution, screenshots at 1280 and 360 px."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg
import pytest
from playwright.async_api import Browser, Page, expect
from pydantic import SecretStr

from ingest import migrate
from tests.browser.seed import AGENT, AGENT_PASSWORD, GATEWAY, TAG, Demo, seed
from tests.integration.api.conftest import insert_positions, insert_readings
from tests.integration.api.exception_rows import BOB, open_exception, settings_with_users
from tests.integration.api.sse import serve

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

WIDTHS = (1280, 360)


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


class PageErrors:
    """Console errors, uncaught exceptions and CSP violations of a page: none are expected."""

    def __init__(self, page: Page) -> None:
        self.errors: list[str] = []
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))


async def no_horizontal_overflow(page: Page, width: int) -> None:
    scroll_width = await page.evaluate("document.scrollingElement.scrollWidth")
    assert scroll_width <= width, f"the page is {scroll_width} px wide at {width} px"


async def shot(page: Page, directory: Path, name: str) -> None:
    await page.screenshot(path=str(directory / name), full_page=True)
    assert (directory / name).stat().st_size > 10_000, "an empty screenshot"


async def test_the_shopper_sees_map_chart_and_timeline_and_live_updates(
    browser: Browser, site: tuple[str, Demo, str], screenshots: Path
) -> None:
    base, demo, url = site
    async with httpx.AsyncClient() as client:
        html = await client.get(f"{base}/t/{demo.token}", headers={"Accept-Language": "en"})
    assert html.status_code == 200
    assert demo.token not in html.text, "the page's HTML must not carry the token"
    csp = html.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "default-src 'none'" in csp and html.headers["referrer-policy"] == "no-referrer"

    context = await browser.new_context(
        viewport={"width": 1280, "height": 900},
        locale="en-GB",
        extra_http_headers={"Accept-Language": "en"},
    )
    page = await context.new_page()
    errors = PageErrors(page)
    await page.goto(f"{base}/t/{demo.token}")
    await expect(page.locator("#headline")).to_have_text("Out for delivery")
    await expect(page.locator("#brand-name")).to_have_text("Pharmacie du Parc")
    await expect(page.locator("#condition-badge")).to_have_text("Temperature excursion")
    await expect(page.locator("#eta")).to_contain_text("Expected")
    # The map: the offline basemap's countries, the route and the current position.
    await expect(page.locator("#map path.route-line")).to_have_count(1)
    await expect(page.locator("#map path.position-marker")).to_have_count(1)
    # The countries: the basemap loads after the page (waited for, not counted at once).
    await page.wait_for_function(
        "document.querySelectorAll('#map .leaflet-overlay-pane path').length > 20"
    )
    # The chart: the band, the line, the readings outside the band, a text alternative.
    await expect(page.locator("#chart svg .chart-band")).to_have_count(1)
    await expect(page.locator("#chart svg .chart-line")).to_have_count(1)
    assert await page.locator("#chart svg .chart-out circle").count() >= 1  # the excursion
    summary = await page.locator("#chart-summary").text_content() or ""
    points = int(summary.split()[0])  # every reading counts (the API's raw range)
    assert points > 10, summary
    await expect(page.locator("#chart svg")).to_have_attribute("role", "img")
    # The timeline in plain words, newest first.
    steps = page.locator("#timeline li .what")
    # The rule runner judged the seeded readings just now: its exception is the newest step.
    await expect(steps.first).to_have_text("Our team is looking into it")
    texts = await steps.all_text_contents()
    assert "Order information received" in texts and "Temperature back within range" in texts
    assert "Out for delivery" in texts and "Left Lyon Gerland" in texts
    await expect(page.locator("#live")).to_contain_text("Live")

    # A new reading and a new accepted fix arrive through SSE, without reloading.
    route_before = await page.locator("#map path.route-line").get_attribute("d")
    now = datetime.now(UTC).replace(microsecond=0)
    insert_readings(url, [(now, TAG, 1000, 6.6)])
    await expect(page.locator("#condition-text")).to_contain_text("6.6 °C", timeout=10_000)
    await expect(page.locator("#chart-summary")).to_contain_text(f"{points + 1} readings")
    insert_positions(url, [(now, GATEWAY, 1000, GATEWAY, 45.7690, 4.8850)])
    with psycopg.connect(url) as conn:
        conn.execute("UPDATE positions SET outcome = 'moving' WHERE seq = 1000")
    await expect(page.locator("#map path.route-line")).not_to_have_attribute(
        "d", route_before or "", timeout=10_000
    )

    for width in WIDTHS:
        await page.set_viewport_size({"width": width, "height": 900 if width > 400 else 780})
        await page.wait_for_timeout(400)  # the chart redraws for the new width
        await shot(page, screenshots, f"shopper-{width}.png")
        if width == 360:
            await no_horizontal_overflow(page, width)

    # The switch: French strings, and the choice is kept.
    await page.get_by_role("button", name="FR").click()
    await expect(page.locator("#headline")).to_have_text("En cours de livraison")
    await expect(page.locator("html")).to_have_attribute("lang", "fr")
    await page.reload()
    await expect(page.locator("#headline")).to_have_text("En cours de livraison")
    assert errors.errors == [], errors.errors
    await context.close()


async def test_the_chart_shades_the_stored_excursion_and_states_the_raw_minimum(
    browser: Browser, site: tuple[str, Demo, str]
) -> None:
    """The issue's case: a cold reading between two mild ones, which an average per bucket
    would hide (it said "minimum 11.4 °C" for readings that started at 4.98 °C)."""
    base, demo, url = site
    insert_readings(url, [(demo.started + timedelta(minutes=1), TAG, 500, 2.16)])
    context = await browser.new_context(
        viewport={"width": 1280, "height": 900},
        locale="en-GB",
        extra_http_headers={"Accept-Language": "en"},
    )
    page = await context.new_page()
    errors = PageErrors(page)
    await page.goto(f"{base}/t/{demo.token}")
    summary = page.locator("#chart-summary")
    await expect(summary).to_contain_text("61 readings")
    await expect(summary).to_contain_text("lowest 2.2 °C")
    await expect(summary).to_contain_text("highest 9.4 °C")  # read at minute 60
    await expect(summary).to_contain_text("1 temperature excursion recorded")
    await expect(page.locator("#chart-table-caption")).to_contain_text("Lowest reading 2.2 °C")
    await expect(page.locator("#chart-table-caption")).to_contain_text("Every reading")
    # The stored alert (from minute 42, the first reading above 8 °C, to minute 82, the first
    # back below 7.8 °C) is shaded, with its times in words; the readings above 8 °C fall in it.
    span = page.locator("#chart svg .chart-excursion")
    await expect(span).to_have_count(1)
    start, end = (demo.started + timedelta(minutes=m) for m in (42, 82))
    hhmm = "t => new Intl.DateTimeFormat('en-GB', {hour: '2-digit', minute: '2-digit'})"
    hhmm += ".format(new Date(t))"
    times = [await page.evaluate(hhmm, t.isoformat()) for t in (start, end)]
    await expect(span.locator("title")).to_have_text(
        f"Temperature excursion from {times[0]} to {times[1]}"
    )
    left = float(await span.get_attribute("x") or "nan")
    right = left + float(await span.get_attribute("width") or "nan")
    cxs = await page.locator("#chart svg .chart-out circle").evaluate_all(
        "circles => circles.map(c => Number(c.getAttribute('cx')))"
    )
    assert cxs and all(left <= x <= right for x in cxs), (left, right, cxs)
    assert errors.errors == [], errors.errors
    await context.close()


async def test_french_by_accept_language_and_one_friendly_404(
    browser: Browser, site: tuple[str, Demo, str]
) -> None:
    base, demo, url = site
    context = await browser.new_context(
        viewport={"width": 360, "height": 780},
        locale="fr-FR",
        extra_http_headers={"Accept-Language": "fr-FR,fr;q=0.9,en;q=0.5"},
    )
    page = await context.new_page()
    errors = PageErrors(page)
    await page.goto(f"{base}/t/{demo.token}")
    await expect(page.locator("#headline")).to_have_text("En cours de livraison")
    await expect(page.locator("#condition-badge")).to_have_text("Écart de température")
    await no_horizontal_overflow(page, 360)
    assert errors.errors == [], errors.errors
    # Unknown, malformed and revoked links: the same page, 404 (which the console reports).
    with psycopg.connect(url) as conn:
        conn.execute("UPDATE shipments SET access_token_revoked_at = now()")
    bodies = set()
    for token in ("x" * 22, demo.token, "not~a~token", "a" * 500):
        response = await page.goto(f"{base}/t/{token}")
        assert response is not None and response.status == 404
        await expect(page.locator("h1")).to_have_text("Nous n'avons pas trouvé ce lien de suivi")
        bodies.add(await page.content())
        await no_horizontal_overflow(page, 360)
    assert len(bodies) == 1
    assert all("404 (Not Found)" in e for e in errors.errors), errors.errors
    await context.close()


async def login(page: Page, base: str) -> None:
    await page.goto(f"{base}/ops")
    await page.get_by_label("User name").fill(AGENT)
    await page.get_by_label("Password").fill(AGENT_PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#who-name")).to_have_text(f"{AGENT} (agent)")


async def test_an_agent_resolves_an_exception_end_to_end(
    browser: Browser, site: tuple[str, Demo, str], screenshots: Path
) -> None:
    base, demo, url = site
    context = await browser.new_context(
        viewport={"width": 1280, "height": 900}, accept_downloads=True
    )
    page = await context.new_page()
    errors = PageErrors(page)
    await login(page, base)
    row = page.locator(f"tr[data-exception='{demo.exception_id}']")
    await expect(row).to_contain_text("Temperature above 8 °C")
    await expect(row).to_contain_text("open")
    await expect(row).to_contain_text("min left")  # opened by the rules just now; 30 min SLA
    # A state filter that excludes it, then back.
    await page.get_by_label("State").select_option("resolved")
    await expect(row).to_have_count(0)
    await page.get_by_label("State").select_option("active")
    await expect(row).to_have_count(1)
    await shot(page, screenshots, "ops-queue-1280.png")

    await row.get_by_role("link", name="Temperature above 8 °C").click()
    await expect(page.locator("#exc-title")).to_contain_text(f"#{demo.exception_id}")
    await page.locator("#act-ack").get_by_role("button", name="Acknowledge").click()
    await expect(page.locator("#flash")).to_have_text("Acknowledged.")
    await page.get_by_label("Assignee (empty: nobody)").fill(AGENT)
    await page.locator("#act-assign").get_by_role("button", name="Assign").click()
    await expect(page.locator("#exc-assignee")).to_have_text(AGENT)
    await page.get_by_role("textbox", name="Comment", exact=True).fill(
        "Door left open at the Lyon 3e stop; parcel checked."
    )
    await page.get_by_role("button", name="Add comment").click()
    await expect(page.locator(".comments li")).to_contain_text("Door left open")
    await page.get_by_label("Resolution").select_option("accepted_with_deviation")
    await page.get_by_label("Reason (kept in the audit trail)").fill(
        "14 min above 8 °C, peak 9.4 °C: within the stability budget."
    )
    await page.locator("#act-resolve").get_by_role("button", name="Resolve").click()
    await expect(page.locator("#flash")).to_have_text("Resolved.")
    await expect(page.locator("#exc-resolution")).to_have_text("Accepted with deviation")
    await expect(page.locator(".actions")).to_have_count(0)  # a resolved exception is final
    # Nothing of the absent actions card is written out (it once showed a stray "null").
    view_text = await page.locator("#view").evaluate(
        "v => [...v.childNodes].filter(n => n.nodeType === 3).map(n => n.textContent).join('')"
    )
    assert "null" not in view_text
    await expect(page.get_by_text("Audit chain intact")).to_be_visible()
    actions = await page.locator("table.audit tbody tr td:nth-child(4)").all_text_contents()
    assert [a.split("{")[0] for a in actions] == [
        "opened",
        "acknowledged",
        "assigned",
        "comment",
        "resolved",
    ]

    with psycopg.connect(url) as conn:
        row_db = conn.execute(
            "SELECT state, resolution, assignee FROM exceptions WHERE exception_id = %s",
            (demo.exception_id,),
        ).fetchone()
    assert row_db == ("resolved", "accepted_with_deviation", AGENT)

    # The shipment: map, chart, alerts, the PDF report.
    await page.get_by_role("link", name=demo.tracking_number).first.click()
    await expect(page.locator("#ship-title")).to_have_text(f"Shipment {demo.tracking_number}")
    await expect(page.locator("#ops-map path.route-line")).to_have_count(1)
    await expect(page.locator("#ops-chart svg .chart-line")).to_have_count(1)
    # The excursion, and the van's visit of its origin zone (info, a fact of the geofence).
    await expect(page.locator("#ship-alerts-title")).to_have_text("Alerts (2)")
    async with page.expect_download() as download_info:
        await page.get_by_role("button", name="Download PDF report").click()
    download = await download_info.value
    pdf = await asyncio.to_thread((await download.path()).read_bytes)
    assert pdf[:5] == b"%PDF-"
    for width in WIDTHS:
        await page.set_viewport_size({"width": width, "height": 900 if width > 400 else 780})
        await page.wait_for_timeout(400)
        await shot(page, screenshots, f"ops-shipment-{width}.png")
        if width == 360:
            await no_horizontal_overflow(page, width)
    await page.goto(f"{base}/ops#/queue")
    await page.get_by_label("State").select_option("")
    await expect(page.locator(f"tr[data-exception='{demo.exception_id}']")).to_contain_text(
        "resolved"
    )
    await no_horizontal_overflow(page, 360)
    await shot(page, screenshots, "ops-queue-360.png")
    assert errors.errors == [], errors.errors
    await context.close()


async def test_the_queue_updates_live_and_an_api_key_signs_in(
    browser: Browser, site: tuple[str, Demo, str]
) -> None:
    base, demo, url = site
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    errors = PageErrors(page)
    await page.goto(f"{base}/ops")
    await page.get_by_role("textbox", name="API key").fill("not-a-key")
    await page.get_by_role("button", name="Use this key").click()
    await expect(page.get_by_role("alert")).to_have_text("That key is not valid.")
    await page.get_by_role("textbox", name="API key").fill(BOB)
    await page.get_by_role("button", name="Use this key").click()
    await expect(page.locator("#who-name")).to_have_text("bob (agent)")
    await expect(page.locator("table.queue tbody tr")).to_have_count(1)
    await expect(page.locator(".section-head .live")).to_have_text("Live")
    second = open_exception(
        url,
        demo.tracking_number,
        datetime.now(UTC) - timedelta(minutes=1),
        kind="shock",
        severity="warning",
        title="Shock above 4 g",
    )
    await expect(page.locator(f"tr[data-exception='{second}']")).to_contain_text(
        "Shock above 4 g", timeout=10_000
    )
    # The fleet section lists the van with its gateway (which never reported: "never").
    await page.get_by_role("link", name="Fleet").click()
    await expect(page.get_by_role("region", name="Fleet map")).to_be_visible()
    await expect(page.locator("#fleet-title")).to_have_text("Fleet")
    await expect(page.locator("#fleet-title + .map + p")).to_contain_text("1 vehicle;")
    await expect(page.get_by_role("row", name="Van LY-07")).to_contain_text("never")
    # Only the refused key's answer.
    assert all("401 (Unauthorized)" in e for e in errors.errors), errors.errors
    await context.close()

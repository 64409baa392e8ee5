"""The merchant's KPIs in a real browser (issue 17's acceptance): a shopper rates a delivery with
one tap, an agent finds a shipment and records a "where is my order" contact with one button,
and the KPI page shows its charts per week and per carrier against the targets, in English and
in French (screenshots saved)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from playwright.async_api import Browser, Page, expect
from pydantic import SecretStr

from api import kpis
from ingest import migrate
from ingest.alert_sink import EXCEPTION_KIND
from tests.integration.api.exception_rows import (
    AS_ALICE,
    AS_BOB,
    BOB,
    insert_alert,
    open_exception,
    settings_with_users,
)
from tests.integration.api.sse import serve

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

THIS_MONDAY = datetime.combine(kpis.week_start(datetime.now(UTC)), time(), UTC)
CARRIERS = ("dhl", "ups")


def tn(week: int, i: int) -> str:
    return f"CT-K-{week}{i}"


async def seed(base: str, url: str) -> dict[str, str]:
    """Four past weeks of three shipments each, delivered by two carriers in 1 to 3 days (some
    late), a few incidents, ratings and contacts; the tokens of the shipments by number."""
    tokens: dict[str, str] = {}
    async with httpx.AsyncClient(base_url=base, headers=AS_ALICE, timeout=30) as client:

        async def ok(response: httpx.Response) -> dict[str, Any]:
            assert response.is_success, response.text
            return dict(response.json())

        for week in range(1, 5):
            for i in range(3):
                number = tn(week, i)
                created = THIS_MONDAY - timedelta(weeks=week) + timedelta(hours=9 + i)
                body = {
                    "tracking_number": number,
                    "shopper_name": f"Shopper {week}{i}",
                    "destination": "Villeurbanne" if i else "Rungis",
                    "promised_at": (created + timedelta(days=2)).isoformat(),
                    "parcels": [{"parcel_id": f"PK-{week}{i}"}],
                }
                made = await ok(await client.post("/v1/shipments", json=body))
                tokens[number] = made["access_token"]
                with psycopg.connect(url) as conn:
                    conn.execute(
                        "UPDATE shipments SET created_at = %s WHERE tracking_number = %s",
                        (created, number),
                    )
                delivered = created + timedelta(days=1 + (week + i) % 3, hours=2)
                checkpoint = {
                    "tracking_number": number,
                    "source": CARRIERS[(week + i) % 2],
                    "external_id": f"{number}-delivered",
                    "time": delivered.isoformat(),
                    "status": "Delivered",
                }
                await ok(await client.post("/v1/checkpoints", json=checkpoint))
                if i != 2:
                    score = 5 if (week + i) % 4 else 2
                    rating = {"score": score}
                    await ok(
                        await client.put(f"/v1/track/{made['access_token']}/rating", json=rating)
                    )
                if (week, i) in ((1, 1), (3, 0)):
                    exception_id = open_exception(url, number, created + timedelta(hours=3))
                    start = created + timedelta(hours=2)
                    parcel = ("parcel", f"PK-{week}{i}")
                    insert_alert(url, number, parcel, start, exception_id=exception_id)
                    with psycopg.connect(url) as conn:
                        conn.execute(
                            "UPDATE exceptions SET state = 'resolved', resolution = 'refunded',"
                            " resolved_at = %s WHERE exception_id = %s",
                            (start + timedelta(hours=5 * week), exception_id),
                        )
        contact = await client.post(f"/v1/shipments/{tn(2, 1)}/contacts", headers=AS_BOB)
        assert contact.status_code == 201, contact.text
        for number, token in list(tokens.items())[:6]:
            for _ in range(1 + len(number) % 3):
                assert (await client.get(f"/t/{token}")).status_code == 200
    return tokens


@pytest.fixture
async def site(database_url: str) -> AsyncIterator[tuple[str, dict[str, str], str]]:
    migrate.migrate(database_url)
    settings = settings_with_users(
        database_url,
        jwt_secret=SecretStr("browser-tests-jwt-secret-0123456789abcdef"),
        public_burst=1000,
        public_rate_per_min=6000,
    )
    async with serve(settings) as base:
        yield base, await seed(base, database_url), database_url


class PageErrors:
    def __init__(self, page: Page) -> None:
        self.errors: list[str] = []
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))


async def shot(page: Page, directory: Path, name: str) -> None:
    await page.screenshot(path=str(directory / name), full_page=True)
    assert (directory / name).stat().st_size > 10_000, "an empty screenshot"


async def sign_in_with_key(page: Page, base: str) -> None:
    await page.goto(f"{base}/ops")
    await page.get_by_role("textbox", name="API key").fill(BOB)
    await page.get_by_role("button", name="Use this key").click()
    await expect(page.locator("#who-name")).to_have_text("bob (agent)")


async def test_a_shopper_rates_the_delivery_with_one_tap(
    browser: Browser, site: tuple[str, dict[str, str], str]
) -> None:
    base, tokens, url = site
    context = await browser.new_context(
        viewport={"width": 360, "height": 780}, extra_http_headers={"Accept-Language": "fr"}
    )
    page = await context.new_page()
    errors = PageErrors(page)
    await page.goto(f"{base}/t/{tokens[tn(1, 2)]}")  # delivered, not rated yet
    await expect(page.locator("#rating-question")).to_have_text(
        "Comment s'est passée votre livraison ?"
    )
    await page.get_by_role("button", name="4 sur 5").click()
    await expect(page.locator("#rating-thanks")).to_have_text(
        "Merci : vous avez noté cette livraison 4 sur 5."
    )
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT r.score FROM shipment_ratings r JOIN shipments s USING (shipment_id)"
            " WHERE s.tracking_number = %s",
            (tn(1, 2),),
        ).fetchone()
    assert row == (4,)
    # After a reload the page remembers it.
    await page.reload()
    await expect(page.get_by_role("button", name="4 sur 5")).to_have_attribute(
        "aria-pressed", "true"
    )
    assert errors.errors == [], errors.errors
    await context.close()


async def test_the_kpi_page_shows_its_charts_in_english_and_french(
    browser: Browser, site: tuple[str, dict[str, str], str], screenshots: Path
) -> None:
    base, _tokens, _url = site
    context = await browser.new_context(
        viewport={"width": 1280, "height": 900}, extra_http_headers={"Accept-Language": "en"}
    )
    page = await context.new_page()
    errors = PageErrors(page)
    await sign_in_with_key(page, base)

    # An agent finds a shipment and records that its shopper asked where it is.
    await page.get_by_role("link", name="Shipments").click()
    await expect(page.locator("table.shipments tbody tr")).to_have_count(12)
    await page.get_by_label("Search").fill(tn(3, 1))
    await page.get_by_role("button", name="Search", exact=True).click()
    await expect(page.locator("table.shipments tbody tr")).to_have_count(1)
    await page.get_by_role("link", name=tn(3, 1)).click()
    await expect(page.locator("#ship-title")).to_have_text(f"Shipment {tn(3, 1)}")
    await page.get_by_role("button", name="Shopper asked “where is my order?”").click()
    await expect(page.locator("#flash")).to_have_text("Contact recorded (1 for this shipment).")

    await page.get_by_role("link", name="KPIs").click()
    cards = page.locator("#kpi-cards .kpi-card")
    await expect(cards).to_have_count(len(kpis.TARGETS))
    await expect(page.locator("#kpi-title")).to_have_text("KPIs")
    on_time = page.locator(".kpi-card[data-kpi='on_time_rate']")
    await expect(on_time).to_contain_text("target ≥ 95 %")
    # Every KPI charted per week (8 weeks: 4 with shipments) and per carrier, targets dashed.
    await expect(page.locator("#kpi-by-week svg.kpi-chart")).to_have_count(len(kpis.TARGETS))
    await expect(page.locator("#kpi-by-carrier svg.kpi-chart")).to_have_count(len(kpis.TARGETS))
    week_bars = page.locator("#kpi-by-week figure[data-kpi='delivery_days_median'] rect.kpi-bar")
    await expect(week_bars).to_have_count(4)
    carrier_bars = page.locator("#kpi-by-carrier figure[data-kpi='on_time_rate'] rect.kpi-bar")
    await expect(carrier_bars).to_have_count(len(CARRIERS))
    await expect(page.locator("#kpi-by-week .kpi-target-line")).to_have_count(
        sum(1 for t in kpis.TARGETS.values() if t is not None)
    )
    label = await page.locator("#kpi-by-carrier figure[data-kpi='wismo_rate'] svg").get_attribute(
        "aria-label"
    )
    assert label and "dhl" in label and "ups" in label, label
    # The figures are the API's: the page shows what GET /v1/kpis says.
    async with httpx.AsyncClient(base_url=base, headers=AS_BOB) as client:
        report = (await client.get("/v1/kpis", params={"weeks": 8})).json()
    wismo = next(m for m in report["overall"]["metrics"] if m["name"] == "wismo_rate")
    assert wismo["value"] == pytest.approx(2 / 12)
    await expect(page.locator(".kpi-card[data-kpi='wismo_rate'] .kpi-value")).to_have_text("17 %")
    await shot(page, screenshots, "ops-kpis-1280.png")

    # One carrier only.
    await page.get_by_label("Carrier", exact=True).select_option("ups")
    await expect(carrier_bars).to_have_count(1)
    await page.get_by_label("Carrier", exact=True).select_option("")

    # In French, at 360 px.
    await page.set_viewport_size({"width": 360, "height": 780})
    await page.get_by_role("button", name="FR").click()
    await expect(page.locator("#kpi-title")).to_have_text("Indicateurs")
    await expect(page.locator("#nav a[data-section='shipments']")).to_have_text("Expéditions")
    await expect(on_time).to_contain_text("objectif ≥ 95 %")
    assert await page.evaluate("document.documentElement.lang") == "fr"
    scroll_width = await page.evaluate("document.scrollingElement.scrollWidth")
    assert scroll_width <= 360, f"the page is {scroll_width} px wide at 360 px"
    await shot(page, screenshots, "ops-kpis-fr-360.png")
    # Every string has both languages.
    missing = await page.evaluate(
        """async () => {
            const { OPS_STRINGS } = await import('/static/ops_i18n.js');
            const en = Object.keys(OPS_STRINGS.en), fr = Object.keys(OPS_STRINGS.fr);
            return [en.filter(k => !fr.includes(k)), fr.filter(k => !en.includes(k))];
        }"""
    )
    assert missing == [[], []], missing
    # The queue in French, with the kind filter offering the stored kinds.
    await page.locator("#nav a[data-section='queue']").click()
    await expect(page.locator("#queue-title")).to_have_text("File des exceptions")
    kinds = await page.locator("#f-kind option").evaluate_all("o => o.map(x => x.value)")
    # The kinds the rule runner opens exceptions of, no other (one registry).
    assert kinds == ["", *dict.fromkeys(EXCEPTION_KIND.values())]
    # A shipment in French: its title, facts and timeline.
    await page.goto(f"{base}/ops#/shipment/{tn(3, 0)}")
    await expect(page.locator("#ship-title")).to_have_text(f"Expédition {tn(3, 0)}")
    await expect(page.locator("#ship-events-title")).to_have_text("Chronologie")
    await expect(page.locator("ol.events")).to_contain_text(
        "Exception n° 2 ouverte : Temperature above 8 °C"
    )
    assert errors.errors == [], errors.errors
    await context.close()

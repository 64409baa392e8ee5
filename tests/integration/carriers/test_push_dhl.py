"""DHL Shipment Tracking - Unified - Push (carriers/push.py), against a real PostgreSQL: the
subscription's token is checked; a notification's events are stored like pulled ones, once
however often they come; delivered ends the leg; an unknown number and an unreadable body are
kept as dead letters, never dropped."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import psycopg
import pytest

from carriers.connectors.dhl_push import HEADER
from carriers.push import create_app
from tests.integration.carriers.conftest import DATA, carrier_leg, shipment_with_leg

pytestmark = pytest.mark.integration

SECRET = "dhl-push-subscription-token-4567"
NUMBER = "00340434161094042557"
RECORDED: dict[str, Any] = json.loads((DATA / "dhl" / f"{NUMBER}.json").read_text())


@pytest.fixture
async def push(migrated_url: str) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(migrated_url, {"dhl": SECRET})
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://push") as client:
            yield client


def notification(*events: dict[str, Any], number: str = NUMBER) -> dict[str, Any]:
    # The Default format: the shape of the Unified tracking API's answer.
    shipment = RECORDED["shipments"][0]
    return {"shipments": [{**shipment, "id": number, "events": list(events)}]}


def event(status_code: str, status: str, when: str) -> dict[str, Any]:
    return {
        "timestamp": when,
        "location": {"address": {"addressLocality": "Paris, FR"}},
        "statusCode": status_code,
        "status": status,
        "description": f"event {status}",
    }


def rows(url: str, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return [tuple(r) for r in conn.execute(sql).fetchall()]


async def test_pushed_events_are_stored_once_and_delivered_ends_the_leg(
    api: httpx.AsyncClient, push: httpx.AsyncClient, migrated_url: str
) -> None:
    await shipment_with_leg(api, "CT-1", carrier_leg("dhl", NUMBER))
    headers = {HEADER: SECRET}
    whole = RECORDED  # the recorded answer, pushed as is
    first = await push.post("/push/dhl", json=whole, headers=headers)
    assert (first.status_code, first.json()) == (200, {"stored": 3, "legs": 1})
    again = await push.post("/push/dhl", json=whole, headers=headers)
    assert again.json() == {"stored": 0, "legs": 1}
    (leg,) = rows(migrated_url, "SELECT carrier_status, carrier_eta, final_at FROM shipment_legs")
    assert leg[0] == "InTransit" and leg[1] is not None and leg[2] is None
    done = notification(
        event("delivered", "DELIVERED", "2026-12-04T10:05:00+01:00"),
        event("transit", "PARCEL_ARRIVED_AT_HUB", "2026-12-02T09:10:00+01:00"),
    )
    answer = await push.post("/push/dhl", json=done, headers=headers)
    assert answer.json() == {"stored": 1, "legs": 1}
    assert rows(
        migrated_url, "SELECT status, sub_status FROM checkpoints ORDER BY checkpoint_time"
    )[-1] == ("Delivered", "DELIVERED")
    assert rows(
        migrated_url, "SELECT final_reason, carrier_status, carrier_eta FROM shipment_legs"
    ) == [("final_status", "Delivered", None)]
    assert rows(migrated_url, "SELECT count(*) FROM dead_letters") == [(0,)]


async def test_a_bad_token_is_refused_and_strays_are_kept(
    push: httpx.AsyncClient, migrated_url: str
) -> None:
    body = notification(event("transit", "PARCEL_PROCESSED", "2026-12-01T21:40:00+01:00"))
    assert (await push.post("/push/dhl", json=body)).status_code == 401
    wrong = await push.post("/push/dhl", json=body, headers={HEADER: SECRET[:-1] + "x"})
    assert wrong.status_code == 401
    ups_style = await push.post("/push/dhl", json=body, headers={"credential": SECRET})
    assert ups_style.status_code == 401
    assert rows(migrated_url, "SELECT count(*) FROM dead_letters") == [(0,)]
    stray = await push.post(
        "/push/dhl", json=notification(*body["shipments"][0]["events"], number="JJD0000"),
        headers={HEADER: SECRET},
    )  # fmt: skip
    assert (stray.status_code, stray.json()) == (202, {"stored": 0, "legs": 0})
    bad = await push.post("/push/dhl", content=b'{"shipments": [{}]}', headers={HEADER: SECRET})
    assert bad.status_code == 422
    letters = rows(migrated_url, "SELECT topic, reason, payload FROM dead_letters ORDER BY reason")
    assert [(r[0], r[1]) for r in letters] == [
        ("carrier/dhl", "dhl: shipment without an id"),
        ("carrier/dhl", "pushed event of DHL number 'JJD0000', which no leg has"),
    ]
    assert json.loads(bytes(letters[1][2]))["event"]["id"] == "JJD0000"
    assert rows(migrated_url, "SELECT count(*) FROM checkpoints") == [(0,)]


async def test_ups_secret_does_not_open_dhl(migrated_url: str) -> None:
    app = create_app(migrated_url, {"ups": SECRET})  # DHL push not configured
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://push") as client:
            body = notification(event("transit", "X", "2026-12-01T21:40:00+01:00"))
            answer = await client.post("/push/dhl", json=body, headers={HEADER: SECRET})
    assert answer.status_code == 401

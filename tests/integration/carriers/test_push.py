"""UPS Track Alert pushes (carriers/push.py), against a real PostgreSQL: the credential header is
checked; an event is stored like a pulled one, once however often it comes; Delivered ends the
leg; an unknown code and a number no leg has are kept as dead letters, never dropped."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import psycopg
import pytest

from carriers.push import create_app
from tests.integration.carriers.conftest import carrier_leg, shipment_with_leg

pytestmark = pytest.mark.integration

SECRET = "ups-track-alert-credential-0123"
NUMBER = "1Z999AA10123456784"


@pytest.fixture
async def push(migrated_url: str) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(migrated_url, {"ups": SECRET})
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://push") as client:
            yield client


def event(code: str, kind: str, when: str, number: str = NUMBER) -> dict[str, Any]:
    # The Track Alert event's shape (developer.ups.com, Track Alert API, webhook payload).
    return {
        "trackingNumber": number,
        "localActivityDate": when[:8],
        "localActivityTime": when[8:],
        "gmtActivityDate": when[:8],
        "gmtActivityTime": when[8:],
        "scheduledDeliveryDate": "20261203",
        "activityLocation": {"city": "Lyon", "stateProvince": "", "country": "FR"},
        "activityStatus": {"type": kind, "code": code, "description": f"event {code}"},
    }


def rows(url: str, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return [tuple(r) for r in conn.execute(sql).fetchall()]


async def test_pushed_events_are_stored_once_and_delivered_ends_the_leg(
    api: httpx.AsyncClient, push: httpx.AsyncClient, migrated_url: str
) -> None:
    await shipment_with_leg(api, "CT-1", carrier_leg("ups", NUMBER))
    headers = {"credential": SECRET}
    first = await push.post("/push/ups", json=event("DP", "I", "20261202193000"), headers=headers)
    assert first.status_code == 200 and first.json() == {"stored": 1, "legs": 1}
    again = await push.post("/push/ups", json=event("DP", "I", "20261202193000"), headers=headers)
    assert again.json() == {"stored": 0, "legs": 1}
    odd = await push.post("/push/ups", json=event("Q9", "Q", "20261203060000"), headers=headers)
    assert odd.json()["stored"] == 1
    done = await push.post("/push/ups", json=event("KB", "D", "20261203104500"), headers=headers)
    assert done.json()["stored"] == 1
    assert rows(
        migrated_url,
        "SELECT status, sub_status, location FROM checkpoints ORDER BY checkpoint_time",
    ) == [
        ("InTransit", "DP", "Lyon, FR"),
        ("Pending", "Q9", "Lyon, FR"),
        ("Delivered", "KB", "Lyon, FR"),
    ]
    assert rows(migrated_url, "SELECT final_reason, carrier_status FROM shipment_legs") == [
        ("final_status", "Delivered")
    ]
    (letter,) = rows(migrated_url, "SELECT topic, reason FROM dead_letters")
    assert letter[0] == "carrier/ups" and "unknown ups code 'Q9'" in letter[1]


async def test_credentials_and_strays(push: httpx.AsyncClient, migrated_url: str) -> None:
    body = event("DP", "I", "20261202193000", number="1ZNOBODY")
    assert (await push.post("/push/ups", json=body)).status_code == 401
    wrong = await push.post("/push/ups", json=body, headers={"credential": "x" * 31})
    assert wrong.status_code == 401
    stray = await push.post("/push/ups", json=body, headers={"credential": SECRET})
    assert (stray.status_code, stray.json()) == (202, {"stored": 0, "legs": 0})
    bad = await push.post("/push/ups", content=b"{}", headers={"credential": SECRET})
    assert bad.status_code == 422
    letters = rows(migrated_url, "SELECT reason, payload FROM dead_letters ORDER BY reason")
    assert [r[0] for r in letters] == [
        "pushed event of UPS number '1ZNOBODY', which no leg has",
        "ups: event without a trackingNumber",
    ]
    assert json.loads(bytes(letters[0][1]))["event"]["trackingNumber"] == "1ZNOBODY"

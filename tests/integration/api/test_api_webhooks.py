"""The checkpoint webhook signed by integrators (HMAC-SHA256 with each one's own secret), against
a real PostgreSQL: a good signature stores as POST /v1/checkpoints does, idempotently; an
unknown integrator, another integrator's secret, a changed body or an old timestamp are refused
alike; an integrator writes only its own source."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from api.webhooks import TOLERANCE_S, sign
from tests.integration.api.conftest import api_settings, create_shipment, running

pytestmark = pytest.mark.integration

ACME = "acme-logistics-secret-0123456789abcdef"
OTHER = "other-integrator-secret-0123456789abcdef"


@pytest.fixture
async def api(migrated_url: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = api_settings(migrated_url, webhook_secrets=[f"acme:{ACME}", f"other:{OTHER}"])
    async with running(settings) as client:
        yield client


def event(external_id: str = "ev-1", **more: Any) -> dict[str, Any]:
    return {
        "tracking_number": "TN-W",
        "source": "acme",
        "external_id": external_id,
        "time": "2026-12-01T08:00:00Z",
        "status": "InTransit",
        "location": "Lyon, FR",
        **more,
    }


async def send(
    api: httpx.AsyncClient,
    body: Any,
    secret: str = ACME,
    integrator: str = "acme",
    age_s: int = 0,
    tamper: bool = False,
) -> httpx.Response:
    raw = json.dumps(body).encode()
    stamp = str(int(time.time()) - age_s)
    headers = {
        "Content-Type": "application/json",
        "X-Coldtrail-Timestamp": stamp,
        "X-Coldtrail-Signature": sign(secret.encode(), stamp, raw),
    }
    if tamper:
        raw = raw.replace(b"InTransit", b"Delivered")
    return await api.post(f"/v1/webhooks/{integrator}/checkpoints", content=raw, headers=headers)


async def test_signed_checkpoints_are_stored_once(api: httpx.AsyncClient) -> None:
    await create_shipment(api, "TN-W", "W1")
    first = await send(api, event())
    assert first.status_code == 201, first.text
    again = await send(api, event())
    assert (again.status_code, again.json()["result"]) == (200, "duplicate")
    batch = await send(api, [event("ev-2"), event("ev-3", tracking_number="TN-NOPE")])
    assert batch.status_code == 207
    assert [r["result"] for r in batch.json()["results"]] == ["created", "not_found"]


@pytest.mark.parametrize(
    "how",
    [
        {"integrator": "nobody"},
        {"secret": OTHER},
        {"tamper": True},
        # Well outside the window: the stamp is in whole seconds and the request takes time, so
        # a stamp only one second too new can be back inside the window when it is checked.
        {"age_s": TOLERANCE_S + 30},
        {"age_s": -(TOLERANCE_S + 30)},
    ],
)
async def test_bad_signatures_are_refused_alike(
    api: httpx.AsyncClient, how: dict[str, Any]
) -> None:
    await create_shipment(api, "TN-W", "W1")
    response = await send(api, event(), **how)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "bad_signature"


async def test_unsigned_and_wrong_source_and_invalid(api: httpx.AsyncClient) -> None:
    await create_shipment(api, "TN-W", "W1")
    unsigned = await api.post("/v1/webhooks/acme/checkpoints", json=event())
    assert unsigned.status_code == 401
    wrong = await send(api, event(source="other"))
    assert (wrong.status_code, wrong.json()["error"]["code"]) == (403, "wrong_source")
    invalid = await send(api, event(status="Teleported"))
    assert invalid.status_code == 422
    assert "body" in json.dumps(invalid.json())

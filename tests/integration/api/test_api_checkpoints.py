"""The carriers' checkpoints webhook and a shipment's checkpoints, against a real PostgreSQL:
idempotent, per-item results for a batch, nothing stored from an invalid request, roles."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import psycopg
import pytest

from tests.integration.api.conftest import create_shipment, running
from tests.integration.api.exception_rows import AS_ALICE, AS_BOB, AS_VERA, settings_with_users

pytestmark = pytest.mark.integration


@pytest.fixture
async def api(migrated_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with running(settings_with_users(migrated_url)) as client:
        yield client


def checkpoint(external_id: str, **more: Any) -> dict[str, Any]:
    return {
        "tracking_number": "TN-1",
        "source": "dhl",
        "external_id": external_id,
        "time": "2026-03-02T08:00:00Z",
        "status": "InTransit",
        "sub_status": "InTransit_001",
        "message": "Departed the hub",
        "location": "Lyon, FR",
        **more,
    }


def stored(url: str) -> list[tuple[str, str, str]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT source, external_id, status FROM checkpoints ORDER BY checkpoint_id"
        ).fetchall()
    return [tuple(r) for r in rows]


async def test_one_checkpoint_is_stored_once(api: httpx.AsyncClient, migrated_url: str) -> None:
    await create_shipment(api, "TN-1", "P-1")
    first = await api.post("/v1/checkpoints", json=checkpoint("ev-1"), headers=AS_BOB)
    assert first.status_code == 201, first.text
    body = first.json()
    assert (body["result"], body["index"], body["error"]) == ("created", None, None)
    again = await api.post(
        "/v1/checkpoints", json=checkpoint("ev-1", status="Delivered"), headers=AS_BOB
    )
    assert again.status_code == 200, again.text
    assert again.json()["result"] == "duplicate"
    assert again.json()["checkpoint_id"] == body["checkpoint_id"]
    assert stored(migrated_url) == [("dhl", "ev-1", "InTransit")]  # the first one is kept
    # The same external id from another carrier is another event.
    other = await api.post("/v1/checkpoints", json=checkpoint("ev-1", source="ups"), headers=AS_BOB)
    assert other.status_code == 201

    unknown = await api.post(
        "/v1/checkpoints", json=checkpoint("ev-2", tracking_number="TN-NOPE"), headers=AS_BOB
    )
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "shipment_not_found"
    assert len(stored(migrated_url)) == 2


async def test_a_batch_answers_each_item(api: httpx.AsyncClient, migrated_url: str) -> None:
    await create_shipment(api, "TN-1", "P-1")
    await create_shipment(api, "TN-2", "P-2")
    assert (await api.post("/v1/checkpoints", json=checkpoint("ev-0"), headers=AS_BOB)).is_success
    batch = [
        checkpoint("ev-1", time="2026-03-02T09:00:00Z", status="OutForDelivery"),
        checkpoint("ev-0"),  # stored before
        checkpoint("ev-9", tracking_number="TN-NOPE"),
        checkpoint("ev-1", tracking_number="TN-2", lat=45.76, lon=4.84),
        checkpoint("ev-1", time="2026-03-02T09:00:00Z", status="OutForDelivery"),  # twice here
    ]
    response = await api.post("/v1/checkpoints", json=batch, headers=AS_BOB)
    assert response.status_code == 207, response.text
    body = response.json()
    assert (body["created"], body["duplicates"], body["failed"]) == (2, 2, 1)
    results = [(r["index"], r["tracking_number"], r["result"]) for r in body["results"]]
    assert results == [
        (0, "TN-1", "created"),
        (1, "TN-1", "duplicate"),
        (2, "TN-NOPE", "not_found"),
        (3, "TN-2", "created"),
        (4, "TN-1", "duplicate"),
    ]
    assert body["results"][2]["error"]["code"] == "shipment_not_found"
    assert body["results"][2]["checkpoint_id"] is None
    assert body["results"][4]["checkpoint_id"] == body["results"][0]["checkpoint_id"]
    assert len(stored(migrated_url)) == 3


async def test_invalid_checkpoints_are_refused_whole(
    api: httpx.AsyncClient, migrated_url: str
) -> None:
    await create_shipment(api, "TN-1", "P-1")
    bad_items = [
        checkpoint("ev-1", status="Lost"),  # not in the taxonomy
        checkpoint("ev-1", lat=45.0),  # lat without lon
        checkpoint("ev-1", lat=95.0, lon=4.0),
        checkpoint("ev-1", time="2026-03-02T08:00:00"),  # no time zone
        checkpoint("ev-1", time="2999-01-01T00:00:00Z"),  # far in the future
        checkpoint("ev-1", sub_status="x" * 65),
        checkpoint("a\nb"),
        checkpoint("ev-1", message="nul\x00"),
        checkpoint("ev-1", source="has space"),
        checkpoint("ev-1", surprise=1),
        {"tracking_number": "TN-1"},
    ]
    for item in bad_items:
        response = await api.post("/v1/checkpoints", json=item, headers=AS_BOB)
        assert response.status_code == 422, (item, response.text)
        assert response.json()["error"]["code"] == "validation_error"
    batch = [checkpoint("ev-2"), checkpoint("ev-3", status="Lost")]
    response = await api.post("/v1/checkpoints", json=batch, headers=AS_BOB)
    assert response.status_code == 422
    assert ".1." in response.json()["error"]["message"]  # names the item
    for empty in ([], [checkpoint(f"ev-{i}") for i in range(501)], "text"):
        response = await api.post("/v1/checkpoints", json=empty, headers=AS_BOB)
        assert response.status_code == 422
    assert stored(migrated_url) == []  # nothing of any of these


async def test_roles_and_the_list(api: httpx.AsyncClient) -> None:
    await create_shipment(api, "TN-1", "P-1", shopper_language="fr")
    created = await create_shipment(api, "TN-2", "P-2")
    assert (await api.post("/v1/checkpoints", json=checkpoint("a"))).status_code == 401
    bad = {"Authorization": "Bearer nope"}
    assert (await api.post("/v1/checkpoints", json=checkpoint("a"), headers=bad)).status_code == 401
    viewer = await api.post("/v1/checkpoints", json=checkpoint("a"), headers=AS_VERA)
    assert viewer.status_code == 403
    # A shopper token opens nothing here.
    token = {"X-Tracking-Token": created["access_token"]}
    assert (
        await api.post("/v1/checkpoints", json=checkpoint("a"), headers=token)
    ).status_code == 401
    assert (await api.get("/v1/shipments/TN-2/checkpoints", headers=token)).status_code == 401

    later = checkpoint("late", time="2026-03-02T10:00:00Z", status="Delivered", sub_status=None)
    earlier = checkpoint("early", time="2026-03-01T10:00:00Z", status="InfoReceived")
    for item in (later, earlier):
        assert (await api.post("/v1/checkpoints", json=item, headers=AS_ALICE)).status_code == 201
    listed = await api.get("/v1/shipments/TN-1/checkpoints", headers=AS_VERA)
    assert listed.status_code == 200, listed.text
    items = listed.json()["items"]
    assert [(c["external_id"], c["status"], c["label"]) for c in items] == [
        ("early", "InfoReceived", "Commande reçue, en attente du transporteur"),
        ("late", "Delivered", "Livré"),
    ]
    assert items[0]["location"] == "Lyon, FR" and items[1]["sub_status"] is None
    assert (await api.get("/v1/shipments/TN-2/checkpoints", headers=AS_VERA)).json()["items"] == []
    missing = await api.get("/v1/shipments/TN-NOPE/checkpoints", headers=AS_VERA)
    assert missing.status_code == 404
    assert (await api.get("/v1/shipments/TN-1/checkpoints")).status_code == 401
    nul = await api.get("/v1/shipments/TN%00/checkpoints", headers=AS_VERA)
    assert (nul.status_code, nul.json()["error"]["code"]) == (400, "invalid_text")

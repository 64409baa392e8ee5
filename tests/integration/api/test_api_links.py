"""The shopper link's lifecycle against a real PostgreSQL: default expiry, rotation (the old
token stops working) and revocation; an expired, replaced or revoked token gets 404 on the
timeline and on the live streams."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest

from tests.integration.api.conftest import create_shipment, running
from tests.integration.api.exception_rows import AS_ALICE, AS_BOB, AS_VERA, settings_with_users

pytestmark = pytest.mark.integration


@pytest.fixture
async def users_client(migrated_url: str) -> Any:
    async with running(settings_with_users(migrated_url, link_ttl_days=30)) as client:
        yield client


def expiry(url: str, tracking_number: str) -> datetime:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT access_token_expires_at FROM shipments WHERE tracking_number = %s",
            (tracking_number,),
        ).fetchone()
    assert row is not None and row[0] is not None
    return row[0]  # type: ignore[no-any-return]


async def shopper_status(client: httpx.AsyncClient, tracking_number: str, token: str) -> list[int]:
    """The answers to the shopper's timeline, tracking JSON and both live streams (404
    expected: a stream that opens would never end in process)."""
    answers = [
        await client.get(f"/v1/shipments/{tracking_number}/timeline", params={"token": token}),
        await client.get(f"/v1/track/{token}"),
        await client.get(f"/v1/shipments/{tracking_number}/live", params={"token": token}),
        await client.get(f"/v1/track/{token}/live"),
    ]
    for answer in answers:
        if answer.status_code == 404:
            assert answer.json()["error"]["code"] == "shipment_not_found"
    return [a.status_code for a in answers]


async def test_a_new_link_expires_link_ttl_days_after_the_promised_date_or_now(
    users_client: httpx.AsyncClient, migrated_url: str
) -> None:
    client = users_client
    now = datetime.now(UTC)
    promised = now + timedelta(days=10)
    await create_shipment(client, "L-PROMISED", "LP1", promised_at=promised.isoformat())
    await create_shipment(client, "L-NONE", "LN1")
    await create_shipment(
        client, "L-PAST", "LQ1", promised_at=(now - timedelta(days=5)).isoformat()
    )
    assert abs(expiry(migrated_url, "L-PROMISED") - (promised + timedelta(days=30))) < timedelta(
        seconds=1
    )
    for tracking_number in ("L-NONE", "L-PAST"):
        late = expiry(migrated_url, tracking_number) - (now + timedelta(days=30))
        assert timedelta(0) <= late < timedelta(seconds=60)


async def test_an_expired_link_is_not_found_anywhere(
    users_client: httpx.AsyncClient, migrated_url: str
) -> None:
    client = users_client
    token = (await create_shipment(client, "L-EXP", "LE1"))["access_token"]
    # (A working live stream never ends: in process, only its refusals can be tested.)
    timeline = await client.get("/v1/shipments/L-EXP/timeline", params={"token": token})
    assert timeline.status_code == 200
    assert (await client.get(f"/v1/track/{token}")).status_code == 200
    with psycopg.connect(migrated_url) as conn:
        conn.execute(
            "UPDATE shipments SET access_token_expires_at = now() - interval '1 second'"
            " WHERE tracking_number = 'L-EXP'"
        )
    assert await shopper_status(client, "L-EXP", token) == [404, 404, 404, 404]


async def test_rotating_replaces_the_token_and_revoking_stops_it(
    users_client: httpx.AsyncClient, migrated_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="api.routes.links")
    client = users_client
    old_token = (await create_shipment(client, "L-ROT", "LR1"))["access_token"]
    until = datetime.now(UTC) + timedelta(days=3)
    rotated = await client.post(
        "/v1/shipments/L-ROT/access-token", json={"expires_at": until.isoformat()}, headers=AS_BOB
    )
    assert rotated.status_code == 200, rotated.text
    assert rotated.headers["Cache-Control"] == "no-store"
    body = rotated.json()
    new_token = body["access_token"]
    assert new_token != old_token
    assert datetime.fromisoformat(body["expires_at"]) == until
    assert body["track_url"].endswith(f"/v1/track/{new_token}")
    assert body["page_url"].endswith(f"/t/{new_token}")
    assert f"token={new_token}" in body["tracking_url"]
    assert await shopper_status(client, "L-ROT", old_token) == [404, 404, 404, 404]
    timeline = await client.get("/v1/shipments/L-ROT/timeline", params={"token": new_token})
    assert timeline.status_code == 200

    revoked = await client.delete("/v1/shipments/L-ROT/access-token", headers=AS_BOB)
    assert revoked.status_code == 204
    assert await shopper_status(client, "L-ROT", new_token) == [404, 404, 404, 404]

    # A rotation after a revocation issues a working link again, with the default expiry.
    again = await client.post("/v1/shipments/L-ROT/access-token", headers=AS_ALICE)
    assert again.status_code == 200, again.text
    third = again.json()["access_token"]
    timeline = await client.get("/v1/shipments/L-ROT/timeline", params={"token": third})
    assert timeline.status_code == 200
    late = expiry(migrated_url, "L-ROT") - datetime.now(UTC)
    assert timedelta(days=29, hours=23) < late <= timedelta(days=30)
    # Each change is logged with who made it, never with a token.
    logged = [r.getMessage() for r in caplog.records if r.name == "api.routes.links"]
    assert [m.split(" (")[0] for m in logged] == [
        "shopper link of L-ROT replaced by bob",
        "shopper link of L-ROT revoked by bob",
        "shopper link of L-ROT replaced by alice",
    ]
    assert not any(t in m for m in logged for t in (old_token, new_token, third))


async def test_link_changes_need_an_agent_and_an_existing_shipment(
    users_client: httpx.AsyncClient,
) -> None:
    client = users_client
    await create_shipment(client, "L-AUTH", "LA1")
    path = "/v1/shipments/L-AUTH/access-token"
    assert (await client.post(path)).status_code == 401
    assert (await client.delete(path)).status_code == 401
    assert (await client.post(path, headers=AS_VERA)).status_code == 403
    assert (await client.delete(path, headers=AS_VERA)).status_code == 403
    missing = "/v1/shipments/NOPE/access-token"
    assert (await client.post(missing, headers=AS_BOB)).status_code == 404
    assert (await client.delete(missing, headers=AS_BOB)).status_code == 404
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    response = await client.post(path, json={"expires_at": past}, headers=AS_BOB)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_error"
    naive = await client.post(path, json={"expires_at": "2030-01-01T00:00:00"}, headers=AS_BOB)
    assert naive.status_code == 422
    extra = await client.post(path, json={"token": "mine"}, headers=AS_BOB)
    assert extra.status_code == 422

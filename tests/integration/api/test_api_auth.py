"""Ops endpoints need an ops token; a shopper's token opens its own shipment and nothing else."""

from __future__ import annotations

import httpx
import pytest

from tests.integration.api.conftest import OPS, api_settings, create_shipment, running

pytestmark = pytest.mark.integration

OPS_CALLS = [
    ("POST", "/v1/vehicles", {"vehicle_id": "van-1", "name": "Van 1", "gateway_id": "gw-1"}),
    ("POST", "/v1/shipments", {"tracking_number": "TN-1", "parcels": [{"parcel_id": "P-1"}]}),
    ("GET", "/v1/shipments", None),
    ("POST", "/v1/custody", {"parcel_id": "P-1", "vehicle_id": "van-1"}),
]


@pytest.mark.parametrize(("method", "path", "body"), OPS_CALLS)
async def test_ops_endpoints_refuse_a_missing_or_wrong_token(
    client: httpx.AsyncClient, method: str, path: str, body: object
) -> None:
    for headers in ({}, {"Authorization": "Bearer not-the-token"}, {"Authorization": "Basic eDp5"}):
        response = await client.request(method, path, json=body, headers=headers)
        assert response.status_code == 401, (headers, response.text)
        assert response.json()["error"]["code"] == "unauthorized"
        assert response.headers["www-authenticate"] == "Bearer"
    # Nothing was written by the refused calls.
    listed = await client.get("/v1/shipments", headers=OPS)
    assert listed.json()["total"] == 0


@pytest.mark.parametrize(("method", "path", "body"), OPS_CALLS)
async def test_without_a_configured_ops_token_ops_endpoints_are_closed(
    migrated_url: str, method: str, path: str, body: object
) -> None:
    async with running(api_settings(migrated_url, ops_tokens=())) as client:
        for headers in ({}, {"Authorization": "Bearer "}, {"Authorization": "Bearer anything"}):
            response = await client.request(method, path, json=body, headers=headers)
            assert response.status_code == 503
            assert response.json() == {
                "error": {
                    "code": "ops_auth_not_configured",
                    "message": "ops endpoints are disabled: no ops token is configured"
                    " (set COLDTRAIL_API_OPS_TOKENS) and password login is off (set"
                    " COLDTRAIL_API_JWT_SECRET)",
                }
            }


async def test_any_of_several_ops_tokens_is_accepted(migrated_url: str) -> None:
    async with running(api_settings(migrated_url, ops_tokens=["first-token", "second"])) as c:
        for token in ("first-token", "second"):
            response = await c.get("/v1/shipments", headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 200
        response = await c.get("/v1/shipments", headers={"Authorization": "Bearer first"})
        assert response.status_code == 401


async def test_a_shopper_token_opens_its_own_shipment_only(client: httpx.AsyncClient) -> None:
    mine = await create_shipment(client, "TN-MINE", "P-MINE")
    other = await create_shipment(client, "TN-OTHER", "P-OTHER")

    own = await client.get("/v1/shipments/TN-MINE/timeline", params={"token": mine["access_token"]})
    assert own.status_code == 200
    assert own.json()["tracking_number"] == "TN-MINE"
    assert [p["parcel_id"] for p in own.json()["parcels"]] == ["P-MINE"]
    by_header = await client.get(
        "/v1/shipments/TN-MINE/timeline", headers={"X-Tracking-Token": mine["access_token"]}
    )
    assert by_header.status_code == 200

    wrong_token = await client.get(
        "/v1/shipments/TN-MINE/timeline", params={"token": other["access_token"]}
    )
    unknown = await client.get(
        "/v1/shipments/TN-NOPE/timeline", params={"token": other["access_token"]}
    )
    garbage = await client.get("/v1/shipments/TN-MINE/timeline", params={"token": "x"})
    assert wrong_token.status_code == unknown.status_code == garbage.status_code == 404
    # The same answer whether the tracking number exists or not (only the echoed number differs).
    assert wrong_token.json()["error"]["code"] == unknown.json()["error"]["code"]
    assert (
        wrong_token.json()["error"]["message"].replace("TN-MINE", "TN-NOPE")
        == (unknown.json()["error"]["message"])
    )
    assert wrong_token.headers.keys() == unknown.headers.keys()


async def test_the_tracking_link_works_as_given(client: httpx.AsyncClient) -> None:
    created = await create_shipment(client, "TN-LINK", "P-LINK")
    assert created["tracking_url"] == (
        f"http://testserver/v1/shipments/TN-LINK/timeline?token={created['access_token']}"
    )
    response = await client.get(created["tracking_url"])
    assert response.status_code == 200
    assert response.headers["cache-control"] == "private, no-store"


async def test_a_timeline_needs_some_token(client: httpx.AsyncClient) -> None:
    await create_shipment(client, "TN-1", "P-1")
    response = await client.get("/v1/shipments/TN-1/timeline")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    wrong_ops = await client.get(
        "/v1/shipments/TN-1/timeline", headers={"Authorization": "Bearer nope"}
    )
    assert wrong_ops.status_code == 401


async def test_an_ops_token_opens_every_timeline(client: httpx.AsyncClient) -> None:
    await create_shipment(client, "TN-1", "P-1")
    await create_shipment(client, "TN-2", "P-2")
    for tracking_number in ("TN-1", "TN-2"):
        response = await client.get(f"/v1/shipments/{tracking_number}/timeline", headers=OPS)
        assert response.status_code == 200
        assert response.json()["tracking_number"] == tracking_number
    unknown = await client.get("/v1/shipments/TN-3/timeline", headers=OPS)
    assert unknown.status_code == 404


async def test_only_the_token_digest_is_stored(
    client: httpx.AsyncClient, migrated_url: str
) -> None:
    import hashlib

    import psycopg

    created = await create_shipment(client, "TN-1", "P-1")
    token = created["access_token"]
    assert len(token) >= 20
    with psycopg.connect(migrated_url) as conn:
        row = conn.execute("SELECT access_token_sha256 FROM shipments").fetchone()
    assert row is not None
    assert bytes(row[0]) == hashlib.sha256(token.encode()).digest()

"""A shipment's legs through the API, against a real PostgreSQL: added in journey order, a
carrier leg needs a known carrier and its number, conflicts and unknown shipments answered,
ops only."""

from __future__ import annotations

import httpx
import pytest

from tests.integration.api.conftest import OPS, create_shipment, post

pytestmark = pytest.mark.integration


async def test_legs_in_journey_order(client: httpx.AsyncClient) -> None:
    created = await create_shipment(client, "TN-L", "L1")
    await post(client, "/v1/vehicles", {"vehicle_id": "van-1", "name": "Van", "gateway_id": "gw-1"})
    first = await post(
        client, "/v1/shipments/TN-L/legs", {"kind": "vehicle", "vehicle_id": "van-1"}
    )
    second = await post(
        client,
        "/v1/shipments/TN-L/legs",
        {"kind": "carrier", "carrier": "colissimo", "carrier_tracking_number": "6A123"},
    )
    assert (first["position"], second["position"]) == (1, 2)
    assert second["carrier_label"] == "Colissimo"
    assert second["carrier_url"] == "https://www.laposte.fr/outils/suivre-vos-envois?code=6A123"
    assert second["next_poll_at"] is None and second["final_at"] is None  # due at once
    listed = (await client.get("/v1/shipments/TN-L/legs", headers=OPS)).json()
    assert [leg["kind"] for leg in listed["items"]] == ["vehicle", "carrier"]
    # The shopper's link has no access to the ops list.
    token = created["access_token"]
    shopper = await client.get(f"/v1/shipments/TN-L/legs?token={token}")
    assert shopper.status_code == 401


@pytest.mark.parametrize(
    "body",
    [
        {"kind": "carrier", "carrier": "pigeon", "carrier_tracking_number": "1"},
        {"kind": "carrier", "carrier": "dhl"},
        {"kind": "carrier", "carrier": "dhl", "carrier_tracking_number": "a b"},
        {"kind": "vehicle", "carrier": "dhl", "carrier_tracking_number": "1"},
        {"kind": "boat"},
    ],
)
async def test_invalid_legs_are_refused(client: httpx.AsyncClient, body: dict[str, str]) -> None:
    await create_shipment(client, "TN-L", "L1")
    response = await client.post("/v1/shipments/TN-L/legs", json=body, headers=OPS)
    assert response.status_code == 422, response.text


async def test_conflicts_and_unknown_shipment(client: httpx.AsyncClient) -> None:
    await create_shipment(client, "TN-L", "L1")
    leg = {"kind": "carrier", "carrier": "dhl", "carrier_tracking_number": "JD0001"}
    await post(client, "/v1/shipments/TN-L/legs", leg)
    again = await client.post("/v1/shipments/TN-L/legs", json=leg, headers=OPS)
    assert again.status_code == 409 and again.json()["error"]["code"] == "leg_conflict"
    van = await client.post(
        "/v1/shipments/TN-L/legs", json={"kind": "vehicle", "vehicle_id": "nope"}, headers=OPS
    )
    assert van.status_code == 409
    missing = await client.post("/v1/shipments/TN-X/legs", json=leg, headers=OPS)
    assert missing.status_code == 404
    assert (await client.get("/v1/shipments/TN-X/legs", headers=OPS)).status_code == 404

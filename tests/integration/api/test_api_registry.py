"""Reading back the registry: one shipment in full, the devices, the gateways."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import psycopg
import pytest
from psycopg.types.json import Jsonb

from tests.integration.api.conftest import OPS, create_shipment, post

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


async def test_a_shipment_reads_back_with_its_parcels_and_custody(
    client: httpx.AsyncClient,
) -> None:
    await post(client, "/v1/vehicles", {"vehicle_id": "van-1", "name": "V1", "gateway_id": "gw-1"})
    await post(client, "/v1/vehicles", {"vehicle_id": "van-2", "name": "V2", "gateway_id": "gw-2"})
    created = await create_shipment(
        client,
        "TN-REG",
        "R1",
        "R2",
        profile="pharma-2-8",
        shopper_contact="mailto://camille@example.com",
        destination_lat=45.77,
        destination_lon=4.89,
    )
    for van, start in (("van-1", "2026-11-20T08:00:00Z"), ("van-2", "2026-11-20T09:00:00Z")):
        body = {"parcel_id": "R1", "vehicle_id": van, "device_id": "tag-1", "from_time": start}
        await post(client, "/v1/custody", body)

    response = await client.get("/v1/shipments/TN-REG", headers=OPS)

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["tracking_number"], body["profile"], body["parcels"]) == (
        "TN-REG",
        "pharma-2-8",
        2,
    )
    assert body["shopper_contact"] == "mailto://camille@example.com"
    assert (body["destination_lat"], body["destination_lon"]) == (45.77, 4.89)
    assert body["link_revoked"] is False and body["link_expires_at"] is not None
    r1, r2 = body["parcel_list"]
    assert [(c["vehicle_id"], c["to_time"]) for c in r1["custody"]] == [
        ("van-1", "2026-11-20T09:00:00Z"),
        ("van-2", None),
    ]
    assert r2 == {"parcel_id": "R2", "description": None, "custody": []}
    assert created["access_token"] not in response.text


async def test_a_shipment_is_ops_only_and_unknown_is_404(client: httpx.AsyncClient) -> None:
    created = await create_shipment(client, "TN-PRIV", "P1")
    token = created["access_token"]
    # A shopper's token opens the timeline, never the registry (the contact is personal data).
    assert (await client.get("/v1/shipments/TN-PRIV", params={"token": token})).status_code == 401
    assert (await client.get("/v1/shipments/TN-PRIV")).status_code == 401
    missing = await client.get("/v1/shipments/TN-NONE", headers=OPS)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "shipment_not_found"


def _heard_from(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO gateways (gateway_id, state, status, last_seen, state_since) VALUES"
            " ('gw-1', 'online', %s, %s, %s), ('gw-9', 'offline', NULL, %s, %s)",
            (
                Jsonb(
                    {
                        "v": 1,
                        "gateway_id": "gw-1",
                        "state": "online",
                        "pending": 3,
                        "calibrations": {
                            "tag-a": {"temperature_c": {"offset": -0.3, "certificate": "CAL-1"}}
                        },
                    }
                ),
                T0,
                T0,
                T0,
                T0,
            ),
        )
        conn.execute(
            "INSERT INTO devices (device_id, gateway_id) VALUES"
            " ('tag-a', 'gw-1'), ('tag-b', 'gw-1'), ('tag-c', 'gw-9')"
        )


async def test_devices_and_gateways_list_what_ingest_heard_from(
    client: httpx.AsyncClient, migrated_url: str
) -> None:
    await post(client, "/v1/vehicles", {"vehicle_id": "van-1", "name": "V1", "gateway_id": "gw-1"})
    _heard_from(migrated_url)

    everything = (await client.get("/v1/devices", headers=OPS)).json()
    assert [d["device_id"] for d in everything["items"]] == ["tag-a", "tag-b", "tag-c"]
    assert everything["total"] == 3
    page = (await client.get("/v1/devices?gateway_id=gw-1&limit=1&offset=1", headers=OPS)).json()
    assert ([d["device_id"] for d in page["items"]], page["total"]) == (["tag-b"], 2)

    gateways = (await client.get("/v1/gateways", headers=OPS)).json()["items"]
    assert [
        (g["gateway_id"], g["state"], g["vehicle_id"], g["outbox_depth"]) for g in gateways
    ] == [
        ("gw-1", "online", "van-1", 3),
        ("gw-9", "offline", None, None),
    ]
    # each calibrated sensor's calibration in effect, from the gateway's status (GDP audits)
    assert gateways[0]["calibrations"] == {
        "tag-a": {"temperature_c": {"slope": 1.0, "offset": -0.3, "certificate": "CAL-1"}}
    }
    assert gateways[1]["calibrations"] == {}
    assert (await client.get("/v1/gateways")).status_code == 401
    assert (await client.get("/v1/devices?limit=0", headers=OPS)).status_code == 422


async def test_devices_are_bound_to_vehicles_by_operators_and_by_custody(
    client: httpx.AsyncClient, migrated_url: str
) -> None:
    await post(client, "/v1/vehicles", {"vehicle_id": "van-1", "name": "V1", "gateway_id": "gw-1"})
    await post(client, "/v1/vehicles", {"vehicle_id": "van-2", "name": "V2", "gateway_id": "gw-2"})
    binding = "/v1/devices/A4:C1:38:00:00:01/binding"

    assert (await client.put(binding, json={"vehicle_id": "van-1"})).status_code == 401
    missing = await client.put(binding, json={"vehicle_id": "van-9"}, headers=OPS)
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "vehicle_not_found")
    bound = await client.put(binding, json={"vehicle_id": "van-1"}, headers=OPS)
    assert bound.status_code == 200, bound.text
    first = bound.json()
    assert (first["device_id"], first["vehicle_id"], first["gateway_id"]) == (
        "A4:C1:38:00:00:01",
        "van-1",
        "gw-1",
    )
    again = await client.put(binding, json={"vehicle_id": "van-1"}, headers=OPS)
    assert again.json() == first  # the same binding again changes nothing

    # Handing a parcel to van 2 with that logger binds the logger to van 2.
    await create_shipment(client, "TN-BIND", "B1")
    body = {"parcel_id": "B1", "vehicle_id": "van-2", "device_id": "A4:C1:38:00:00:01"}
    await post(client, "/v1/custody", body)
    with psycopg.connect(migrated_url) as conn:
        rows = conn.execute(
            "SELECT device_id, vehicle_id, bound_by FROM device_bindings"
        ).fetchall()
        conn.execute(
            "INSERT INTO devices (device_id, gateway_id) VALUES ('A4:C1:38:00:00:01', 'gw-2')"
        )
    assert [(d, v) for d, v, _ in rows] == [("A4:C1:38:00:00:01", "van-2")]
    assert rows[0][2].endswith("(custody 1)")
    devices = (await client.get("/v1/devices", headers=OPS)).json()["items"]
    assert [(d["device_id"], d["bound_vehicle_id"]) for d in devices] == [
        ("A4:C1:38:00:00:01", "van-2")
    ]

    assert (await client.delete(binding, headers=OPS)).status_code == 204
    gone = await client.delete(binding, headers=OPS)
    assert (gone.status_code, gone.json()["error"]["code"]) == (404, "binding_not_found")
    devices = (await client.get("/v1/devices", headers=OPS)).json()["items"]
    assert devices[0]["bound_vehicle_id"] is None

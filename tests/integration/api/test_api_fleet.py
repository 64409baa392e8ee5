"""``GET /v1/vehicles``: the fleet with its gateways' health and last positions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import psycopg
import pytest
from psycopg.types.json import Jsonb

from tests.integration.api.conftest import OPS, create_shipment, insert_readings, judge, post

pytestmark = pytest.mark.integration

SEEN = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)


def _gateway_reported(url: str) -> None:
    status = {
        "v": 1,
        "gateway_id": "gw-1",
        "state": "online",
        "pending": 42,
        "outbox_oldest_age_s": 12.5,
        "alarms": ["source-failed:ble"],
        "software": "coldtrail 0.1.0",
    }
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO gateways (gateway_id, state, status, last_seen, state_since)"
            " VALUES ('gw-1', 'online', %s, %s, %s)",
            (Jsonb(status), SEEN, SEEN),
        )
        conn.execute("INSERT INTO devices (device_id, gateway_id) VALUES ('gps-1', 'gw-1')")
        conn.execute("INSERT INTO devices (device_id, gateway_id) VALUES ('gps-old', 'gw-1')")
        conn.execute(
            "INSERT INTO tracks (device_id, time, lat, lon, speed_kmh, distance_m) VALUES"
            " ('gps-1', %s, 45.76, 4.84, 52.0, 1234.5),"
            " ('gps-old', '2026-11-01T00:00:00Z', 10, 10, 0, 0)",
            (SEEN,),
        )


async def test_the_fleet_shows_gateway_health_and_the_freshest_position(
    client: httpx.AsyncClient, migrated_url: str
) -> None:
    await post(
        client, "/v1/vehicles", {"vehicle_id": "van-1", "name": "Van 1", "gateway_id": "gw-1"}
    )
    await post(
        client, "/v1/vehicles", {"vehicle_id": "van-2", "name": "Van 2", "gateway_id": "gw-2"}
    )
    _gateway_reported(migrated_url)

    response = await client.get("/v1/vehicles", headers=OPS)

    assert response.status_code == 200, response.text
    van1, van2 = response.json()["items"]
    assert van1["vehicle_id"] == "van-1"
    assert van1["gateway"]["state"] == "online"
    assert van1["gateway"]["outbox_depth"] == 42
    assert van1["gateway"]["outbox_oldest_age_s"] == 12.5
    assert van1["gateway"]["alarms"] == ["source-failed:ble"]
    assert van1["position"]["lat"] == 45.76
    assert van1["position"]["distance_m"] == 1234.5
    # A gateway that never reported: the vehicle is listed, with nothing made up.
    assert van2["gateway"] is None
    assert van2["position"] is None


async def test_each_vehicle_shows_the_stored_condition_of_what_it_carries(
    client: httpx.AsyncClient, migrated_url: str
) -> None:
    for van in ("van-1", "van-2", "van-3"):
        await post(
            client, "/v1/vehicles", {"vehicle_id": van, "name": van, "gateway_id": f"g-{van}"}
        )
    await create_shipment(client, "TN-F1", "F1", "F2", profile="pharma-2-8")
    await create_shipment(client, "TN-F3", "F3", profile="pharma-2-8")
    t0 = datetime.now(UTC) - timedelta(hours=2)
    for parcel, van in (("F1", "van-1"), ("F2", "van-1"), ("F3", "van-2")):
        custody = {"parcel_id": parcel, "vehicle_id": van, "device_id": f"tag-{parcel}",
                   "from_time": t0.isoformat()}  # fmt: skip
        await post(client, "/v1/custody", custody)
    minutes = range(0, 60, 2)
    insert_readings(
        migrated_url,
        [(t0 + timedelta(minutes=m), "tag-F1", m, 5.0) for m in minutes]
        + [(t0 + timedelta(minutes=m), "tag-F2", m, 11.0 if m >= 10 else 5.0) for m in minutes]
        + [(t0 + timedelta(minutes=m), "tag-F3", m, 8.6 if m >= 50 else 5.0) for m in minutes],
    )
    await judge(migrated_url)
    items = {
        v["vehicle_id"]: v for v in (await client.get("/v1/vehicles", headers=OPS)).json()["items"]
    }
    # van-1: F2 has been above 8 °C for 48 minutes (pharma-2-8 allows 30): the worst wins.
    assert (items["van-1"]["parcels"], items["van-1"]["condition"]) == (2, "out_of_spec")
    assert (items["van-2"]["parcels"], items["van-2"]["condition"]) == (
        1,
        "excursion_within_allowance",
    )
    assert (items["van-3"]["parcels"], items["van-3"]["condition"]) == (0, None)


async def test_the_fleet_needs_an_ops_user(client: httpx.AsyncClient) -> None:
    assert (await client.get("/v1/vehicles")).status_code == 401
    bad = {"Authorization": "Bearer not-a-token"}
    assert (await client.get("/v1/vehicles", headers=bad)).status_code == 401

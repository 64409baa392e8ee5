"""``GET /v1/vehicles``: the fleet with its gateways' health and last positions."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import psycopg
import pytest
from psycopg.types.json import Jsonb

from tests.integration.api.conftest import OPS, post

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


async def test_the_fleet_needs_an_ops_user(client: httpx.AsyncClient) -> None:
    assert (await client.get("/v1/vehicles")).status_code == 401
    bad = {"Authorization": "Bearer not-a-token"}
    assert (await client.get("/v1/vehicles", headers=bad)).status_code == 401

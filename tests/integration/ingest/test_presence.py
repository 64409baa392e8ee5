"""Gateway offline versus sensor silent, against a real PostgreSQL: a gateway outage raises one
gateway alert and none per sensor; a sensor silent behind an online gateway raises its own."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from coldtrail import schema
from ingest import migrate
from ingest.presence_watch import PresenceWatch
from ingest.store import PsycopgTelemetryStore, WriteBatch

pytestmark = pytest.mark.integration

SENSORS = ["LOG-1", "LOG-2", "LOG-3"]


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    migrate.migrate(database_url)
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        cur = await conn.execute(
            "INSERT INTO shipments (tracking_number, access_token_sha256, profile)"
            " VALUES ('TRK-1', %s, 'pharma-2-8') RETURNING shipment_id",
            (hashlib.sha256(b"t").digest(),),
        )
        row = await cur.fetchone()
        assert row is not None
        await conn.execute(
            "INSERT INTO vehicles (vehicle_id, name, gateway_id) VALUES ('van-1', 'Van 1', 'gw-1')"
        )
        for i, sensor in enumerate(SENSORS):
            await conn.execute(
                "INSERT INTO parcels (parcel_id, shipment_id) VALUES (%s, %s)", (f"P-{i}", row[0])
            )
            await conn.execute(
                "INSERT INTO custody (parcel_id, device_id, from_time) VALUES (%s, %s, now())",
                (f"P-{i}", sensor),
            )
        yield conn


async def send(
    url: str,
    *,
    status: str | None = None,
    sensors: list[str] | None = None,
    at: datetime | None = None,
) -> None:
    now = at or datetime.now(UTC)
    store = await PsycopgTelemetryStore.connect(url)
    batch = WriteBatch()
    if sensors:
        readings = [
            schema.reading(
                schema.Measurements(temperature_c=5.0),
                device_id=s,
                received_at=now,
                seq=int(now.timestamp()),
                seq_source="sensor",
            )
            for s in sensors
        ]
        batch.telemetry.append(
            schema.TelemetryBatch(gateway_id="gw-1", sent_at=now, readings=readings)
        )
    if status:
        batch.statuses.append(schema.GatewayStatus(gateway_id="gw-1", state=status, at=now))  # type: ignore[arg-type]
    try:
        await store.write(batch)
    finally:
        await store.close()


async def alerts(conn: psycopg.AsyncConnection[Any]) -> list[tuple[Any, ...]]:
    cur = await conn.execute(
        "SELECT subject_kind, subject_id, kind, ended_at IS NOT NULL FROM alerts ORDER BY 1, 2"
    )
    return await cur.fetchall()


async def test_a_gateway_outage_raises_one_alert_not_one_per_sensor(
    db: psycopg.AsyncConnection[Any], database_url: str
) -> None:
    await send(database_url, status="online", sensors=SENSORS)
    watch = PresenceWatch()
    now = datetime.now(UTC)
    await watch.tick(db, now)
    assert await alerts(db) == []

    await send(database_url, status="offline")  # the broker published its last will
    # An hour later: the sensors behind it are silent too, but only the gateway is alerted.
    await watch.tick(db, now + timedelta(hours=1))
    assert await alerts(db) == [("gateway", "gw-1", "gateway_offline", False)]
    # A restarted runner does not raise it again.
    await PresenceWatch().tick(db, now + timedelta(hours=1, minutes=1))
    assert await alerts(db) == [("gateway", "gw-1", "gateway_offline", False)]

    await send(database_url, status="online")
    await watch.tick(db, datetime.now(UTC))
    assert await alerts(db) == [("gateway", "gw-1", "gateway_offline", True)]
    cur = await db.execute("SELECT template FROM notifications ORDER BY notification_id")
    assert [t for (t,) in await cur.fetchall()] == ["gateway_offline", "gateway_online"]


async def test_a_sensor_silent_behind_an_online_gateway_is_alerted_and_closed(
    db: psycopg.AsyncConnection[Any], database_url: str
) -> None:
    await send(database_url, status="online", sensors=SENSORS)
    watch = PresenceWatch()
    start = datetime.now(UTC)
    await watch.tick(db, start)
    # LOG-3 stops talking; the others go on.
    await send(database_url, sensors=SENSORS[:2], at=start + timedelta(minutes=10))
    await watch.tick(db, start + timedelta(minutes=16))
    assert await alerts(db) == [("device", "LOG-3", "sensor_silent", False)]
    # A restarted runner loads the open alert back and closes it when the sensor talks again.
    restarted = PresenceWatch()
    await send(database_url, sensors=SENSORS, at=start + timedelta(minutes=17))
    await restarted.tick(db, start + timedelta(minutes=17))
    assert await alerts(db) == [("device", "LOG-3", "sensor_silent", True)]

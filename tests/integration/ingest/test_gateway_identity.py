"""The topic is the gateway's identity (issue 15), through a real broker and a real PostgreSQL:
with gw-A's credentials one can publish only on gw-A's topics, and nothing published there
changes anything of van B: not its gateway's status, not its logger's readings."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from coldtrail import schema
from ingest import migrate
from tests.integration.ingest.live import eventually, live_ingest

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC).replace(microsecond=0)
LOGGER_B = "A4:C1:38:00:00:0B"  # watches van B's parcel
TAG_A = "A4:C1:38:00:00:0A"  # van A's own, bound to van A
STRAY = "A4:C1:38:00:00:0C"  # bound to no vehicle


def reading(device_id: str, seq: int, temperature_c: float, minutes: float) -> schema.Reading:
    return schema.reading(
        schema.Measurements(temperature_c=temperature_c),
        device_id=device_id,
        received_at=NOW + timedelta(minutes=minutes),
        seq=seq,
        seq_source="sensor",
    )


def batch(gateway_id: str, *readings: schema.Reading) -> schema.TelemetryBatch:
    return schema.TelemetryBatch(gateway_id=gateway_id, sent_at=NOW, readings=list(readings))


def setup(url: str) -> None:
    """Van A (gw-A) and van B (gw-B); van B carries parcel P-B watched by LOGGER_B, which is
    bound to van B, as POST /v1/custody leaves them."""
    migrate.migrate(url)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO vehicles (vehicle_id, name, gateway_id) VALUES"
            " ('van-A', 'Van A', 'gw-A'), ('van-B', 'Van B', 'gw-B')"
        )
        shipment = conn.execute(
            "INSERT INTO shipments (tracking_number, access_token_sha256, profile)"
            " VALUES ('TRK-B', %s, 'pharma-2-8') RETURNING shipment_id",
            (hashlib.sha256(b"TRK-B").digest(),),
        ).fetchone()
        assert shipment is not None
        conn.execute("INSERT INTO parcels (parcel_id, shipment_id) VALUES ('P-B', %s)", shipment)
        conn.execute(
            "INSERT INTO custody (parcel_id, vehicle_id, gateway_id, device_id, from_time)"
            " VALUES ('P-B', 'van-B', 'gw-B', %s, %s)",
            (LOGGER_B, NOW - timedelta(hours=1)),
        )
        conn.execute(
            "INSERT INTO device_bindings (device_id, vehicle_id, bound_by) VALUES"
            " (%s, 'van-B', 'test'), (%s, 'van-A', 'test')",
            (LOGGER_B, TAG_A),
        )


def query(url: str, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchall()


async def count(url: str, sql: str) -> int:
    """Off the event loop: ingest, in this loop, may hold a lock the query waits for (a new
    monthly partition) until its commit."""
    return len(await asyncio.to_thread(query, url, sql))


READINGS = "SELECT device_id, seq, gateway_id, temperature_c FROM readings ORDER BY device_id, seq"
GATEWAYS = "SELECT gateway_id, state, status, last_seen, state_since FROM gateways ORDER BY 1"
DEAD = "SELECT topic, gateway_id, reason, payload FROM dead_letters ORDER BY reason, topic"


async def test_spoofed_status_and_readings_are_dead_letters_and_change_nothing_of_van_b(
    database_url: str, mqtt_url: str, topic_prefix: str
) -> None:
    setup(database_url)
    status_b = schema.GatewayStatus(gateway_id="gw-B", state="online", at=NOW)
    spoofed_status = schema.GatewayStatus(gateway_id="gw-B", state="offline", at=NOW)
    # On gw-A's telemetry topic: van B's logger in gw-A's own name (with van A's tag and an
    # unbound one, which are gw-A's to send), and van B's logger in gw-B's name.
    mixed = batch(
        "gw-A",
        reading(TAG_A, 1, 4.0, 1),
        reading(LOGGER_B, 2, 30.0, 1),
        reading(STRAY, 1, 5.0, 1),
    )
    in_b_name = batch("gw-B", reading(LOGGER_B, 3, 31.0, 2))
    async with live_ingest(database_url, mqtt_url, topic_prefix, rules=False) as live:
        await live.publish("gw-B", "status", schema.encode(status_b))
        await live.send(batch("gw-B", reading(LOGGER_B, 1, 5.0, 0)))

        async def van_b_stored() -> bool:
            return await count(database_url, READINGS) == 1 and bool(
                await count(database_url, GATEWAYS)
            )

        await eventually(van_b_stored)
        before = await asyncio.to_thread(query, database_url, GATEWAYS)

        await live.publish("gw-A", "status", schema.encode(spoofed_status))
        await live.send(mixed)
        await live.publish("gw-A", "telemetry", schema.encode(in_b_name))

        async def all_in() -> bool:
            return await count(database_url, DEAD) == 3 and await count(database_url, READINGS) == 3

        await eventually(all_in)

    # Van B: its logger's readings are its gateway's only; its gateway is as it was.
    assert query(database_url, READINGS) == [
        (TAG_A, 1, "gw-A", 4.0),
        (LOGGER_B, 1, "gw-B", 5.0),
        (STRAY, 1, "gw-A", 5.0),
    ]
    after = query(database_url, GATEWAYS)
    assert [row for row in after if row[0] == "gw-B"] == [row for row in before if row[0] == "gw-B"]
    assert after[-1][:2] == ("gw-B", "online")
    assert query(
        database_url, f"SELECT gateway_id FROM devices WHERE device_id = '{LOGGER_B}'"
    ) == [("gw-B",)]
    # Three dead letters, each with its reason, all under gw-A (the topic's gateway).
    dead = query(database_url, DEAD)
    assert [(topic.split("/")[-2:], gateway, reason) for topic, gateway, reason, _ in dead] == [
        (
            ["gw-A", "telemetry"],
            "gw-A",
            f"device bound to another vehicle: 1 item(s) from gateway 'gw-A' of '{LOGGER_B}'"
            " (bound to vehicle 'van-B', gateway 'gw-B')",
        ),
        (["gw-A", "status"], "gw-A", "gateway_id 'gw-B' does not match the topic's 'gw-A'"),
        (["gw-A", "telemetry"], "gw-A", "gateway_id 'gw-B' does not match the topic's 'gw-A'"),
    ]
    # Nothing is lost: the spoofed items are kept, as sent (the bound-elsewhere one re-encoded
    # as a batch of its own).
    payloads = [bytes(row[3]) for row in dead]
    assert schema.decode_batch(payloads[0]) == batch("gw-A", reading(LOGGER_B, 2, 30.0, 1))
    assert payloads[1:] == [schema.encode(spoofed_status), schema.encode(in_b_name)]

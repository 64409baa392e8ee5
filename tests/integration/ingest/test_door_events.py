"""Door and light events reach the live rule runner, through a real broker and PostgreSQL: a
door left open longer than the profile's allowance raises one door alert for the parcel its
compartment's board watches (custody set by a scan), and redelivery changes nothing."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from coldtrail import schema
from ingest import migrate
from tests.integration.ingest.live import eventually, live_ingest

pytestmark = pytest.mark.integration

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
BOARD = "board-42"


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def setup(url: str) -> None:
    migrate.migrate(url)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("INSERT INTO vehicles VALUES ('van-1', 'Van 1', 'gw-van-1')")
        row = conn.execute(
            "INSERT INTO shipments (tracking_number, access_token_sha256, profile)"
            " VALUES ('TRK-D', %s, 'pharma-2-8') RETURNING shipment_id",
            (hashlib.sha256(b"TRK-D").digest(),),
        ).fetchone()
        assert row is not None
        conn.execute("INSERT INTO parcels (parcel_id, shipment_id) VALUES ('P-1', %s)", (row[0],))


def event(
    seq: int, minutes: float, kind: schema.EventKind, state: str, value: float | None = None
) -> schema.Event:
    return schema.Event(
        device_id=BOARD, kind=kind, state=state, value=value, measured_at=at(minutes),
        received_at=at(minutes), seq=seq, seq_source="sensor",
    )  # fmt: skip


def readings(first: int, last: int) -> list[schema.Reading]:
    """5 °C every minute (seq = 1000 + minute)."""
    return [
        schema.reading(
            schema.Measurements(temperature_c=5.0),
            device_id=BOARD,
            measured_at=at(m),
            received_at=at(m),
            seq=1000 + m,
            seq_source="sensor",
        )
        for m in range(first, last)
    ]


def batch(
    *, events: list[schema.Event] | None = None, readings_: list[schema.Reading] | None = None
) -> schema.TelemetryBatch:
    return schema.TelemetryBatch(
        gateway_id="gw-van-1", sent_at=at(90), readings=readings_ or [], events=events or []
    )


def query(url: str, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchall()


DOOR_ALERTS = (
    "SELECT subject_id, rule, kind, started_at, ended_at, peak, limit_value, count FROM alerts"
    " WHERE kind = 'door' ORDER BY started_at"
)


async def test_a_door_left_open_raises_one_door_alert(
    database_url: str, mqtt_url: str, topic_prefix: str
) -> None:
    setup(database_url)
    load = schema.Event(
        device_id="handheld-7", kind="scan", state="load", parcel_id="P-1",
        compartment="chiller", logger_id=BOARD, measured_at=at(-1), received_at=at(-1), seq=1,
        seq_source="gateway",
    )  # fmt: skip
    messages = [
        batch(events=[load]),
        # The door opens at minute 5 and stays open 15 minutes (pharma-2-8 allows 10): the
        # alert opens with the first sample past the allowance, and closes with the door.
        batch(events=[event(1, 5, "door", "open")], readings_=readings(0, 12)),
        batch(events=[event(2, 20, "door", "closed")], readings_=readings(12, 25)),
        # A short opening (2 minutes): counted, no alert.
        batch(events=[event(3, 25, "door", "open"), event(4, 27, "door", "closed")]),
        # The lid's light sensor: bright for 12 minutes.
        batch(events=[event(5, 40, "light", "light", 300.0), event(6, 52, "light", "dark", 2.0)]),
    ]
    async with live_ingest(database_url, mqtt_url, topic_prefix) as live:
        for message in messages:
            await live.send(message)

        async def door_alerts_closed() -> bool:
            sql = "SELECT count(*) FROM alerts WHERE kind = 'door' AND ended_at IS NOT NULL"
            return query(database_url, sql) == [(2,)]

        await eventually(door_alerts_closed, timeout_s=30)
        for message in messages:  # redelivered
            await live.send(message)
        await live.send(batch(readings_=readings(60, 61)))  # a marker, last
        await eventually(lambda: _rows(database_url, "SELECT count(*) FROM readings", [(26,)]))
        await eventually(lambda: _rows(database_url, "SELECT count(*) FROM rule_queue", [(0,)]))

    assert query(database_url, DOOR_ALERTS) == [
        ("P-1", "door/open", "door", at(5), at(20), 15.0, 10.0, 1),
        ("P-1", "light/open", "door", at(40), at(52), 12.0, 10.0, 1),
    ]


async def _rows(url: str, sql: str, expected: list[tuple[Any, ...]]) -> bool:
    return query(url, sql) == expected

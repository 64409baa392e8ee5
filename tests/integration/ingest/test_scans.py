"""Custody set by scan events, through a real broker and a real PostgreSQL: scans are applied
in time order per parcel and once each; an unload without a load is recorded and flagged; a
scan of an unknown parcel is a dead letter; the other items of its message are stored."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import psycopg
import pytest

from coldtrail import schema
from ingest import migrate
from tests.integration.ingest.live import eventually, live_ingest

pytestmark = pytest.mark.integration

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
HANDHELD = "handheld-7"
LOGGER = "board-42"


def scan(
    seq: int,
    parcel: str,
    state: str,
    minutes: float,
    *,
    compartment: str | None = "chiller",
    logger: str | None = LOGGER,
) -> schema.Event:
    at = T0 + timedelta(minutes=minutes)
    return schema.Event(
        device_id=HANDHELD,
        kind="scan",
        state=state,
        parcel_id=parcel,
        compartment=compartment if state == "load" else None,
        logger_id=logger if state == "load" else None,
        measured_at=at,
        received_at=at,
        seq=seq,
        seq_source="gateway",
    )


def message(gateway: str, *events: schema.Event, reading: bool = False) -> schema.TelemetryBatch:
    readings = []
    if reading:
        readings.append(
            schema.reading(
                schema.Measurements(temperature_c=4.5),
                device_id=LOGGER,
                measured_at=T0,
                received_at=T0,
                seq=1,
                seq_source="sensor",
            )
        )
    return schema.TelemetryBatch(
        gateway_id=gateway, sent_at=T0 + timedelta(hours=1), readings=readings, events=list(events)
    )


def setup(url: str) -> None:
    migrate.migrate(url)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO vehicles (vehicle_id, name, gateway_id) VALUES"
            " ('van-1', 'Van 1', 'gw-van-1'), ('van-2', 'Van 2', 'gw-van-2')"
        )
        shipment = conn.execute(
            "INSERT INTO shipments (tracking_number, access_token_sha256, profile)"
            " VALUES ('TRK-S', %s, 'pharma-2-8') RETURNING shipment_id",
            (hashlib.sha256(b"TRK-S").digest(),),
        ).fetchone()
        assert shipment is not None
        for parcel in ("P-1", "P-2", "P-3"):
            conn.execute(
                "INSERT INTO parcels (parcel_id, shipment_id) VALUES (%s, %s)",
                (parcel, shipment[0]),
            )


def query(url: str, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchall()


CUSTODY = (
    "SELECT parcel_id, vehicle_id, gateway_id, compartment, device_id, from_time, to_time"
    " FROM custody ORDER BY parcel_id, from_time"
)
SCANS = "SELECT parcel_id, action, outcome, flagged FROM scans ORDER BY parcel_id, time"


def by(device_id: str, event: schema.Event) -> schema.Event:
    return msgspec.structs.replace(event, device_id=device_id)


async def _count(url: str, table: str, n: int) -> bool:
    return query(url, f"SELECT count(*) FROM {table}") == [(n,)]


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


async def test_scans_set_custody_once_in_time_order(
    database_url: str, mqtt_url: str, topic_prefix: str
) -> None:
    setup(database_url)
    # Van 1 loads P-1 and P-2; van 2 then takes P-1 over and unloads it. Van 2's message holds
    # its unload before its load: scans are applied in time order per parcel.
    first = message("gw-van-1", scan(1, "P-1", "load", 0), scan(2, "P-2", "load", 1))
    later = message(
        "gw-van-2",
        by("handheld-8", scan(2, "P-1", "unload", 90)),
        by("handheld-8", scan(1, "P-1", "load", 30)),
    )
    async with live_ingest(database_url, mqtt_url, topic_prefix, rules=False) as live:
        await live.send(first)
        await eventually(lambda: _count(database_url, "scans", 2))
        await live.send(later)
        await eventually(lambda: _count(database_url, "scans", 4))
        # Redelivered (a gateway that lost the PUBACK, or the broker): nothing changes.
        await live.send(later)
        await live.send(first)
        await live.send(message("gw-van-1", scan(3, "P-3", "load", 200)))  # a marker, last
        await eventually(lambda: _count(database_url, "scans", 5))

    assert query(database_url, CUSTODY) == [
        ("P-1", "van-1", "gw-van-1", "chiller", LOGGER, at(0), at(30)),
        ("P-1", "van-2", "gw-van-2", "chiller", LOGGER, at(30), at(90)),
        ("P-2", "van-1", "gw-van-1", "chiller", LOGGER, at(1), None),
        ("P-3", "van-1", "gw-van-1", "chiller", LOGGER, at(200), None),
    ]
    assert query(database_url, SCANS) == [
        ("P-1", "load", "loaded", False),
        ("P-1", "load", "loaded", False),
        ("P-1", "unload", "unloaded", False),
        ("P-2", "load", "loaded", False),
        ("P-3", "load", "loaded", False),
    ]
    assert query(database_url, "SELECT count(*) FROM events WHERE kind = 'scan'") == [(5,)]
    assert query(database_url, "SELECT count(*) FROM dead_letters") == [(0,)]


async def test_refused_scans_are_flagged_and_unknown_parcels_dead_lettered(
    database_url: str, mqtt_url: str, topic_prefix: str
) -> None:
    setup(database_url)
    async with live_ingest(database_url, mqtt_url, topic_prefix, rules=False) as live:
        # An unload of a parcel never loaded; a load by a gateway in no vehicle.
        await live.send(message("gw-van-1", scan(1, "P-1", "unload", 10)))
        await live.send(message("gw-depot", scan(2, "P-2", "load", 10)))
        # A load, then (in a later message) a load older than it: out of order.
        await live.send(message("gw-van-1", scan(3, "P-3", "load", 20)))
        await eventually(lambda: _count(database_url, "scans", 3))
        await live.send(message("gw-van-2", scan(4, "P-3", "load", 15)))
        # An unknown parcel, beside a reading and a known parcel's scan in the same message.
        await live.send(
            message(
                "gw-van-1", scan(5, "NOPE-9", "load", 30), scan(6, "P-1", "load", 31), reading=True
            )
        )
        await eventually(lambda: _count(database_url, "scans", 5))
        await eventually(lambda: _count(database_url, "dead_letters", 1))

    flagged = "SELECT parcel_id, action, outcome, flagged, reason FROM scans ORDER BY time, seq"
    assert query(database_url, flagged) == [
        ("P-1", "unload", "unload_without_load", True,
         f"unload without a load: parcel 'P-1' has no open custody that started before"
         f" {at(10).isoformat()}"),
        ("P-2", "load", "no_vehicle", True,
         "gateway 'gw-depot' is installed in no vehicle: cannot load parcel 'P-2'"),
        ("P-3", "load", "out_of_order", True,
         f"parcel 'P-3' already has custody from {at(20).isoformat()}; a new custody must start"
         f" after that, not at {at(15).isoformat()}"),
        ("P-3", "load", "loaded", False, None),
        ("P-1", "load", "loaded", False, None),
    ]  # fmt: skip
    assert query(database_url, "SELECT parcel_id, vehicle_id, from_time, to_time FROM custody"
                 " ORDER BY parcel_id") == [
        ("P-1", "van-1", at(31), None),
        ("P-3", "van-1", at(20), None),
    ]  # fmt: skip
    ((topic, gateway, payload, reason),) = query(
        database_url, "SELECT topic, gateway_id, payload, reason FROM dead_letters"
    )
    assert topic == f"{topic_prefix}/v1/gw-van-1/telemetry"
    assert gateway == "gw-van-1"
    assert reason == "scan of unknown parcel: 1 scan event(s) for 'NOPE-9'"
    kept = schema.decode_batch(bytes(payload))
    assert [(e.parcel_id, e.seq) for e in kept.events] == [("NOPE-9", 5)]
    # The rest of that message is stored; the unknown parcel's scan is not an event.
    assert query(database_url, "SELECT device_id, seq FROM readings") == [(LOGGER, 1)]
    assert query(
        database_url, "SELECT seq FROM events WHERE device_id = 'handheld-7' ORDER BY seq"
    ) == [(1,), (2,), (3,), (4,), (6,)]


def fix(seq: int, minutes: float, lat: float, lon: float) -> schema.Position:
    return schema.position(
        schema.Fix(lat=lat, lon=lon),
        device_id="gps-van-1",
        measured_at=at(minutes),
        received_at=at(minutes),
        seq=seq,
        seq_source="gateway",
    )


async def test_an_unload_at_the_destination_is_a_delivery(
    database_url: str, mqtt_url: str, topic_prefix: str
) -> None:
    setup(database_url)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("UPDATE shipments SET destination = 'Villeurbanne', destination_lat = 45.77,"
                     " destination_lon = 4.88")  # fmt: skip
    # Van 1 loads P-1 and P-2; unloads P-2 on the way (10 km from the destination), then P-1
    # 100 m from the destination: a delivery; the same parcel unloaded again later: nothing.
    loads = message("gw-van-1", scan(1, "P-1", "load", 0), scan(2, "P-2", "load", 0))
    away = message("gw-van-1", scan(3, "P-2", "unload", 30))
    away.positions.append(fix(1, 29, 45.68, 4.88))
    there = message("gw-van-1", scan(4, "P-1", "unload", 60), scan(5, "P-1", "unload", 70))
    there.positions.append(fix(2, 58, 45.7709, 4.88))
    async with live_ingest(database_url, mqtt_url, topic_prefix, rules=False) as live:
        await live.send(loads)
        await eventually(lambda: _count(database_url, "scans", 2))
        await live.send(away)
        await eventually(lambda: _count(database_url, "scans", 3))
        await live.send(there)
        await eventually(lambda: _count(database_url, "scans", 5))

    assert query(database_url, SCANS) == [
        ("P-1", "load", "loaded", False),
        ("P-1", "unload", "delivered", False),
        ("P-1", "unload", "already_delivered", False),
        ("P-2", "load", "loaded", False),
        ("P-2", "unload", "unloaded", False),
    ]
    ended = "SELECT parcel_id, to_time, end_reason FROM custody ORDER BY parcel_id"
    assert query(database_url, ended) == [("P-1", at(60), "delivered"), ("P-2", at(30), None)]

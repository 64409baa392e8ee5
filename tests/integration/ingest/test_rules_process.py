"""The rule runner in a child process (ingest/rules_process.py), against a real PostgreSQL: the
readings of a whole trip written in one transaction and judged in one batch by the child give
the same alerts and the same stored conditions as the same readings written and judged one by
one by a runner in the test's own loop."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg import sql

from coldtrail import schema
from ingest import migrate
from ingest.derive import RuleRunner
from ingest.derive_config import RunnerConfig
from ingest.rules_process import run_in_process
from ingest.store import PsycopgTelemetryStore, WriteBatch

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
LOGGER = "A4:C1:38:00:00:01"
PARCELS = {"TRK-A": ["P-A1", "P-A2"], "TRK-B": ["P-B1"]}

ALERTS = (
    "SELECT subject_id, rule, kind, started_at, ended_at, state, peak, severity FROM alerts"
    " ORDER BY subject_id, rule, kind, started_at"
)
CONDITIONS = (
    "SELECT parcel_id, state, profile, scope, min_c, max_c, allowance, alerts"
    " FROM parcel_conditions ORDER BY parcel_id"
)


def trip() -> list[schema.Reading]:
    """5 °C, a climb to 12 °C for an hour from minute 40 (out of spec), a dip to 1 °C for
    20 minutes from minute 130 (within allowance), then 5 °C again."""
    readings = []
    for m in range(200):
        t = 12.0 if 40 <= m < 100 else 1.0 if 130 <= m < 150 else 5.0
        at = T0 + timedelta(minutes=m)
        readings.append(
            schema.reading(
                schema.Measurements(temperature_c=t, humidity_pct=50.0, battery_pct=90.0),
                device_id=LOGGER,
                measured_at=at,
                received_at=at + timedelta(seconds=1),
                seq=m,
                seq_source="sensor",
            )
        )
    return readings


def telemetry(readings: list[schema.Reading]) -> WriteBatch:
    at = readings[-1].received_at
    return WriteBatch(
        telemetry=[schema.TelemetryBatch(gateway_id="gw-van-1", sent_at=at, readings=readings)]
    )


@pytest.fixture
def second_database_url(pg_server_url: str) -> Iterator[str]:
    name = f"ct_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield psycopg.conninfo.make_conninfo(pg_server_url, dbname=name)
    finally:
        with psycopg.connect(pg_server_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def seed(url: str) -> None:
    migrate.migrate(url)
    with psycopg.connect(url, autocommit=True) as conn:
        for number, parcels in PARCELS.items():
            row = conn.execute(
                "INSERT INTO shipments (tracking_number, access_token_sha256, profile)"
                " VALUES (%s, %s, 'pharma-2-8') RETURNING shipment_id",
                (number, hashlib.sha256(number.encode()).digest()),
            ).fetchone()
            assert row is not None
            for parcel in parcels:
                conn.execute(
                    "INSERT INTO parcels (parcel_id, shipment_id) VALUES (%s, %s)", (parcel, row[0])
                )
                conn.execute(
                    "INSERT INTO custody (parcel_id, device_id, from_time) VALUES (%s, %s, %s)",
                    (parcel, LOGGER, T0 - timedelta(minutes=5)),
                )


def stored(url: str) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    with psycopg.connect(url) as conn:
        return conn.execute(ALERTS).fetchall(), conn.execute(CONDITIONS).fetchall()


async def one_by_one(url: str, readings: list[schema.Reading]) -> None:
    """Each reading in its own transaction, judged (in this loop) before the next is written."""
    store = await PsycopgTelemetryStore.connect(url)
    runner = RuleRunner(url)
    try:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            for reading in readings:
                await store.write(telemetry([reading]))
                while await runner.run_pass(conn):
                    pass
    finally:
        await store.close()


async def judged_in_child(url: str, expected_readings: int) -> None:
    """Run the child process until it has taken the whole queue and stored the conditions of
    every parcel through the last reading."""
    stop = asyncio.Event()
    task = asyncio.create_task(run_in_process(url, RunnerConfig(), stop))
    try:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            for _ in range(600):
                cur = await conn.execute(
                    "SELECT (SELECT count(*) FROM rule_queue),"
                    " (SELECT count(*) FROM parcel_conditions WHERE readings = %s)",
                    (expected_readings,),
                )
                row = await cur.fetchone()
                if row == (0, 3):
                    return
                assert not task.done(), "the rule runner's parent task ended"
                await asyncio.sleep(0.1)
        raise AssertionError(f"the child process did not judge the readings: {row}")
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


async def test_batched_in_a_child_process_gives_the_same_alerts_and_conditions_as_one_by_one(
    database_url: str, second_database_url: str
) -> None:
    readings = trip()
    seed(database_url)
    seed(second_database_url)

    await one_by_one(database_url, readings)
    store = await PsycopgTelemetryStore.connect(second_database_url)
    try:
        await store.write(telemetry(readings))
    finally:
        await store.close()
    await judged_in_child(second_database_url, len(readings))

    alerts, conditions = stored(second_database_url)
    assert stored(database_url) == (alerts, conditions)
    # The trip is out of spec for every parcel (the hour at 12 °C), with its excursion alerts.
    assert {(c[0], c[1]) for c in conditions} == {
        ("P-A1", "out_of_spec"),
        ("P-A2", "out_of_spec"),
        ("P-B1", "out_of_spec"),
    }
    assert {a[0] for a in alerts if a[2] == "excursion"} == {"P-A1", "P-A2", "P-B1"}


async def test_the_child_process_stops_with_ingest_and_frees_the_leader_lock(
    database_url: str,
) -> None:
    seed(database_url)
    stop = asyncio.Event()
    task = asyncio.create_task(run_in_process(database_url, RunnerConfig(), stop))
    lock = (
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = x'72756C65'::int"
        " AND granted AND database = (SELECT oid FROM pg_database"
        " WHERE datname = current_database())"
    )
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        for _ in range(300):
            row = await (await conn.execute(lock)).fetchone()
            if row == (1,):
                break
            await asyncio.sleep(0.1)
        assert row == (1,), "the child process never took the lead"
        stop.set()
        await asyncio.wait_for(task, 30)
        # The child has exited; its server process ends right after (asynchronously).
        for _ in range(100):
            row = await (await conn.execute(lock)).fetchone()
            if row == (0,):
                break
            await asyncio.sleep(0.1)
        assert row == (0,), "the leader lock is still held after the child process stopped"

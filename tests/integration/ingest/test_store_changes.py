"""The live streams' change log as ingest's real write path fills it (migration 0011): one
``reading_changes`` row per device per write with the time range and count of the readings it
newly stored, by the COPY path and by the redelivery (staging, ON CONFLICT) path alike."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from coldtrail import schema
from ingest import migrate
from ingest.retention import CHANGE_LOG_DAYS, retention
from ingest.store import PsycopgTelemetryStore, WriteBatch

pytestmark = pytest.mark.integration

T0 = datetime(2026, 1, 31, 23, 59, 50, tzinfo=UTC)  # the batches span a month boundary


def at(second: int) -> datetime:
    return T0 + timedelta(seconds=second)


def telemetry(readings: dict[str, list[int]], *, positions: int = 0) -> schema.TelemetryBatch:
    """Per device, readings measured at T0 + each second listed (seq = that second)."""
    return schema.TelemetryBatch(
        gateway_id="gw-1",
        sent_at=T0,
        readings=[
            schema.reading(
                schema.Measurements(temperature_c=4.0),
                device_id=device_id,
                received_at=at(second),
                seq=second,
                seq_source="sensor",
            )
            for device_id, seconds in readings.items()
            for second in seconds
        ],
        positions=[
            schema.position(
                schema.Fix(lat=45.0, lon=4.0),
                device_id="GPS-1",
                received_at=at(i),
                seq=i,
                seq_source="gateway",
            )
            for i in range(positions)
        ],
    )


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[PsycopgTelemetryStore]:
    migrate.migrate(database_url)
    store = await PsycopgTelemetryStore.connect(database_url)
    yield store
    await store.close()


def changes(url: str) -> list[tuple[Any, ...]]:
    """The change rows, oldest first: (change_xid, device_id, from_time, to_time, rows)."""
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT change_xid::text, device_id, from_time, to_time, rows FROM reading_changes"
            " ORDER BY change_xid, change_seq"
        ).fetchall()


def readings_of(url: str, change_xid: str, device_id: str) -> list[int]:
    """The seqs of the readings a transaction stored for a device."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT seq FROM readings WHERE change_xid = %s::xid8 AND device_id = %s ORDER BY seq",
            (change_xid, device_id),
        ).fetchall()
    return [int(seq) for (seq,) in rows]


async def test_a_write_records_one_change_row_per_device_with_its_new_readings(
    store: PsycopgTelemetryStore, database_url: str
) -> None:
    # Two messages in one write, device A in both: still one change row for A.
    batch = WriteBatch(
        telemetry=[
            telemetry({"A": [5, 3, 20], "B": [1]}, positions=2),
            telemetry({"A": [8]}),
        ]
    )
    result = await store.write(batch)
    assert result.inserted == {"readings": 5, "positions": 2}
    rows = changes(database_url)
    assert [r[1:] for r in rows] == [("A", at(3), at(20), 4), ("B", at(1), at(1), 1)]
    xid = rows[0][0]
    assert rows[1][0] == xid  # one transaction
    assert readings_of(database_url, xid, "A") == [3, 5, 8, 20]
    assert readings_of(database_url, xid, "B") == [1]

    # Positions only: no change row.
    await store.write(WriteBatch(telemetry=[telemetry({}, positions=3)]))
    assert len(changes(database_url)) == 2


async def test_a_redelivery_records_only_the_readings_that_were_new(
    store: PsycopgTelemetryStore, database_url: str
) -> None:
    await store.write(WriteBatch(telemetry=[telemetry({"A": [1, 2, 3], "B": [1, 2]})]))
    # Some duplicates (A 2 and 3, all of B's): the staging path keeps A's 0 and 4 to 6 and C's.
    again = await store.write(
        WriteBatch(telemetry=[telemetry({"A": [0, 2, 3, 4, 5, 6], "B": [1, 2], "C": [9]})])
    )
    assert again.inserted == {"readings": 5} and again.duplicates == {"readings": 4}
    rows = changes(database_url)
    assert [r[1:] for r in rows[2:]] == [("A", at(0), at(6), 4), ("C", at(9), at(9), 1)]
    xid = rows[2][0]
    assert rows[0][0] != xid == rows[3][0]
    assert readings_of(database_url, xid, "A") == [0, 4, 5, 6]
    assert readings_of(database_url, xid, "B") == []

    # All duplicates: nothing new, no change row.
    third = await store.write(WriteBatch(telemetry=[telemetry({"A": [1, 4], "C": [9]})]))
    assert third.inserted == {"readings": 0} and third.duplicates == {"readings": 3}
    assert len(changes(database_url)) == 4


async def test_a_failed_write_leaves_no_change_row(
    store: PsycopgTelemetryStore, database_url: str
) -> None:
    await store.write(WriteBatch(telemetry=[telemetry({"A": [1]})]))
    with psycopg.connect(database_url) as conn:  # makes the next write fail after its readings
        conn.execute("ALTER TABLE rule_queue ADD CONSTRAINT no_rows CHECK (false) NOT VALID")
    with pytest.raises(psycopg.errors.CheckViolation):
        await store.write(WriteBatch(telemetry=[telemetry({"A": [2]})]))
    assert [r[1:] for r in changes(database_url)] == [("A", at(1), at(1), 1)]


async def test_retention_deletes_the_change_rows_older_than_the_resume_window(
    store: PsycopgTelemetryStore, database_url: str
) -> None:
    await store.write(WriteBatch(telemetry=[telemetry({"A": [1], "B": [1]})]))
    await store.write(WriteBatch(telemetry=[telemetry({"A": [2]})]))
    with psycopg.connect(database_url) as conn:
        conn.execute(
            "UPDATE reading_changes SET changed_at = now() - %s WHERE to_time = %s",
            (timedelta(days=CHANGE_LOG_DAYS, minutes=1), at(1)),
        )
    assert retention(database_url).changes_deleted == 2  # any run, even one that only shows
    assert [r[1:] for r in changes(database_url)] == [("A", at(2), at(2), 1)]
    assert retention(database_url).changes_deleted == 0
    with psycopg.connect(database_url) as conn:  # the readings stay
        assert conn.execute("SELECT count(*) FROM readings").fetchone() == (3,)

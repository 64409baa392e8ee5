"""The 5-minute and 1-hour aggregates of readings, and retention, against a real PostgreSQL:
views and whole monthly partitions dropped on plain PostgreSQL; continuous aggregates and
retention policies where the server has TimescaleDB (tests/integration/ingest/test_timescale.py
checks that variant further)."""

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from coldtrail import schema
from ingest import migrate
from ingest.retention import retention
from ingest.store import PsycopgTelemetryStore, WriteBatch
from tests.integration.ingest.aggregates_data import (
    expected_1h,
    expected_5m,
    known_readings,
    rows,
)

pytestmark = pytest.mark.integration


async def test_the_views_summarise_known_readings_per_device_and_bucket(database_url: str) -> None:
    migrate.migrate(database_url)
    store = await PsycopgTelemetryStore.connect(database_url)
    try:
        await store.write(known_readings())
    finally:
        await store.close()
    with psycopg.connect(database_url) as conn:
        assert rows(conn, "readings_5m") == expected_5m()
        assert rows(conn, "readings_1h") == expected_1h()
        # The query surface the API uses: one device, a time range.
        one = conn.execute(
            "SELECT bucket, reading_count FROM readings_5m"
            " WHERE device_id = %s AND bucket >= %s AND bucket < %s ORDER BY bucket",
            ("tag-1", expected_5m()[1][1], expected_5m()[3][1]),
        ).fetchall()
    assert one == [(expected_5m()[1][1], 1), (expected_5m()[2][1], 1)]


def _batch(at: datetime, seq: int) -> WriteBatch:
    reading = schema.reading(
        schema.Measurements(temperature_c=5.0),
        device_id="tag-1",
        received_at=at,
        seq=seq,
        seq_source="sensor",
    )
    return WriteBatch(
        telemetry=[schema.TelemetryBatch(gateway_id="gw-1", sent_at=at, readings=[reading])]
    )


def _month(at: datetime) -> str:
    return f"readings_y{at:%Y}m{at:%m}"


async def test_retention_drops_only_what_is_entirely_older_than_the_cutoff(
    database_url: str,
) -> None:
    migrate.migrate(database_url)
    backend = migrate.status(database_url).backend
    now = datetime.now(UTC)
    old, recent = now - timedelta(days=100), now - timedelta(days=40)
    store = await PsycopgTelemetryStore.connect(database_url)
    try:
        for seq, at in enumerate((old, recent, now)):
            await store.write(_batch(at, seq))
    finally:
        await store.close()

    shown = retention(database_url)  # showing drops nothing
    assert shown.backend == backend and shown.dropped == []
    if backend == "postgresql":
        assert shown.oldest["readings"] == _month(old)
    else:
        assert shown.policies == {"readings": None, "positions": None, "events": None}

    # 60 days: the month (or 7-day chunk) of `old` ended at least 40 days before the cutoff;
    # the one of `recent` has not.
    state = retention(database_url, days=60)
    if backend == "postgresql":  # dropped now
        assert state.dropped == [_month(old)]
        assert state.oldest["readings"] == _month(recent)
    else:  # a policy, run here as TimescaleDB's scheduler would
        assert all(p is not None and "60 days" in p for p in state.policies.values()), state
        _run_retention_jobs(database_url)
    with psycopg.connect(database_url) as conn:
        left = [r[0] for r in conn.execute("SELECT seq FROM readings ORDER BY seq")]
    assert left == [1, 2]
    assert retention(database_url, days=60).dropped == []  # again: nothing more to drop now
    assert retention(database_url, remove=True).dropped == []  # policies only on TimescaleDB


def _run_retention_jobs(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        jobs = conn.execute(
            "SELECT job_id FROM timescaledb_information.jobs WHERE proc_name = 'policy_retention'"
        ).fetchall()
        assert len(jobs) == 3
        for (job,) in jobs:
            conn.execute("CALL run_job(%s)", (job,))


def test_retention_refuses_less_than_a_day(database_url: str) -> None:
    migrate.migrate(database_url)
    with pytest.raises(ValueError, match="at least 1"):
        retention(database_url, days=0)

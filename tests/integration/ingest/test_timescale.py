"""The TimescaleDB variant of the schema, against a real TimescaleDB.

TimescaleDB cannot be installed on the development machines: these tests run when
COLDTRAIL_TEST_TIMESCALE_URL names a server, and the test summary says loudly when they did not.
"""

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from importlib.resources import files

import psycopg
import pytest

from coldtrail import schema
from ingest import migrate, timescale
from ingest.retention import retention
from ingest.store import PsycopgTelemetryStore, WriteBatch
from tests.integration.ingest import aggregates_data

pytestmark = [pytest.mark.integration, pytest.mark.timescale]


def test_the_timescale_sql_makes_hypertables_of_the_same_tables() -> None:
    sql = timescale.timeseries_sql()
    assert "PARTITION BY" not in sql
    for table in ("readings", "positions", "events"):
        assert f"CREATE TABLE {table} (" in sql
        assert f"create_hypertable('{table}'" in sql
    assert "coldtrail_ensure_partitions" in sql  # same function, a no-op there


@pytest.fixture
def timescale_database(timescale_url: str) -> Iterator[str]:
    name = f"ct_ts_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(timescale_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield psycopg.conninfo.make_conninfo(timescale_url, dbname=name)
    finally:
        with psycopg.connect(timescale_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


async def test_migrate_and_store_exactly_once_on_timescaledb(timescale_database: str) -> None:
    migrate.migrate(timescale_database)
    assert migrate.status(timescale_database).backend == "timescaledb"
    with psycopg.connect(timescale_database) as conn:
        tables = {
            r[0]
            for r in conn.execute("SELECT hypertable_name FROM timescaledb_information.hypertables")
        }
    assert tables == {"readings", "positions", "events"}

    t0 = datetime.now(UTC) - timedelta(days=20)  # spans several 7-day chunks
    readings = [
        schema.reading(
            schema.Measurements(temperature_c=4.0),
            device_id="tag-1",
            received_at=t0 + timedelta(days=i),
            seq=i,
            seq_source="sensor",
        )
        for i in range(20)
    ]
    batch = schema.TelemetryBatch(gateway_id="gw-1", sent_at=t0, readings=readings)
    store = await PsycopgTelemetryStore.connect(timescale_database)
    try:
        first = await store.write(WriteBatch(telemetry=[batch]))
        again = await store.write(WriteBatch(telemetry=[batch]))
    finally:
        await store.close()
    assert first.inserted == {"readings": 20} and again.duplicates == {"readings": 20}


def test_the_timescale_aggregates_have_the_plain_views_names_and_columns() -> None:
    sql = timescale.aggregates_sql()
    plain = (files("ingest.migrations") / "0006_aggregates.sql").read_text("utf-8")
    for view in ("readings_5m", "readings_1h"):
        assert f"CREATE MATERIALIZED VIEW {view}" in sql
        assert f"CREATE VIEW {view} AS" in plain
        assert f"add_continuous_aggregate_policy('{view}'" in sql
    for column in aggregates_data.COLUMNS.split(", "):
        assert f"AS {column}" in sql or column in ("device_id", "bucket")
        assert f"AS {column}" in plain or column in ("device_id", "bucket")


async def test_continuous_aggregates_match_the_plain_views_on_timescaledb(
    timescale_database: str,
) -> None:
    migrate.migrate(timescale_database)
    with psycopg.connect(timescale_database) as conn:
        views = {
            r[0]
            for r in conn.execute(
                "SELECT view_name FROM timescaledb_information.continuous_aggregates"
            )
        }
    assert views == {"readings_5m", "readings_1h"}
    store = await PsycopgTelemetryStore.connect(timescale_database)
    try:
        await store.write(aggregates_data.known_readings())
    finally:
        await store.close()
    with psycopg.connect(timescale_database, autocommit=True) as conn:
        # Real-time: the buckets not materialised yet come from the raw rows.
        assert aggregates_data.rows(conn, "readings_5m") == aggregates_data.expected_5m()
        assert aggregates_data.rows(conn, "readings_1h") == aggregates_data.expected_1h()
        # The scheduler does not run jobs on every server (DESIGN.md): refresh by hand, then
        # the materialised buckets give the same answer.
        for view in ("readings_5m", "readings_1h"):
            conn.execute(f"CALL refresh_continuous_aggregate('{view}', NULL, NULL)")
        assert aggregates_data.rows(conn, "readings_5m") == aggregates_data.expected_5m()
        assert aggregates_data.rows(conn, "readings_1h") == aggregates_data.expected_1h()


async def test_compression_and_retention_policies_on_timescaledb(timescale_database: str) -> None:
    migrate.migrate(timescale_database)
    now = datetime.now(UTC)
    store = await PsycopgTelemetryStore.connect(timescale_database)
    try:
        for seq, days in enumerate((200, 60, 10, 0)):  # chunks of several ages
            at = now - timedelta(days=days)
            reading = schema.reading(
                schema.Measurements(temperature_c=5.0),
                device_id="tag-1",
                received_at=at,
                seq=seq,
                seq_source="sensor",
            )
            await store.write(
                WriteBatch(
                    telemetry=[
                        schema.TelemetryBatch(gateway_id="gw-1", sent_at=at, readings=[reading])
                    ]
                )
            )
    finally:
        await store.close()

    def jobs(conn: psycopg.Connection, proc: str) -> dict[str, int]:
        return {
            str(table): int(job)
            for table, job in conn.execute(
                "SELECT hypertable_name, job_id FROM timescaledb_information.jobs"
                " WHERE proc_name = %s",
                (proc,),
            )
        }

    with psycopg.connect(timescale_database, autocommit=True) as conn:
        compression = jobs(conn, "policy_compression")
        assert set(compression) == {"readings", "positions", "events"}
        conn.execute("CALL run_job(%s)", (compression["readings"],))
        compressed = conn.execute(
            "SELECT count(*) FROM timescaledb_information.chunks"
            " WHERE hypertable_name = 'readings' AND is_compressed"
        ).fetchone()
        # The chunks that ended more than 7 days ago (those of 200 and 60 days at least).
        assert compressed is not None and compressed[0] >= 2
        assert [r[0] for r in conn.execute("SELECT seq FROM readings ORDER BY seq")] == [
            0,
            1,
            2,
            3,
        ]

    assert retention(timescale_database).policies == dict.fromkeys(
        ("readings", "positions", "events")
    )  # none by default
    with pytest.raises(ValueError, match="at least 31 days"):
        retention(timescale_database, days=7)
    state = retention(timescale_database, days=90)
    assert set(state.policies) == {"readings", "positions", "events"}
    assert all(v is not None and "90 days" in v for v in state.policies.values()), state
    with psycopg.connect(timescale_database, autocommit=True) as conn:
        conn.execute("CALL run_job(%s)", (jobs(conn, "policy_retention")["readings"],))
        left = [r[0] for r in conn.execute("SELECT seq FROM readings ORDER BY seq")]
    assert left == [1, 2, 3]  # the 200-day-old chunk is gone
    assert retention(timescale_database, remove=True).policies == dict.fromkeys(
        ("readings", "positions", "events")
    )

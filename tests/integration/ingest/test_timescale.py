"""The TimescaleDB variant of the schema, against a real TimescaleDB.

TimescaleDB cannot be installed on the development machines: these tests run when
COLDTRAIL_TEST_TIMESCALE_URL names a server, and the test summary says loudly when they did not.
"""

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from coldtrail import schema
from ingest import migrate, timescale
from ingest.store import PsycopgTelemetryStore, WriteBatch

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

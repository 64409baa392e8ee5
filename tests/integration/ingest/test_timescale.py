"""The TimescaleDB variant of the schema, against a real TimescaleDB.

TimescaleDB cannot be installed on the development machines: these tests run when
COLDTRAIL_TEST_TIMESCALE_URL names a server, and the test summary says loudly when they did not.
Besides hypertables, aggregates, compression and retention, they check the defects of issue 15
once found on a real TimescaleDB 2.28: history lost by the aggregates after a policy run, a
non-superuser unable to migrate, the "segmenting or ordering" warning, TimescaleDB's default
time index. tests/unit/ingest/test_timescale_sql.py checks the same SQL without a server.
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
from tests.integration.ingest.roles import is_superuser, owned_database

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


def _indexes(url: str) -> set[tuple[str, str]]:
    """The indexes of the time-series tables themselves (not of partitions or chunks)."""
    with psycopg.connect(url) as conn:
        return {
            (str(t), str(i))
            for t, i in conn.execute(
                "SELECT tablename, indexname FROM pg_indexes"
                " WHERE schemaname = 'public' AND tablename IN ('readings', 'positions', 'events')"
            )
        }


def test_the_timescale_migrations_warn_of_nothing_about_the_primary_key(
    timescale_database: str,
) -> None:
    """Every migration's SQL, in order, with the server's notices collected: compression
    segments and orders by the whole primary key (device_id; time, seq), so TimescaleDB does
    not warn that "seq" should be used for segmenting or ordering (it did, once per table)."""
    notices: list[tuple[str, str]] = []
    with psycopg.connect(timescale_database, autocommit=True) as conn:
        conn.add_notice_handler(
            lambda d: notices.append((d.severity_nonlocalized or "", d.message_primary or ""))
        )
        for migration in migrate.available("timescaledb"):
            with conn.transaction():
                conn.execute(migration.sql.encode())
    warned = [m for severity, m in notices if severity == "WARNING"]
    assert not [m for m in warned if "segmenting or ordering" in m], warned


async def test_migrate_and_store_exactly_once_on_timescaledb(
    timescale_database: str, database_url: str
) -> None:
    migrate.migrate(timescale_database)
    plain_database = database_url  # the suite's PostgreSQL, migrated as plain as it detects
    migrate.migrate(plain_database)
    assert migrate.status(timescale_database).backend == "timescaledb"
    with psycopg.connect(timescale_database) as conn:
        tables = {
            r[0]
            for r in conn.execute("SELECT hypertable_name FROM timescaledb_information.hypertables")
        }
    assert tables == {"readings", "positions", "events"}
    assert _indexes(timescale_database) == _indexes(plain_database)  # no default time index
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
        _run_refresh_policies(conn)  # the 200-day-old bucket materialised
        assert _aggregated(conn) == {"readings_5m": 4, "readings_1h": 4}

    assert retention(timescale_database).policies == dict.fromkeys(
        ("readings", "positions", "events")
    )  # none by default
    state = retention(timescale_database, days=90)
    assert set(state.policies) == {"readings", "positions", "events"}
    assert all(v is not None and "90 days" in v for v in state.policies.values()), state
    with psycopg.connect(timescale_database, autocommit=True) as conn:
        conn.execute("CALL run_job(%s)", (jobs(conn, "policy_retention")["readings"],))
        left = [r[0] for r in conn.execute("SELECT seq FROM readings ORDER BY seq")]
        assert left == [1, 2, 3]  # the 200-day-old chunk is gone
        # Like the plain views, the aggregates cover the readings kept: the refresh over the
        # whole history takes the dropped chunk's bucket out.
        _run_refresh_policies(conn)
        assert _aggregated(conn) == {"readings_5m": 3, "readings_1h": 3}
    assert retention(timescale_database, remove=True).policies == dict.fromkeys(
        ("readings", "positions", "events")
    )


def _run_refresh_policies(conn: psycopg.Connection) -> None:
    """Run each aggregate's refresh policy now, as the job scheduler would (DESIGN.md: do not
    rely on the scheduler in tests)."""
    jobs = conn.execute(
        "SELECT job_id FROM timescaledb_information.jobs"
        " WHERE proc_name = 'policy_refresh_continuous_aggregate' ORDER BY job_id"
    ).fetchall()
    assert len(jobs) == len(timescale.AGGREGATES)
    for (job,) in jobs:
        conn.execute("CALL run_job(%s)", (job,))


def _aggregated(conn: psycopg.Connection) -> dict[str, int]:
    """How many readings each aggregate counts."""
    out = {}
    for view in timescale.AGGREGATES:
        row = conn.execute(f"SELECT coalesce(sum(reading_count), 0) FROM {view}").fetchone()
        out[view] = int(row[0]) if row else -1
    return out


async def test_the_aggregates_keep_the_whole_history_after_a_policy_run(
    timescale_database: str,
) -> None:
    """90 days of readings: every one stays in readings_5m and readings_1h after the refresh
    policies ran (a 30-day window once left only the last 30 days), and a reading 60 days late
    joins them at the next run."""
    migrate.migrate(timescale_database)
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    readings = [
        schema.reading(
            schema.Measurements(temperature_c=4.0),
            device_id="tag-1",
            received_at=now - timedelta(days=day, hours=2),
            seq=day,
            seq_source="sensor",
        )
        for day in range(90)
    ]
    store = await PsycopgTelemetryStore.connect(timescale_database)
    try:
        await store.write(
            WriteBatch(
                telemetry=[schema.TelemetryBatch(gateway_id="gw-1", sent_at=now, readings=readings)]
            )
        )
        with psycopg.connect(timescale_database, autocommit=True) as conn:
            assert _aggregated(conn) == {"readings_5m": 90, "readings_1h": 90}  # real-time
            _run_refresh_policies(conn)
            assert _aggregated(conn) == {"readings_5m": 90, "readings_1h": 90}
            plain_1h = conn.execute(
                "SELECT device_id, date_bin(INTERVAL '1 hour', time, TIMESTAMPTZ '2000-01-01Z'),"
                " count(*) FROM readings GROUP BY 1, 2 ORDER BY 1, 2"
            ).fetchall()
            assert (
                conn.execute(
                    "SELECT device_id, bucket, reading_count FROM readings_1h ORDER BY 1, 2"
                ).fetchall()
                == plain_1h
            )
        late = schema.reading(
            schema.Measurements(temperature_c=9.0),
            device_id="tag-1",
            received_at=now - timedelta(days=60, hours=3),
            seq=1000,
            seq_source="sensor",
        )
        await store.write(
            WriteBatch(
                telemetry=[schema.TelemetryBatch(gateway_id="gw-1", sent_at=now, readings=[late])]
            )
        )
    finally:
        await store.close()
    with psycopg.connect(timescale_database, autocommit=True) as conn:
        _run_refresh_policies(conn)
        assert _aggregated(conn) == {"readings_5m": 91, "readings_1h": 91}
        policies = conn.execute(
            "SELECT config ->> 'start_offset' FROM timescaledb_information.jobs"
            " WHERE proc_name = 'policy_refresh_continuous_aggregate'"
        ).fetchall()
    assert policies == [(None,), (None,)]


def test_a_non_superuser_owner_migrates_a_fresh_timescaledb_database(timescale_url: str) -> None:
    """The application role (owner of its database, not a superuser) may not read
    shared_preload_libraries: it still sees the preloaded extension, creates it (TimescaleDB is
    a trusted extension) and migrates, repair migration included."""
    with owned_database(timescale_url) as url:
        assert not is_superuser(url)
        with psycopg.connect(url) as conn:
            found = migrate.probe(conn)
        assert found.available and found.loader and found.preload is None
        applied = migrate.migrate(url)
        assert [m.version for m in applied] == [m.version for m in migrate.available("timescaledb")]
        assert migrate.status(url).backend == "timescaledb"
        with psycopg.connect(url) as conn:
            hypertables = conn.execute(
                "SELECT count(*) FROM timescaledb_information.hypertables"
            ).fetchone()
            time_indexes = conn.execute(
                "SELECT count(*) FROM pg_indexes WHERE indexname LIKE '%time_idx'"
            ).fetchone()
        assert hypertables == (3,) and time_indexes == (0,)
        assert migrate.migrate(url) == []

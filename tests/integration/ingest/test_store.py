"""The PostgreSQL store against a real PostgreSQL: exactly-once, partitions, dead letters."""

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from coldtrail import schema
from ingest import migrate
from ingest.store import DeadLetter, PsycopgTelemetryStore, WriteBatch

pytestmark = pytest.mark.integration

T0 = datetime(2026, 1, 31, 23, 59, 58, tzinfo=UTC)  # the batch spans a month boundary


def telemetry(n: int, gateway_id: str = "gw-1") -> schema.TelemetryBatch:
    readings = [
        schema.reading(
            schema.Measurements(temperature_c=4 + i / 10, accel_g=(0.0, 0.0, 1.0)),
            device_id="A4:C1:38:00:00:01",
            received_at=T0 + timedelta(seconds=i),
            seq=i,
            seq_source="sensor",
        )
        for i in range(n)
    ]
    positions = [
        schema.position(
            schema.Fix(lat=45.0, lon=4.0 + i / 1000, satellites=8),
            device_id="GPS-1",
            measured_at=T0 + timedelta(seconds=i),
            received_at=T0 + timedelta(seconds=i, milliseconds=300),
            seq=i,
            seq_source="gateway",
        )
        for i in range(n)
    ]
    return schema.TelemetryBatch(
        gateway_id=gateway_id,
        sent_at=T0 + timedelta(seconds=n),
        readings=readings,
        positions=positions,
    )


@pytest.fixture
async def store(database_url: str):  # type: ignore[no-untyped-def]
    migrate.migrate(database_url)
    store = await PsycopgTelemetryStore.connect(database_url)
    yield store
    await store.close()


async def test_each_reading_is_stored_once_however_often_it_arrives(
    store: PsycopgTelemetryStore, database_url: str
) -> None:
    first = await store.write(WriteBatch(telemetry=[telemetry(5)]))
    assert first.inserted == {"readings": 5, "positions": 5}
    again = await store.write(WriteBatch(telemetry=[telemetry(5), telemetry(7)]))
    assert again.inserted == {"readings": 2, "positions": 2}
    assert again.duplicates == {"readings": 10, "positions": 10}
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*), count(DISTINCT seq) FROM readings").fetchone() == (
            7,
            7,
        )
        # Every row lives in a partition (plain PostgreSQL: one per month) or a chunk
        # (TimescaleDB: 7 days each) of its time; the table itself holds none.
        children = {
            str(r[0])
            for r in conn.execute(
                "SELECT inhrelid::regclass::text FROM pg_inherits"
                " WHERE inhparent = 'readings'::regclass"
            )
        }
        holding = {
            str(r[0])
            for r in conn.execute("SELECT DISTINCT tableoid::regclass::text FROM readings")
        }
        assert holding and holding <= children
        if migrate.status(database_url).backend == "postgresql":
            assert children == {"readings_y2026m01", "readings_y2026m02"}  # Jan, Feb
        row = conn.execute(
            "SELECT time, measured_at, received_at, accel_z_g, gateway_id FROM readings"
            " ORDER BY seq LIMIT 1"
        ).fetchone()
        assert row == (T0, None, T0, 1.0, "gw-1")
        position = conn.execute(
            "SELECT time, received_at FROM positions ORDER BY seq LIMIT 1"
        ).fetchone()
        assert position == (T0, T0 + timedelta(milliseconds=300))  # measured time, not arrival
        devices = conn.execute("SELECT device_id, gateway_id FROM devices ORDER BY 1").fetchall()
        assert devices == [("A4:C1:38:00:00:01", "gw-1"), ("GPS-1", "gw-1")]


async def test_dead_letters_are_kept_and_counted(
    store: PsycopgTelemetryStore, database_url: str
) -> None:
    letter = DeadLetter(
        "coldtrail/v1/gw-1/telemetry", b"garbage\x00\xff", "not a JSON object", "gw-1"
    )
    await store.write(WriteBatch(dead_letters=[letter]))
    await store.write(WriteBatch(dead_letters=[letter]))
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT topic, payload, reason, count FROM dead_letters").fetchall()
    assert rows == [("coldtrail/v1/gw-1/telemetry", b"garbage\x00\xff", "not a JSON object", 2)]


async def test_gateway_status_is_recorded(store: PsycopgTelemetryStore, database_url: str) -> None:
    status = schema.GatewayStatus(gateway_id="gw-9", state="online", at=T0, pending=12)
    await store.write(WriteBatch(statuses=[status]))
    await store.write(
        WriteBatch(statuses=[schema.GatewayStatus(gateway_id="gw-9", state="offline")])
    )
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT state, last_seen, status->>'state' FROM gateways").fetchone()
    assert row == ("offline", T0, "offline")


def test_migrations_are_idempotent_and_report_status(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        backend = migrate.detect_backend(conn)  # timescaledb where the server has it
    versions = [m.version for m in migrate.available(backend)]
    assert versions == [m.version for m in migrate.available("postgresql")]
    assert versions[:3] == [1, 2, 3] and versions == sorted(set(versions))
    assert [m.version for m in migrate.migrate(database_url)] == versions
    assert migrate.migrate(database_url) == []
    status = migrate.status(database_url)
    assert status.backend == backend
    assert status.pending == [] and [v for v, _ in status.applied] == versions
    with psycopg.connect(database_url) as conn:
        recorded = conn.execute("SELECT DISTINCT backend FROM schema_migrations").fetchall()
    assert recorded == [(backend,)]


async def test_calibrated_readings_keep_raw_values_and_calibration(
    store: PsycopgTelemetryStore, database_url: str
) -> None:
    calibration = schema.Calibration(slope=1.0, offset=-0.3, certificate="CAL-2026-0142")
    calibrated = schema.reading(
        schema.Measurements(temperature_c=4.2, humidity_pct=61.0),
        device_id="54:48:E6:8F:80:A5",
        received_at=T0,
        seq=1,
        seq_source="sensor",
        raw=schema.RawValues(temperature_c=4.5),
        calibration={"temperature_c": calibration},
    )
    plain = schema.reading(
        schema.Measurements(temperature_c=5.0),
        device_id="54:48:E6:8F:80:A5",
        received_at=T0 + timedelta(seconds=1),
        seq=2,
        seq_source="sensor",
    )
    batch = schema.TelemetryBatch(gateway_id="gw-1", sent_at=T0, readings=[calibrated, plain])
    first = await store.write(WriteBatch(telemetry=[batch]))  # COPY straight into the table
    again = await store.write(WriteBatch(telemetry=[batch]))  # redelivery: the staging path
    assert first.inserted == {"readings": 2} and again.duplicates == {"readings": 2}
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT seq, temperature_c, raw_temperature_c, raw_humidity_pct, calibration"
            " FROM readings WHERE device_id = '54:48:E6:8F:80:A5' ORDER BY seq"
        ).fetchall()
    assert rows == [
        (
            1,
            4.2,
            4.5,
            None,
            {"temperature_c": {"slope": 1.0, "offset": -0.3, "certificate": "CAL-2026-0142"}},
        ),
        (2, 5.0, None, None, None),
    ]

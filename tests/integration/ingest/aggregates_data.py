"""Known readings and the 5-minute and 1-hour aggregates they must give, on plain PostgreSQL
(views) and on TimescaleDB (continuous aggregates) alike."""

from datetime import UTC, datetime, timedelta
from typing import Any

from coldtrail import schema
from ingest.store import WriteBatch

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)

COLUMNS = (
    "device_id, bucket, reading_count, temperature_min_c, temperature_max_c, temperature_avg_c,"
    " humidity_min_pct, humidity_max_pct, humidity_avg_pct, shock_max_g"
)


def _reading(device: str, seq: int, at: datetime, **values: float) -> schema.Reading:
    return schema.reading(
        schema.Measurements(**values),
        device_id=device,
        received_at=at,
        measured_at=at,
        seq=seq,
        seq_source="sensor",
    )


def known_readings(t0: datetime = T0) -> WriteBatch:
    readings = [
        _reading("tag-1", 1, t0, temperature_c=2.0, humidity_pct=50.0),
        _reading("tag-1", 2, t0 + timedelta(minutes=2, seconds=30), temperature_c=6.0,
                 humidity_pct=60.0, shock_g=1.5),
        _reading("tag-1", 3, t0 + timedelta(minutes=4, seconds=59), temperature_c=4.0),
        _reading("tag-1", 4, t0 + timedelta(minutes=5), temperature_c=10.0, shock_g=0.5),
        _reading("tag-1", 5, t0 + timedelta(minutes=59, seconds=59), battery_pct=80.0),
        _reading("tag-1", 6, t0 + timedelta(hours=1), temperature_c=-1.0),
        _reading("tag-2", 1, t0 + timedelta(minutes=1), temperature_c=20.0, humidity_pct=40.0),
    ]  # fmt: skip
    return WriteBatch(
        telemetry=[schema.TelemetryBatch(gateway_id="gw-1", sent_at=t0, readings=readings)]
    )


def expected_5m(t0: datetime = T0) -> list[tuple[Any, ...]]:
    m = timedelta(minutes=1)
    return [
        ("tag-1", t0, 3, 2.0, 6.0, 4.0, 50.0, 60.0, 55.0, 1.5),
        ("tag-1", t0 + 5 * m, 1, 10.0, 10.0, 10.0, None, None, None, 0.5),
        ("tag-1", t0 + 55 * m, 1, None, None, None, None, None, None, None),
        ("tag-1", t0 + 60 * m, 1, -1.0, -1.0, -1.0, None, None, None, None),
        ("tag-2", t0, 1, 20.0, 20.0, 20.0, 40.0, 40.0, 40.0, None),
    ]


def expected_1h(t0: datetime = T0) -> list[tuple[Any, ...]]:
    return [
        ("tag-1", t0, 5, 2.0, 10.0, 5.5, 50.0, 60.0, 55.0, 1.5),
        ("tag-1", t0 + timedelta(hours=1), 1, -1.0, -1.0, -1.0, None, None, None, None),
        ("tag-2", t0, 1, 20.0, 20.0, 20.0, 40.0, 40.0, 40.0, None),
    ]


def rows(conn: Any, view: str) -> list[tuple[Any, ...]]:
    """The view's rows, averages rounded (float sums differ in the last bits)."""
    out = []
    for row in conn.execute(f"SELECT {COLUMNS} FROM {view} ORDER BY device_id, bucket"):
        values = list(row)
        for i in (5, 8):  # the averages
            if values[i] is not None:
                values[i] = round(float(values[i]), 9)
        out.append(tuple(values))
    return out

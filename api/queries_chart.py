"""The SQL of the temperature charts (the shopper's page, the timeline's summary): the raw range
of a shipment's temperatures, its readings or their extremes per time bucket, and the stored
temperature alerts shaded on the chart.

A parcel's readings are its custody device's within its custody ranges (:mod:`api.custody_sql`);
every query starts from one shipment's parcels or alerts, so nothing of another shipment can
appear. Every value returned is a reading as stored, at the time it was measured: nothing is
averaged, nothing is dated at a bucket's start.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from api import custody_sql
from api.models_tracking import ExcursionSpan, ParcelTemperature, TemperatureRange

Conn = AsyncConnection[Any]

TEMPERATURE_ALERT_KINDS = ("excursion", "budget", "mkt")
"""The stored alert kinds (:data:`alerts.events.AlertKind`) about the goods' temperature: the
spans the charts shade."""

_SPANS = custody_sql.SPANS
_IN_READING_SPAN = custody_sql.IN_READING_SPAN

# Every (parcel, reading) with a temperature: a logger shared by two parcels counts for each.
_TEMPERATURES = f"""
FROM spans s JOIN readings r ON {_IN_READING_SPAN}
WHERE r.temperature_c IS NOT NULL
"""
# The lowest and the highest reading of a group, each the earliest of its value, in one pass
# without a sort: min() and max() of (temperature, time) pairs, compared in that order. The time
# travels as float8 epoch seconds (exact to the microsecond for any date of this century) and
# back through to_timestamp(); -epoch makes max() keep the earliest of equal highs.
_LOW = "min(ARRAY[r.temperature_c, date_part('epoch', r.time)])"
_HIGH = "max(ARRAY[r.temperature_c, -date_part('epoch', r.time)])"
_EXTREME_COLUMNS = """
       low[1] AS min_c, to_timestamp(low[2]) AS min_time,
       high[1] AS max_c, to_timestamp(-high[2]) AS max_time"""

_RANGE = f"""
WITH {_SPANS}
SELECT parcel_id, readings, first_at, last_at, {_EXTREME_COLUMNS}
FROM (
    SELECT s.parcel_id, count(*) AS readings, min(r.time) AS first_at, max(r.time) AS last_at,
           {_LOW} AS low, {_HIGH} AS high
    {_TEMPERATURES}
    GROUP BY s.parcel_id
) per_parcel
"""

_READINGS = f"""
WITH {_SPANS}
SELECT s.parcel_id, r.time, r.temperature_c
{_TEMPERATURES}
ORDER BY r.time, s.parcel_id, r.seq
"""

# Per parcel and bucket (aligned on 2000-01-01 UTC, as readings_5m): its lowest and highest
# reading.
_EXTREMES = f"""
WITH {_SPANS}
SELECT parcel_id, {_EXTREME_COLUMNS}
FROM (
    SELECT s.parcel_id,
           date_bin(%(width)s, r.time, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS bucket,
           {_LOW} AS low, {_HIGH} AS high
    {_TEMPERATURES}
    GROUP BY s.parcel_id, bucket
) per_bucket
"""

_EXCURSIONS = """
SELECT a.subject_id AS parcel_id, a.kind, a.severity, a.started_at, a.ended_at
FROM alerts a
WHERE a.shipment_id = %(shipment_id)s
  AND a.subject_kind = 'parcel'
  AND a.kind = ANY(%(kinds)s)
  AND a.state <> 'superseded'
ORDER BY a.started_at, a.subject_id, a.kind, a.alert_id
"""


async def temperature_range(conn: Conn, shipment_id: int) -> TemperatureRange | None:
    """How many temperatures the shipment's parcels read, over which time, and the lowest and
    highest of them (the earliest of each value, then the first parcel) with their parcel and
    time; None when nothing was read."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_RANGE, {"shipment_id": shipment_id})
        rows = await cur.fetchall()
    if not rows:
        return None
    low = min(rows, key=lambda r: (r["min_c"], r["min_time"], r["parcel_id"]))
    high = min(rows, key=lambda r: (-r["max_c"], r["max_time"], r["parcel_id"]))
    return TemperatureRange(
        readings=sum(r["readings"] for r in rows),
        parcels=len(rows),
        first_at=min(r["first_at"] for r in rows),
        last_at=max(r["last_at"] for r in rows),
        min=ParcelTemperature(
            parcel_id=low["parcel_id"], time=low["min_time"], temperature_c=low["min_c"]
        ),
        max=ParcelTemperature(
            parcel_id=high["parcel_id"], time=high["max_time"], temperature_c=high["max_c"]
        ),
    )


async def temperature_readings(conn: Conn, shipment_id: int) -> list[ParcelTemperature]:
    """Every temperature of the shipment's parcels, in time order."""
    async with conn.cursor(binary=True) as cur:
        await cur.execute(_READINGS, {"shipment_id": shipment_id})
        rows: list[tuple[str, datetime, float]] = await cur.fetchall()
    return [ParcelTemperature(parcel_id=p, time=t, temperature_c=v) for p, t, v in rows]


async def temperature_extremes(
    conn: Conn, shipment_id: int, width: timedelta
) -> list[ParcelTemperature]:
    """Per parcel and bucket of ``width``: its lowest and its highest reading, at their own
    times (one point when they are the same reading), in time order."""
    points: list[ParcelTemperature] = []
    async with conn.cursor(binary=True) as cur:
        await cur.execute(_EXTREMES, {"shipment_id": shipment_id, "width": width})
        for parcel_id, min_c, min_time, max_c, max_time in await cur.fetchall():
            low = ParcelTemperature(parcel_id=parcel_id, time=min_time, temperature_c=min_c)
            high = ParcelTemperature(parcel_id=parcel_id, time=max_time, temperature_c=max_c)
            points.extend((low,) if high == low else (low, high))
    points.sort(key=lambda p: (p.time, p.parcel_id))
    return points


async def excursion_spans(conn: Conn, shipment_id: int) -> list[ExcursionSpan]:
    """The shipment's stored temperature alerts on its parcels (not superseded ones), in time
    order: what the rule engine decided, for the charts to shade."""
    params = {"shipment_id": shipment_id, "kinds": list(TEMPERATURE_ALERT_KINDS)}
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_EXCURSIONS, params)
        return [ExcursionSpan.model_validate(row) for row in await cur.fetchall()]

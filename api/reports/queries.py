"""Every SQL statement of the shipment report. Like the timeline (api/queries.py), it follows
custody: a parcel's readings are its custody device's within each custody range, its route the
positions of the custody vehicle's gateway over the same ranges."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from api import custody_sql
from api.reports.model import LONG_GAP_FACTOR

Conn = AsyncConnection[Any]
ReadingRow = tuple[str, datetime, str, int, float | None, float | None, float | None, float | None]
"""(parcel_id, time, device_id, seq, temperature_c, humidity_pct, raw_temperature_c,
raw_humidity_pct): the raw values are set for a calibrated reading only."""

READINGS_FETCH = 5000
"""Rows fetched per round trip from the server-side cursor over the readings."""

_SPANS = custody_sql.SPANS
_IN_READING_SPAN = custody_sql.IN_READING_SPAN
_IN_POSITION_SPAN = custody_sql.IN_POSITION_SPAN


async def begin_snapshot(conn: Conn) -> None:
    """Make the open transaction one read-only snapshot, so that every query of a report (and
    the content hash) sees the same data while ingest keeps writing."""
    await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")


_SHIPMENT = """
SELECT shipment_id, tracking_number, shopper_language, profile, origin, destination,
       promised_at, created_at
FROM shipments WHERE tracking_number = %(tracking_number)s
"""


async def shipment(conn: Conn, tracking_number: str) -> dict[str, Any] | None:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_SHIPMENT, {"tracking_number": tracking_number})
        return await cur.fetchone()


_PARCELS = """
SELECT parcel_id, description FROM parcels WHERE shipment_id = %(shipment_id)s ORDER BY parcel_id
"""
_CUSTODY = """
SELECT c.parcel_id, c.vehicle_id, c.compartment, c.device_id, c.gateway_id, c.from_time,
       c.to_time
FROM parcels p JOIN custody c ON c.parcel_id = p.parcel_id
WHERE p.shipment_id = %(shipment_id)s
ORDER BY c.parcel_id, c.from_time
"""


async def parcels(conn: Conn, shipment_id: int) -> list[dict[str, Any]]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_PARCELS, {"shipment_id": shipment_id})
        return await cur.fetchall()


async def custody(conn: Conn, shipment_id: int) -> list[dict[str, Any]]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_CUSTODY, {"shipment_id": shipment_id})
        return await cur.fetchall()


_READINGS = f"""
WITH {_SPANS}
SELECT s.parcel_id, r.time, r.device_id, r.seq, r.temperature_c, r.humidity_pct,
       r.raw_temperature_c, r.raw_humidity_pct
FROM spans s JOIN readings r ON {_IN_READING_SPAN}
ORDER BY s.parcel_id, r.time, r.device_id, r.seq
"""

# Per device and quantity, each calibration applied (migration 0024's readings.calibration),
# over which readings; a reading shared by two parcels (one compartment logger) counts once.
_CALIBRATIONS = f"""
WITH {_SPANS},
device_readings AS (
    SELECT DISTINCT r.device_id, r.time, r.seq, r.calibration
    FROM spans s JOIN readings r ON {_IN_READING_SPAN}
    WHERE r.calibration IS NOT NULL
)
SELECT d.device_id, c.key AS quantity,
       coalesce((c.value->>'slope')::float8, 1.0) AS slope,
       coalesce((c.value->>'offset')::float8, 0.0) AS "offset",
       c.value->>'certificate' AS certificate,
       count(*)::int AS readings, min(d.time) AS first_at, max(d.time) AS last_at
FROM device_readings d, jsonb_each(d.calibration) c
GROUP BY 1, 2, 3, 4, 5
ORDER BY d.device_id, quantity, first_at
"""


async def calibrations(conn: Conn, shipment_id: int) -> list[dict[str, Any]]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_CALIBRATIONS, {"shipment_id": shipment_id})
        return await cur.fetchall()


async def readings(conn: Conn, shipment_id: int) -> AsyncIterator[ReadingRow]:
    """Every reading of every parcel, by parcel then time, through a server-side cursor (in the
    caller's transaction), so a long trip is never held in memory at once."""
    async with conn.cursor(name="report_readings") as cur:
        cur.itersize = READINGS_FETCH
        await cur.execute(_READINGS, {"shipment_id": shipment_id})
        async for row in cur:
            yield row


# In time order per device; a reading shared by two parcels (one compartment logger) counts once.
_COMPLETENESS = f"""
WITH {_SPANS},
device_readings AS (
    SELECT DISTINCT r.device_id, r.time, r.seq, r.seq_source
    FROM spans s JOIN readings r ON {_IN_READING_SPAN}
),
steps AS (
    SELECT device_id, time, seq, seq_source,
           seq - lag(seq) OVER w AS dseq,
           extract(epoch FROM time - lag(time) OVER w)::float8 AS dt
    FROM device_readings
    WINDOW w AS (PARTITION BY device_id ORDER BY time, seq)
),
medians AS (
    SELECT device_id, percentile_cont(0.5) WITHIN GROUP (ORDER BY dt) AS median_s
    FROM steps WHERE dt > 0 GROUP BY device_id
)
SELECT st.device_id,
       string_agg(DISTINCT st.seq_source, '+') AS seq_source,
       count(*) AS readings,
       min(st.time) AS first_at,
       max(st.time) AS last_at,
       coalesce(sum(st.dseq - 1) FILTER (WHERE st.dseq > 1), 0)::bigint AS missing_seq,
       count(*) FILTER (WHERE st.dseq <= 0) AS seq_resets,
       m.median_s,
       count(*) FILTER (WHERE st.dt > %(factor)s * m.median_s) AS long_gaps,
       coalesce(sum(st.dt) FILTER (WHERE st.dt > %(factor)s * m.median_s), 0) AS long_gap_s,
       max(st.dt) AS longest_gap_s
FROM steps st LEFT JOIN medians m ON m.device_id = st.device_id
GROUP BY st.device_id, m.median_s
ORDER BY st.device_id
"""


async def completeness(conn: Conn, shipment_id: int) -> list[dict[str, Any]]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_COMPLETENESS, {"shipment_id": shipment_id, "factor": LONG_GAP_FACTOR})
        return await cur.fetchall()


_ALERTS = """
SELECT subject_kind, subject_id, rule, kind, severity, state, started_at, ended_at, duration_s,
       peak, limit_value
FROM alerts
WHERE shipment_id = %(shipment_id)s AND state <> 'superseded'
ORDER BY started_at, subject_kind, subject_id, rule, kind
"""


async def alerts(conn: Conn, shipment_id: int) -> list[dict[str, Any]]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_ALERTS, {"shipment_id": shipment_id})
        return await cur.fetchall()


# Per vehicle gateway: its fixes within the custody ranges (once, however many parcels it
# carried), the great-circle distance between consecutive fixes, the first and the last.
_ROUTES = f"""
WITH {_SPANS},
fixes AS (
    SELECT DISTINCT s.vehicle_id, q.gateway_id, q.device_id, q.time, q.seq, q.lat, q.lon
    FROM spans s JOIN positions q ON {_IN_POSITION_SPAN}
),
steps AS (
    SELECT *, lag(lat) OVER w AS plat, lag(lon) OVER w AS plon
    FROM fixes
    WINDOW w AS (PARTITION BY vehicle_id, gateway_id ORDER BY time, device_id, seq)
)
SELECT vehicle_id, gateway_id, count(*) AS fixes,
       coalesce(sum(2 * 6371.0088 * asin(sqrt(
           power(sin(radians(lat - plat) / 2), 2)
           + cos(radians(plat)) * cos(radians(lat)) * power(sin(radians(lon - plon) / 2), 2)
       ))), 0) AS distance_km,
       (array_agg(ARRAY[extract(epoch FROM time)::float8, lat, lon]
                  ORDER BY time, device_id, seq))[1:1] AS first,
       (array_agg(ARRAY[extract(epoch FROM time)::float8, lat, lon]
                  ORDER BY time DESC, device_id DESC, seq DESC))[1:1] AS last,
       array_agg(DISTINCT device_id) AS gps_devices
FROM steps
GROUP BY vehicle_id, gateway_id
ORDER BY min(time), gateway_id
"""

_STOPS = f"""
WITH {_SPANS}
SELECT DISTINCT st.device_id, st.started_at, st.ended_at,
       extract(epoch FROM coalesce(st.ended_at, st.last_seen) - st.started_at)::float8
           AS duration_s,
       st.lat, st.lon, st.fixes
FROM spans s
JOIN stops st ON st.device_id = ANY(%(gps_devices)s) AND st.started_at >= s.from_time
             AND (s.to_time IS NULL OR st.started_at < s.to_time)
WHERE s.gateway_id = %(gateway_id)s
ORDER BY st.started_at, st.device_id
"""


async def routes(conn: Conn, shipment_id: int) -> list[dict[str, Any]]:
    """Each vehicle's route, with ``stops`` (the ones that started within its custody ranges)."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_ROUTES, {"shipment_id": shipment_id})
        rows = await cur.fetchall()
        for row in rows:
            await cur.execute(
                _STOPS,
                {
                    "shipment_id": shipment_id,
                    "gateway_id": row["gateway_id"],
                    "gps_devices": row["gps_devices"],
                },
            )
            row["stops"] = await cur.fetchall()
    return rows


_CHECKPOINTS = """
SELECT checkpoint_time AS time, status, sub_status, location, message, received_by,
       signature_name, photo_url
FROM checkpoints WHERE shipment_id = %(shipment_id)s
ORDER BY checkpoint_time, checkpoint_id
"""


async def checkpoints(conn: Conn, shipment_id: int) -> list[dict[str, Any]]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_CHECKPOINTS, {"shipment_id": shipment_id})
        return await cur.fetchall()


_EXCEPTIONS = """
SELECT exception_id, kind, severity, title, state, resolution, assignee, opened_at, resolved_at
FROM exceptions WHERE shipment_id = %(shipment_id)s
ORDER BY opened_at, exception_id
"""
_AUDIT = """
SELECT a.exception_id, a.seq, a.at, a.actor, a.action, a.detail, a.reason, a.prev_hash, a.hash
FROM exceptions e JOIN exception_audit a ON a.exception_id = e.exception_id
WHERE e.shipment_id = %(shipment_id)s
ORDER BY a.exception_id, a.seq
"""


async def exceptions(
    conn: Conn, shipment_id: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The shipment's exceptions and all their audit entries (by exception, then seq)."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_EXCEPTIONS, {"shipment_id": shipment_id})
        cases = await cur.fetchall()
        await cur.execute(_AUDIT, {"shipment_id": shipment_id})
        audit = await cur.fetchall()
    return cases, audit

"""What the delivery estimate (:mod:`alerts.eta`) is computed from, read from the database: the
shipment's coordinates and promise, its delivery checkpoint, the latest accepted fixes of the
vehicle carrying it, and the past trips on its lane. Shared by the API (the estimate at query
time) and ingest's lateness watch (the shopper's delay notice), so that both say the same.

Fixes follow custody, like the timeline: a parcel's positions are those of its custody
vehicle's gateway within the custody range, and fixes the tracker rejected are left out.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import psycopg

from alerts.eta import EtaInputs, EtaParams, Fix, LaneTrip, Point

SHIPMENT = """
SELECT promised_at, origin, destination, origin_lat, origin_lon, destination_lat,
       destination_lon,
       (SELECT min(k.checkpoint_time) FROM checkpoints k
         WHERE k.shipment_id = s.shipment_id AND k.status = 'Delivered') AS delivered_at
FROM shipments s WHERE s.shipment_id = %(shipment_id)s
"""

# The latest accepted fixes of each custody span, then those of the device with the latest
# fix (parcels of one shipment normally travel together), over the hour before it.
RECENT_FIXES = """
WITH spans AS (
    SELECT c.gateway_id, c.from_time, c.to_time
    FROM parcels p JOIN custody c ON c.parcel_id = p.parcel_id
    WHERE p.shipment_id = %(shipment_id)s AND c.gateway_id IS NOT NULL
),
fixes AS (
    SELECT q.time, q.device_id, q.lat, q.lon
    FROM spans s
    CROSS JOIN LATERAL (
        SELECT q.time, q.device_id, q.lat, q.lon FROM positions q
        WHERE q.gateway_id = s.gateway_id AND q.time >= s.from_time
          AND (s.to_time IS NULL OR q.time < s.to_time)
          AND (q.outcome IS NULL OR q.outcome IN ('moving', 'parked', 'reanchored', 'late'))
        ORDER BY q.time DESC
        LIMIT %(limit)s
    ) q
),
latest AS (SELECT device_id, time FROM fixes ORDER BY time DESC, device_id LIMIT 1)
SELECT DISTINCT f.time, f.lat, f.lon
FROM fixes f, latest l
WHERE f.device_id = l.device_id AND f.time >= l.time - %(window)s
ORDER BY f.time
"""

LANE_TRIPS = """
SELECT d.departed, a.arrived, s.origin_lat, s.origin_lon, s.destination_lat, s.destination_lon
FROM shipments s
CROSS JOIN LATERAL (
    SELECT min(c.from_time) AS departed
    FROM parcels p JOIN custody c ON c.parcel_id = p.parcel_id
    WHERE p.shipment_id = s.shipment_id
) d
CROSS JOIN LATERAL (
    SELECT min(k.checkpoint_time) AS arrived FROM checkpoints k
    WHERE k.shipment_id = s.shipment_id AND k.status = 'Delivered'
) a
WHERE s.origin IS NOT NULL AND s.destination IS NOT NULL
  AND lower(btrim(s.origin)) = lower(btrim(%(origin)s))
  AND lower(btrim(s.destination)) = lower(btrim(%(destination)s))
  AND s.shipment_id <> %(shipment_id)s
  AND s.origin_lat IS NOT NULL AND s.destination_lat IS NOT NULL
  AND a.arrived > d.departed
ORDER BY a.arrived DESC
LIMIT %(trips)s
"""

MAX_FIXES = 240
"""Fixes read per custody span (a fix every 15 s over the hour)."""
MAX_LANE_TRIPS = 20
DEFAULT_WINDOW = EtaParams().window


def _point(lat: float | None, lon: float | None) -> Point | None:
    return None if lat is None or lon is None else Point(lat, lon)


async def eta_inputs(
    conn: psycopg.AsyncConnection[Any],
    shipment_id: int,
    now: datetime,
    window: timedelta = DEFAULT_WINDOW,
) -> EtaInputs | None:
    """The estimate's inputs for ``shipment_id`` at ``now`` (fixes over ``window`` before the
    latest); None if the shipment does not exist."""
    cur = await conn.execute(SHIPMENT, {"shipment_id": shipment_id})
    row = await cur.fetchone()
    if row is None:
        return None
    promised_at, origin, destination, olat, olon, dlat, dlon, delivered_at = row
    inputs = EtaInputs(
        now=now,
        destination=_point(dlat, dlon),
        origin=_point(olat, olon),
        promised_at=promised_at,
        delivered_at=delivered_at,
    )
    if delivered_at is not None or inputs.destination is None:
        return inputs  # nothing more is needed
    cur = await conn.execute(
        RECENT_FIXES, {"shipment_id": shipment_id, "limit": MAX_FIXES, "window": window}
    )
    fixes = [Fix(t, lat, lon) for t, lat, lon in await cur.fetchall()]
    trips: list[LaneTrip] = []
    if origin is not None and destination is not None:
        cur = await conn.execute(
            LANE_TRIPS,
            {
                "shipment_id": shipment_id,
                "origin": origin,
                "destination": destination,
                "trips": MAX_LANE_TRIPS,
            },
        )
        for departed, arrived, a_lat, a_lon, b_lat, b_lon in await cur.fetchall():
            distance = Point(a_lat, a_lon).distance_m(Point(b_lat, b_lon))
            trips.append(LaneTrip(departed, arrived, distance))
    return EtaInputs(
        now=inputs.now,
        destination=inputs.destination,
        origin=inputs.origin,
        promised_at=promised_at,
        fixes=fixes,
        lane=trips,
    )

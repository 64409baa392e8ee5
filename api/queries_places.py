"""Every SQL statement of ``/v1/places`` and of a vehicle's stops (api/routes/places.py).

A stop's place is computed when stops are read: the nearest place whose ``radius_m`` contains
the stop's centroid (great-circle distance), looked for among the places within
``MAX_RADIUS_M`` of it (an index on ``places.lat`` keeps it cheap). So adding, moving or
deleting a place applies to the stops already stored, with nothing to backfill.
"""

from __future__ import annotations

from datetime import datetime

from psycopg.rows import dict_row

from api.deps import Conn
from api.errors import ApiError
from api.models_places import PlaceIn, PlaceOut, Stop
from coldtrail.places import MAX_RADIUS_M

EARTH_RADIUS_M = 6_371_008.8
_LAT_MARGIN_DEG = MAX_RADIUS_M / 111_000.0 + 0.01

_PLACE_FIELDS = "place_id, name, kind, lat, lon, radius_m, created_at"

_LIST = f"SELECT {_PLACE_FIELDS} FROM places ORDER BY name"

_UPSERT = f"""
INSERT INTO places (name, kind, lat, lon, radius_m)
VALUES (%(name)s, %(kind)s, %(lat)s, %(lon)s, %(radius_m)s)
ON CONFLICT (name) DO UPDATE
   SET kind = excluded.kind, lat = excluded.lat, lon = excluded.lon, radius_m = excluded.radius_m
RETURNING {_PLACE_FIELDS}
"""

_DELETE = f"DELETE FROM places WHERE place_id = %s RETURNING {_PLACE_FIELDS}"

_VEHICLE = "SELECT gateway_id FROM vehicles WHERE vehicle_id = %s"

# The stops of the GPS devices that report through the vehicle's gateway (devices.gateway_id:
# the gateway each device was last heard through), newest first, each with its place.
_STOPS = f"""
SELECT s.device_id, s.started_at, s.ended_at, s.last_seen, s.lat, s.lon, s.fixes,
       p.place_id, p.name, p.kind, p.distance_m
  FROM vehicles v
  JOIN devices d ON d.gateway_id = v.gateway_id
  JOIN stops s ON s.device_id = d.device_id
  LEFT JOIN LATERAL (
        SELECT c.place_id, c.name, c.kind, c.distance_m FROM (
            SELECT pl.place_id, pl.name, pl.kind, pl.radius_m,
                   2 * {EARTH_RADIUS_M} * asin(least(1, sqrt(
                       power(sin(radians(pl.lat - s.lat) / 2), 2)
                       + cos(radians(s.lat)) * cos(radians(pl.lat))
                         * power(sin(radians(pl.lon - s.lon) / 2), 2)))) AS distance_m
              FROM places pl
             WHERE pl.lat BETWEEN s.lat - {_LAT_MARGIN_DEG} AND s.lat + {_LAT_MARGIN_DEG}
        ) c
         WHERE c.distance_m <= c.radius_m
         ORDER BY c.distance_m, c.place_id
         LIMIT 1) p ON true
 WHERE v.vehicle_id = %(vehicle_id)s
   AND (%(since)s::timestamptz IS NULL OR coalesce(s.ended_at, s.last_seen) >= %(since)s)
 ORDER BY s.started_at DESC, s.device_id
 LIMIT %(limit)s
"""


async def list_places(conn: Conn) -> list[PlaceOut]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_LIST)
        return [PlaceOut.model_validate(row) for row in await cur.fetchall()]


async def upsert_place(conn: Conn, place: PlaceIn) -> PlaceOut:
    async with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_UPSERT, place.model_dump())
        row = await cur.fetchone()
    assert row is not None
    return PlaceOut.model_validate(row)


async def delete_place(conn: Conn, place_id: int) -> PlaceOut:
    async with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_DELETE, (place_id,))
        row = await cur.fetchone()
    if row is None:
        raise ApiError(404, "place_not_found", f"no place {place_id}")
    return PlaceOut.model_validate(row)


async def vehicle_stops(
    conn: Conn, vehicle_id: str, since: datetime | None, limit: int
) -> list[Stop]:
    cur = await conn.execute(_VEHICLE, (vehicle_id,))
    if await cur.fetchone() is None:
        raise ApiError(404, "vehicle_not_found", f"no vehicle {vehicle_id!r}")
    params = {"vehicle_id": vehicle_id, "since": since, "limit": limit}
    async with conn.cursor(row_factory=dict_row) as rows:
        await rows.execute(_STOPS, params)
        found = await rows.fetchall()
    stops = []
    for row in found:
        place_id = row.pop("place_id")
        name, kind, distance = row.pop("name"), row.pop("kind"), row.pop("distance_m")
        place = None
        if place_id is not None:
            place = {"place_id": place_id, "name": name, "kind": kind, "distance_m": distance}
        stops.append(Stop.model_validate({**row, "place": place}))
    return stops

"""Read models of the registry: one shipment in full, the devices, the gateways."""

from __future__ import annotations

from psycopg.rows import dict_row

from api.models import Custody
from api.models_registry import (
    Device,
    GatewayEntry,
    ParcelDetail,
    ShipmentDetail,
)
from api.queries import Conn
from api.queries_fleet import GATEWAY_HEALTH_COLUMNS, gateway_health

_SHIPMENT = """
SELECT s.shipment_id, s.tracking_number, s.shopper_name, s.shopper_language, s.promised_at,
       s.profile, s.origin, s.destination, s.created_at, s.shopper_contact,
       s.origin_lat, s.origin_lon, s.destination_lat, s.destination_lon, s.brand,
       s.access_token_expires_at AS link_expires_at,
       s.access_token_revoked_at IS NOT NULL AS link_revoked,
       (SELECT count(*) FROM parcels p WHERE p.shipment_id = s.shipment_id) AS parcels
FROM shipments s WHERE s.tracking_number = %(tracking_number)s
"""
_PARCELS = """
SELECT p.parcel_id, p.description FROM parcels p
WHERE p.shipment_id = %(shipment_id)s ORDER BY p.parcel_id
"""
_CUSTODY = """
SELECT c.custody_id, c.parcel_id, c.vehicle_id, c.device_id, c.compartment, c.from_time, c.to_time
FROM custody c JOIN parcels p ON p.parcel_id = c.parcel_id
WHERE p.shipment_id = %(shipment_id)s
ORDER BY c.parcel_id, c.from_time
"""


async def shipment_detail(conn: Conn, tracking_number: str) -> ShipmentDetail | None:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_SHIPMENT, {"tracking_number": tracking_number})
        row = await cur.fetchone()
        if row is None:
            return None
        shipment_id = row.pop("shipment_id")
        await cur.execute(_CUSTODY, {"shipment_id": shipment_id})
        custody: dict[str, list[Custody]] = {}
        for c in await cur.fetchall():
            custody.setdefault(c["parcel_id"], []).append(Custody.model_validate(c))
        await cur.execute(_PARCELS, {"shipment_id": shipment_id})
        parcels = [
            ParcelDetail(
                parcel_id=p["parcel_id"],
                description=p["description"],
                custody=custody.get(p["parcel_id"], []),
            )
            for p in await cur.fetchall()
        ]
    return ShipmentDetail.model_validate({**row, "parcel_list": parcels})


_DEVICES = """
SELECT device_id, gateway_id, first_seen, least(last_seen, now()) AS last_seen FROM devices
WHERE (%(gateway_id)s::text IS NULL OR gateway_id = %(gateway_id)s)
ORDER BY device_id
LIMIT %(limit)s OFFSET %(offset)s
"""
_COUNT_DEVICES = """
SELECT count(*) FROM devices WHERE (%(gateway_id)s::text IS NULL OR gateway_id = %(gateway_id)s)
"""


async def devices(
    conn: Conn, gateway_id: str | None, limit: int, offset: int
) -> tuple[list[Device], int]:
    params = {"gateway_id": gateway_id, "limit": limit, "offset": offset}
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_DEVICES, params)
        items = [Device.model_validate(row) for row in await cur.fetchall()]
    cur2 = await conn.execute(_COUNT_DEVICES, params)
    total = await cur2.fetchone()
    return items, int(total[0]) if total else 0


_GATEWAYS = f"""
SELECT {GATEWAY_HEALTH_COLUMNS}, v.vehicle_id, g.first_seen
FROM gateways g LEFT JOIN vehicles v ON v.gateway_id = g.gateway_id
ORDER BY g.gateway_id
"""


async def gateways(conn: Conn) -> list[GatewayEntry]:
    cur = await conn.execute(_GATEWAYS)
    out = []
    for row in await cur.fetchall():
        health = gateway_health(row[:8])
        out.append(GatewayEntry(**health.model_dump(), vehicle_id=row[8], first_seen=row[9]))
    return out

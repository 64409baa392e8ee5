"""Read models of the registry: one shipment in full, the devices, the gateways; and the devices'
bindings to vehicles (migration 0014, ingest/bindings.py)."""

from __future__ import annotations

from psycopg.rows import dict_row

from api.models import Custody
from api.models_registry import (
    Device,
    DeviceBinding,
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
SELECT d.device_id, d.gateway_id, d.first_seen, least(d.last_seen, now()) AS last_seen,
       b.vehicle_id AS bound_vehicle_id
FROM devices d LEFT JOIN device_bindings b USING (device_id)
WHERE (%(gateway_id)s::text IS NULL OR d.gateway_id = %(gateway_id)s)
ORDER BY d.device_id
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
SELECT {GATEWAY_HEALTH_COLUMNS}, v.vehicle_id, g.first_seen,
       CASE WHEN jsonb_typeof(g.status->'calibrations') = 'object'
            THEN g.status->'calibrations' ELSE '{{}}'::jsonb END
FROM gateways g LEFT JOIN vehicles v ON v.gateway_id = g.gateway_id
ORDER BY g.gateway_id
"""


async def gateways(conn: Conn) -> list[GatewayEntry]:
    cur = await conn.execute(_GATEWAYS)
    out = []
    for row in await cur.fetchall():
        health = gateway_health(row[:8])
        out.append(
            GatewayEntry(
                **health.model_dump(),
                vehicle_id=row[8],
                first_seen=row[9],
                calibrations=row[10],
            )
        )
    return out


_BIND = """
INSERT INTO device_bindings (device_id, vehicle_id, bound_by)
SELECT %(device_id)s, v.vehicle_id, %(by)s FROM vehicles v WHERE v.vehicle_id = %(vehicle_id)s
ON CONFLICT (device_id) DO UPDATE
   SET vehicle_id = excluded.vehicle_id, bound_at = now(), bound_by = excluded.bound_by
 WHERE device_bindings.vehicle_id IS DISTINCT FROM excluded.vehicle_id
"""
_BINDING = """
SELECT b.device_id, b.vehicle_id, v.gateway_id, b.bound_at, b.bound_by
FROM device_bindings b JOIN vehicles v USING (vehicle_id) WHERE b.device_id = %(device_id)s
"""
_UNBIND = "DELETE FROM device_bindings WHERE device_id = %(device_id)s RETURNING device_id"


async def bind_device(conn: Conn, device_id: str, vehicle_id: str, by: str) -> DeviceBinding | None:
    """Bind the device to the vehicle (a new binding replaces the old one); None if there is no
    such vehicle. Binding it again to the same vehicle changes nothing."""
    params = {"device_id": device_id, "vehicle_id": vehicle_id, "by": by}
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_BIND, params)
        await cur.execute(_BINDING, params)
        row = await cur.fetchone()
    if row is None or row["vehicle_id"] != vehicle_id:
        return None
    return DeviceBinding.model_validate(row)


async def unbind_device(conn: Conn, device_id: str) -> bool:
    cur = await conn.execute(_UNBIND, {"device_id": device_id})
    return await cur.fetchone() is not None

"""Read model of the fleet: vehicles, their gateway's last status and their last position."""

from __future__ import annotations

from typing import Any

from api.deps import Conn
from api.models_fleet import FleetVehicle, GatewayHealth, VehiclePosition

# The position is the freshest track among the devices of the vehicle's gateway (its GPS); tracks
# keep only accepted fixes. The status columns are what the gateway's retained status said
# (ingest stores only statuses that passed the contract; a field of another type reads as null
# rather than failing the whole listing).
_FLEET = """
SELECT v.vehicle_id, v.name, v.gateway_id,
       g.gateway_id, g.state, g.state_since, g.last_seen,
       CASE WHEN jsonb_typeof(g.status->'pending') = 'number'
            THEN round((g.status->>'pending')::numeric)::bigint END,
       CASE WHEN jsonb_typeof(g.status->'outbox_oldest_age_s') = 'number'
            THEN (g.status->>'outbox_oldest_age_s')::float8 END,
       CASE WHEN jsonb_typeof(g.status->'alarms') = 'array'
            THEN g.status->'alarms' ELSE '[]'::jsonb END,
       g.status->>'software',
       t.time, t.lat, t.lon, t.speed_kmh, t.distance_m
FROM vehicles v
LEFT JOIN gateways g ON g.gateway_id = v.gateway_id
LEFT JOIN LATERAL (
    SELECT tr.time, tr.lat, tr.lon, tr.speed_kmh, tr.distance_m
    FROM tracks tr JOIN devices d ON d.device_id = tr.device_id
    WHERE d.gateway_id = v.gateway_id
    ORDER BY tr.time DESC
    LIMIT 1
) t ON true
ORDER BY v.vehicle_id
"""


def _vehicle(row: tuple[Any, ...]) -> FleetVehicle:
    gateway = None
    if row[3] is not None:
        alarms = row[9] if isinstance(row[9], list) else []
        gateway = GatewayHealth(
            gateway_id=row[3],
            state=row[4],
            state_since=row[5],
            last_seen=row[6],
            outbox_depth=row[7],
            outbox_oldest_age_s=row[8],
            alarms=[str(a) for a in alarms],
            software=row[10],
        )
    position = None
    if row[11] is not None:
        position = VehiclePosition(
            time=row[11], lat=row[12], lon=row[13], speed_kmh=row[14], distance_m=row[15]
        )
    return FleetVehicle(
        vehicle_id=row[0], name=row[1], gateway_id=row[2], gateway=gateway, position=position
    )


async def fleet(conn: Conn) -> list[FleetVehicle]:
    cur = await conn.execute(_FLEET)
    return [_vehicle(row) for row in await cur.fetchall()]

"""Read model of the fleet: vehicles, their gateway's last status and their last position."""

from __future__ import annotations

from typing import Any

from api.deps import Conn
from api.models_fleet import FleetVehicle, GatewayHealth, VehiclePosition
from api.queries_condition import worst

# What a gateway's health is made of (alias g for gateways): its state and when it was last
# heard from, and what its retained status said. Ingest stores only statuses that passed the
# contract; a field of another type reads as null rather than failing the whole listing.
# A last_seen ahead of the clock (a gateway's clock or a status time gone wrong: ingest keeps the
# greatest it saw) is shown as now, with the alarm LAST_SEEN_AHEAD, so that it can neither hide
# a silent gateway for good nor pass unnoticed.
LAST_SEEN_AHEAD = "last-seen-in-future"
GATEWAY_HEALTH_COLUMNS = f"""g.gateway_id, g.state, g.state_since, least(g.last_seen, now()),
       CASE WHEN jsonb_typeof(g.status->'pending') = 'number'
            THEN round((g.status->>'pending')::numeric)::bigint END,
       CASE WHEN jsonb_typeof(g.status->'outbox_oldest_age_s') = 'number'
            THEN (g.status->>'outbox_oldest_age_s')::float8 END,
       CASE WHEN jsonb_typeof(g.status->'alarms') = 'array'
            THEN g.status->'alarms' ELSE '[]'::jsonb END
       || CASE WHEN g.last_seen > now() + interval '5 minutes'
               THEN '["{LAST_SEEN_AHEAD}"]'::jsonb ELSE '[]'::jsonb END,
       g.status->>'software'"""

# The position is the freshest track among the devices of the vehicle's gateway (its GPS); tracks
# keep only accepted fixes.
_FLEET = f"""
SELECT v.vehicle_id, v.name, v.gateway_id,
       {GATEWAY_HEALTH_COLUMNS},
       t.time, t.lat, t.lon, t.speed_kmh, t.distance_m,
       k.states
FROM vehicles v
LEFT JOIN gateways g ON g.gateway_id = v.gateway_id
LEFT JOIN LATERAL (
    SELECT tr.time, tr.lat, tr.lon, tr.speed_kmh, tr.distance_m
    FROM tracks tr JOIN devices d ON d.device_id = tr.device_id
    WHERE d.gateway_id = v.gateway_id
    ORDER BY tr.time DESC
    LIMIT 1
) t ON true
-- The stored condition of each parcel the vehicle carries now (open custody).
LEFT JOIN LATERAL (
    SELECT array_agg(coalesce(pc.state, 'no_data')) AS states
    FROM custody c LEFT JOIN parcel_conditions pc ON pc.parcel_id = c.parcel_id
    WHERE c.vehicle_id = v.vehicle_id AND c.to_time IS NULL
) k ON true
ORDER BY v.vehicle_id
"""


def gateway_health(columns: tuple[Any, ...]) -> GatewayHealth:
    """The health of a gateway from the 8 values of :data:`GATEWAY_HEALTH_COLUMNS`."""
    alarms = columns[6] if isinstance(columns[6], list) else []
    return GatewayHealth(
        gateway_id=columns[0],
        state=columns[1],
        state_since=columns[2],
        last_seen=columns[3],
        outbox_depth=columns[4],
        outbox_oldest_age_s=columns[5],
        alarms=[str(a) for a in alarms],
        software=columns[7],
    )


def _vehicle(row: tuple[Any, ...]) -> FleetVehicle:
    gateway = None if row[3] is None else gateway_health(row[3:11])
    position = None
    if row[11] is not None:
        position = VehiclePosition(
            time=row[11], lat=row[12], lon=row[13], speed_kmh=row[14], distance_m=row[15]
        )
    states = list(row[16] or [])
    return FleetVehicle(
        vehicle_id=row[0],
        name=row[1],
        gateway_id=row[2],
        gateway=gateway,
        position=position,
        parcels=len(states),
        condition=worst(states) if states else None,
    )


async def fleet(conn: Conn) -> list[FleetVehicle]:
    cur = await conn.execute(_FLEET)
    return [_vehicle(row) for row in await cur.fetchall()]

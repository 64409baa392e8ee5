"""The SQL of carrier checkpoints, the timeline's merged events and summary, and the shopper's
``/v1/track/{token}`` view. Every query starts from one shipment (its id, found by the caller
from a tracking number or a token), so nothing of another shipment can appear.

Positions and readings follow custody, as in :mod:`api.queries`: a parcel's positions are its
custody vehicle's gateway's within the custody range (fixes the tracker rejected left out), its
readings its custody device's within that range.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from api import journey, queries_delivery
from api import queries_exceptions as qx
from api.models_exceptions import Severity, TimelineEvent
from api.models_tracking import (
    Checkpoint,
    CheckpointIn,
    CheckpointOutcome,
    TrackPoint,
    TrackStatus,
)
from api.status_labels import label

Conn = AsyncConnection[Any]

MAX_POINTS = 500
"""The most points the shopper's route carries."""

# --- checkpoints ----------------------------------------------------------------------------

_SHIPMENT_ID = "SELECT shipment_id FROM shipments WHERE tracking_number = %(tracking_number)s"

_INSERT_CHECKPOINT = """
INSERT INTO checkpoints (shipment_id, source, external_id, checkpoint_time, status, sub_status,
                         message, location, lat, lon, received_by, signature_name, photo_url)
VALUES (%(shipment_id)s, %(source)s, %(external_id)s, %(time)s, %(status)s, %(sub_status)s,
        %(message)s, %(location)s, %(lat)s, %(lon)s, %(received_by)s, %(signature_name)s,
        %(photo_url)s)
ON CONFLICT (shipment_id, source, external_id) DO NOTHING
RETURNING checkpoint_id
"""
_EXISTING_CHECKPOINT = """
SELECT checkpoint_id FROM checkpoints
WHERE shipment_id = %(shipment_id)s AND source = %(source)s AND external_id = %(external_id)s
"""


@dataclass(frozen=True, slots=True)
class Stored:
    outcome: CheckpointOutcome
    checkpoint_id: int | None


async def store_checkpoints(conn: Conn, items: Sequence[CheckpointIn]) -> list[Stored]:
    """Store each checkpoint once (by shipment, source and external id), in one transaction;
    one result per item, in order: created, duplicate, or not_found (no such shipment). A new
    Delivered checkpoint ends the custody of the shipment's parcels at its time, in the same
    transaction (:func:`api.queries_delivery.end_custody`); a new latest checkpoint that is a
    step of the shopper's journey queues its message (:mod:`api.journey`)."""
    shipments: dict[str, int | None] = {}
    out: list[Stored] = []
    created: list[tuple[int, int]] = []
    async with conn.transaction():
        for item in items:
            tn = item.tracking_number
            if tn not in shipments:
                cur = await conn.execute(_SHIPMENT_ID, {"tracking_number": tn})
                row = await cur.fetchone()
                shipments[tn] = None if row is None else int(row[0])
            shipment_id = shipments[tn]
            if shipment_id is None:
                out.append(Stored("not_found", None))
                continue
            params = {**item.model_dump(exclude={"tracking_number"}), "shipment_id": shipment_id}
            cur = await conn.execute(_INSERT_CHECKPOINT, params)
            row = await cur.fetchone()
            if row is not None:
                out.append(Stored("created", int(row[0])))
                created.append((shipment_id, int(row[0])))
                if item.status == "Delivered":
                    await queries_delivery.end_custody(conn, shipment_id, item.time)
                continue
            # Stored before (or by a concurrent request that committed meanwhile).
            cur = await conn.execute(_EXISTING_CHECKPOINT, params)
            row = await cur.fetchone()
            assert row is not None, "ON CONFLICT found a row that the lookup does not"
            out.append(Stored("duplicate", int(row[0])))
        await journey.queue_checkpoint_steps(conn, created)
    return out


_CHECKPOINTS = """
SELECT checkpoint_id, source, external_id, checkpoint_time AS time, status, sub_status, message,
       location, lat, lon, received_by, signature_name, photo_url, received_at
FROM checkpoints WHERE shipment_id = %(shipment_id)s
ORDER BY checkpoint_time, checkpoint_id
"""


async def checkpoints(conn: Conn, shipment_id: int, language: str) -> list[Checkpoint]:
    """The shipment's checkpoints in time order, labelled in ``language``."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_CHECKPOINTS, {"shipment_id": shipment_id})
        rows = await cur.fetchall()
    return [Checkpoint(**row, label=label(row["status"], language)) for row in rows]


def current_status(items: Sequence[Checkpoint], language: str) -> TrackStatus:
    """The latest checkpoint's status (the last received among those of the same time), or
    Pending when the carrier has said nothing yet."""
    if not items:
        return TrackStatus(
            code="Pending", sub_status=None, label=label("Pending", language), at=None
        )
    last = items[-1]
    return TrackStatus(code=last.status, sub_status=last.sub_status, label=last.label, at=last.time)


# --- the timeline's events ------------------------------------------------------------------

_CUSTODY = """
SELECT c.custody_id, c.parcel_id, c.vehicle_id, c.compartment, c.device_id, c.from_time,
       c.to_time, c.end_reason
FROM parcels p JOIN custody c ON c.parcel_id = p.parcel_id
WHERE p.shipment_id = %(shipment_id)s
ORDER BY c.from_time, c.custody_id
"""

_CHECKPOINT_SEVERITY: dict[str, Severity] = {
    "AttemptFail": "warning",
    "Exception": "warning",
    "Expired": "warning",
}
# At the same time: a parcel released, then the carrier's word, then handed to the next
# vehicle, then the alerts and exception steps (in their own order, kept by the stable sort).
_RANK = {"custody_released": 0, "checkpoint": 1, "custody_assigned": 2}


async def custody_events(conn: Conn, shipment_id: int, ops: bool) -> list[TimelineEvent]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_CUSTODY, {"shipment_id": shipment_id})
        rows = await cur.fetchall()
    events = []
    for row in rows:
        staff = (
            {
                "vehicle_id": row["vehicle_id"],
                "compartment": row["compartment"],
                "device_id": row["device_id"],
            }
            if ops
            else {}
        )
        common = {"severity": "info", "kind": "custody", "parcel_id": row["parcel_id"], **staff}
        events.append(TimelineEvent(time=row["from_time"], type="custody_assigned", **common))
        if row["to_time"] is not None:
            events.append(
                TimelineEvent(
                    time=row["to_time"],
                    type="custody_released",
                    end_reason=row["end_reason"],
                    **common,
                )
            )
    return events


def checkpoint_events(items: Sequence[Checkpoint], ops: bool) -> list[TimelineEvent]:
    return [
        TimelineEvent(
            time=c.time,
            type="checkpoint",
            severity=_CHECKPOINT_SEVERITY.get(c.status, "info"),
            kind="checkpoint",
            status=c.status,
            sub_status=c.sub_status,
            label=c.label,
            message=c.message,
            location=c.location,
            source=c.source if ops else None,
        )
        for c in items
    ]


async def merged_events(
    conn: Conn, shipment_id: int, items: Sequence[Checkpoint], ops: bool
) -> list[TimelineEvent]:
    """Checkpoints, custody changes, stored alerts and exception steps, in time order."""
    events = [
        *checkpoint_events(items, ops),
        *await custody_events(conn, shipment_id, ops),
        *await qx.timeline_events(conn, shipment_id, ops=ops),
    ]
    events.sort(key=lambda e: (e.time, _RANK.get(e.type, len(_RANK))))
    return events


# --- the shopper's view ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ShipmentView:
    shipment_id: int
    tracking_number: str
    language: str
    profile: str | None
    promised_at: datetime | None
    origin: str | None
    destination: str | None
    brand: dict[str, Any] | None


_SHIPMENT_VIEW = """
SELECT shipment_id, tracking_number, shopper_language AS language, profile, promised_at,
       origin, destination, brand
FROM shipments WHERE shipment_id = %(shipment_id)s
"""


async def shipment_view(conn: Conn, shipment_id: int) -> ShipmentView | None:
    """What the shopper's page shows of the shipment itself (not the shopper's name or contact:
    the page never needs them)."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_SHIPMENT_VIEW, {"shipment_id": shipment_id})
        row = await cur.fetchone()
    if row is None:
        return None
    brand = row["brand"] if isinstance(row["brand"], dict) else None
    return ShipmentView(**{**row, "brand": brand})


_SPANS = """spans AS (
    SELECT c.device_id, c.gateway_id, c.from_time, c.to_time
    FROM parcels p JOIN custody c ON c.parcel_id = p.parcel_id
    WHERE p.shipment_id = %(shipment_id)s
)"""

# Every accepted fix of the custody spans (once, if parcels share a van), thinned to at most
# %(max)s points: every step-th fix, and always the last one.
_ROUTE = f"""
WITH {_SPANS},
fixes AS (
    SELECT DISTINCT q.time, q.device_id, q.seq, q.lat, q.lon
    FROM spans s JOIN positions q
      ON q.gateway_id = s.gateway_id AND q.time >= s.from_time
     AND (s.to_time IS NULL OR q.time < s.to_time)
     AND (q.outcome IS NULL OR q.outcome IN ('moving', 'parked', 'reanchored', 'late'))
),
numbered AS (
    SELECT time, lat, lon,
           row_number() OVER (ORDER BY time, device_id, seq) - 1 AS i,
           count(*) OVER () AS n
    FROM fixes
)
SELECT time, lat, lon FROM numbered
WHERE n <= %(max)s
   OR i %% ceil((n - 1)::numeric / (%(max)s - 2))::bigint = 0
   OR i = n - 1
ORDER BY i
"""


async def route(conn: Conn, shipment_id: int) -> list[TrackPoint]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_ROUTE, {"shipment_id": shipment_id, "max": MAX_POINTS})
        return [TrackPoint.model_validate(row) for row in await cur.fetchall()]

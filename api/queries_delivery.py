"""Delivery ends a parcel's story: the SQL of ending the custody of a shipment's parcels at a
Delivered checkpoint, and of the ``delivered`` part of the shopper's view.

A Delivered checkpoint ends the open custody of each parcel of its shipment at the checkpoint's
time, with end reason ``delivered``, in the transaction that stores the checkpoint, under the rule
that ingest applies to an unload scan at the destination (:func:`coldtrail.custody.delivery_cut`).
Every read model follows custody (:mod:`api.custody_sql`), so from then on the shopper's route,
position, temperatures, timeline and live stream stop at the delivery; the vehicle itself goes on
in the ops views.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from api.models_tracking import Delivery
from coldtrail.custody import DELIVERED, Held, delivery_cut

Conn = AsyncConnection[Any]

# The shipment's parcels, locked in ingest's order (ingest/scan_queries.py: by parcel_id), and
# the latest custody of each.
_LOCK_PARCELS = """
SELECT parcel_id FROM parcels WHERE shipment_id = %(shipment_id)s ORDER BY parcel_id FOR UPDATE
"""
_LATEST_CUSTODIES = """
SELECT DISTINCT ON (c.parcel_id)
       c.custody_id, c.from_time, c.to_time, c.vehicle_id, c.compartment, c.device_id,
       c.end_reason
FROM parcels p JOIN custody c ON c.parcel_id = p.parcel_id
WHERE p.shipment_id = %(shipment_id)s
ORDER BY c.parcel_id, c.from_time DESC
"""
_CUT = """
UPDATE custody SET to_time = %(at)s, end_reason = %(reason)s
WHERE custody_id = ANY(%(ids)s) AND from_time < %(at)s
"""


async def end_custody(conn: Conn, shipment_id: int, at: datetime) -> int:
    """End the custody of the shipment's parcels at the delivery time ``at`` (call it inside
    the transaction that stores the Delivered checkpoint); how many custody ranges it ended."""
    await conn.execute(_LOCK_PARCELS, {"shipment_id": shipment_id})
    cur = await conn.execute(_LATEST_CUSTODIES, {"shipment_id": shipment_id})
    cut = [
        held.custody_id
        for held in (Held(*row) for row in await cur.fetchall())
        if delivery_cut(at, held) is not None
    ]
    if not cut:
        return 0
    cur = await conn.execute(_CUT, {"at": at, "reason": DELIVERED, "ids": cut})
    return cur.rowcount


_DELIVERED_CHECKPOINT = """
SELECT checkpoint_time AS at, 'checkpoint' AS by, location, received_by, signature_name,
       photo_url
FROM checkpoints
WHERE shipment_id = %(shipment_id)s AND status = 'Delivered'
ORDER BY checkpoint_time, checkpoint_id
LIMIT 1
"""
# Without a Delivered checkpoint: delivered by scans when every parcel that was ever in custody
# has its latest custody ended by a delivery (an unload at the destination); at the last one.
_DELIVERED_BY_SCANS = """
WITH latest AS (
    SELECT DISTINCT ON (c.parcel_id) c.to_time, c.end_reason
    FROM parcels p JOIN custody c ON c.parcel_id = p.parcel_id
    WHERE p.shipment_id = %(shipment_id)s
    ORDER BY c.parcel_id, c.from_time DESC
)
SELECT max(l.to_time) AS at, 'scan' AS by,
       (SELECT destination FROM shipments WHERE shipment_id = %(shipment_id)s) AS location,
       NULL AS received_by, NULL AS signature_name, NULL AS photo_url
FROM latest l
HAVING count(*) > 0 AND bool_and(l.end_reason IS NOT DISTINCT FROM 'delivered')
"""


async def delivered(conn: Conn, shipment_id: int) -> Delivery | None:
    """The shipment's delivery (see :class:`api.models_tracking.Delivery`); None before it."""
    params = {"shipment_id": shipment_id}
    async with conn.cursor(row_factory=dict_row) as cur:
        for sql in (_DELIVERED_CHECKPOINT, _DELIVERED_BY_SCANS):
            await cur.execute(sql, params)
            row = await cur.fetchone()
            if row is not None:
                return Delivery.model_validate(row)
    return None

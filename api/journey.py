"""Each stored checkpoint that moves a shipment to a new step tells the shopper (issue 17).

Called by :func:`api.queries_tracking.store_checkpoints`, in its transaction, where every
checkpoint is stored (the carriers' webhook and their pulls alike). Only the shipment's latest
checkpoint speaks: a carrier pull that brings a whole history at once tells the shopper where
the parcel is now, not every step it went through, and a late checkpoint older than the latest
tells nothing. Each step is told once per shipment (its key, :func:`alerts.shopper_steps.step_key`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from alerts.io.shopper_notices import queue_step
from alerts.shopper_steps import BY_STATUS

_LATEST = """
SELECT k.checkpoint_id, k.status, k.checkpoint_time, k.location, k.message, k.received_by,
       k.signature_name, k.photo_url, s.tracking_number
FROM checkpoints k JOIN shipments s USING (shipment_id)
WHERE k.shipment_id = %(shipment_id)s
ORDER BY k.checkpoint_time DESC, k.checkpoint_id DESC
LIMIT 1
"""


async def queue_checkpoint_steps(
    conn: AsyncConnection[Any], created: Iterable[tuple[int, int]]
) -> int:
    """``created``: (shipment_id, checkpoint_id) of the checkpoints just stored. Returns the
    notification rows queued."""
    new: dict[int, set[int]] = {}
    for shipment_id, checkpoint_id in created:
        new.setdefault(shipment_id, set()).add(checkpoint_id)
    queued = 0
    for shipment_id, ids in new.items():
        async with conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(_LATEST, {"shipment_id": shipment_id})
            latest = await cur.fetchone()
        if latest is None or latest["checkpoint_id"] not in ids:
            continue
        step = BY_STATUS.get(latest["status"])
        if step is None:
            continue
        context = {
            "tracking_number": latest["tracking_number"],
            "time": latest["checkpoint_time"].isoformat(),
            "location": latest["location"],
            "message": latest["message"],
        }
        if step.template == "delivered":
            context |= {
                "received_by": latest["received_by"],
                "signature_name": latest["signature_name"],
                "photo_url": latest["photo_url"],
            }
        queued += await queue_step(conn, shipment_id, step.template, context)
    return queued

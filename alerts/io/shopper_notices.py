"""Queue a step of the shopper's journey, once (docs/notifications.md#the-shoppers-journey).

Called in the transaction that stores what the step tells of: the API's checkpoint path (every
stored checkpoint passes there, the webhook's and the carriers' pulls alike) and the rule
runner (a condition incident). The step's key makes it one message per step per shipment,
across restarts, redeliveries and workers. After a delivery nothing is queued but the closing
message (the delivery itself).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import psycopg

from alerts.io.outbox import enqueue
from alerts.notifications import Notice
from alerts.notify_templates import ContextValue
from alerts.shopper_steps import BY_TEMPLATE, step_key

log = logging.getLogger(__name__)

_DELIVERED = """
SELECT EXISTS (SELECT 1 FROM checkpoints WHERE shipment_id = %s AND status = 'Delivered')
"""


async def queue_step(
    conn: psycopg.AsyncConnection[Any],
    shipment_id: int,
    template: str,
    context: Mapping[str, ContextValue],
) -> int:
    """Queue the step ``template`` of ``shipment_id`` (in the caller's transaction); returns the
    rows queued (0: told before, or the shipment is delivered and this is not the closing
    message)."""
    step = BY_TEMPLATE[template]
    if not step.closing:
        cur = await conn.execute(_DELIVERED, (shipment_id,))
        row = await cur.fetchone()
        if row is not None and row[0]:
            log.info(
                "shipment %d is delivered: no %s message after the closing one",
                shipment_id,
                template,
            )
            return 0
    notice = Notice(
        key=step_key(shipment_id, template),
        audience="shopper",
        template=template,
        shipment_id=shipment_id,
        context=context,
    )
    return await enqueue(conn, notice)

"""The durable notification outbox (docs/notifications.md).

Whoever decides that people must be told (the rule runner, the API) calls :func:`enqueue`
inside its own transaction: the notice is stored if and only if what it tells of is, and the
dispatcher (``coldtrail alerts notify``, :mod:`alerts.io.notify_dispatch`) sends it afterwards,
retrying until it gets through.
"""

from __future__ import annotations

import logging
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from alerts.io import notify_queries as q
from alerts.notifications import Notice

log = logging.getLogger(__name__)

NO_CHANNEL = {
    "ops": "no ops channel is configured (COLDTRAIL_NOTIFY_OPS_URLS of the dispatcher)",
    "quality": "no quality channel is configured (COLDTRAIL_NOTIFY_QUALITY_URLS of the dispatcher)",
    "shopper": "no shopper channel is configured"
    " (COLDTRAIL_NOTIFY_SHOPPER_URL_TEMPLATE of the dispatcher)",
}


async def enqueue(conn: psycopg.AsyncConnection[Any], notice: Notice) -> int:
    """Queue ``notice`` for every channel of its audience, in the caller's transaction (no
    commit here); returns how many rows are new (0 when the key was queued before).

    An audience without any channel, or a shopper without a contact, is recorded as 'skipped'
    with the reason: visible in ``coldtrail alerts notifications``, never retried.
    """
    language = notice.language
    skip: str | None = None
    if notice.audience == "shopper":
        cur = await conn.execute(q.SHOPPER_OF, (notice.shipment_id,))
        row = await cur.fetchone()
        if row is None:
            raise ValueError(f"notice {notice.key}: shipment {notice.shipment_id} does not exist")
        tracking_number, contact, shopper_language = row
        language = language or shopper_language
        if not contact:
            skip = f"shipment {tracking_number} has no shopper contact"
    params = {
        "key": notice.key,
        "audience": notice.audience,
        "template": notice.template,
        "language": language,
        "shipment_id": notice.shipment_id,
        "context": Jsonb(dict(notice.context)),
        "skip": skip,
        "no_channel": NO_CHANNEL[notice.audience],
    }
    cur = await conn.execute(q.ENQUEUE, params)
    states = [state for (state,) in await cur.fetchall()]
    if "pending" in states:
        await conn.execute(q.WAKE)  # delivered to the dispatchers at commit
    for state in states:
        if state == "skipped":
            log.info(
                "notice %s (%s, %s) recorded as skipped: %s",
                notice.key,
                notice.audience,
                notice.template,
                skip or NO_CHANNEL[notice.audience],
            )
            break
    return len(states)

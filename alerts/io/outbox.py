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
from alerts.shopper_steps import BY_TEMPLATE

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
        return await _enqueue_shopper(conn, notice)
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
    _log_skipped(notice, states, skip or NO_CHANNEL[notice.audience])
    return len(states)


async def _enqueue_shopper(conn: psycopg.AsyncConnection[Any], notice: Notice) -> int:
    """A shopper notice: to the older shopper channel at the shipment's contact, and to each
    medium (e-mail, SMS) the shopper subscribed with to this kind of message."""
    cur = await conn.execute(q.SHOPPER_OF, (notice.shipment_id,))
    row = await cur.fetchone()
    if row is None:
        raise ValueError(f"notice {notice.key}: shipment {notice.shipment_id} does not exist")
    tracking_number, contact, shopper_language = row
    kind = BY_TEMPLATE[notice.template].kind
    cur = await conn.execute(q.SHOPPER_CHANNELS)
    counts = await cur.fetchone()
    contact_channels, medium_channels = counts if counts else (0, 0)
    if not contact_channels and not medium_channels:
        reason = NO_CHANNEL["shopper"]
    elif not medium_channels:
        reason = f"shipment {tracking_number} has no shopper contact"
    else:
        reason = (
            f"shipment {tracking_number}: the shopper has no subscription to {kind} messages"
            + ("" if contact or not contact_channels else " and no contact")
        )
    params = {
        "key": notice.key,
        "template": notice.template,
        "language": notice.language,
        "shopper_language": shopper_language,
        "shipment_id": notice.shipment_id,
        "context": Jsonb(dict(notice.context)),
        "kind": kind,
        "has_contact": bool(contact),
        "no_channel": reason,
    }
    cur = await conn.execute(q.ENQUEUE_SHOPPER, params)
    states = [state for (state,) in await cur.fetchall()]
    if "pending" in states:
        await conn.execute(q.WAKE)
    _log_skipped(notice, states, reason)
    return len(states)


def _log_skipped(notice: Notice, states: list[str], reason: str) -> None:
    if "skipped" in states:
        log.info(
            "notice %s (%s, %s) recorded as skipped: %s",
            notice.key,
            notice.audience,
            notice.template,
            reason,
        )

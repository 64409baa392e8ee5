"""The SQL of the shopper's choices and personal data: subscriptions per medium (e-mail, SMS)
and kind, unsubscribing (with the link's token or the signed link of a message), and erasing a
shopper's personal data on request or after the retention period (docs/notifications.md)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection

Conn = AsyncConnection[Any]


@dataclass(frozen=True, slots=True)
class Subscription:
    medium: str
    address: str | None
    kinds: list[str]
    language: str
    active: bool


_SUBSCRIPTIONS = """
SELECT medium, address, kinds, language,
       unsubscribed_at IS NULL AND address IS NOT NULL AS active
FROM shopper_subscriptions WHERE shipment_id = %(shipment_id)s
ORDER BY medium
"""

_UPSERT = """
INSERT INTO shopper_subscriptions (shipment_id, medium, address, kinds, language)
VALUES (%(shipment_id)s, %(medium)s, %(address)s, %(kinds)s, %(language)s)
ON CONFLICT (shipment_id, medium) DO UPDATE
SET address = EXCLUDED.address, kinds = EXCLUDED.kinds, language = EXCLUDED.language,
    updated_at = now(), unsubscribed_at = NULL, erased_at = NULL
"""

_UNSUBSCRIBE = """
UPDATE shopper_subscriptions SET unsubscribed_at = now(), updated_at = now()
WHERE shipment_id = %(shipment_id)s AND medium = %(medium)s AND unsubscribed_at IS NULL
"""

_UNSUBSCRIBE_BY_ID = """
UPDATE shopper_subscriptions
SET unsubscribed_at = coalesce(unsubscribed_at, now()), updated_at = now()
WHERE subscription_id = %(subscription_id)s
RETURNING medium, language
"""

_SUBSCRIPTION_BY_ID = """
SELECT medium, language, unsubscribed_at IS NULL AND address IS NOT NULL
FROM shopper_subscriptions WHERE subscription_id = %(subscription_id)s
"""


_MEDIUMS = """
SELECT DISTINCT medium FROM notification_channels
WHERE audience = 'shopper' AND medium IS NOT NULL AND retired_at IS NULL
ORDER BY medium
"""


async def mediums(conn: Conn) -> list[Any]:
    """The media the dispatchers can send through (they registered a channel of each)."""
    cur = await conn.execute(_MEDIUMS)
    return [row[0] for row in await cur.fetchall()]


async def subscriptions(conn: Conn, shipment_id: int) -> list[Subscription]:
    cur = await conn.execute(_SUBSCRIPTIONS, {"shipment_id": shipment_id})
    return [Subscription(*row) for row in await cur.fetchall()]


async def subscribe(
    conn: Conn, shipment_id: int, medium: str, address: str, kinds: Sequence[str], language: str
) -> None:
    await conn.execute(
        _UPSERT,
        {
            "shipment_id": shipment_id,
            "medium": medium,
            "address": address,
            "kinds": list(kinds),
            "language": language,
        },
    )


async def unsubscribe(conn: Conn, shipment_id: int, medium: str) -> bool:
    cur = await conn.execute(_UNSUBSCRIBE, {"shipment_id": shipment_id, "medium": medium})
    return cur.rowcount > 0


async def subscription_by_id(conn: Conn, subscription_id: int) -> tuple[str, str, bool] | None:
    """(medium, language, still active) of a subscription named by a signed link."""
    cur = await conn.execute(_SUBSCRIPTION_BY_ID, {"subscription_id": subscription_id})
    row = await cur.fetchone()
    return None if row is None else (str(row[0]), str(row[1]), bool(row[2]))


async def unsubscribe_by_id(conn: Conn, subscription_id: int) -> tuple[str, str] | None:
    """Unsubscribe the subscription a signed link names; (medium, language), None if gone."""
    cur = await conn.execute(_UNSUBSCRIBE_BY_ID, {"subscription_id": subscription_id})
    row = await cur.fetchone()
    return None if row is None else (str(row[0]), str(row[1]))


# --- erasure ----------------------------------------------------------------------------------

_ERASE_SHIPMENTS = """
UPDATE shipments
SET shopper_name = NULL, shopper_contact = NULL,
    shopper_erased_at = coalesce(shopper_erased_at, now())
WHERE shipment_id = ANY(%(ids)s)
"""
_ERASE_SUBSCRIPTIONS = """
UPDATE shopper_subscriptions
SET address = NULL, erased_at = now(), unsubscribed_at = coalesce(unsubscribed_at, now()),
    updated_at = now()
WHERE shipment_id = ANY(%(ids)s) AND address IS NOT NULL
"""
# The proof of delivery names a person; the outbox's copies of it too.
_ERASE_PROOF = """
UPDATE checkpoints SET received_by = NULL, signature_name = NULL
WHERE shipment_id = ANY(%(ids)s) AND (received_by IS NOT NULL OR signature_name IS NOT NULL)
"""
_ERASE_OUTBOX = """
UPDATE notifications SET context = context - 'received_by' - 'signature_name'
WHERE shipment_id = ANY(%(ids)s) AND (context ? 'received_by' OR context ? 'signature_name')
"""
_IDS_OF = """
SELECT shipment_id, tracking_number FROM shipments WHERE tracking_number = ANY(%(numbers)s)
"""
# Shipments whose personal data has outlived the retention period: delivered (or, never
# delivered, created) longer ago than it, and not erased yet.
_EXPIRED = """
SELECT s.shipment_id, s.tracking_number FROM shipments s
WHERE s.shopper_erased_at IS NULL
  AND coalesce((SELECT max(k.checkpoint_time) FROM checkpoints k
                WHERE k.shipment_id = s.shipment_id AND k.status = 'Delivered'),
               s.created_at) < now() - make_interval(secs => %(seconds)s)
ORDER BY s.shipment_id
"""


async def shipments_named(conn: Conn, numbers: Sequence[str]) -> dict[str, int]:
    cur = await conn.execute(_IDS_OF, {"numbers": list(numbers)})
    return {str(tn): int(sid) for sid, tn in await cur.fetchall()}


async def expired(conn: Conn, days: float) -> dict[str, int]:
    cur = await conn.execute(_EXPIRED, {"seconds": days * 86400.0})
    return {str(tn): int(sid) for sid, tn in await cur.fetchall()}


async def erase(conn: Conn, shipment_ids: Sequence[int]) -> None:
    """Erase the shoppers' personal data of ``shipment_ids``, in one transaction: name,
    contact, subscription addresses (their messages still queued are then not sent), the proof
    of delivery's names."""
    ids = {"ids": list(shipment_ids)}
    async with conn.transaction():
        for statement in (_ERASE_SHIPMENTS, _ERASE_SUBSCRIPTIONS, _ERASE_PROOF, _ERASE_OUTBOX):
            await conn.execute(statement, ids)

"""The poller's SQL: the carrier legs due, their state after a poll, dead letters of unknown
codes. Checkpoints themselves are stored by :func:`api.queries_tracking.store_checkpoints`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

Conn = AsyncConnection[Any]


@dataclass(frozen=True, slots=True)
class DueLeg:
    leg_id: int
    shipment_id: int
    tracking_number: str
    carrier: str
    carrier_tracking_number: str
    failures: int
    created_at: datetime
    last_leg: bool


_DUE = """
SELECT l.leg_id, l.shipment_id, s.tracking_number, l.carrier, l.carrier_tracking_number,
       l.failures, l.created_at,
       NOT EXISTS (SELECT 1 FROM shipment_legs n
                   WHERE n.shipment_id = l.shipment_id AND n.position > l.position) AS last_leg
FROM shipment_legs l JOIN shipments s ON s.shipment_id = l.shipment_id
WHERE l.kind = 'carrier' AND l.final_at IS NULL
  AND (l.next_poll_at IS NULL OR l.next_poll_at <= %(now)s)
  AND (%(tracking_number)s::text IS NULL OR s.tracking_number = %(tracking_number)s)
ORDER BY l.next_poll_at NULLS FIRST, l.leg_id
LIMIT %(limit)s
"""


async def due_legs(
    conn: Conn, now: datetime, limit: int, tracking_number: str | None = None
) -> list[DueLeg]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_DUE, {"now": now, "limit": limit, "tracking_number": tracking_number})
        return [DueLeg(**row) for row in await cur.fetchall()]


_POLLED = """
UPDATE shipment_legs SET last_polled_at = %(now)s, next_poll_at = %(next)s, failures = 0,
       last_error = NULL, carrier_status = coalesce(%(status)s, carrier_status),
       carrier_eta = %(eta)s, carrier_url = coalesce(%(url)s, carrier_url),
       final_at = %(final_at)s, final_reason = %(final_reason)s
WHERE leg_id = %(leg_id)s
"""


async def polled(
    conn: Conn,
    leg_id: int,
    *,
    now: datetime,
    next_at: datetime,
    status: str | None,
    eta: datetime | None,
    url: str | None,
    final_reason: str | None,
) -> None:
    await conn.execute(
        _POLLED,
        {
            "leg_id": leg_id,
            "now": now,
            "next": next_at,
            "status": status,
            "eta": eta,
            "url": url,
            "final_at": now if final_reason else None,
            "final_reason": final_reason,
        },
    )


_FAILED = """
UPDATE shipment_legs SET last_polled_at = %(now)s, next_poll_at = %(next)s,
       failures = failures + 1, last_error = %(error)s,
       final_at = %(final_at)s, final_reason = %(final_reason)s
WHERE leg_id = %(leg_id)s
"""


async def failed(
    conn: Conn,
    leg_id: int,
    *,
    now: datetime,
    next_at: datetime,
    error: str,
    expired: bool = False,
) -> None:
    await conn.execute(
        _FAILED,
        {
            "leg_id": leg_id,
            "now": now,
            "next": next_at,
            "error": error[:500],
            "final_at": now if expired else None,
            "final_reason": "expired" if expired else None,
        },
    )


_DEAD_LETTER = """
INSERT INTO dead_letters (topic, gateway_id, payload, payload_sha256, reason)
VALUES (%(topic)s, NULL, %(payload)s, sha256(%(payload)s), %(reason)s)
ON CONFLICT (topic, payload_sha256) DO UPDATE
   SET last_seen = now(), count = dead_letters.count + 1, reason = excluded.reason
"""


def dead_letter_topic(carrier: str) -> str:
    """Dead letters of carriers are told apart from MQTT ones by this topic."""
    return f"carrier/{carrier}"


async def dead_letter(conn: Conn, carrier: str, raw: dict[str, Any], reason: str) -> None:
    payload = json.dumps(raw, sort_keys=True, default=str, ensure_ascii=False).encode()
    await conn.execute(
        _DEAD_LETTER, {"topic": dead_letter_topic(carrier), "payload": payload, "reason": reason}
    )


@dataclass(frozen=True, slots=True)
class PushLeg:
    leg_id: int
    tracking_number: str
    last_leg: bool


_LEGS_OF_NUMBER = """
SELECT l.leg_id, s.tracking_number,
       NOT EXISTS (SELECT 1 FROM shipment_legs n
                   WHERE n.shipment_id = l.shipment_id AND n.position > l.position) AS last_leg
FROM shipment_legs l JOIN shipments s ON s.shipment_id = l.shipment_id
WHERE l.kind = 'carrier' AND l.carrier = %(carrier)s AND l.carrier_tracking_number = %(number)s
ORDER BY l.leg_id
"""


async def legs_of_number(conn: Conn, carrier: str, number: str) -> list[PushLeg]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_LEGS_OF_NUMBER, {"carrier": carrier, "number": number})
        return [PushLeg(**row) for row in await cur.fetchall()]


_PUSHED = """
UPDATE shipment_legs SET carrier_status = coalesce(%(status)s, carrier_status),
       carrier_eta = CASE WHEN %(final)s THEN NULL ELSE coalesce(%(eta)s, carrier_eta) END,
       final_at = CASE WHEN %(final)s THEN coalesce(final_at, now()) ELSE final_at END,
       final_reason = CASE WHEN %(final)s THEN coalesce(final_reason, 'final_status')
                      ELSE final_reason END
WHERE leg_id = %(leg_id)s
"""


async def pushed(
    conn: Conn, leg_id: int, *, status: str | None, eta: datetime | None, final: bool
) -> None:
    await conn.execute(_PUSHED, {"leg_id": leg_id, "status": status, "eta": eta, "final": final})


async def deferred(conn: Conn, leg_id: int, next_at: datetime) -> None:
    """Not asked this cycle (its carrier said to wait): due again at ``next_at``."""
    await conn.execute(
        "UPDATE shipment_legs SET next_poll_at = %s WHERE leg_id = %s", (next_at, leg_id)
    )

"""SQL of the shopper link's lifecycle: rotate (a new token replaces the old) and revoke."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg import AsyncConnection

Conn = AsyncConnection[Any]

_ROTATE = """
UPDATE shipments
   SET access_token_sha256 = %(digest)s,
       access_token_revoked_at = NULL,
       access_token_expires_at = coalesce(
           %(expires_at)s::timestamptz,
           greatest(now(), coalesce(promised_at, now()))
               + make_interval(secs => %(link_ttl_s)s::double precision))
 WHERE tracking_number = %(tracking_number)s
RETURNING access_token_expires_at
"""

_REVOKE = """
UPDATE shipments
   SET access_token_revoked_at = coalesce(access_token_revoked_at, now())
 WHERE tracking_number = %(tracking_number)s
RETURNING access_token_revoked_at
"""


async def rotate(
    conn: Conn,
    tracking_number: str,
    digest: bytes,
    expires_at: datetime | None,
    link_ttl_days: float,
) -> datetime | None:
    """Replace the shipment's token digest (the old token stops working at once) and clear a
    revocation; the new expiry, or None if there is no such shipment."""
    params = {
        "tracking_number": tracking_number,
        "digest": digest,
        "expires_at": expires_at,
        "link_ttl_s": link_ttl_days * 86400,
    }
    cur = await conn.execute(_ROTATE, params)
    row = await cur.fetchone()
    return None if row is None else row[0]


async def revoke(conn: Conn, tracking_number: str) -> bool:
    """Revoke the shipment's link (kept revoked until a rotation); False if no such shipment."""
    cur = await conn.execute(_REVOKE, {"tracking_number": tracking_number})
    return await cur.fetchone() is not None

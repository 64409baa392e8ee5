"""What the pages need from the database beyond the API's own queries."""

from __future__ import annotations

from api.deps import Conn

_BRAND_LOGO = "SELECT brand->>'logo_url' FROM shipments WHERE shipment_id = %(shipment_id)s"


async def brand_logo_url(conn: Conn, shipment_id: int) -> str | None:
    """The merchant's logo URL of the shipment's brand, if it has one."""
    cur = await conn.execute(_BRAND_LOGO, {"shipment_id": shipment_id})
    row = await cur.fetchone()
    return None if row is None or row[0] is None else str(row[0])

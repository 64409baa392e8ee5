"""The SQL of the merchant's KPIs (migration 0021): one row of facts per shipment for
:mod:`api.kpis`, the tracking link's view counters, the shopper's rating and the agents'
"where is my order" contacts."""

from __future__ import annotations

from datetime import datetime

from api.deps import Conn
from api.kpis import OWN_FLEET, ShipmentFacts

# Delivered: the first Delivered checkpoint, else the end of a custody ended by a delivery (an
# unload scan at the destination). Carrier: the source of the Delivered checkpoint, else of the
# latest checkpoint. Time to resolve: from the first alert of the exception (the excursion's
# start), else from its opening.
_FACTS = """
SELECT s.created_at, COALESCE(cp.source, %(own_fleet)s), s.promised_at,
       COALESCE(
           (SELECT min(c.checkpoint_time) FROM checkpoints c
            WHERE c.shipment_id = s.shipment_id AND c.status = 'Delivered'),
           (SELECT max(cu.to_time) FROM custody cu JOIN parcels p USING (parcel_id)
            WHERE p.shipment_id = s.shipment_id AND cu.end_reason = 'delivered')),
       EXISTS (SELECT 1 FROM exceptions e WHERE e.shipment_id = s.shipment_id),
       ARRAY(SELECT extract(epoch FROM e.resolved_at - COALESCE(
                        (SELECT min(a.started_at) FROM alerts a
                         WHERE a.exception_id = e.exception_id), e.opened_at))::float8
             FROM exceptions e
             WHERE e.shipment_id = s.shipment_id AND e.resolved_at IS NOT NULL),
       COALESCE(v.page_views, 0), r.score,
       (SELECT count(*) FROM shopper_contacts k
        WHERE k.shipment_id = s.shipment_id AND k.kind = 'where_is_my_order')
FROM shipments s
LEFT JOIN LATERAL (
    SELECT c.source FROM checkpoints c WHERE c.shipment_id = s.shipment_id
    ORDER BY (c.status = 'Delivered') DESC, c.checkpoint_time DESC LIMIT 1
) cp ON true
LEFT JOIN tracking_views v ON v.shipment_id = s.shipment_id
LEFT JOIN shipment_ratings r ON r.shipment_id = s.shipment_id
WHERE s.created_at >= %(since)s AND s.created_at < %(until)s
ORDER BY s.created_at
"""


async def shipment_facts(conn: Conn, since: datetime, until: datetime) -> list[ShipmentFacts]:
    """The facts of every shipment created in [since, until)."""
    cur = await conn.execute(_FACTS, {"since": since, "until": until, "own_fleet": OWN_FLEET})
    return [
        ShipmentFacts(
            created_at=row[0],
            carrier=str(row[1]),
            promised_at=row[2],
            delivered_at=row[3],
            incident=bool(row[4]),
            resolve_s=tuple(max(0.0, float(s)) for s in row[5]),
            page_views=int(row[6]),
            rating=row[7],
            wismo_contacts=int(row[8]),
        )
        for row in await cur.fetchall()
    ]


_VIEW = """
INSERT INTO tracking_views AS v (shipment_id, page_views, json_reads)
VALUES (%(shipment_id)s, %(page)s, %(json)s)
ON CONFLICT (shipment_id) DO UPDATE
SET page_views = v.page_views + EXCLUDED.page_views,
    json_reads = v.json_reads + EXCLUDED.json_reads,
    last_view_at = now()
"""


async def count_view(conn: Conn, shipment_id: int, *, page: bool) -> None:
    """One opening of the shopper's page (``page``) or one read of the link's JSON."""
    await conn.execute(
        _VIEW, {"shipment_id": shipment_id, "page": int(page), "json": int(not page)}
    )


_DELIVERED = """
SELECT EXISTS (SELECT 1 FROM checkpoints c
               WHERE c.shipment_id = %(shipment_id)s AND c.status = 'Delivered')
    OR EXISTS (SELECT 1 FROM custody cu JOIN parcels p USING (parcel_id)
               WHERE p.shipment_id = %(shipment_id)s AND cu.end_reason = 'delivered')
"""
_RATE = """
INSERT INTO shipment_ratings (shipment_id, score) VALUES (%(shipment_id)s, %(score)s)
ON CONFLICT (shipment_id) DO UPDATE SET score = EXCLUDED.score, rated_at = now()
RETURNING rated_at
"""


async def rate(conn: Conn, shipment_id: int, score: int) -> datetime | None:
    """Store the shopper's rating if the shipment is delivered; when, else None."""
    async with conn.transaction():
        cur = await conn.execute(_DELIVERED, {"shipment_id": shipment_id})
        row = await cur.fetchone()
        if not (row and row[0]):
            return None
        cur = await conn.execute(_RATE, {"shipment_id": shipment_id, "score": score})
        rated = await cur.fetchone()
    assert rated is not None
    return rated[0]  # type: ignore[no-any-return]


_RATING = "SELECT score, rated_at FROM shipment_ratings WHERE shipment_id = %(shipment_id)s"


async def rating(conn: Conn, shipment_id: int) -> tuple[int, datetime] | None:
    cur = await conn.execute(_RATING, {"shipment_id": shipment_id})
    row = await cur.fetchone()
    return (int(row[0]), row[1]) if row else None


_CONTACT = """
INSERT INTO shopper_contacts (shipment_id, kind, recorded_by) VALUES (%(shipment_id)s, %(kind)s,
%(recorded_by)s) RETURNING contact_id, at
"""
_CONTACT_COUNT = """
SELECT count(*) FROM shopper_contacts WHERE shipment_id = %(shipment_id)s AND kind = %(kind)s
"""


async def record_contact(
    conn: Conn, shipment_id: int, kind: str, recorded_by: str
) -> tuple[int, datetime, int]:
    """(contact id, when, how many contacts of this kind the shipment has now)."""
    params = {"shipment_id": shipment_id, "kind": kind, "recorded_by": recorded_by}
    async with conn.transaction():
        cur = await conn.execute(_CONTACT, params)
        row = await cur.fetchone()
        cur = await conn.execute(_CONTACT_COUNT, params)
        count = await cur.fetchone()
    assert row is not None and count is not None
    return int(row[0]), row[1], int(count[0])

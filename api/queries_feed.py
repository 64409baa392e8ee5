"""The SQL of the change feed (:mod:`api.change_feed`): which shipments changed in a window of
transactions.

A window is ``[after, before)`` of transaction ids, ``before`` being the horizon of the query's
own snapshot (``pg_snapshot_xmin``: every older transaction has ended, see
:mod:`api.queries_live`). Consecutive windows cover every transaction once, whatever order they
commit in, so a change is seen by exactly one poll, after its commit. Each question goes through
the per-shipment (or per-device, per-gateway) change indexes of migrations 0011, 0012 and 0027:
the cost grows with the shipments asked about, not with the tables.
"""

from __future__ import annotations

from dataclasses import dataclass

from api.queries_live import Conn

_WINDOW = "t.change_xid >= %(after)s::text::xid8 AND t.change_xid < (SELECT horizon FROM snap)"

_CHANGED = f"""
WITH snap AS MATERIALIZED (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS horizon),
spans AS MATERIALIZED (
    SELECT p.shipment_id, c.device_id, c.gateway_id, c.from_time, c.to_time
      FROM parcels p JOIN custody c ON c.parcel_id = p.parcel_id
     WHERE p.shipment_id = ANY(%(ids)s)
),
changed AS (
    SELECT s.shipment_id FROM spans s
     WHERE s.device_id IS NOT NULL AND EXISTS (
           SELECT 1 FROM reading_changes t
            WHERE t.device_id = s.device_id AND {_WINDOW}
              AND t.to_time >= s.from_time AND (s.to_time IS NULL OR t.from_time < s.to_time))
    UNION
    SELECT s.shipment_id FROM spans s
     WHERE s.gateway_id IS NOT NULL AND EXISTS (
           SELECT 1 FROM positions t
            WHERE t.gateway_id = s.gateway_id AND {_WINDOW}
              AND t.time >= s.from_time AND (s.to_time IS NULL OR t.time < s.to_time))
    UNION
    SELECT t.shipment_id FROM checkpoints t WHERE t.shipment_id = ANY(%(ids)s) AND {_WINDOW}
    UNION
    SELECT t.shipment_id FROM alerts t WHERE t.shipment_id = ANY(%(ids)s) AND {_WINDOW}
    UNION
    SELECT t.shipment_id FROM parcel_conditions t
     WHERE t.shipment_id = ANY(%(ids)s) AND {_WINDOW}
    UNION
    SELECT t.shipment_id FROM shipment_touches t
     WHERE t.shipment_id = ANY(%(ids)s) AND {_WINDOW}
    UNION
    SELECT e.shipment_id FROM exception_audit t JOIN exceptions e USING (exception_id)
     WHERE e.shipment_id = ANY(%(ids)s) AND {_WINDOW}
)
SELECT (SELECT horizon FROM snap)::text,
       EXISTS (SELECT 1 FROM exception_audit t WHERE {_WINDOW}),
       coalesce((SELECT array_agg(DISTINCT shipment_id) FROM changed), '{{}}')
"""


@dataclass(frozen=True, slots=True)
class Window:
    """What changed from one horizon to the next."""

    horizon: int
    """The transaction id the next window starts at."""
    shipments: frozenset[int]
    """The shipments asked about that changed."""
    exceptions: bool
    """Whether an exception's audit trail got an entry (any shipment's)."""


async def changes_since(conn: Conn, after: int, shipment_ids: list[int]) -> Window:
    """Which of ``shipment_ids`` changed in the transactions from ``after`` to the current
    horizon (and whether any exception did)."""
    cur = await conn.execute(_CHANGED, {"after": str(after), "ids": shipment_ids})
    row = await cur.fetchone()
    assert row is not None  # a SELECT without FROM returns one row
    return Window(int(row[0]), frozenset(int(i) for i in row[2]), bool(row[1]))

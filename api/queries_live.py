"""The SQL of the live streams: the changes after a cursor, in commit-safe order.

Each row a stream shows is stamped with ``(change_xid, change_seq)`` (migration 0011): the
transaction that last wrote it and a global sequence number. A query returns only rows whose
transaction is older than the oldest transaction still running (``pg_snapshot_xmin``), so every
row it can ever return before a cursor has been returned already: a resume after the last
delivered pair misses nothing and repeats nothing, whatever order writers commit in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection

Conn = AsyncConnection[Any]


@dataclass(frozen=True, slots=True, order=True)
class ChangeKey:
    """Where a stream is: after the change ``(xid, seq)``."""

    xid: int
    seq: int


@dataclass(frozen=True, slots=True)
class Change:
    key: ChangeKey
    event: str  # the SSE event name: reading, position, status, alert, exception
    data: dict[str, Any]


_HORIZON = "SELECT pg_snapshot_xmin(pg_current_snapshot())::text"

# A condition on one source table, alias t: after the cursor and settled.
_AFTER = (
    "(t.change_xid, t.change_seq) > (%(xid)s::text::xid8, %(seq)s)"
    " AND t.change_xid < (SELECT horizon FROM snap)"
)

_SHIPMENT_CHANGES = f"""
WITH snap AS MATERIALIZED (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS horizon),
spans AS MATERIALIZED (
    SELECT c.parcel_id, c.device_id, c.gateway_id, c.from_time, c.to_time
    FROM parcels p JOIN custody c ON c.parcel_id = p.parcel_id
    WHERE p.shipment_id = %(shipment_id)s
)
SELECT xid::text, seq, event, data FROM (
  (SELECT t.change_xid AS xid, t.change_seq AS seq, 'reading' AS event,
          jsonb_build_object('parcel_ids', w.parcel_ids, 'device_id', t.device_id,
                             'time', t.time, 'temperature_c', t.temperature_c,
                             'humidity_pct', t.humidity_pct) AS data
     FROM readings t
     CROSS JOIN LATERAL (
         SELECT array_agg(DISTINCT s.parcel_id ORDER BY s.parcel_id) AS parcel_ids FROM spans s
          WHERE s.device_id = t.device_id AND t.time >= s.from_time
            AND (s.to_time IS NULL OR t.time < s.to_time)) w
    WHERE t.device_id IN (SELECT device_id FROM spans WHERE device_id IS NOT NULL)
      AND {_AFTER} AND w.parcel_ids IS NOT NULL
    ORDER BY t.change_xid, t.change_seq LIMIT %(limit)s)
  UNION ALL
  (SELECT t.change_xid, t.change_seq, 'position',
          jsonb_build_object('time', t.time, 'lat', t.lat, 'lon', t.lon,
                             'speed_kmh', t.speed_kmh)
     FROM positions t
    WHERE t.gateway_id IN (SELECT gateway_id FROM spans WHERE gateway_id IS NOT NULL)
      AND {_AFTER}
      AND t.outcome IN ('moving', 'parked', 'reanchored')
      AND EXISTS (SELECT 1 FROM spans s
                   WHERE s.gateway_id = t.gateway_id AND t.time >= s.from_time
                     AND (s.to_time IS NULL OR t.time < s.to_time))
    ORDER BY t.change_xid, t.change_seq LIMIT %(limit)s)
  UNION ALL
  (SELECT t.change_xid, t.change_seq, 'status',
          jsonb_build_object('code', t.status, 'sub_status', t.sub_status,
                             'at', t.checkpoint_time)
     FROM checkpoints t
    WHERE t.shipment_id = %(shipment_id)s AND {_AFTER}
    ORDER BY t.change_xid, t.change_seq LIMIT %(limit)s)
  UNION ALL
  (SELECT t.change_xid, t.change_seq, 'alert',
          jsonb_build_object('alert_id', t.alert_id, 'rule', t.rule, 'kind', t.kind,
                             'severity', t.severity, 'state', t.state,
                             'subject_kind', t.subject_kind, 'subject_id', t.subject_id,
                             'started_at', t.started_at, 'ended_at', t.ended_at,
                             'peak', t.peak, 'limit', t.limit_value,
                             'duration_s', t.duration_s)
     FROM alerts t
    WHERE t.shipment_id = %(shipment_id)s AND {_AFTER}
    ORDER BY t.change_xid, t.change_seq LIMIT %(limit)s)
) changes
ORDER BY xid, seq
LIMIT %(limit)s
"""

# One event per audit entry, with the exception as it is when read (a later entry may already
# have changed it: the entries, in order, tell each step).
_EXCEPTION_CHANGES = f"""
WITH snap AS MATERIALIZED (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS horizon)
SELECT t.change_xid::text, t.change_seq, 'exception',
       jsonb_build_object('exception_id', t.exception_id, 'seq', t.seq, 'action', t.action,
                          'actor', t.actor, 'at', t.at, 'detail', t.detail, 'reason', t.reason,
                          'tracking_number', s.tracking_number, 'kind', e.kind,
                          'title', e.title, 'severity', e.severity, 'state', e.state,
                          'resolution', e.resolution, 'assignee', e.assignee,
                          'opened_at', e.opened_at, 'updated_at', e.updated_at)
  FROM exception_audit t
  JOIN exceptions e ON e.exception_id = t.exception_id
  JOIN shipments s ON s.shipment_id = e.shipment_id
 WHERE {_AFTER}
 ORDER BY t.change_xid, t.change_seq
 LIMIT %(limit)s
"""


async def horizon(conn: Conn) -> ChangeKey:
    """A cursor at "now": before every change of a transaction still running or yet to come."""
    cur = await conn.execute(_HORIZON)
    row = await cur.fetchone()
    assert row is not None  # a SELECT without FROM returns one row
    return ChangeKey(int(row[0]), 0)


async def _changes(conn: Conn, sql: str, params: dict[str, Any]) -> list[Change]:
    cur = await conn.execute(sql, params)
    return [
        Change(ChangeKey(int(xid), int(seq)), str(event), dict(data))
        for xid, seq, event, data in await cur.fetchall()
    ]


async def shipment_changes(
    conn: Conn, shipment_id: int, after: ChangeKey, limit: int
) -> list[Change]:
    """The settled changes of one shipment after ``after``: readings of its parcels' custody
    devices, accepted fixes of its custody gateways, checkpoints and alerts; oldest first."""
    params = {"shipment_id": shipment_id, "xid": str(after.xid), "seq": after.seq, "limit": limit}
    return await _changes(conn, _SHIPMENT_CHANGES, params)


async def exception_changes(conn: Conn, after: ChangeKey, limit: int) -> list[Change]:
    """The exceptions' audit entries (opened, escalated, acknowledged, assigned, resolved,
    commented...) after ``after``, each with its exception's current fields."""
    params = {"xid": str(after.xid), "seq": after.seq, "limit": limit}
    return await _changes(conn, _EXCEPTION_CHANGES, params)

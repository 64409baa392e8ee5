"""The SQL of the live streams: the changes after a cursor, in commit-safe order.

Each change a stream shows is stamped with ``(change_xid, change_seq)`` (migration 0011): the
transaction that wrote it and a number from one global sequence. A query returns only changes
whose transaction is older than the oldest transaction still running (``pg_snapshot_xmin``), so
every change it can ever return before a cursor has been returned already: a resume after the
last delivered key misses nothing and repeats nothing, whatever order writers commit in.

Positions, checkpoints, alerts and audit entries carry the stamp on each row. Readings do not
(a per-row sequence and index cost ingest a third of its write speed): a reading keeps only its
``change_xid``, and ingest writes one ``reading_changes`` row per device per transaction, with
the stamp, the time range and the number of the new readings. A stream reads the change rows
after its cursor, then each one's readings by the primary key (``device_id``, ``time`` within
the range) filtered on ``change_xid``. A committed transaction's rows never change, so the place
``k`` of a reading in its change row, by (time, seq), is stable: a reading's key is
``(change_xid, change_seq, k)``, other changes have ``k = 0`` (their ``(change_xid,
change_seq)`` is unique: one sequence for all), and the order is that of the keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection

Conn = AsyncConnection[Any]


@dataclass(frozen=True, slots=True, order=True)
class ChangeKey:
    """Where a stream is: after the change ``(xid, seq)``, and for a change row of readings,
    after its first ``k + 1`` readings."""

    xid: int
    seq: int
    k: int = 0


@dataclass(frozen=True, slots=True)
class Change:
    key: ChangeKey
    event: str  # SSE event: reading, position, status, alert, condition, exception; or PROGRESS
    data: dict[str, Any]


PROGRESS = "progress"
"""Not an event: the key just after the last reading of the last change row of readings a query
read, last in a batch that holds every reading of those rows still to send (the others were
sent before or lie outside the custody spans). The stream moves its cursor there without sending
anything, so that change rows with nothing to show are not read again and again (more than a
batch of them would otherwise stop the stream for good)."""


_HORIZON = "SELECT pg_snapshot_xmin(pg_current_snapshot())::text"

_CURSOR = "(%(xid)s::text::xid8, %(seq)s)"
_SETTLED = "t.change_xid < (SELECT horizon FROM snap)"
# A condition on one stamped source table, alias t: after the cursor and settled.
_AFTER = f"(t.change_xid, t.change_seq) > {_CURSOR} AND {_SETTLED}"

_SHIPMENT_CHANGES = f"""
WITH snap AS MATERIALIZED (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS horizon),
spans AS MATERIALIZED (
    SELECT c.parcel_id, c.device_id, c.gateway_id, c.from_time, c.to_time
    FROM parcels p JOIN custody c ON c.parcel_id = p.parcel_id
    WHERE p.shipment_id = %(shipment_id)s
),
-- The change rows of readings with readings after the cursor: those after it, and the cursor's
-- own unless its last reading (k = rows - 1) was passed.
changed AS MATERIALIZED (
    SELECT t.change_xid, t.change_seq, t.device_id, t.from_time, t.to_time, t.rows
      FROM reading_changes t
     WHERE t.device_id IN (SELECT device_id FROM spans WHERE device_id IS NOT NULL)
       AND (t.change_xid, t.change_seq) >= {_CURSOR}
       AND ((t.change_xid, t.change_seq) > {_CURSOR} OR %(k)s < t.rows - 1)
       AND {_SETTLED}
     ORDER BY t.change_xid, t.change_seq
     LIMIT %(limit)s
)
SELECT xid::text, seq, k, event, data FROM (
  (SELECT c.change_xid AS xid, c.change_seq AS seq, t.k, 'reading' AS event,
          jsonb_build_object('parcel_ids', w.parcel_ids, 'device_id', c.device_id,
                             'time', t.time, 'temperature_c', t.temperature_c,
                             'humidity_pct', t.humidity_pct) AS data
     FROM changed c
     CROSS JOIN LATERAL (
         -- k counts every reading of the change row, shown or not: it never changes.
         SELECT r.time, r.temperature_c, r.humidity_pct,
                row_number() OVER (ORDER BY r.time, r.seq) - 1 AS k
           FROM readings r
          WHERE r.device_id = c.device_id AND r.time BETWEEN c.from_time AND c.to_time
            AND r.change_xid = c.change_xid) t
     CROSS JOIN LATERAL (
         SELECT array_agg(DISTINCT s.parcel_id ORDER BY s.parcel_id) AS parcel_ids FROM spans s
          WHERE s.device_id = c.device_id AND t.time >= s.from_time
            AND (s.to_time IS NULL OR t.time < s.to_time)) w
    WHERE (c.change_xid, c.change_seq, t.k) > (%(xid)s::text::xid8, %(seq)s, %(k)s)
      AND w.parcel_ids IS NOT NULL
    ORDER BY c.change_xid, c.change_seq, t.k LIMIT %(limit)s)
  UNION ALL
  (SELECT c.change_xid, c.change_seq, c.rows - 1, '{PROGRESS}', '{{}}'::jsonb
     FROM changed c
    ORDER BY c.change_xid DESC, c.change_seq DESC LIMIT 1)
  UNION ALL
  (SELECT t.change_xid, t.change_seq, 0, 'position',
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
  (SELECT t.change_xid, t.change_seq, 0, 'status',
          jsonb_build_object('code', t.status, 'sub_status', t.sub_status,
                             'at', t.checkpoint_time)
     FROM checkpoints t
    WHERE t.shipment_id = %(shipment_id)s AND {_AFTER}
    ORDER BY t.change_xid, t.change_seq LIMIT %(limit)s)
  UNION ALL
  (SELECT t.change_xid, t.change_seq, 0, 'alert',
          jsonb_build_object('alert_id', t.alert_id, 'rule', t.rule, 'kind', t.kind,
                             'severity', t.severity, 'state', t.state,
                             'subject_kind', t.subject_kind, 'subject_id', t.subject_id,
                             'started_at', t.started_at, 'ended_at', t.ended_at,
                             'peak', t.peak, 'limit', t.limit_value,
                             'duration_s', t.duration_s)
     FROM alerts t
    WHERE t.shipment_id = %(shipment_id)s AND {_AFTER}
    ORDER BY t.change_xid, t.change_seq LIMIT %(limit)s)
  UNION ALL
  -- A parcel's condition changed (the rule runner's stored verdict: migration 0012).
  (SELECT t.change_xid, t.change_seq, 0, 'condition',
          jsonb_build_object('parcel_id', t.parcel_id, 'state', t.state, 'scope', t.scope,
                             'judged_through', t.judged_through, 'allowance', t.allowance,
                             'alerts', t.alerts)
     FROM parcel_conditions t
    WHERE t.shipment_id = %(shipment_id)s AND {_AFTER}
    ORDER BY t.change_xid, t.change_seq LIMIT %(limit)s)
) changes
-- A full batch of change rows may stop short of the rows after it: then nothing after the last
-- change row read (positions, checkpoints, alerts) may come yet, or the cursor would move past
-- the readings of the change rows not read.
WHERE (SELECT count(*) FROM changed) < %(limit)s
   OR (changes.xid, changes.seq) <= (SELECT c.change_xid, c.change_seq FROM changed c
                                      ORDER BY c.change_xid DESC, c.change_seq DESC LIMIT 1)
-- changes.xid: the xid8, not the text column of the same name (which would sort 10 before 9).
-- The progress row last among equal keys: the reading with the same key comes before it.
ORDER BY changes.xid, changes.seq, changes.k, changes.event = '{PROGRESS}'
LIMIT %(limit)s
"""

# One event per audit entry, with the exception as it is when read (a later entry may already
# have changed it: the entries, in order, tell each step).
_EXCEPTION_CHANGES = f"""
WITH snap AS MATERIALIZED (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS horizon)
SELECT t.change_xid::text, t.change_seq, 0, 'exception',
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
    return ChangeKey(int(row[0]), 0, 0)


async def _changes(conn: Conn, sql: str, params: dict[str, Any]) -> list[Change]:
    cur = await conn.execute(sql, params)
    return [
        Change(ChangeKey(int(xid), int(seq), int(k)), str(event), dict(data))
        for xid, seq, k, event, data in await cur.fetchall()
    ]


async def shipment_changes(
    conn: Conn, shipment_id: int, after: ChangeKey, limit: int
) -> list[Change]:
    """The settled changes of one shipment after ``after``: readings of its parcels' custody
    devices, accepted fixes of its custody gateways, checkpoints, alerts and the parcels'
    conditions; oldest first. It may
    end with a :data:`PROGRESS` change (not an event)."""
    params = {
        "shipment_id": shipment_id,
        "xid": str(after.xid),
        "seq": after.seq,
        "k": after.k,
        "limit": limit,
    }
    return await _changes(conn, _SHIPMENT_CHANGES, params)


async def exception_changes(conn: Conn, after: ChangeKey, limit: int) -> list[Change]:
    """The exceptions' audit entries (opened, escalated, acknowledged, assigned, resolved,
    commented...) after ``after``, each with its exception's current fields."""
    params = {"xid": str(after.xid), "seq": after.seq, "limit": limit}
    return await _changes(conn, _EXCEPTION_CHANGES, params)

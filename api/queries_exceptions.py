"""Every SQL statement of the exception workflow and the stored alerts.

Changes to an exception lock its row (``SELECT ... FOR UPDATE``) and append one audit entry
through :func:`alerts.io.audit_writer.append_entry` (the writer ingest uses too), in the same
transaction as the change: concurrent changes queue on the lock, so the chain never forks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from psycopg import AsyncConnection, sql
from psycopg.rows import dict_row

from alerts.audit import AuditEntry, verify
from alerts.io.audit_writer import append_entry
from api.cursor import PageKey
from api.errors import ApiError
from api.models_exceptions import (
    AlertRecord,
    AuditEntryOut,
    AuditTrail,
    Comment,
    ExceptionChange,
    ExceptionDetail,
    ExceptionSummary,
    ShipmentAlert,
    TimelineEvent,
)
from api.workflow import Change, Current

Conn = AsyncConnection[Any]
Order = Literal["oldest", "newest"]


@dataclass(frozen=True, slots=True)
class SlaTargets:
    """Seconds allowed to acknowledge an exception, per severity."""

    critical_s: float
    warning_s: float
    info_s: float

    def params(self) -> dict[str, float]:
        return {
            "sla_critical_s": self.critical_s,
            "sla_warning_s": self.warning_s,
            "sla_info_s": self.info_s,
        }


@dataclass(frozen=True, slots=True)
class QueueFilter:
    states: Sequence[str] = ()
    kinds: Sequence[str] = ()
    severities: Sequence[str] = ()
    assignee: str | None = None
    assigned: bool | None = None
    tracking_number: str | None = None
    opened_since: datetime | None = None
    opened_until: datetime | None = None
    sla_breached: bool | None = None


@dataclass(frozen=True, slots=True)
class AlertFilter:
    states: Sequence[str] = ("open", "closed")
    kinds: Sequence[str] = ()
    severities: Sequence[str] = ()
    subject_kind: str | None = None
    subject_id: str | None = None
    tracking_number: str | None = None


def _not_found(exception_id: int) -> ApiError:
    return ApiError(404, "exception_not_found", f"no exception {exception_id}")


# --- the queue ------------------------------------------------------------------------------

# The time to acknowledge is measured to the first entry that took the exception out of "open"
# (acknowledged, or resolved directly).
_SLA_S = """(CASE e.severity WHEN 'critical' THEN %(sla_critical_s)s
                        WHEN 'warning' THEN %(sla_warning_s)s
                        ELSE %(sla_info_s)s END)::float8"""
_ACK_JOIN = """
LEFT JOIN LATERAL (
    SELECT a.at FROM exception_audit a
    WHERE a.exception_id = e.exception_id AND a.action IN ('acknowledged', 'resolved')
    ORDER BY a.seq
    LIMIT 1
) ack ON true"""
_BREACHED = f"coalesce(ack.at, now()) > e.opened_at + make_interval(secs => {_SLA_S})"

# One row per exception with its SLA figures (filtered by the caller's WHERE).
_SUMMARY = f"""
SELECT e.exception_id, s.tracking_number, e.kind, e.severity, e.title, e.state, e.resolution,
       e.assignee, e.opened_at, ack.at AS acknowledged_at, e.updated_at, e.resolved_at,
       first.started_at,
       extract(epoch FROM coalesce(e.resolved_at, now())
                          - coalesce(first.started_at, e.opened_at))::float8 AS age_s,
       {_SLA_S} AS sla_s,
       e.opened_at + make_interval(secs => {_SLA_S}) AS sla_due_at,
       {_BREACHED} AS sla_breached,
       (SELECT count(*) FROM alerts a
        WHERE a.shipment_id = e.shipment_id AND a.exception_id = e.exception_id)::int
           AS alert_count
FROM exceptions e
JOIN shipments s ON s.shipment_id = e.shipment_id{_ACK_JOIN}
LEFT JOIN LATERAL (
    SELECT min(a.started_at) AS started_at FROM alerts a
    WHERE a.shipment_id = e.shipment_id AND a.exception_id = e.exception_id
) first ON true
"""


def _queue_sql(filters: QueueFilter, order: Order, after: bool) -> sql.Composed:
    """The page's exception ids first (filters, keyset, order, limit on the exceptions alone),
    then their summaries: the lateral look-ups cost the page, not the queue."""
    where: list[sql.Composable] = []
    if filters.states:
        where.append(sql.SQL("e.state = ANY(%(states)s)"))
    if filters.kinds:
        where.append(sql.SQL("e.kind = ANY(%(kinds)s)"))
    if filters.severities:
        where.append(sql.SQL("e.severity = ANY(%(severities)s)"))
    if filters.assignee is not None:
        where.append(sql.SQL("e.assignee = %(assignee)s"))
    if filters.assigned is not None:
        is_null = "e.assignee IS NOT NULL" if filters.assigned else "e.assignee IS NULL"
        where.append(sql.SQL(is_null))
    if filters.tracking_number is not None:
        where.append(
            sql.SQL(
                "e.shipment_id = (SELECT shipment_id FROM shipments"
                " WHERE tracking_number = %(tracking_number)s)"
            )
        )
    if filters.opened_since is not None:
        where.append(sql.SQL("e.opened_at >= %(opened_since)s"))
    if filters.opened_until is not None:
        where.append(sql.SQL("e.opened_at < %(opened_until)s"))
    if after:
        compare = ">" if order == "oldest" else "<"
        where.append(
            sql.SQL("(e.opened_at, e.exception_id) {} (%(after_time)s, %(after_id)s)").format(
                sql.SQL(compare)
            )
        )
    ack = sql.SQL("")
    if filters.sla_breached is not None:  # needs each candidate's acknowledgement time
        ack = sql.SQL(_ACK_JOIN)  # constant SQL, no input
        where.append(sql.SQL(f"({_BREACHED}) = %(sla_breached)s"))
    direction = sql.SQL("ASC" if order == "oldest" else "DESC")
    return sql.SQL(
        "WITH page AS (SELECT e.exception_id FROM exceptions e{ack} WHERE {where}"
        " ORDER BY e.opened_at {direction}, e.exception_id {direction} LIMIT %(limit)s)"
        " {summary} WHERE e.exception_id IN (SELECT exception_id FROM page)"
        " ORDER BY e.opened_at {direction}, e.exception_id {direction}"
    ).format(
        ack=ack,
        summary=sql.SQL(_SUMMARY),  # constant SQL, no input
        where=sql.SQL(" AND ").join(where) if where else sql.SQL("true"),
        direction=direction,
    )


async def list_exceptions(
    conn: Conn,
    filters: QueueFilter,
    sla_targets: SlaTargets,
    order: Order,
    after: PageKey | None,
    limit: int,
) -> tuple[list[ExceptionSummary], PageKey | None]:
    """Up to ``limit`` exceptions in ``order`` of opening after ``after``, and the next key."""
    params: dict[str, Any] = {
        **sla_targets.params(),
        "states": list(filters.states),
        "kinds": list(filters.kinds),
        "severities": list(filters.severities),
        "assignee": filters.assignee,
        "tracking_number": filters.tracking_number,
        "opened_since": filters.opened_since,
        "opened_until": filters.opened_until,
        "sla_breached": filters.sla_breached,
        "limit": limit + 1,
    }
    if after is not None:
        params.update(after_time=after.time, after_id=after.id)
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_queue_sql(filters, order, after is not None), params)
        rows = await cur.fetchall()
    items = [ExceptionSummary.model_validate(row) for row in rows[:limit]]
    if len(rows) <= limit:
        return items, None
    return items, PageKey(items[-1].opened_at, items[-1].exception_id)


_ONE = _SUMMARY + " WHERE e.exception_id = %(exception_id)s"


async def _summary(conn: Conn, exception_id: int, sla_targets: SlaTargets) -> ExceptionSummary:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_ONE, {**sla_targets.params(), "exception_id": exception_id})
        row = await cur.fetchone()
    if row is None:
        raise _not_found(exception_id)
    return ExceptionSummary.model_validate(row)


# --- one exception --------------------------------------------------------------------------

_ALERT_COLUMNS = """
a.alert_id, s.tracking_number, a.subject_kind, a.subject_id, a.rule, a.kind, a.severity,
a.state, a.started_at, a.ended_at, a.peak, a.limit_value, a.duration_s, a.area, a.count,
a.exception_id, a.detected_at, a.updated_at
"""

_EXCEPTION_ALERTS = f"""
SELECT {_ALERT_COLUMNS}
FROM exceptions e
JOIN alerts a ON a.shipment_id = e.shipment_id AND a.exception_id = e.exception_id
LEFT JOIN shipments s ON s.shipment_id = a.shipment_id
WHERE e.exception_id = %(exception_id)s
ORDER BY a.started_at, a.alert_id
"""

_AUDIT = """
SELECT seq, at, actor, action, detail, reason, prev_hash, hash FROM exception_audit
WHERE exception_id = %(exception_id)s
ORDER BY seq
"""


def _entries(exception_id: int, rows: Sequence[dict[str, Any]]) -> AuditTrail:
    chain = [
        (
            AuditEntry(
                exception_id=exception_id,
                seq=row["seq"],
                at=row["at"],
                actor=row["actor"],
                action=row["action"],
                detail=row["detail"],
                reason=row["reason"],
            ),
            bytes(row["prev_hash"]),
            bytes(row["hash"]),
        )
        for row in rows
    ]
    broken = verify(chain)
    return AuditTrail(
        exception_id=exception_id,
        chain_intact=broken is None,
        first_broken_seq=broken,
        entries=[
            AuditEntryOut(
                seq=entry.seq,
                at=entry.at,
                actor=entry.actor,
                action=entry.action,
                detail=dict(entry.detail),
                reason=entry.reason,
                prev_hash=prev.hex(),
                hash=stored.hex(),
            )
            for entry, prev, stored in chain
        ],
    )


async def audit_trail(conn: Conn, exception_id: int) -> AuditTrail:
    """The exception's audit trail, checked; 404 for an unknown exception."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT 1 FROM exceptions WHERE exception_id = %(exception_id)s",
            {"exception_id": exception_id},
        )
        if await cur.fetchone() is None:
            raise _not_found(exception_id)
        await cur.execute(_AUDIT, {"exception_id": exception_id})
        rows = await cur.fetchall()
    return _entries(exception_id, rows)


async def exception_detail(
    conn: Conn, exception_id: int, sla_targets: SlaTargets
) -> ExceptionDetail:
    """The exception with its alerts, comments and checked audit trail (one snapshot)."""
    async with conn.transaction():
        await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        summary = await _summary(conn, exception_id, sla_targets)
        async with conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(_EXCEPTION_ALERTS, {"exception_id": exception_id})
            alerts = [AlertRecord.model_validate(row) for row in await cur.fetchall()]
            await cur.execute(_AUDIT, {"exception_id": exception_id})
            trail = _entries(exception_id, await cur.fetchall())
    comments = [
        Comment(seq=e.seq, at=e.at, author=e.actor, text=str(e.detail.get("text", "")))
        for e in trail.entries
        if e.action == "comment"
    ]
    return ExceptionDetail(
        **summary.model_dump(),
        alerts=alerts,
        comments=comments,
        chain_intact=trail.chain_intact,
        first_broken_seq=trail.first_broken_seq,
        audit=trail.entries,
    )


# --- changes --------------------------------------------------------------------------------

_LOCK = """
SELECT state, resolution, assignee FROM exceptions
WHERE exception_id = %(exception_id)s
FOR UPDATE
"""
_UPDATE = """
UPDATE exceptions SET
    state = coalesce(%(state)s, state),
    resolution = coalesce(%(resolution)s, resolution),
    resolved_at = CASE WHEN %(state)s = 'resolved' THEN %(at)s ELSE resolved_at END,
    assignee = CASE WHEN %(sets_assignee)s THEN %(assignee)s ELSE assignee END,
    updated_at = %(at)s
WHERE exception_id = %(exception_id)s
"""


async def apply_change(
    conn: Conn,
    exception_id: int,
    actor: str,
    decide: Callable[[Current], Change | None],
    sla_targets: SlaTargets,
) -> ExceptionChange:
    """Lock the exception, let ``decide`` say what changes (or raise 409), append the audit
    entry and update the exception, all in one transaction."""
    params: dict[str, Any] = {"exception_id": exception_id}
    entry_out = None
    async with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_LOCK, params)
        row = await cur.fetchone()
        if row is None:
            raise _not_found(exception_id)
        change = decide(Current(exception_id, row["state"], row["resolution"], row["assignee"]))
        if change is not None:
            stored = await append_entry(
                conn, exception_id, actor, change.action, change.detail, change.reason
            )
            entry = stored.entry
            await cur.execute(
                _UPDATE,
                {
                    **params,
                    "state": change.state,
                    "resolution": change.resolution,
                    "assignee": change.assignee,
                    "sets_assignee": change.sets_assignee,
                    "at": entry.at,
                },
            )
            entry_out = AuditEntryOut(
                seq=entry.seq,
                at=entry.at,
                actor=actor,
                action=entry.action,
                detail=change.detail,
                reason=entry.reason,
                prev_hash=stored.prev_hash.hex(),
                hash=stored.hash.hex(),
            )
        summary = await _summary(conn, exception_id, sla_targets)
    return ExceptionChange(exception=summary, entry=entry_out)


# --- alerts ---------------------------------------------------------------------------------


def _alerts_sql(filters: AlertFilter, order: Order, after: bool) -> sql.Composed:
    where: list[sql.Composable] = []
    if filters.states:
        where.append(sql.SQL("a.state = ANY(%(states)s)"))
    if filters.kinds:
        where.append(sql.SQL("a.kind = ANY(%(kinds)s)"))
    if filters.severities:
        where.append(sql.SQL("a.severity = ANY(%(severities)s)"))
    if filters.subject_kind is not None:
        where.append(sql.SQL("a.subject_kind = %(subject_kind)s"))
    if filters.subject_id is not None:
        where.append(sql.SQL("a.subject_id = %(subject_id)s"))
    if filters.tracking_number is not None:
        where.append(
            sql.SQL(
                "a.shipment_id = (SELECT shipment_id FROM shipments"
                " WHERE tracking_number = %(tracking_number)s)"
            )
        )
    if after:
        compare = ">" if order == "oldest" else "<"
        where.append(
            sql.SQL("(a.started_at, a.alert_id) {} (%(after_time)s, %(after_id)s)").format(
                sql.SQL(compare)
            )
        )
    direction = sql.SQL("ASC" if order == "oldest" else "DESC")
    order_by = sql.SQL("ORDER BY a.started_at {direction}, a.alert_id {direction}").format(
        direction=direction
    )
    return sql.SQL(
        "WITH page AS (SELECT a.alert_id FROM alerts a WHERE {where} {order_by} LIMIT %(limit)s)"
        " SELECT {columns} FROM alerts a LEFT JOIN shipments s ON s.shipment_id = a.shipment_id"
        " WHERE a.alert_id IN (SELECT alert_id FROM page) {order_by}"
    ).format(
        columns=sql.SQL(_ALERT_COLUMNS),
        where=sql.SQL(" AND ").join(where) if where else sql.SQL("true"),
        order_by=order_by,
    )


async def list_alerts(
    conn: Conn, filters: AlertFilter, order: Order, after: PageKey | None, limit: int
) -> tuple[list[AlertRecord], PageKey | None]:
    params: dict[str, Any] = {
        "states": list(filters.states),
        "kinds": list(filters.kinds),
        "severities": list(filters.severities),
        "subject_kind": filters.subject_kind,
        "subject_id": filters.subject_id,
        "tracking_number": filters.tracking_number,
        "limit": limit + 1,
    }
    if after is not None:
        params.update(after_time=after.time, after_id=after.id)
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_alerts_sql(filters, order, after is not None), params)
        rows = await cur.fetchall()
    items = [AlertRecord.model_validate(row) for row in rows[:limit]]
    if len(rows) <= limit:
        return items, None
    return items, PageKey(items[-1].started_at, items[-1].alert_id)


_SHIPMENT_ALERTS = """
SELECT alert_id, subject_kind, subject_id, rule, kind, severity, state, started_at, ended_at,
       peak, limit_value, duration_s, exception_id
FROM alerts
WHERE shipment_id = %(shipment_id)s AND state = ANY(%(states)s)
ORDER BY started_at, alert_id
"""


async def shipment_alerts(
    conn: Conn, shipment_id: int, states: Sequence[str], ops: bool
) -> list[ShipmentAlert]:
    """The stored alerts of one shipment, oldest first; without ops, only what a shopper may
    see (the parcel watched, not the device or gateway ids nor the exception)."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_SHIPMENT_ALERTS, {"shipment_id": shipment_id, "states": list(states)})
        rows = await cur.fetchall()
    out = []
    for row in rows:
        parcel = row["subject_id"] if row["subject_kind"] == "parcel" else None
        if not ops:
            row = {**row, "subject_id": parcel, "exception_id": None}
        out.append(ShipmentAlert.model_validate({**row, "parcel_id": parcel}))
    return out


# --- the timeline's events ------------------------------------------------------------------

_STATE_ACTIONS = ("opened", "acknowledged", "investigating", "resolved")

_EXCEPTION_ENTRIES = """
SELECT e.exception_id, e.kind, e.severity, e.title, a.seq, a.at, a.actor, a.action, a.detail,
       a.reason
FROM exceptions e
JOIN exception_audit a ON a.exception_id = e.exception_id
WHERE e.shipment_id = %(shipment_id)s
"""
_EXCEPTION_ENTRIES_OPS = _EXCEPTION_ENTRIES + " ORDER BY a.at, e.exception_id, a.seq"
_EXCEPTION_ENTRIES_SHOPPER = (
    _EXCEPTION_ENTRIES
    + " AND a.action IN ('opened', 'acknowledged', 'investigating', 'resolved')"
    + " ORDER BY a.at, e.exception_id, a.seq"
)

_EVENT_ORDER = {
    "alert_started": 0,
    "exception_opened": 1,
    "exception_assigned": 2,
    "exception_comment": 3,
    "exception_acknowledged": 4,
    "exception_investigating": 5,
    "exception_resolved": 6,
    "alert_ended": 7,
    "zone_left": 8,
    "zone_entered": 9,
}
SHOPPER_HIDDEN_KINDS = frozenset({"button"})
"""Alerts that are staff facts (a driver pressing a logger's button), not the shopper's news."""
SHOPPER_ZONES = ("origin", "destination")
"""The zones a shopper's timeline tells of: a known place may be another customer's."""


def _zone_events(alert: ShipmentAlert, ops: bool) -> list[TimelineEvent]:
    """A geofence visit (``geofence/<kind>/<name>``) as entering and leaving its zone."""
    _, zone_kind, zone = [*alert.rule.split("/", 2), "", ""][:3]
    if not ops and zone_kind not in SHOPPER_ZONES:
        return []
    common: dict[str, Any] = {"severity": "info", "kind": "geofence", "zone": zone,
                              "zone_kind": zone_kind}  # fmt: skip
    events = [TimelineEvent(time=alert.started_at, type="zone_entered", **common)]
    if alert.ended_at is not None:
        events.append(TimelineEvent(time=alert.ended_at, type="zone_left", **common))
    return events


def _exception_event(row: dict[str, Any], ops: bool) -> TimelineEvent | None:
    action = row["action"]
    detail = row["detail"] if isinstance(row["detail"], dict) else {}
    common: dict[str, Any] = {
        "time": row["at"],
        "severity": row["severity"],
        "kind": row["kind"],
        "exception_id": row["exception_id"],
        "title": row["title"],
    }
    if ops:
        common.update(actor=row["actor"], reason=row["reason"])
    if action in _STATE_ACTIONS:
        state = "open" if action == "opened" else action
        resolution = detail.get("resolution") if action == "resolved" else None
        return TimelineEvent(
            type=f"exception_{action}", state=state, resolution=resolution, **common
        )
    if not ops:
        return None
    if action == "assigned":
        return TimelineEvent(type="exception_assigned", assignee=detail.get("to"), **common)
    if action == "comment":
        return TimelineEvent(type="exception_comment", comment=detail.get("text"), **common)
    return None  # another kind of entry (of the rule runner): in the audit trail only


async def timeline_events(conn: Conn, shipment_id: int, ops: bool) -> list[TimelineEvent]:
    """The shipment's stored alerts (started, ended; not superseded) and its exceptions' steps,
    in time order. Without ops: no names, reasons, assignments or comments."""
    events: list[TimelineEvent] = []
    zones: set[tuple[str, datetime, str | None]] = set()
    for alert in await shipment_alerts(conn, shipment_id, ("open", "closed"), ops):
        if alert.kind in SHOPPER_HIDDEN_KINDS and not ops:
            continue
        if alert.kind == "geofence":  # once per shipment, not per parcel in the vehicle
            for zone_event in _zone_events(alert, ops):
                key = (zone_event.type, zone_event.time, zone_event.zone)
                if key not in zones:
                    zones.add(key)
                    events.append(zone_event)
            continue
        common: dict[str, Any] = {
            "severity": alert.severity,
            "kind": alert.kind,
            "alert_id": alert.alert_id,
            "parcel_id": alert.parcel_id,
            "peak": alert.peak,
            "limit_value": alert.limit_value,
            "exception_id": alert.exception_id,
        }
        events.append(TimelineEvent(time=alert.started_at, type="alert_started", **common))
        if alert.ended_at is not None:
            events.append(TimelineEvent(time=alert.ended_at, type="alert_ended", **common))
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            _EXCEPTION_ENTRIES_OPS if ops else _EXCEPTION_ENTRIES_SHOPPER,
            {"shipment_id": shipment_id},
        )
        for row in await cur.fetchall():
            event = _exception_event(row, ops)
            if event is not None:
                events.append(event)
    events.sort(key=lambda e: (e.time, _EVENT_ORDER[e.type], e.exception_id or 0, e.alert_id or 0))
    return events

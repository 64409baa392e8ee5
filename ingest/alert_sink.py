"""Where the alerts the rules raise go: the ``alerts`` table, an exception on the shipment, and
the notification outbox, all in the rule runner's transaction.

Idempotent by construction: an alert is keyed by (subject, rule, kind, start), an exception is
one per shipment and kind while it is not resolved, and each notice has a deduplication key; so
re-running the rules over the same history (after a restart, a late reading, ``coldtrail alerts
replay``) changes nothing that is already right and tells nobody twice.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg

from alerts.audit import AuditEntry
from alerts.events import Alert
from alerts.io.audit_writer import append_entry
from alerts.io.outbox import enqueue
from alerts.io.shopper_notices import queue_step
from alerts.notifications import Audience, Notice
from ingest import derive_queries as q
from ingest.subjects import SubjectInfo

log = logging.getLogger(__name__)

SYSTEM_ACTOR = "system"
_SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}

# Which alerts open an exception, and of which kind (one open exception per shipment and kind).
EXCEPTION_KIND = {
    "excursion": "temperature",
    "budget": "temperature",
    "mkt": "temperature",
    "shock": "shock",
    "humidity": "humidity",
}

_OPENED_TEMPLATE = {
    "excursion": "excursion_started",
    "budget": "budget_exhausted",
    "shock": "shock",
    "gateway_offline": "gateway_offline",
    "sensor_silent": "sensor_silent",
}
_CLOSED_TEMPLATE = {"excursion": "excursion_ended", "gateway_offline": "gateway_online"}
# Facts for the timeline, not news for the ops team: a parcel entering or leaving a zone, a
# button pressed.
_QUIET_KINDS = frozenset({"geofence", "button"})


@dataclass(frozen=True, slots=True)
class Stored:
    alert_id: int
    inserted: bool
    closed: bool


@dataclass(slots=True)
class SinkStats:
    opened: int = 0
    closed: int = 0
    exceptions: int = 0
    notices: int = 0
    superseded: int = 0


def _minutes(alert: Alert) -> float:
    return round(alert.duration.total_seconds() / 60, 1)


def _context(info: SubjectInfo, alert: Alert) -> dict[str, str | int | float | None]:
    return {
        "tracking_number": info.tracking_number,
        "subject": info.subject_id,
        "parcel_id": info.subject_id if info.kind == "parcel" else None,
        "device_id": info.subject_id if info.kind == "device" else None,
        "gateway_id": info.subject_id if info.kind == "gateway" else info.gateway_id,
        "vehicle_id": info.vehicle_id,
        "since": alert.start.isoformat(),
        "rule": alert.rule,
        "kind": alert.kind,
        "severity": alert.severity,
        "peak": round(alert.peak, 2),
        "limit": alert.limit,
        "started_at": alert.start.isoformat(),
        "ended_at": alert.end.isoformat() if alert.end else None,
        "duration_min": _minutes(alert),
        "area": round(alert.area, 1),
        "count": alert.count,
    }


class AlertSink:
    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self._conn = conn
        self.stats = SinkStats()

    async def record(
        self, info: SubjectInfo, alerts: Sequence[Alert], condition: str | None = None
    ) -> list[int]:
        """Store ``alerts`` of one subject (each open, then its close); returns their ids.

        ``condition``: the parcel's condition once the rules raised them (the rule engine's
        verdict, alerts/condition.py), told in the notices."""
        ids = []
        for alert in alerts:
            stored = await self._upsert(info, alert)
            ids.append(stored.alert_id)
            await self._follow_up(info, alert, stored, condition)
        return ids

    async def supersede(self, info: SubjectInfo, rules: Sequence[str], keep: Sequence[int]) -> None:
        """After a rebuild: mark the subject's alerts of ``rules`` not in ``keep`` superseded."""
        cur = await self._conn.execute(
            q.SUPERSEDE_ALERTS, (info.kind, info.subject_id, list(rules), list(keep))
        )
        if cur.rowcount > 0:
            self.stats.superseded += cur.rowcount
            log.info(
                "%s %s: %d alert(s) superseded by a rebuild from history",
                info.kind,
                info.subject_id,
                cur.rowcount,
            )

    async def _upsert(self, info: SubjectInfo, alert: Alert) -> Stored:
        params = {
            "subject_kind": info.kind,
            "subject_id": info.subject_id,
            "shipment_id": info.shipment_id,
            "rule": alert.rule,
            "kind": alert.kind,
            "severity": alert.severity,
            "started_at": alert.start,
            "ended_at": alert.end,
            "peak": alert.peak,
            "limit_value": alert.limit,
            "duration_s": alert.duration.total_seconds(),
            "area": alert.area,
            "count": alert.count,
            "state": "open" if alert.end is None else "closed",
        }
        cur = await self._conn.execute(q.UPSERT_ALERT, params)
        row = await cur.fetchone()
        if row is None:  # already stored exactly so
            found = await self._conn.execute(
                "SELECT alert_id FROM alerts WHERE subject_kind = %s AND subject_id = %s"
                " AND rule = %s AND kind = %s AND started_at = %s",
                (info.kind, info.subject_id, alert.rule, alert.kind, alert.start),
            )
            existing = await found.fetchone()
            assert existing is not None
            return Stored(existing[0], inserted=False, closed=False)
        alert_id, inserted, _ = row
        return Stored(alert_id, inserted=bool(inserted), closed=alert.end is not None)

    async def _follow_up(
        self, info: SubjectInfo, alert: Alert, stored: Stored, condition: str | None
    ) -> None:
        context = {**_context(info, alert), "alert_id": stored.alert_id, "condition": condition}
        if stored.inserted:
            self.stats.opened += 1
            log.log(
                logging.INFO if alert.severity == "info" else logging.WARNING,
                "alert %d: %s %s on %s %s (peak %.2f, limit %.2f, since %s)",
                stored.alert_id,
                alert.severity,
                alert.kind,
                info.kind,
                info.subject_id,
                alert.peak,
                alert.limit,
                alert.start.isoformat(),
            )
            if alert.kind in _QUIET_KINDS:
                return
            template = _OPENED_TEMPLATE.get(alert.kind, "alert_opened")
            await self._notify(f"alert:{stored.alert_id}:opened", "ops", template, info, context)
            kind = EXCEPTION_KIND.get(alert.kind)
            if kind and info.shipment_id is not None and alert.severity != "info":
                await self._exception(info, alert, stored.alert_id, kind, condition)
                if kind == "temperature" and condition == "out_of_spec":
                    await self._tell_shopper(info, alert)
        if stored.closed and alert.kind not in _QUIET_KINDS:
            self.stats.closed += 1
            template = _CLOSED_TEMPLATE.get(alert.kind, "alert_closed")
            await self._notify(f"alert:{stored.alert_id}:closed", "ops", template, info, context)

    async def _notify(
        self,
        key: str,
        audience: Audience,
        template: str,
        info: SubjectInfo,
        context: dict[str, str | int | float | None],
    ) -> None:
        notice = Notice(
            key=key,
            audience=audience,
            template=template,
            shipment_id=info.shipment_id,
            context=context,
        )
        self.stats.notices += await enqueue(self._conn, notice)

    async def _tell_shopper(self, info: SubjectInfo, alert: Alert) -> None:
        """The shipment's goods are out of spec (the stored verdict): the shopper is told once
        what happened, what it means and the merchant's remedy (read from its brand when the
        message is sent), at any hour."""
        assert info.shipment_id is not None
        self.stats.notices += await queue_step(
            self._conn,
            info.shipment_id,
            "condition_incident",
            {
                "tracking_number": info.tracking_number,
                "started_at": alert.start.isoformat(),
                "peak": round(alert.peak, 2),
                "limit": alert.limit,
                "condition": "out_of_spec",
            },
        )

    async def _exception(
        self, info: SubjectInfo, alert: Alert, alert_id: int, kind: str, condition: str | None
    ) -> None:
        title = _title(info, alert, kind)
        cur = await self._conn.execute(
            q.OPEN_EXCEPTION, (info.shipment_id, kind, alert.severity, title)
        )
        row = await cur.fetchone()
        detail: dict[str, Any] = {
            "alert_id": alert_id,
            "rule": alert.rule,
            "parcel_id": info.subject_id,
            "peak": alert.peak,
            "limit": alert.limit,
            "started_at": alert.start.isoformat(),
        }
        if row is not None:
            exception_id = row[0]
            self.stats.exceptions += 1
            opened = await self._audit(exception_id, "opened", {**detail, "kind": kind}, title)
            # the exception's times are its audit entries' (one clock, see alerts/io/audit_writer)
            await self._conn.execute(q.STAMP_OPENED, (opened.at, opened.at, exception_id))
            await self._notify(
                f"exception:{exception_id}:opened",
                "quality",
                "exception_opened",
                info,
                {
                    **_context(info, alert),
                    "exception_id": exception_id,
                    "title": title,
                    "condition": condition,
                },
            )
            log.warning("exception %d opened: %s", exception_id, title)
        else:
            cur = await self._conn.execute(q.LOCK_OPEN_EXCEPTION, (info.shipment_id, kind))
            existing = await cur.fetchone()
            assert existing is not None  # the insert conflicted with it
            exception_id, severity = existing
            await self._audit(exception_id, "alert_added", detail, None)
            if _SEVERITY_RANK[alert.severity] > _SEVERITY_RANK[severity]:
                escalated = await self._audit(
                    exception_id,
                    "escalated",
                    {"from": severity, "to": alert.severity, "alert_id": alert_id},
                    f"a {alert.severity} alert joined the exception",
                )
                await self._conn.execute(
                    q.ESCALATE_EXCEPTION, (alert.severity, escalated.at, exception_id)
                )
        await self._conn.execute(q.LINK_ALERT, (exception_id, alert_id))

    async def _audit(
        self, exception_id: int, action: str, detail: dict[str, Any], reason: str | None
    ) -> AuditEntry:
        stored = await append_entry(self._conn, exception_id, SYSTEM_ACTOR, action, detail, reason)
        return stored.entry


def _title(info: SubjectInfo, alert: Alert, kind: str) -> str:
    where = f"parcel {info.subject_id}"
    if kind == "temperature":
        side = "above" if alert.peak >= alert.limit else "below"
        what = {"budget": "cumulative time", "mkt": "mean kinetic temperature"}.get(
            alert.kind, "temperature"
        )
        return f"{what.capitalize()} {side} {alert.limit:g} °C on {where} (peak {alert.peak:.1f})"
    if kind == "shock":
        return f"Shock of {alert.peak:.1f} g on {where}"
    return f"{kind.capitalize()} out of range on {where} (peak {alert.peak:.1f})"

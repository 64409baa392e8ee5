"""Replay: run a shipment's rules again over its stored history and compare with the alerts
stored live (``coldtrail alerts replay --shipment T``).

The same code as the live runner (:class:`ingest.derive.RuleRunner`'s subjects and rules over
:func:`ingest.subjects.replay`), so a difference means the live path missed or mis-stored
something, or that the profile changed since. ``--apply`` stores the replayed alerts (through the
same sink: new alerts notify, those no longer given are marked superseded).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg

from alerts.events import Alert
from ingest import derive_queries as q
from ingest.alert_sink import AlertSink
from ingest.condition_store import rule_names, store_verdicts
from ingest.derive import RuleRunner
from ingest.derive_config import RunnerConfig
from ingest.subjects import replay

AlertKey = tuple[str, str, str, datetime, datetime | None, float]
"""(parcel, rule, kind, start, end, peak)"""


@dataclass(slots=True)
class ParcelReplay:
    parcel_id: str
    readings: int
    replayed: list[AlertKey] = field(default_factory=list)
    stored: list[AlertKey] = field(default_factory=list)
    condition: str = "no_data"
    """The condition the replay gives (alerts/condition.py)."""
    stored_condition: str = "no_data"
    """The condition stored live (parcel_conditions)."""

    @property
    def missing(self) -> list[AlertKey]:
        """Given by the replay, not stored."""
        return [k for k in self.replayed if k not in self.stored]

    @property
    def unexpected(self) -> list[AlertKey]:
        """Stored, not given by the replay."""
        return [k for k in self.stored if k not in self.replayed]


@dataclass(slots=True)
class ShipmentReplay:
    tracking_number: str
    parcels: list[ParcelReplay]
    applied: bool = False

    @property
    def same(self) -> bool:
        return all(
            not p.missing and not p.unexpected and p.condition == p.stored_condition
            for p in self.parcels
        )


def _key(parcel_id: str, alert: Alert) -> AlertKey:
    return (parcel_id, alert.rule, alert.kind, alert.start, alert.end, round(alert.peak, 6))


async def replay_shipment(
    conn: psycopg.AsyncConnection[Any],
    tracking_number: str,
    *,
    apply: bool = False,
    config: RunnerConfig | None = None,
) -> ShipmentReplay | None:
    """The comparison for one shipment (None if there is no such shipment); with ``apply``,
    the replayed alerts are stored in the same transaction."""
    runner = RuleRunner("", config)
    async with conn.transaction():
        found = await conn.execute(
            "SELECT 1 FROM shipments WHERE tracking_number = %s", (tracking_number,)
        )
        if await found.fetchone() is None:
            return None
        cur = await conn.execute(q.PARCELS_OF_SHIPMENT, (tracking_number,))
        report = ShipmentReplay(tracking_number, [], applied=apply)
        sink = AlertSink(conn)
        rows = await cur.fetchall()
        await runner.save_profiles(conn)
        await runner.refresh_places(conn)
        for row in rows:
            info, rules = await runner.parcel_subject(conn, row)
            history = await runner.history(conn, info)
            subject, alerts = replay(info, rules, history)
            names = rule_names(rules)
            stored = await conn.execute(
                q.STORED_ALERTS_OF_SUBJECT, ("parcel", info.subject_id, names)
            )
            parcel = ParcelReplay(info.subject_id, len(history))
            parcel.condition = rules.verdict(subject.state).state
            found = await conn.execute(
                "SELECT state FROM parcel_conditions WHERE parcel_id = %s", (info.subject_id,)
            )
            row = await found.fetchone()
            parcel.stored_condition = "no_data" if row is None else str(row[0])
            # The stored row of an alert is its latest emission (the close, if it closed).
            final: dict[tuple[str, str, datetime], Alert] = {}
            for alert in alerts:
                final[(alert.rule, alert.kind, alert.start)] = alert
            parcel.replayed = [_key(info.subject_id, a) for a in final.values()]
            parcel.stored = [
                (info.subject_id, rule, kind, start, end, round(peak, 6))
                for _, rule, kind, _, start, end, peak in await stored.fetchall()
            ]
            report.parcels.append(parcel)
            if apply:
                ids = await sink.record(info, alerts)
                await sink.supersede(info, names, ids)
                await store_verdicts(conn, [(info, rules, rules.verdict(subject.state))])
    return report

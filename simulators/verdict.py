"""What a scenario run produced versus what the system stored and raised.

Readings: the simulators' ledgers (one line per reading or fix produced, see
:mod:`simulators.scenario_source`) against ``readings`` and ``positions`` by (device, time):
lost (produced, not stored), duplicated (stored more than once), unexpected (stored, not in a
ledger: a frame taken by a gateway killed before its ledger line was written). Expectations:
each ``[[expect]]`` against ``alerts``, ``exceptions`` and ``notifications``; an alert that no
expectation asked for is a false alert.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from simulators import fleet
from simulators.scenario import Expectation, Scenario


@dataclass(slots=True)
class Counts:
    produced: int = 0
    stored: int = 0
    lost: int = 0
    duplicated: int = 0
    unexpected: int = 0


@dataclass(slots=True)
class Outcome:
    label: str
    expected: str
    actual: int
    ok: bool


@dataclass(slots=True)
class Verdict:
    readings: Counts = field(default_factory=Counts)
    positions: Counts = field(default_factory=Counts)
    expectations: list[Outcome] = field(default_factory=list)
    alerts_raised: int = 0
    false_alerts: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["ok"] = self.ok
        return out


def read_ledgers(paths: list[Path]) -> dict[str, Counter[tuple[str, datetime]]]:
    out: dict[str, Counter[tuple[str, datetime]]] = {"r": Counter(), "p": Counter()}
    for path in paths:
        if not path.exists():
            continue
        for line in path.read_text().splitlines():
            kind, device, at = line.split(" ", 2)
            out[kind][(device, datetime.fromisoformat(at))] += 1
    return out


async def _stored(
    conn: psycopg.AsyncConnection[Any], table: str, devices: list[str], since: datetime
) -> Counter[tuple[str, datetime]]:
    cur = await conn.execute(
        f"SELECT device_id, time, count(*) FROM {table}"
        " WHERE device_id = ANY(%s) AND time >= %s GROUP BY 1, 2",
        (devices, since),
    )
    return Counter({(d, t): n for d, t, n in await cur.fetchall()})


def _compare(produced: Counter[tuple[str, datetime]], stored: Counter[Any]) -> Counts:
    return Counts(
        produced=sum(produced.values()),
        stored=sum(stored.values()),
        lost=sum(max(0, n - stored[key]) for key, n in produced.items()),
        duplicated=sum(max(0, n - max(1, produced[key])) for key, n in stored.items()),
        unexpected=sum(1 for key in stored if key not in produced),
    )


FACT_KINDS = frozenset({"geofence", "button"})
"""Stored by the rules as facts for the timeline (a zone entered or left, a button pressed):
never a false alert, though a scenario may expect them."""


class Judge:
    def __init__(
        self, scenario: Scenario, plan: fleet.FleetPlan, epoch: datetime, database_url: str
    ) -> None:
        self.scenario = scenario
        self.plan = plan
        self.epoch = epoch
        self.database_url = database_url
        # Gateways stopped at the end of a run go offline: not an alert of the scenario.
        self.ignore_gateways_after: datetime | None = None

    def at(self, offset_s: float) -> datetime:
        return self.epoch + timedelta(seconds=offset_s)

    def _vans(self, vehicle: str | None) -> list[fleet.VanPlan]:
        return list(self.plan.vans) if vehicle is None else [self.plan.van(vehicle)]

    async def judge(self, ledgers: list[Path]) -> Verdict:
        verdict = Verdict()
        produced = read_ledgers(ledgers)
        loggers = [p.logger_mac for p in self.plan.parcels]
        boards = [v.board_device_id for v in self.plan.vans]
        gps = [v.gps_device_id for v in self.plan.vans]
        since = self.epoch - timedelta(seconds=1)
        async with await psycopg.AsyncConnection.connect(self.database_url) as conn:
            verdict.readings = _compare(
                produced["r"], await _stored(conn, "readings", loggers + boards, since)
            )
            verdict.positions = _compare(
                produced["p"], await _stored(conn, "positions", gps, since)
            )
            alerts = await self._alerts(conn)
            verdict.alerts_raised = len(alerts)
            matched: set[int] = set()
            for ex in self.scenario.expectations:
                if ex.what == "alert":
                    hits = [a for a in alerts if self._alert_matches(ex, a)]
                    if ex.count != 0:
                        matched |= {a["alert_id"] for a in hits}
                    actual = len(hits)
                elif ex.what == "exception":
                    actual = await self._count_exceptions(conn, ex)
                else:
                    actual = await self._count_notifications(conn, ex)
                verdict.expectations.append(_outcome(ex, actual))
        verdict.false_alerts = [
            f"{a['subject_kind']} {a['subject_id']}: {a['rule']}/{a['kind']}"
            f" from {a['started_at'].isoformat()}"
            for a in alerts
            if a["alert_id"] not in matched and a["kind"] not in FACT_KINDS
        ]
        c = self.scenario.checks
        for name, counts in (("readings", verdict.readings), ("positions", verdict.positions)):
            if counts.lost > c.lost:
                verdict.failures.append(f"{counts.lost} {name} lost (allowed {c.lost})")
            if counts.duplicated > c.duplicated:
                verdict.failures.append(
                    f"{counts.duplicated} {name} duplicated (allowed {c.duplicated})"
                )
        if len(verdict.false_alerts) > c.false_alerts:
            verdict.failures.append(
                f"{len(verdict.false_alerts)} false alert(s) (allowed {c.false_alerts})"
            )
        verdict.failures += [
            f"expectation {o.label}: expected {o.expected}, got {o.actual}"
            for o in verdict.expectations
            if not o.ok
        ]
        return verdict

    async def _alerts(self, conn: psycopg.AsyncConnection[Any]) -> list[dict[str, Any]]:
        parcels = [p.parcel_id for p in self.plan.parcels]
        devices = [p.logger_mac for p in self.plan.parcels] + [
            d for v in self.plan.vans for d in (v.board_device_id, v.gps_device_id)
        ]
        gateways = [v.gateway_id for v in self.plan.vans]
        cur = await conn.execute(
            "SELECT alert_id, subject_kind, subject_id, rule, kind, started_at FROM alerts"
            " WHERE state <> 'superseded' AND started_at >= %s AND ("
            "  (subject_kind = 'parcel' AND subject_id = ANY(%s))"
            "  OR (subject_kind = 'device' AND subject_id = ANY(%s))"
            "  OR (subject_kind = 'gateway' AND subject_id = ANY(%s)))"
            " ORDER BY started_at",
            (self.epoch - timedelta(minutes=5), parcels, devices, gateways),
        )
        names = [d.name for d in cur.description or ()]
        rows = [dict(zip(names, row, strict=True)) for row in await cur.fetchall()]
        cutoff = self.ignore_gateways_after
        return [
            a
            for a in rows
            if not (cutoff and a["subject_kind"] == "gateway" and a["started_at"] >= cutoff)
        ]

    def _alert_matches(self, ex: Expectation, alert: dict[str, Any]) -> bool:
        if ex.subject and alert["subject_kind"] != ex.subject:
            return False
        full = f"{alert['rule']}/{alert['kind']}"  # e.g. pharma-2-8@1/above-8/excursion
        if ex.kind and not (full == ex.kind or full.endswith("/" + ex.kind)):
            return False
        vans = self._vans(ex.vehicle)
        scope = {p.parcel_id for v in vans for p in v.parcels if ex.parcel in (None, p.parcel_id)}
        if ex.parcel is None:
            scope |= {v.gateway_id for v in vans}
            scope |= {d for v in vans for d in (v.board_device_id, v.gps_device_id)}
            scope |= {p.logger_mac for v in vans for p in v.parcels}
        if alert["subject_id"] not in scope:
            return False
        if ex.from_s is not None and alert["started_at"] < self.at(ex.from_s):
            return False
        return ex.until_s is None or alert["started_at"] <= self.at(ex.until_s)

    def _tracking_numbers(self, ex: Expectation) -> list[str]:
        return [
            p.tracking_number
            for v in self._vans(ex.vehicle)
            for p in v.parcels
            if ex.parcel in (None, p.parcel_id)
        ]

    async def _count_exceptions(self, conn: psycopg.AsyncConnection[Any], ex: Expectation) -> int:
        cur = await conn.execute(
            "SELECT count(*) FROM exceptions e JOIN shipments s USING (shipment_id)"
            " WHERE s.tracking_number = ANY(%s)",
            (self._tracking_numbers(ex),),
        )
        row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def _count_notifications(
        self, conn: psycopg.AsyncConnection[Any], ex: Expectation
    ) -> int:
        cur = await conn.execute(
            "SELECT count(DISTINCT n.notice_key) FROM notifications n"
            " JOIN shipments s USING (shipment_id)"
            " WHERE s.tracking_number = ANY(%s) AND (%s::text IS NULL OR n.audience = %s)",
            (self._tracking_numbers(ex), ex.audience, ex.audience),
        )
        row = await cur.fetchone()
        return int(row[0]) if row else 0


def _outcome(ex: Expectation, actual: int) -> Outcome:
    scope = " ".join(
        x
        for x in (ex.what, ex.subject or "", ex.kind or "", ex.vehicle or "", ex.parcel or "")
        if x
    )
    label = ex.label or f"expect[{ex.index}] {scope}"
    if ex.count is not None:
        return Outcome(label, f"= {ex.count}", actual, actual == ex.count)
    assert ex.at_least is not None
    return Outcome(label, f">= {ex.at_least}", actual, actual >= ex.at_least)


def render(verdict: Verdict, title: str) -> str:
    lines = [f"\n  {title}", ""]
    lines.append("                 produced   stored   lost  duplicated  unexpected")
    for name, c in (("readings", verdict.readings), ("positions", verdict.positions)):
        lines.append(
            f"  {name:<12} {c.produced:>10} {c.stored:>8} {c.lost:>6} {c.duplicated:>11}"
            f" {c.unexpected:>11}"
        )
    lines += ["", f"  alerts raised: {verdict.alerts_raised}", ""]
    for o in verdict.expectations:
        mark = "ok  " if o.ok else "FAIL"
        lines.append(f"  {mark} {o.label}: expected {o.expected}, got {o.actual}")
    for alert in verdict.false_alerts:
        lines.append(f"  FALSE ALERT {alert}")
    lines += ["", "  PASSED" if verdict.ok else "  FAILED: " + "; ".join(verdict.failures), ""]
    return "\n".join(lines)

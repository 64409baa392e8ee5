"""What a scenario run produced versus what the system stored and raised.

Items: the source ledgers (:mod:`simulators.ledger`, written by the simulated sensors before the
gateway sees their frames), one per gateway of the fleet, against the rows stored for the fleet
in ``readings``, ``positions``, ``events`` and ``scans``, value by value
(:mod:`simulators.tally`): lost, duplicated, unexpected and mismatched items all fail the run, and
so does a missing or unreadable ledger (nothing it produced could be counted) or a dead letter
of the fleet's gateways (every frame the simulators send is valid). Expectations: each
``[[expect]]`` against ``alerts``, ``exceptions`` and ``notifications``; an alert that no
expectation asked for is a false alert.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from simulators import fleet, ledger, tally
from simulators.ledger import Produced
from simulators.scenario import Expectation, Scenario
from simulators.tally import Counts


@dataclass(slots=True)
class Outcome:
    label: str
    expected: str
    actual: int
    ok: bool


@dataclass(slots=True)
class Ledgers:
    """The source ledgers read: the produced side of the comparison."""

    files: int = 0
    missing: list[str] = field(default_factory=list)
    produced: int = 0
    """Items the simulated sensors produced (readings, positions and events, scans included)."""
    gateway_starts: int = 0
    """Gateway processes that produced (one per gateway, plus one per restart)."""


@dataclass(slots=True)
class Verdict:
    ledgers: Ledgers = field(default_factory=Ledgers)
    readings: Counts = field(default_factory=Counts)
    positions: Counts = field(default_factory=Counts)
    events: Counts = field(default_factory=Counts)
    scans: Counts = field(default_factory=Counts)
    dead_letters: int = 0
    expectations: list[Outcome] = field(default_factory=list)
    alerts_raised: int = 0
    false_alerts: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def tables(self) -> list[tuple[str, Counts]]:
        return [
            ("readings", self.readings),
            ("positions", self.positions),
            ("events", self.events),
            ("scans", self.scans),
        ]

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["ok"] = self.ok
        return out


def read_ledgers(paths: dict[str, Path], verdict: Verdict) -> list[Produced]:
    """Every item of the gateways' ledgers; a missing or unreadable one is a failure."""
    produced: list[Produced] = []
    for gateway, path in sorted(paths.items()):
        try:
            contents = ledger.read(path)
        except ledger.LedgerError as exc:
            verdict.ledgers.missing.append(gateway)
            verdict.failures.append(f"ledger of {gateway}: {exc}")
            continue
        if contents.gateway != gateway:
            verdict.failures.append(f"{path}: written by {contents.gateway}, not {gateway}")
        verdict.ledgers.files += 1
        verdict.ledgers.gateway_starts += contents.starts
        produced += contents.items
    verdict.ledgers.produced = len(produced)
    return produced


STORED_SQL = """SELECT device_id, time, gateway_id, {columns} FROM {table}
 WHERE (device_id = ANY(%(devices)s) OR gateway_id = ANY(%(gateways)s)) AND time >= %(since)s"""
SCANS_SQL = """SELECT device_id, time, gateway_id, {columns} FROM scans
 WHERE (device_id = ANY(%(devices)s) OR gateway_id = ANY(%(gateways)s)
        OR parcel_id = ANY(%(parcels)s)) AND time >= %(since)s"""
DEAD_LETTERS_SQL = """SELECT count(*) FROM dead_letters
 WHERE gateway_id = ANY(%(gateways)s) AND last_seen >= %(since)s"""


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

    async def judge(self, ledgers: dict[str, Path]) -> Verdict:
        """``ledgers``: each gateway of the fleet and the path of its source ledger."""
        verdict = Verdict()
        produced = read_ledgers(ledgers, verdict)
        params = {
            "devices": self._devices(),
            "gateways": [v.gateway_id for v in self.plan.vans],
            "parcels": [p.parcel_id for p in self.plan.parcels],
            "since": self.epoch - timedelta(seconds=1),
        }
        async with await psycopg.AsyncConnection.connect(self.database_url) as conn:
            for kind, table in tally.TABLE_OF.items():
                mine = [p for p in produced if p.kind == kind]
                rows = await self._stored(conn, STORED_SQL, table, params)
                setattr(verdict, table, tally.compare(table, mine, rows))
            rows = await self._stored(conn, SCANS_SQL, "scans", params)
            verdict.scans = tally.compare("scans", tally.scans_produced(produced), rows)
            cur = await conn.execute(DEAD_LETTERS_SQL, params)
            row = await cur.fetchone()
            verdict.dead_letters = int(row[0]) if row else 0
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
        for name, counts in verdict.tables():
            if counts.lost > c.lost:
                verdict.failures.append(f"{counts.lost} {name} lost (allowed {c.lost})")
            if counts.duplicated > c.duplicated:
                verdict.failures.append(
                    f"{counts.duplicated} {name} duplicated (allowed {c.duplicated})"
                )
            if counts.unexpected:
                verdict.failures.append(
                    f"{counts.unexpected} {name} stored that no ledger produced"
                )
            if counts.mismatched:
                verdict.failures.append(f"{counts.mismatched} {name} stored with other values")
        if verdict.dead_letters:
            verdict.failures.append(
                f"{verdict.dead_letters} dead letter(s) of the fleet's gateways"
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

    def _devices(self) -> list[str]:
        return [p.logger_mac for p in self.plan.parcels] + [
            d for v in self.plan.vans for d in (v.board_device_id, v.gps_device_id, v.door_tag_mac)
        ]

    @staticmethod
    async def _stored(
        conn: psycopg.AsyncConnection[Any], sql: str, table: str, params: dict[str, Any]
    ) -> list[tally.Stored]:
        columns = ", ".join(tally.FIELDS[table])
        cur = await conn.execute(sql.format(columns=columns, table=table).encode(), params)
        return tally.stored_rows(table, await cur.fetchall())

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
    led = verdict.ledgers
    lines = [f"\n  {title}", ""]
    lines.append(
        f"  source ledgers: {led.files} read ({led.gateway_starts} gateway processes),"
        f" {led.produced:,} items produced"
        + (f"; MISSING: {', '.join(led.missing)}" if led.missing else "")
    )
    lines.append("")
    lines.append(
        "               produced   stored   lost  duplicated  unexpected  mismatched"
        "  in flight at a gateway kill"
    )
    for name, c in verdict.tables():
        lines.append(
            f"  {name:<10} {c.produced:>10} {c.stored:>8} {c.lost:>6} {c.duplicated:>11}"
            f" {c.unexpected:>11} {c.mismatched:>11} {c.in_flight_at_gateway_kill:>8}"
        )
    for name, c in verdict.tables():
        if c.lost_spans:
            lines.append(f"  {name} lost, by gateway and stored time:")
            lines += [f"    {text}" for text in c.lost_spans]
        for what, shown in c.examples.items():
            if what == "in_flight_at_gateway_kill":
                continue
            lines.append(f"  {name} {what}, e.g.:")
            lines += [f"    {text}" for text in shown]
    lines += ["", f"  dead letters of the fleet's gateways: {verdict.dead_letters}"]
    lines += ["", f"  alerts raised: {verdict.alerts_raised}", ""]
    for o in verdict.expectations:
        mark = "ok  " if o.ok else "FAIL"
        lines.append(f"  {mark} {o.label}: expected {o.expected}, got {o.actual}")
    for alert in verdict.false_alerts:
        lines.append(f"  FALSE ALERT {alert}")
    lines += ["", "  PASSED" if verdict.ok else "  FAILED: " + "; ".join(verdict.failures), ""]
    return "\n".join(lines)

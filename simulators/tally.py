"""Produced versus stored, item by item and value by value.

The produced side is the source ledgers (:mod:`simulators.ledger`); the stored side the rows of
``readings``, ``positions``, ``events`` and ``scans`` that belong to the fleet: its devices', or
stored through its gateways, or (scans) of its parcels. Items are matched by (device, time):

* **lost**: produced, not stored (except what a killed gateway held in memory, below);
* **duplicated**: stored more often than produced;
* **unexpected**: stored, produced by no ledger (at that device and time);
* **mismatched**: stored where it was produced, but a value differs beyond the device's
  resolution (a field produced and not stored, or stored and never produced, differs too), or
  under another gateway than the one whose sensors produced it;
* **in flight at a gateway kill**: produced, handed to a gateway whose process was killed before
  its intake committed it to the outbox, and not stored. Counted apart, never as lost: no
  system can keep what a power cut takes from memory; the ledger proves the process ended there.

Each count keeps a few examples (device, time, gateway, what differs), and the lost items are
summed up as spans per gateway (``lost_spans``: first and last time, how many), so a failed run
names what it lost and when.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from simulators.ledger import Kind, Produced, Value

EXAMPLES_KEPT = 10
SPAN_GAP = timedelta(minutes=5)
"""Lost items of one gateway less than this apart (stored times) make one span."""

FIELDS: dict[str, tuple[str, ...]] = {
    "readings": (
        "temperature_c", "humidity_pct", "pressure_hpa", "accel_x_g", "accel_y_g", "accel_z_g",
        "shock_g", "battery_pct", "rssi_dbm",
    ),
    "positions": (
        "lat", "lon", "speed_kmh", "heading_deg", "altitude_m", "hdop", "fix_quality",
        "satellites",
    ),
    "events": ("kind", "state", "value"),
    "scans": ("action", "parcel_id", "compartment", "logger_id"),
}  # fmt: skip
"""The stored columns compared with what was produced, per table."""

TABLE_OF: dict[Kind, str] = {"r": "readings", "p": "positions", "e": "events"}

TOLERANCE: dict[str, float] = {
    # BTHome v2: 0.01 °C, 0.01 %, 0.01 hPa, 1 % (rounded to the nearest step)
    "temperature_c": 0.0051,
    "humidity_pct": 0.0051,
    "pressure_hpa": 0.0051,
    "battery_pct": 0.51,
    # the sensor board: accelerations in mg, shocks in 0.01 g
    "accel_x_g": 0.00051,
    "accel_y_g": 0.00051,
    "accel_z_g": 0.00051,
    "shock_g": 0.0051,
    # NMEA: lat/lon to 1e-6 minute, speed to 1e-4 knot, course, HDOP and altitude to 0.01
    "lat": 1e-7,
    "lon": 1e-7,
    "speed_kmh": 0.0002,
    "heading_deg": 0.0051,
    "hdop": 0.0051,
    "altitude_m": 0.0051,
    "value": 1e-9,
}
"""How far a stored value may be from the produced one: half the device format's step."""


@dataclass(frozen=True, slots=True)
class Stored:
    device: str
    at: datetime
    gateway: str
    values: dict[str, Value]


@dataclass(slots=True)
class Counts:
    produced: int = 0
    stored: int = 0
    lost: int = 0
    duplicated: int = 0
    unexpected: int = 0
    mismatched: int = 0
    in_flight_at_gateway_kill: int = 0
    examples: dict[str, list[str]] = field(default_factory=dict)
    lost_spans: list[str] = field(default_factory=list)

    def note(self, what: str, text: str) -> None:
        shown = self.examples.setdefault(what, [])
        if len(shown) < EXAMPLES_KEPT:
            shown.append(text)


def differences(
    fields: tuple[str, ...], produced: dict[str, Value], stored: dict[str, Value]
) -> list[str]:
    """``field: produced → stored`` for each compared field that differs."""
    out = []
    for name in fields:
        want, got = produced.get(name), stored.get(name)
        if want is None or got is None or isinstance(want, str) or isinstance(got, str):
            same = want == got
        else:
            same = abs(float(want) - float(got)) <= TOLERANCE.get(name, 0.0)
        if not same:
            out.append(f"{name}: {want!r} produced, {got!r} stored")
    return out


def compare(table: str, produced: list[Produced], stored: list[Stored]) -> Counts:
    """Count one table's items (see the module's docstring)."""
    fields = FIELDS[table]
    counts = Counts(produced=len(produced), stored=len(stored))
    want: dict[tuple[str, datetime], list[Produced]] = defaultdict(list)
    got: dict[tuple[str, datetime], list[Stored]] = defaultdict(list)
    for p in produced:
        want[(p.device, p.at)].append(p)
    for s in stored:
        got[(s.device, s.at)].append(s)

    def where(device: str, at: datetime, gateway: str) -> str:
        return f"{device} at {at.isoformat()} ({gateway})"

    lost: list[Produced] = []
    for key in want.keys() | got.keys():
        todo, rows = list(want.get(key, ())), got.get(key, [])
        unmatched: list[Stored] = []
        for row in rows:
            match = next(
                (
                    p
                    for p in todo
                    if p.gateway == row.gateway and not differences(fields, p.values, row.values)
                ),
                None,
            )
            if match is None:
                unmatched.append(row)
            else:
                todo.remove(match)
        for row in unmatched:
            if todo:  # stored where something was produced, but not what was produced
                p = todo.pop(0)
                counts.mismatched += 1
                diff = differences(fields, p.values, row.values)
                if p.gateway != row.gateway:
                    diff.insert(0, f"gateway: {p.gateway} produced, {row.gateway} stored")
                counts.note("mismatched", f"{where(*key, row.gateway)}: {'; '.join(diff)}")
            elif key in want:
                counts.duplicated += 1
                counts.note("duplicated", where(*key, row.gateway))
            else:
                counts.unexpected += 1
                counts.note("unexpected", f"{where(*key, row.gateway)}: {_shown(row.values)}")
        for p in todo:
            if p.in_flight:
                counts.in_flight_at_gateway_kill += 1
                counts.note("in_flight_at_gateway_kill", where(p.device, p.at, p.gateway))
            else:
                counts.lost += 1
                lost.append(p)
                counts.note("lost", f"{where(p.device, p.at, p.gateway)}: {_shown(p.values)}")
    for shown in counts.examples.values():
        shown.sort()
    counts.lost_spans = spans(lost)
    return counts


def spans(lost: list[Produced]) -> list[str]:
    """``gateway: first … last (n lost)``, per gateway, for runs of lost items."""
    out: list[tuple[datetime, str]] = []
    by_gateway: dict[str, list[datetime]] = defaultdict(list)
    for p in lost:
        by_gateway[p.gateway].append(p.at)
    for gateway, times in by_gateway.items():
        times.sort()
        first = last = times[0]
        n = 0
        for at in [*times, None]:
            if at is None or at - last > SPAN_GAP:
                out.append(
                    (first, f"{gateway}: {first.isoformat(timespec='seconds')}"
                     f" … {last.isoformat(timespec='seconds')} ({n} lost)")
                )  # fmt: skip
                if at is None:
                    break
                first, n = at, 0
            last = at
            n += 1
    return [text for _, text in sorted(out)]


def scans_produced(produced: list[Produced]) -> list[Produced]:
    """The scan events among the produced items, as rows of ``scans`` would hold them."""
    return [
        Produced(
            "e",
            p.device,
            p.at,
            {
                "action": p.values.get("state"),
                "parcel_id": p.values.get("parcel_id"),
                "compartment": p.values.get("compartment"),
                "logger_id": p.values.get("logger_id"),
            },
            p.gateway,
            p.in_flight,
        )
        for p in produced
        if p.kind == "e" and p.values.get("kind") == "scan"
    ]


def stored_rows(table: str, rows: list[tuple[Any, ...]]) -> list[Stored]:
    """Rows of ``SELECT device_id, time, gateway_id, <FIELDS[table]>``."""
    names = FIELDS[table]
    return [Stored(r[0], r[1], r[2], dict(zip(names, r[3:], strict=True))) for r in rows]


def _shown(values: dict[str, Value]) -> str:
    return ", ".join(f"{k}={v}" for k, v in values.items() if v is not None)

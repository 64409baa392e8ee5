"""Custody set by scan events: a parcel scanned into or out of a vehicle by a handheld or the
gateway's barcode/NFC reader (event kind ``scan``, see docs/mqtt-contract.md).

Applied by the write path (:mod:`ingest.store`) in the transaction that stores the events, so a
scan is applied exactly when its event is stored, and acknowledged only after both committed:

- the scanned parcels are locked (one order), and the scans are applied in time order per
  parcel, with the rules the API enforces (:mod:`coldtrail.custody`);
- every scan of a known parcel is recorded once in ``scans`` (keyed like its event), with its
  outcome: a redelivered scan finds its row and changes nothing;
- a scan the rules refuse (an unload without a load, a load older than the parcel's latest
  custody, a gateway in no vehicle) is recorded with ``flagged`` and its reason, logged at
  WARNING, and changes nothing;
- a scan of an unknown parcel is not stored as an event: it goes to ``dead_letters`` (the scan
  events of one message re-encoded as a batch of their own) with its reason.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg

from alerts.geofence import distance_m
from coldtrail import schema, topics
from coldtrail.custody import DELIVERY_FIX_AGE, Held, Scan, decide
from ingest import scan_queries as q

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ScanItem:
    """A scan event with where it came from."""

    index: int
    """Its telemetry batch's position in the write batch."""
    gateway_id: str
    event: schema.Event

    @property
    def at(self) -> datetime:
        return self.event.measured_at or self.event.received_at

    @property
    def key(self) -> tuple[str, datetime, int]:
        return (self.event.device_id, self.at, self.event.seq)


@dataclass(slots=True)
class ScanReport:
    """What one write did with its scans (for the log, after the commit)."""

    outcomes: dict[str, int] = field(default_factory=dict)
    flagged: list[str] = field(default_factory=list)


def scan_items(batches: Sequence[schema.TelemetryBatch]) -> list[ScanItem]:
    return [
        ScanItem(i, b.gateway_id, e)
        for i, b in enumerate(batches)
        for e in b.events
        if e.kind == "scan"
    ]


async def known_parcels(conn: psycopg.AsyncConnection[Any], items: Sequence[ScanItem]) -> set[str]:
    """The scanned parcels that exist, locked until the end of the transaction."""
    parcels = sorted({item.event.parcel_id for item in items if item.event.parcel_id})
    cur = await conn.execute(q.LOCK_PARCELS, (parcels,))
    return {row[0] for row in await cur.fetchall()}


def unknown_parcel_letter(
    batch: schema.TelemetryBatch, items: Sequence[ScanItem], topic: str
) -> tuple[str, bytes, str]:
    """(topic, payload, reason) of the dead letter for one message's scans of unknown parcels."""
    bad = schema.TelemetryBatch(
        gateway_id=batch.gateway_id, sent_at=batch.sent_at, events=[i.event for i in items]
    )
    parcels = sorted({str(i.event.parcel_id) for i in items})
    shown = ", ".join(repr(p) for p in parcels[:5]) + (", ..." if len(parcels) > 5 else "")
    reason = f"scan of unknown parcel: {len(items)} scan event(s) for {shown}"
    return topic, schema.encode(bad), reason


def topic_of(batch: schema.TelemetryBatch, topic: str | None) -> str:
    return topic if topic is not None else topics.telemetry(batch.gateway_id)


async def apply_scans(
    conn: psycopg.AsyncConnection[Any], items: Sequence[ScanItem], report: ScanReport
) -> None:
    """Apply the scans of known (already locked) parcels, in time order per parcel, once each."""
    if not items:
        return
    ordered = sorted(items, key=lambda i: (i.event.parcel_id or "", i.at, i.key))
    keys = list(dict.fromkeys(i.key for i in ordered))
    cur = await conn.execute(
        q.SEEN_SCANS, ([k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys])
    )
    seen: set[tuple[str, datetime, int]] = {(d, t, s) for d, t, s in await cur.fetchall()}
    gateways = sorted({i.gateway_id for i in ordered})
    cur = await conn.execute(q.VEHICLES_OF_GATEWAYS, (gateways,))
    vehicles: dict[str, str] = dict(await cur.fetchall())
    for item in ordered:
        if item.key in seen:
            report.outcomes["duplicate"] = report.outcomes.get("duplicate", 0) + 1
            continue
        seen.add(item.key)
        await _apply(conn, item, vehicles.get(item.gateway_id), report)


async def _apply(
    conn: psycopg.AsyncConnection[Any], item: ScanItem, vehicle_id: str | None, report: ScanReport
) -> None:
    event = item.event
    assert event.parcel_id is not None and event.state in schema.SCAN_STATES  # the contract's
    cur = await conn.execute(q.LATEST_CUSTODY, (event.parcel_id,))
    row = await cur.fetchone()
    latest = None if row is None else Held(*row[:7])
    distance = None
    if event.state == "unload" and row is not None and row[7] is not None:
        distance = await _distance_to_destination(conn, event.parcel_id, row[7], item.at)
    scan = Scan(
        parcel_id=event.parcel_id,
        action="load" if event.state == "load" else "unload",
        at=item.at,
        gateway_id=item.gateway_id,
        vehicle_id=vehicle_id,
        compartment=event.compartment,
        logger_id=event.logger_id,
        distance_to_destination_m=distance,
    )
    decision = decide(scan, latest)
    custody_id: int | None = None
    if decision.close is not None:
        await conn.execute(q.END_CUSTODY, (scan.at, decision.end_reason, decision.close.custody_id))
        custody_id = decision.close.custody_id
    if decision.open_new:
        cur = await conn.execute(
            q.OPEN_CUSTODY,
            (scan.parcel_id, vehicle_id, scan.gateway_id, scan.compartment, scan.logger_id,
             scan.at),
        )  # fmt: skip
        opened = await cur.fetchone()
        assert opened is not None
        custody_id = opened[0]
    elif decision.outcome in ("already_loaded", "already_delivered") and row is not None:
        custody_id = row[0]
    await conn.execute(
        q.INSERT_SCAN,
        (event.device_id, scan.at, event.seq, scan.gateway_id, scan.parcel_id, scan.action,
         vehicle_id, scan.compartment, scan.logger_id, decision.outcome, decision.flagged,
         decision.reason, custody_id),
    )  # fmt: skip
    report.outcomes[decision.outcome] = report.outcomes.get(decision.outcome, 0) + 1
    if decision.flagged:
        report.flagged.append(
            f"scan {scan.action} of parcel {scan.parcel_id!r} by {event.device_id} (seq"
            f" {event.seq}) at {scan.at.isoformat()} flagged {decision.outcome}: {decision.reason}"
        )


async def _distance_to_destination(
    conn: psycopg.AsyncConnection[Any], parcel_id: str, gateway_id: str, at: datetime
) -> float | None:
    """How far the custody gateway's latest fix before ``at`` is from the parcel's shipment's
    destination, in metres; None when either is unknown."""
    cur = await conn.execute(
        q.DESTINATION_AND_FIX,
        {"parcel_id": parcel_id, "gateway_id": gateway_id, "at": at, "age": DELIVERY_FIX_AGE},
    )
    row = await cur.fetchone()
    if row is None or any(value is None for value in row):
        return None
    dest_lat, dest_lon, lat, lon = row
    return distance_m(lat, lon, dest_lat, dest_lon)

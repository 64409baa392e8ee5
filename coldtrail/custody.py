"""Custody rules shared by the API (custody set by hand) and ingest (custody set by scans).

Pure: no I/O, no clock. Custody ranges of one parcel never overlap: a new custody starts after
the start of the parcel's latest custody, and not inside a closed one. Ending a custody needs an
open one that started before the end. A scan (``docs/mqtt-contract.md``, event kind ``scan``)
applies the same rules; a scan the rules refuse is recorded and flagged, never silently applied.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal


@dataclass(frozen=True, slots=True)
class Held:
    """One custody range of a parcel (``to_time`` None: still open)."""

    custody_id: int
    from_time: datetime
    to_time: datetime | None
    vehicle_id: str | None
    compartment: str | None
    device_id: str | None

    @property
    def is_open(self) -> bool:
        return self.to_time is None


def start_conflict(parcel_id: str, start: datetime, latest: Held | None) -> str | None:
    """Why a custody of ``parcel_id`` cannot start at ``start``, given the parcel's latest
    custody (by ``from_time``), or None if it can."""
    if latest is None:
        return None
    if latest.from_time < start and (latest.to_time is None or latest.to_time <= start):
        return None
    return overlap_message(parcel_id, start, latest.from_time, latest.to_time)


def overlap_message(
    parcel_id: str, start: datetime, held_from: datetime, held_to: datetime | None
) -> str:
    """Why a custody starting at ``start`` overlaps the parcel's custody ``[held_from,
    held_to)`` (the API's 409 ``custody_overlap``, a scan's ``out_of_order``)."""
    held = held_from.isoformat()
    if held_to is not None:
        held += f" to {held_to.isoformat()}"
    return (
        f"parcel {parcel_id!r} already has custody from {held}; a new custody must start after"
        f" that, not at {start.isoformat()}"
    )


def end_conflict(parcel_id: str, end: datetime, latest: Held | None) -> str | None:
    """Why the parcel's open custody cannot end at ``end``, or None if it can."""
    if latest is not None and latest.is_open and latest.from_time < end:
        return None
    return f"parcel {parcel_id!r} has no open custody that started before {end.isoformat()}"


ScanOutcome = Literal[
    "loaded",
    "unloaded",
    "already_loaded",
    "no_vehicle",
    "out_of_order",
    "unload_without_load",
    "unload_elsewhere",
]
FLAGGED: frozenset[ScanOutcome] = frozenset(
    {"no_vehicle", "out_of_order", "unload_without_load", "unload_elsewhere"}
)
"""Outcomes that change nothing and need a person's attention."""


@dataclass(frozen=True, slots=True)
class ScanDecision:
    outcome: ScanOutcome
    reason: str | None = None
    """Why a flagged scan was not applied."""
    close: Held | None = None
    """The open custody to end at the scan's time."""
    open_new: bool = False
    """Open a custody in the scanning vehicle from the scan's time."""

    @property
    def flagged(self) -> bool:
        return self.outcome in FLAGGED


@dataclass(frozen=True, slots=True)
class Scan:
    parcel_id: str
    action: Literal["load", "unload"]
    at: datetime
    gateway_id: str
    vehicle_id: str | None
    """The vehicle the scanning gateway is installed in (None: in none)."""
    compartment: str | None = None
    logger_id: str | None = None


def decide(scan: Scan, latest: Held | None) -> ScanDecision:
    """What a scan does to a parcel's custody, given its latest custody.

    - ``load``: closes the open custody (if any) at the scan's time and opens one in the
      scanning vehicle, under the API's rule (after the start of the latest custody, not inside
      a closed one; else ``out_of_order``). Loading again where the parcel already is changes
      nothing (``already_loaded``). A gateway installed in no vehicle cannot load
      (``no_vehicle``): custody is a vehicle's.
    - ``unload``: ends the open custody at the scan's time, if it started before it (else
      ``unload_without_load``) and belongs to the scanning vehicle (else ``unload_elsewhere``;
      a gateway in no vehicle, e.g. a depot's reader, may unload any parcel).
    """
    if scan.action == "load":
        if scan.vehicle_id is None:
            return ScanDecision(
                "no_vehicle",
                f"gateway {scan.gateway_id!r} is installed in no vehicle: cannot load"
                f" parcel {scan.parcel_id!r}",
            )
        if (
            latest is not None
            and latest.is_open
            and latest.from_time <= scan.at
            and (latest.vehicle_id, latest.compartment, latest.device_id)
            == (scan.vehicle_id, scan.compartment, scan.logger_id)
        ):
            return ScanDecision("already_loaded")
        conflict = start_conflict(scan.parcel_id, scan.at, latest)
        if conflict is not None:
            return ScanDecision("out_of_order", conflict)
        return ScanDecision("loaded", close=latest if latest and latest.is_open else None,
                            open_new=True)  # fmt: skip
    conflict = end_conflict(scan.parcel_id, scan.at, latest)
    if conflict is not None or latest is None:
        return ScanDecision("unload_without_load", f"unload without a load: {conflict}")
    if scan.vehicle_id is not None and latest.vehicle_id != scan.vehicle_id:
        return ScanDecision(
            "unload_elsewhere",
            f"parcel {scan.parcel_id!r} is in vehicle {latest.vehicle_id!r}, not in"
            f" {scan.vehicle_id!r} whose gateway {scan.gateway_id!r} scanned it out",
        )
    return ScanDecision("unloaded", close=latest)

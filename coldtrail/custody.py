"""Custody rules shared by the API (custody set by hand) and ingest (custody set by scans).

Pure: no I/O, no clock. Custody ranges of one parcel never overlap: a new custody starts after
the start of the parcel's latest custody, and not inside a closed one. Ending a custody needs an
open one that started before the end. A scan (``docs/mqtt-contract.md``, event kind ``scan``)
applies the same rules; a scan the rules refuse is recorded and flagged, never silently applied.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

DELIVERED: Literal["delivered"] = "delivered"
"""``custody.end_reason`` of a custody ended by a delivery."""
DELIVERY_RADIUS_M = 250.0
"""An unload scan delivers when the vehicle's latest fix is this close to the destination."""
DELIVERY_FIX_AGE = timedelta(minutes=15)
"""...and that fix is at most this old at the scan's time (else: not known to be there)."""


@dataclass(frozen=True, slots=True)
class Held:
    """One custody range of a parcel (``to_time`` None: still open)."""

    custody_id: int
    from_time: datetime
    to_time: datetime | None
    vehicle_id: str | None
    compartment: str | None
    device_id: str | None
    end_reason: str | None = None
    """``delivered`` when a delivery ended it (:func:`delivery_cut`)."""

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
    "delivered",
    "already_loaded",
    "already_delivered",
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
    end_reason: str | None = None
    """Why ``close`` ends (:data:`DELIVERED` for an unload at the destination)."""

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
    distance_to_destination_m: float | None = None
    """``unload`` only: how far the vehicle's latest fix (:data:`DELIVERY_FIX_AGE`) is from the
    shipment's destination; None when unknown."""


def decide(scan: Scan, latest: Held | None) -> ScanDecision:
    """What a scan does to a parcel's custody, given its latest custody.

    - ``load``: closes the open custody (if any) at the scan's time and opens one in the
      scanning vehicle, under the API's rule (after the start of the latest custody, not inside
      a closed one; else ``out_of_order``). Loading again where the parcel already is changes
      nothing (``already_loaded``). A gateway installed in no vehicle cannot load
      (``no_vehicle``): custody is a vehicle's.
    - ``unload``: ends the open custody at the scan's time, if it started before it (else
      ``unload_without_load``) and belongs to the scanning vehicle (else ``unload_elsewhere``;
      a gateway in no vehicle, e.g. a depot's reader, may unload any parcel). At the
      destination (:func:`unload_delivers`) it is a delivery (``delivered``): the custody ends
      with end reason :data:`DELIVERED`, as a Delivered checkpoint ends it. An unload of a
      parcel whose custody a delivery already ended, before the scan, changes nothing
      (``already_delivered``).
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
    if (
        latest is not None
        and latest.end_reason == DELIVERED
        and latest.to_time is not None
        and latest.to_time <= scan.at
    ):
        return ScanDecision("already_delivered")
    conflict = end_conflict(scan.parcel_id, scan.at, latest)
    if conflict is not None or latest is None:
        return ScanDecision("unload_without_load", f"unload without a load: {conflict}")
    if scan.vehicle_id is not None and latest.vehicle_id != scan.vehicle_id:
        return ScanDecision(
            "unload_elsewhere",
            f"parcel {scan.parcel_id!r} is in vehicle {latest.vehicle_id!r}, not in"
            f" {scan.vehicle_id!r} whose gateway {scan.gateway_id!r} scanned it out",
        )
    if unload_delivers(scan.distance_to_destination_m):
        return ScanDecision("delivered", close=latest, end_reason=DELIVERED)
    return ScanDecision("unloaded", close=latest)


def delivery_cut(at: datetime, latest: Held | None) -> Held | None:
    """The custody a delivery at ``at`` ends (at ``at``, with end reason ``delivered``), given
    the parcel's latest custody; None when it ends none.

    The same rule for a Delivered checkpoint (the API) and an unload scan at the destination
    (ingest): the open custody ends at the delivery's time, also when that time is in the past
    (a late checkpoint cuts what was stored after it). A custody already ended by a later
    delivery is cut back to the earlier one (the first delivery ends the story). A custody that
    started at or after ``at``, or ended at or before it, is left alone, so the same delivery
    applied again changes nothing.
    """
    if latest is None or latest.from_time >= at:
        return None
    if latest.is_open:
        return latest
    assert latest.to_time is not None
    if latest.end_reason == DELIVERED and latest.to_time > at:
        return latest
    return None


def unload_delivers(distance_to_destination_m: float | None) -> bool:
    """Whether an unload scan is a delivery: the vehicle's latest fix (at most
    :data:`DELIVERY_FIX_AGE` old) is within :data:`DELIVERY_RADIUS_M` of the shipment's
    destination. None: no such fix, or no destination coordinates (an ordinary unload)."""
    return distance_to_destination_m is not None and distance_to_destination_m <= DELIVERY_RADIUS_M

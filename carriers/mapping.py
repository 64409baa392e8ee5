"""A carrier's event in the common status taxonomy, the carrier's own code, label and location
kept. An unknown code is still stored, as the nearest status (Pending when there is none),
and flagged so that the caller keeps the raw event as a dead letter."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from api.models_tracking import CheckpointIn, CheckpointStatus
from carriers.model import CarrierEvent
from carriers.registry import Carrier

FINAL_STATUSES: frozenset[str] = frozenset({"Delivered", "Expired"})


@dataclass(frozen=True, slots=True)
class Mapped:
    checkpoint: CheckpointIn
    known: bool
    event: CarrierEvent


def status_of(carrier: Carrier, event: CarrierEvent) -> tuple[CheckpointStatus, bool]:
    """The event's status and whether its code is known."""
    if event.code in carrier.codes:
        return carrier.codes[event.code], True
    group = carrier.groups.get(event.group or "")
    if group is not None:
        return group, carrier.groups_are_statuses
    return "Pending", False


def external_id(carrier_number: str, event: CarrierEvent) -> str:
    """The event's identity: carriers give none, so the carrier's number, code and time (a
    repeat of the same event is the same checkpoint); hashed when too long."""
    text = f"{carrier_number}/{event.code}/{event.time.isoformat()}"
    if len(text) <= 128:
        return text
    return f"{carrier_number[:40]}/{hashlib.sha256(text.encode()).hexdigest()}"


def _clip(text: str | None, n: int) -> str | None:
    text = (text or "").strip()
    return None if not text else text[:n]


def map_event(
    carrier: Carrier,
    tracking_number: str,
    carrier_number: str,
    event: CarrierEvent,
    *,
    last_leg: bool = True,
) -> Mapped:
    """The checkpoint of ``event`` for our shipment ``tracking_number``. On a leg that is not
    the last, the carrier's Delivered is a hand-over to the next leg: stored as InTransit."""
    status, known = status_of(carrier, event)
    if status == "Delivered" and not last_leg:
        status = "InTransit"
    code = "".join(c if c.isprintable() else " " for c in event.code)
    checkpoint = CheckpointIn(
        tracking_number=tracking_number,
        source=carrier.name,
        external_id=external_id(carrier_number, event),
        time=event.time,
        status=status,
        sub_status=_clip(code, 64),
        message=_clip(event.label, 500),
        location=_clip(event.location, 200),
    )
    return Mapped(checkpoint, known, event)


def is_final(carrier: Carrier, event: CarrierEvent) -> bool:
    """After this event the carrier says nothing more of this leg."""
    return status_of(carrier, event)[0] in FINAL_STATUSES or event.code in carrier.final_codes

"""What a connector turns a carrier's response into: the carrier's events with their own code,
label and location, its estimated delivery and its tracking page. Times are UTC-aware."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from coldtrail.errors import ColdtrailError


@dataclass(frozen=True, slots=True)
class CarrierEvent:
    time: datetime
    code: str
    """The carrier's own event code (La Poste's DI1, UPS's status type + code, …)."""
    label: str | None
    location: str | None = None
    group: str | None = None
    """The carrier's coarse status of the event where it gives one (DHL's statusCode, UPS's
    status type, Mondial Relay's STAT): the nearest status of a code we do not know."""
    raw: dict[str, Any] = field(default_factory=dict)
    """The event as the carrier sent it (kept in a dead letter when its code is unknown)."""


@dataclass(frozen=True, slots=True)
class CarrierTracking:
    tracking_number: str
    events: list[CarrierEvent]
    eta: datetime | None = None
    url: str | None = None


class CarrierError(ColdtrailError):
    """A carrier's answer that cannot be used: an error, an unknown tracking number, or a body
    that is not the documented shape. ``retry`` says whether asking again later may help."""

    def __init__(
        self, carrier: str, reason: str, *, retry: bool = True, retry_after: float | None = None
    ) -> None:
        self.carrier = carrier
        self.reason = reason
        self.retry = retry
        self.retry_after = retry_after
        super().__init__(f"{carrier}: {reason}")

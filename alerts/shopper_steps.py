"""The shopper's journey as data: which step each checkpoint status is, the kinds of message a
shopper may choose, the deduplication key of each step, and the quiet hours (issue 17,
docs/notifications.md#the-shoppers-journey).

Pure code: the API's checkpoint path and the rule runner decide *when* (they call
:func:`step_notice`); the dispatcher sends. One registry (:data:`STEPS`) from which the kinds,
the templates' names and the tests derive.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Literal, get_args
from zoneinfo import ZoneInfo

Kind = Literal["progress", "delivery", "incidents"]
KINDS: tuple[Kind, ...] = get_args(Kind)
"""What a shopper subscribes to, per channel: the progress of the parcel (info received, in
transit, out for delivery, arriving soon), its delivery (delivered, a failed attempt, available
for pickup), and incidents (a delay, a condition incident)."""

Medium = Literal["email", "sms"]
MEDIUMS: tuple[Medium, ...] = get_args(Medium)


@dataclass(frozen=True, slots=True)
class Step:
    template: str
    """The shopper template (alerts/shopper_templates.py) and the step's name in its key."""
    kind: Kind
    status: str | None
    """The checkpoint status (the common taxonomy) that is this step, if one is."""
    urgent: bool = False
    """Sent during the quiet hours too (a condition incident: a health risk does not wait)."""
    closing: bool = False
    """The closing message: the last one a shipment sends."""


STEPS: tuple[Step, ...] = (
    Step("info_received", "progress", "InfoReceived"),
    Step("in_transit", "progress", "InTransit"),
    Step("out_for_delivery", "progress", "OutForDelivery"),
    Step("arriving_soon", "progress", None),
    Step("delivered", "delivery", "Delivered", closing=True),
    Step("attempt_failed", "delivery", "AttemptFail"),
    Step("available_for_pickup", "delivery", "AvailableForPickup"),
    Step("delay", "incidents", None),
    Step("condition_incident", "incidents", None, urgent=True),
)
BY_TEMPLATE: Mapping[str, Step] = {s.template: s for s in STEPS}
BY_STATUS: Mapping[str, Step] = {s.status: s for s in STEPS if s.status is not None}


def step_key(shipment_id: int, template: str) -> str:
    """The deduplication key of a step: one message per step per shipment, across restarts,
    redeliveries, carrier pulls and workers (``shipment:7:step:out_for_delivery``)."""
    if template == "delay":
        return f"shipment:{shipment_id}:delay"  # the key the lateness watch has always used
    return f"shipment:{shipment_id}:step:{template}"


def parse_kinds(values: object) -> tuple[Kind, ...]:
    """Known kinds in registry order; ValueError naming an unknown one."""
    if not isinstance(values, list | tuple) or not values:
        raise ValueError(f"kinds must be a non-empty list among {', '.join(KINDS)}")
    unknown = [v for v in values if v not in KINDS]
    if unknown:
        raise ValueError(f"unknown kind {unknown[0]!r} (known: {', '.join(KINDS)})")
    return tuple(k for k in KINDS if k in values)


@dataclass(frozen=True, slots=True)
class QuietHours:
    """A daily span in a time zone during which non-urgent shopper messages wait (``start`` to
    ``end``, crossing midnight when ``end <= start``, e.g. 21:00-08:00)."""

    start: time
    end: time
    zone: ZoneInfo

    @classmethod
    def parse(cls, span: str, zone: str) -> QuietHours:
        """``"21:00-08:00"`` in ``zone`` (an IANA name); ValueError saying what is wrong."""
        try:
            first, second = span.split("-")
            start, end = time.fromisoformat(first.strip()), time.fromisoformat(second.strip())
        except ValueError:
            raise ValueError(
                f"quiet hours {span!r}: expected HH:MM-HH:MM, e.g. 21:00-08:00"
            ) from None
        if start == end:
            raise ValueError(f"quiet hours {span!r}: start and end are the same time")
        return cls(start, end, ZoneInfo(zone))

    def until(self, now: datetime) -> datetime | None:
        """When the quiet hours holding ``now`` end (an aware time), or None if ``now`` is not
        within them."""
        local = now.astimezone(self.zone)
        t = local.time().replace(tzinfo=None)
        if self.start < self.end:
            inside = self.start <= t < self.end
        else:
            inside = t >= self.start or t < self.end
        if not inside:
            return None
        end_day = local.date()
        if self.start > self.end and t >= self.start:
            end_day += timedelta(days=1)
        naive = datetime.combine(end_day, self.end)
        return naive.replace(tzinfo=self.zone)

"""Doors and lids: how often a parcel or compartment was opened, and an alert when one stays
open longer than ``delay``.

Two sources: a door contact (``Sample.door_open``) or a light sensor inside the box
(``Sample.light_lux``: open at ``open_lux`` or more, closed again below ``close_lux``, so light
hovering on one level does not flap). A bounce (closed, then open again within ``debounce``)
is the same opening, not a new one.

The delay is checked on every sample of the subject, of any kind, so a door left open is
caught by the next temperature reading after the delay, not only when it closes. One alert per
opening longer than the delay: opened once the delay is reached (``end`` None), closed when the
door closes, with its duration; ``count`` is the opening's number in the trip. ``peak`` and
``limit`` are in minutes: how long it was open, and the delay.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, NamedTuple

from alerts.events import Alert, Readings, Sample, check_order
from alerts.profile_model import Severity

_MINUTE = timedelta(minutes=1)
_ZERO = timedelta(0)


class _Opening(NamedTuple):
    start: datetime
    number: int
    alerted: bool
    closed_at: datetime | None = None
    """Set while closed but within the debounce (a bounce reopens the same opening)."""


class DoorState(NamedTuple):
    last_at: datetime | None = None
    """The last sample that changed the state (samples while closed do not)."""
    is_open: bool = False
    opening: _Opening | None = None
    openings: int = 0
    """Openings so far in the trip (bounces counted once)."""
    open_time: timedelta = _ZERO
    """Total time open over the trip, up to the last close (the current opening not yet)."""
    longest: timedelta = _ZERO


@dataclass(frozen=True, slots=True)
class DoorOpenRule:
    """A door (or lid) opened: counts openings, alerts on one open longer than ``delay``."""

    name: str = "door/open"
    source: Literal["door", "light"] = "door"
    delay: timedelta = timedelta(minutes=10)
    debounce: timedelta = timedelta(seconds=30)
    open_lux: float = 50.0
    close_lux: float = 10.0
    severity: Severity = "warning"

    def __post_init__(self) -> None:
        if self.close_lux > self.open_lux:
            raise ValueError(f"{self.name}: close_lux must not be above open_lux")
        if self.delay < _ZERO or self.debounce < _ZERO:
            raise ValueError(f"{self.name}: delay and debounce must not be negative")

    def initial(self) -> DoorState:
        return DoorState()

    def unchanged_by_readings(self, state: DoorState, readings: Readings) -> bool:
        """Whether :meth:`step` leaves ``state`` as it is for every one of ``readings`` (plain
        readings: no door contact, no light): so while closed (its fast path)."""
        return state.opening is None

    def _observed(self, sample: Sample, was_open: bool) -> bool | None:
        """Open or closed according to this sample, or None if it says nothing."""
        if self.source == "door":
            return sample.door_open
        lux = sample.light_lux
        if lux is None:
            return None
        return lux >= self.open_lux if not was_open else lux >= self.close_lux

    def _alert(self, opening: _Opening, end: datetime | None, at: datetime) -> Alert:
        duration = at - opening.start
        return Alert(
            rule=self.name,
            kind="door",
            severity=self.severity,
            start=opening.start,
            end=end,
            peak=duration / _MINUTE,
            limit=self.delay / _MINUTE,
            duration=duration,
            count=opening.number,
        )

    def step(self, state: DoorState, sample: Sample) -> tuple[DoorState, list[Alert]]:
        at = sample.at
        last_at, is_open, opening, openings, open_time, longest = state
        if last_at is not None and at < last_at:
            check_order(last_at, sample, self.name)
        observed = self._observed(sample, is_open)
        if opening is None and not observed:  # the fast path: closed, nothing changes
            return state, []
        alerts: list[Alert] = []
        if opening is not None and opening.closed_at is not None:
            # Closed a moment ago: the same opening if it opens again within the debounce.
            within = at - opening.closed_at <= self.debounce
            if within and observed:
                open_time -= opening.closed_at - opening.start
                opening = opening._replace(closed_at=None)
                if opening.alerted:
                    alerts.append(self._alert(opening, None, at))
            elif within and observed is None:
                return DoorState(at, False, opening, openings, open_time, longest), alerts
            else:
                opening = None
        if opening is None:
            if not observed:
                return DoorState(at, False, None, openings, open_time, longest), alerts
            openings += 1
            opening = _Opening(at, openings, alerted=False)
        elif observed is False:  # it closes (for good, unless it bounces)
            held = at - opening.start
            due = opening.alerted or held >= self.delay
            if due:
                alerts.append(self._alert(opening, at, at))
            opening = opening._replace(alerted=due, closed_at=at)
            return (
                DoorState(at, False, opening, openings, open_time + held, max(longest, held)),
                alerts,
            )
        if not opening.alerted and at - opening.start >= self.delay:
            opening = opening._replace(alerted=True)
            alerts.append(self._alert(opening, None, at))
        return DoorState(at, True, opening, openings, open_time, longest), alerts

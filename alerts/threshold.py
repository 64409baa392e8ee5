"""One limit on one measured quantity: excursions with a single-event delay and hysteresis,
and a cumulative budget that never resets.

Time-weighting: a sample's value holds until the next sample (sample and hold), so the
interval between two samples counts with the first one's value. An excursion starts at the
first sample beyond the limit and ends at the first sample back inside by the hysteresis
(or out of the boundary's scope); its duration is end - start.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

from alerts.events import Alert, AlertKind, Sample, check_order
from alerts.profile_model import ALL_SCOPES, Scope, Severity

Field = Literal["temperature_c", "humidity_pct", "battery_pct"]
_MINUTE = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class _Excursion:
    start: datetime
    peak: float
    area: float
    alerted: bool


@dataclass(frozen=True, slots=True)
class ThresholdState:
    origin: datetime | None = None
    """The first sample's time: the ignore period counts from it."""
    last_at: datetime | None = None
    last_value: float | None = None
    """The last sample's value if it was in scope, else None (its interval does not count)."""
    excursion: _Excursion | None = None
    used: timedelta = timedelta(0)
    """Time beyond the limit over the whole trip (the cumulative budget's consumption)."""
    used_area: float = 0.0
    worst: float | None = None
    budget_spent: bool = False


@dataclass(frozen=True, slots=True)
class Threshold:
    """A limit on ``field``; ``delay`` None means no single-event alert (budget only)."""

    name: str
    field: Field
    direction: Literal["upper", "lower"]
    limit: float
    kind: AlertKind = "excursion"
    severity: Severity = "warning"
    inclusive: bool = False
    hysteresis: float = 0.0
    delay: timedelta | None = timedelta(0)
    budget: timedelta | None = None
    scopes: frozenset[Scope] = ALL_SCOPES
    ignore_start: timedelta = timedelta(0)

    def initial(self) -> ThresholdState:
        return ThresholdState()

    def beyond(self, value: float) -> bool:
        if self.direction == "upper":
            return value >= self.limit if self.inclusive else value > self.limit
        return value <= self.limit if self.inclusive else value < self.limit

    def back_inside(self, value: float) -> bool:
        """Inside by at least the hysteresis: the end of an excursion."""
        if self.direction == "upper":
            return value <= self.limit - self.hysteresis and not self.beyond(value)
        return value >= self.limit + self.hysteresis and not self.beyond(value)

    def _worse(self, a: float, b: float) -> float:
        return max(a, b) if self.direction == "upper" else min(a, b)

    def _alert(self, exc: _Excursion, end: datetime | None, now: datetime) -> Alert:
        return Alert(
            rule=self.name,
            kind=self.kind,
            severity=self.severity,
            start=exc.start,
            end=end,
            peak=exc.peak,
            limit=self.limit,
            duration=(end or now) - exc.start,
            area=exc.area,
        )

    def _due(self, exc: _Excursion, at: datetime) -> bool:
        return self.delay is not None and at - exc.start >= self.delay

    def step(self, state: ThresholdState, sample: Sample) -> tuple[ThresholdState, list[Alert]]:
        value = getattr(sample, self.field)
        if value is None:
            return state, []
        check_order(state.last_at, sample, self.name)
        origin = state.origin or sample.at
        if sample.at < origin + self.ignore_start:
            return replace(state, origin=origin), []
        alerts: list[Alert] = []
        exc = state.excursion
        used, used_area, worst, spent = state.used, state.used_area, state.worst, state.budget_spent

        # 1. The interval since the last sample, with the last sample's value.
        last = state.last_value
        if last is not None and state.last_at is not None and self.beyond(last):
            dt = sample.at - state.last_at
            area = abs(last - self.limit) * (dt / _MINUTE)
            before = used
            used, used_area = used + dt, used_area + area
            worst = last if worst is None else self._worse(worst, last)
            if exc is not None:
                exc = replace(exc, area=exc.area + area)
            if self.budget is not None and not spent and used >= self.budget:
                spent = True
                at = state.last_at + (self.budget - before)
                alerts.append(
                    Alert(
                        rule=self.name,
                        kind="budget",
                        severity=self.severity,
                        start=at,
                        end=None,
                        peak=worst,
                        limit=self.limit,
                        duration=used,
                        area=used_area,
                    )
                )

        # 2. The excursion going on: does this sample end it, or confirm it?
        in_scope = sample.scope in self.scopes
        if exc is not None:
            if not in_scope or self.back_inside(value):
                if exc.alerted or self._due(exc, sample.at):
                    alerts.append(self._alert(exc, sample.at, sample.at))
                exc = None
            else:
                exc = replace(exc, peak=self._worse(exc.peak, value))
                if not exc.alerted and self._due(exc, sample.at):
                    exc = replace(exc, alerted=True)
                    alerts.append(self._alert(exc, None, sample.at))

        # 3. A new excursion.
        if exc is None and in_scope and self.beyond(value):
            exc = _Excursion(sample.at, value, 0.0, alerted=False)
            if self._due(exc, sample.at):
                exc = replace(exc, alerted=True)
                alerts.append(self._alert(exc, None, sample.at))

        new_state = ThresholdState(
            origin, sample.at, value if in_scope else None, exc, used, used_area, worst, spent
        )
        return new_state, alerts

    def ongoing(self, state: ThresholdState) -> Alert | None:
        """The open alert as of the last sample (with its duration and area so far), if any."""
        exc = state.excursion
        if exc is None or not exc.alerted or state.last_at is None:
            return None
        return self._alert(exc, None, state.last_at)

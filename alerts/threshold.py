"""One limit on one measured quantity: excursions with a single-event delay and hysteresis,
and a cumulative budget that never resets.

Time-weighting: a sample's value holds until the next sample (sample and hold), so the
interval between two samples counts with the first one's value, but for at most ``max_gap``:
beyond that the data is missing, neither in excursion nor in spec. An excursion starts at the
first sample beyond the limit and ends at the first sample back inside by the hysteresis (or
out of the boundary's scope), or, when the data stops for longer than ``max_gap``, at the last
sample's time + ``max_gap``; its duration is end - start.

The state is an immutable tuple (:class:`ThresholdState`); a step builds a new one and never
changes the one it was given, so live and replay can share states. The step has a fast path
for the common case (in spec, no excursion going on) that returns the state it was given.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as _field
from datetime import datetime, timedelta
from typing import Literal, NamedTuple

from alerts.events import (
    Alert,
    AlertKind,
    OutOfOrderSample,
    Readings,
    Sample,
    check_order,
    present,
)
from alerts.profile_model import ALL_SCOPES, Scope, Severity

Field = Literal["temperature_c", "humidity_pct", "battery_pct"]
_MINUTE = timedelta(minutes=1)
_ZERO = timedelta(0)
DEFAULT_MAX_GAP = timedelta(minutes=15)
"""The longest interval a sample's value is held for, unless a rule says otherwise."""


class _Excursion(NamedTuple):
    start: datetime
    peak: float
    area: float
    alerted: bool


class _Totals(NamedTuple):
    """What changes rarely: kept by reference from one state to the next while unchanged."""

    origin: datetime | None = None
    """The first sample's time: the ignore period counts from it."""
    ignore_until: datetime | None = None
    """While set, samples before it are skipped (the ignore period)."""
    used: timedelta = _ZERO
    used_area: float = 0.0
    worst: float | None = None
    budget_spent: bool = False


_NO_TOTALS = _Totals()


class ThresholdState(NamedTuple):
    last_at: datetime | None = None
    """The last sample that changed the state: samples inside the limit in a row, with no
    excursion going on, leave the state as it was (what they say counts for nothing)."""
    last_value: float | None = None
    """That sample's value if it was in scope, else None (its interval does not count)."""
    excursion: _Excursion | None = None
    totals: _Totals = _NO_TOTALS

    @property
    def origin(self) -> datetime | None:
        return self.totals.origin

    @property
    def used(self) -> timedelta:
        """Time beyond the limit over the whole trip (the cumulative budget's consumption)."""
        return self.totals.used

    @property
    def used_area(self) -> float:
        return self.totals.used_area

    @property
    def worst(self) -> float | None:
        return self.totals.worst

    @property
    def budget_spent(self) -> bool:
        return self.totals.budget_spent


@dataclass(frozen=True, slots=True)
class Threshold:
    """A limit on ``field``; ``delay`` None means no single-event alert (budget only).

    ``max_gap``: the longest interval a value holds for (None: no limit). A longer interval
    counts for ``max_gap`` only, and ends an excursion going on at the last sample + ``max_gap``.
    """

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
    max_gap: timedelta | None = DEFAULT_MAX_GAP
    _sign: float = _field(init=False, repr=False, compare=False)
    _signed_limit: float = _field(init=False, repr=False, compare=False)
    _everywhere: bool = _field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.max_gap is not None and self.max_gap <= _ZERO:
            raise ValueError(f"threshold {self.name}: max_gap must be positive")
        if self.hysteresis < 0:
            raise ValueError(f"threshold {self.name}: hysteresis must not be negative")
        sign = 1.0 if self.direction == "upper" else -1.0
        object.__setattr__(self, "_sign", sign)
        object.__setattr__(self, "_signed_limit", sign * self.limit)
        object.__setattr__(self, "_everywhere", self.scopes >= ALL_SCOPES)

    def initial(self) -> ThresholdState:
        return ThresholdState()

    def unchanged_by_readings(self, state: ThresholdState, readings: Readings) -> bool:
        """Whether :meth:`step` would leave ``state`` as it is and raise nothing for every one
        of ``readings`` (plain readings in time order, see :meth:`RuleSet.step_readings`): its
        fast path for each, checked once for the batch."""
        values = present(getattr(readings, self.field))
        if not values:
            return True
        last_at, _, exc, totals = state
        if exc is not None or last_at is None or totals.ignore_until is not None:
            return False
        total = sum(values)
        if total != total:  # a NaN: the step's comparisons would all fail
            return False
        signed = self._sign * (max(values) if self._sign > 0 else min(values))
        return signed < self._signed_limit or (signed == self._signed_limit and not self.inclusive)

    def beyond(self, value: float) -> bool:
        signed = self._sign * value
        return signed >= self._signed_limit if self.inclusive else signed > self._signed_limit

    def back_inside(self, value: float) -> bool:
        """Inside by at least the hysteresis: the end of an excursion."""
        return self._sign * value <= self._signed_limit - self.hysteresis and not self.beyond(value)

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
        value: float | None = getattr(sample, self.field)
        if value is None:
            return state, []
        at = sample.at
        last_at, _, exc, totals = state
        if last_at is not None and at < last_at:
            check_order(last_at, sample, self.name)
        # Fast path: no excursion going on (so the last value was inside, or out of scope),
        # past the ignore period, and this value inside. Nothing of this sample can matter
        # later (an interval inside counts for nothing), so the state stays as it is.
        if exc is None and last_at is not None and totals.ignore_until is None:
            signed = self._sign * value
            if signed < self._signed_limit or (signed == self._signed_limit and not self.inclusive):
                return state, []
        return self._slow_step(state, sample, value)

    def _slow_step(
        self, state: ThresholdState, sample: Sample, value: float
    ) -> tuple[ThresholdState, list[Alert]]:
        at = sample.at
        last_at, last_value, exc, totals = state
        origin, ignore_until, used, used_area, worst, spent = totals
        if origin is None:
            origin = at
            ignore_until = at + self.ignore_start if self.ignore_start > _ZERO else None
        if ignore_until is not None:
            if at < ignore_until:
                totals = totals._replace(origin=origin, ignore_until=ignore_until)
                return ThresholdState(at, None, None, totals), []
            ignore_until = None
        alerts: list[Alert] = []

        # 1. The interval since the last sample, with the last sample's value (up to max_gap).
        gap_end: datetime | None = None
        if last_value is not None and last_at is not None:
            dt = at - last_at
            counted = dt
            if self.max_gap is not None and dt > self.max_gap:
                counted = self.max_gap
                gap_end = last_at + counted
            if self.beyond(last_value) and counted > _ZERO:
                area = abs(last_value - self.limit) * (counted / _MINUTE)
                before = used
                used, used_area = used + counted, used_area + area
                worst = last_value if worst is None else self._worse(worst, last_value)
                if exc is not None:
                    exc = exc._replace(area=exc.area + area)
                if self.budget is not None and not spent and used >= self.budget:
                    spent = True
                    alerts.append(
                        Alert(
                            rule=self.name,
                            kind="budget",
                            severity=self.severity,
                            start=last_at + (self.budget - before),
                            end=None,
                            peak=worst,
                            limit=self.limit,
                            duration=used,
                            area=used_area,
                        )
                    )
            if exc is not None and gap_end is not None:
                # The data stopped: the excursion is known to have lasted until gap_end only.
                if exc.alerted or self._due(exc, gap_end):
                    alerts.append(self._alert(exc, gap_end, gap_end))
                exc = None

        # 2. The excursion going on: does this sample end it, or confirm it?
        in_scope = self._everywhere or sample.scope in self.scopes
        if exc is not None:
            if not in_scope or self.back_inside(value):
                if exc.alerted or self._due(exc, at):
                    alerts.append(self._alert(exc, at, at))
                exc = None
            else:
                exc = exc._replace(peak=self._worse(exc.peak, value))
                if not exc.alerted and self._due(exc, at):
                    exc = exc._replace(alerted=True)
                    alerts.append(self._alert(exc, None, at))

        # 3. A new excursion.
        if exc is None and in_scope and self.beyond(value):
            exc = _Excursion(at, value, 0.0, alerted=False)
            if self._due(exc, at):
                exc = exc._replace(alerted=True)
                alerts.append(self._alert(exc, None, at))

        totals = _Totals(origin, ignore_until, used, used_area, worst, spent)
        return ThresholdState(at, value if in_scope else None, exc, totals), alerts

    def ongoing(self, state: ThresholdState) -> Alert | None:
        """The open alert as of the last sample (with its duration and area so far), if any."""
        exc = state.excursion
        if exc is None or not exc.alerted or state.last_at is None:
            return None
        return self._alert(exc, None, state.last_at)


__all__ = ["DEFAULT_MAX_GAP", "OutOfOrderSample", "Threshold", "ThresholdState"]

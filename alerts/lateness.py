"""Late-arrival risk: an alert "trending late" when the estimated arrival gets too close to
(or past) the promised time, before the parcel is actually late.

Input: :class:`EtaUpdate` (a time, the promised time, and either an ETA computed elsewhere or
the remaining distance and recent speed, from which :func:`estimate_eta` computes one). The
rule is pure with explicit state, stepped once per update, in time order.

- It opens once ETA > promised - ``margin`` has held for ``confirm`` (every update in
  between said so: one slow stretch does not alarm anyone), with ``start`` = the first update
  that said so.
- It closes only when ETA <= promised - ``margin`` - ``hysteresis`` (so an ETA hovering on the
  line does not flap), or on delivery.
- ``peak`` is the worst lateness seen (ETA - promised, minutes; negative = early), ``limit``
  is -``margin`` in minutes (the lateness at which it trips).
- An update without an ETA (no speed, no distance) changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

from alerts.events import Alert, OutOfOrderSample
from alerts.profile_model import Severity

_MINUTE = timedelta(minutes=1)
_ZERO = timedelta(0)


def estimate_eta(
    at: datetime,
    remaining_m: float,
    speed_kmh: float,
    *,
    min_speed_kmh: float = 5.0,
    dwell: timedelta = _ZERO,
) -> datetime | None:
    """``at`` + the time to cover ``remaining_m`` at ``speed_kmh`` (+ ``dwell``, e.g. the stops
    still to make). None below ``min_speed_kmh`` (parked or in a jam: no honest estimate)."""
    if remaining_m < 0 or speed_kmh < 0:
        raise ValueError(
            f"remaining_m and speed_kmh must not be negative: {remaining_m}, {speed_kmh}"
        )
    if remaining_m == 0:
        return at + dwell
    if speed_kmh < min_speed_kmh:
        return None
    return at + timedelta(hours=remaining_m / 1000 / speed_kmh) + dwell


@dataclass(frozen=True, slots=True)
class EtaUpdate:
    at: datetime
    promised_at: datetime
    eta: datetime | None = None
    """An ETA computed elsewhere; if None, estimated from the distance and speed below."""
    remaining_m: float | None = None
    speed_kmh: float | None = None
    """Recent speed (e.g. the mean over the last 10 minutes of driving)."""
    delivered: bool = False


class _Trend(NamedTuple):
    since: datetime
    worst: timedelta
    alerted: bool


class LatenessState(NamedTuple):
    last_at: datetime | None = None
    trend: _Trend | None = None
    """The ETA has been beyond the line since ``trend.since``."""
    eta: datetime | None = None
    """The latest ETA."""
    delivered: bool = False


@dataclass(frozen=True, slots=True)
class LateArrivalRisk:
    name: str = "eta/late-risk"
    margin: timedelta = timedelta(minutes=30)
    hysteresis: timedelta = timedelta(minutes=10)
    confirm: timedelta = timedelta(minutes=5)
    min_speed_kmh: float = 5.0
    severity: Severity = "warning"

    def __post_init__(self) -> None:
        if self.hysteresis < _ZERO or self.confirm < _ZERO:
            raise ValueError(f"{self.name}: hysteresis and confirm must not be negative")

    def initial(self) -> LatenessState:
        return LatenessState()

    def _eta(self, update: EtaUpdate) -> datetime | None:
        if update.eta is not None:
            return update.eta
        if update.remaining_m is None or update.speed_kmh is None:
            return None
        return estimate_eta(
            update.at, update.remaining_m, update.speed_kmh, min_speed_kmh=self.min_speed_kmh
        )

    def _alert(self, trend: _Trend, end: datetime | None, now: datetime) -> Alert:
        return Alert(
            rule=self.name,
            kind="late",
            severity=self.severity,
            start=trend.since,
            end=end,
            peak=trend.worst / _MINUTE,
            limit=-self.margin / _MINUTE,
            duration=(end or now) - trend.since,
        )

    def step(self, state: LatenessState, update: EtaUpdate) -> tuple[LatenessState, list[Alert]]:
        at = update.at
        if state.last_at is not None and at < state.last_at:
            raise OutOfOrderSample(
                f"rule {self.name}: update at {at.isoformat()} is older than the last one "
                f"({state.last_at.isoformat()}); sort the updates first"
            )
        trend = state.trend
        if state.delivered:
            return state._replace(last_at=at), []
        if update.delivered:
            done = [self._alert(trend, at, at)] if trend is not None and trend.alerted else []
            return LatenessState(at, None, state.eta, True), done
        eta = self._eta(update)
        if eta is None:
            return state._replace(last_at=at), []
        lateness = eta - update.promised_at
        line = -self.margin
        alerts: list[Alert] = []
        if trend is None:
            if lateness > line:
                trend = _Trend(at, lateness, alerted=False)
        elif not trend.alerted:
            # Not confirmed yet: back under the line, it was a passing slowdown.
            trend = trend._replace(worst=max(trend.worst, lateness)) if lateness > line else None
        elif lateness <= line - self.hysteresis:
            alerts.append(self._alert(trend, at, at))
            trend = None
        else:
            trend = trend._replace(worst=max(trend.worst, lateness))
        if trend is not None and not trend.alerted and at - trend.since >= self.confirm:
            trend = trend._replace(alerted=True)
            alerts.append(self._alert(trend, None, at))
        return LatenessState(at, trend, eta, False), alerts

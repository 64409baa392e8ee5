"""Mean kinetic temperature (MKT): the single temperature that would degrade a product as much
as the series it went through (Haynes, J. Pharm. Sci. 60 (1971) 927; USP ⟨1079.2⟩).

    MKT = (ΔH / R) / -ln( Σ wᵢ·exp(-ΔH / (R·Tᵢ)) / Σ wᵢ )      (T in kelvin)

with ΔH = 83.144 kJ/mol and R = 8.3144 J/mol/K (so ΔH/R = 10,000 K). The weights wᵢ are the
time each temperature held: a sample's value holds until the next sample, so unevenly spaced
readings are weighted by their intervals and the last sample of a series weighs nothing yet.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from alerts.events import Alert, Sample, check_order
from alerts.profile_model import Severity

DELTA_H_J_PER_MOL = 83_144.0
R_J_PER_MOL_K = 8.3144
KELVIN = 273.15
_EA_K = DELTA_H_J_PER_MOL / R_J_PER_MOL_K


def _boltzmann(temperature_c: float) -> float:
    return math.exp(-_EA_K / (temperature_c + KELVIN))


def _from_sums(weighted: float, weight: float) -> float:
    return _EA_K / -math.log(weighted / weight) - KELVIN


def mkt_of_weighted(values: Iterable[tuple[float, float]]) -> float | None:
    """MKT (°C) of (temperature_c, weight) pairs; None when the weights add up to nothing."""
    weighted = weight = 0.0
    for temperature_c, w in values:
        weighted += w * _boltzmann(temperature_c)
        weight += w
    return _from_sums(weighted, weight) if weight > 0 else None


def mean_kinetic_temperature(series: Iterable[tuple[datetime, float]]) -> float | None:
    """Time-weighted MKT (°C) of (time, temperature_c) in time order; None under two times."""
    pairs: list[tuple[float, float]] = []
    previous: tuple[datetime, float] | None = None
    for at, temperature_c in series:
        if previous is not None:
            pairs.append((previous[1], (at - previous[0]).total_seconds()))
        previous = (at, temperature_c)
    return mkt_of_weighted(pairs)


@dataclass(frozen=True, slots=True)
class MktState:
    last_at: datetime | None = None
    last_c: float | None = None
    weighted: float = 0.0
    weight_s: float = 0.0
    segments: tuple[tuple[datetime, datetime, float], ...] = ()
    """The rolling window's (start, end, temperature_c) intervals (empty for the whole trip)."""
    mkt_c: float | None = None
    open_since: datetime | None = None
    peak_c: float = -math.inf


@dataclass(frozen=True, slots=True)
class MktRule:
    """Alerts while the MKT (whole trip, or over a rolling ``window``) is above ``limit_c``."""

    name: str
    limit_c: float
    window: timedelta | None = None
    severity: Severity = "critical"
    hysteresis_c: float = 0.0

    def initial(self) -> MktState:
        return MktState()

    def _mkt(self, state: MktState, at: datetime) -> MktState:
        if self.window is None:
            mkt = _from_sums(state.weighted, state.weight_s) if state.weight_s > 0 else None
            return replace(state, mkt_c=mkt)
        since = at - self.window
        kept = tuple((max(start, since), end, c) for start, end, c in state.segments if end > since)
        mkt = mkt_of_weighted((c, (end - start).total_seconds()) for start, end, c in kept)
        return replace(state, segments=kept, mkt_c=mkt)

    def step(self, state: MktState, sample: Sample) -> tuple[MktState, list[Alert]]:
        if sample.temperature_c is None:
            return state, []
        check_order(state.last_at, sample, self.name)
        last_at, last_c = state.last_at, state.last_c
        if last_at is not None and last_c is not None and sample.at > last_at:
            seconds = (sample.at - last_at).total_seconds()
            if self.window is None:
                state = replace(
                    state,
                    weighted=state.weighted + seconds * _boltzmann(last_c),
                    weight_s=state.weight_s + seconds,
                )
            else:
                segment = (last_at, sample.at, last_c)
                state = replace(state, segments=(*state.segments, segment))
        state = self._mkt(replace(state, last_at=sample.at, last_c=sample.temperature_c), sample.at)
        return self._fire(state, sample.at)

    def _fire(self, state: MktState, at: datetime) -> tuple[MktState, list[Alert]]:
        mkt = state.mkt_c
        if mkt is None:
            return state, []
        if state.open_since is None:
            if mkt <= self.limit_c:
                return state, []
            state = replace(state, open_since=at, peak_c=mkt)
            return state, [self._alert(state, None, at)]
        state = replace(state, peak_c=max(state.peak_c, mkt))
        if mkt > self.limit_c - self.hysteresis_c:
            return state, []
        closed = self._alert(state, at, at)
        return replace(state, open_since=None, peak_c=-math.inf), [closed]

    def _alert(self, state: MktState, end: datetime | None, at: datetime) -> Alert:
        assert state.open_since is not None
        return Alert(
            rule=self.name,
            kind="mkt",
            severity=self.severity,
            start=state.open_since,
            end=end,
            peak=state.peak_c,
            limit=self.limit_c,
            duration=at - state.open_since,
        )

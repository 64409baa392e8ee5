"""Mean kinetic temperature (MKT): the single temperature that would degrade a product as much
as the series it went through (Haynes, J. Pharm. Sci. 60 (1971) 927; USP ⟨1079.2⟩).

    MKT = (ΔH / R) / -ln( Σ wᵢ·exp(-ΔH / (R·Tᵢ)) / Σ wᵢ )      (T in kelvin)

with ΔH = 83.144 kJ/mol and R = 8.3144 J/mol/K (so ΔH/R = 10,000 K). The weights wᵢ are the
time each temperature held: a sample's value holds until the next sample, so unevenly spaced
readings are weighted by their intervals and the last sample of a series weighs nothing yet.

Gaps: an interval longer than ``max_gap`` counts for ``max_gap`` only (the value is held as
long as a normal interval could last, no longer); the rest is missing data, left out of the MKT
and reported (:attr:`MktState.gap`), never weighted as if the last value held through it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NamedTuple

from alerts.events import Alert, Readings, Sample, check_order
from alerts.profile_model import Severity

DELTA_H_J_PER_MOL = 83_144.0
R_J_PER_MOL_K = 8.3144
KELVIN = 273.15
_EA_K = DELTA_H_J_PER_MOL / R_J_PER_MOL_K
_ZERO = timedelta(0)
DEFAULT_MAX_GAP = timedelta(minutes=15)

_new = tuple.__new__
_exp = math.exp


def _boltzmann(temperature_c: float) -> float:
    return _exp(-_EA_K / (temperature_c + KELVIN))


def _from_ratio(ratio: float) -> float:
    return _EA_K / -math.log(ratio) - KELVIN


def _from_sums(weighted: float, weight: float) -> float:
    return _from_ratio(weighted / weight)


def mkt_of_weighted(values: Iterable[tuple[float, float]]) -> float | None:
    """MKT (°C) of (temperature_c, weight) pairs; None when the weights add up to nothing."""
    weighted = weight = 0.0
    for temperature_c, w in values:
        weighted += w * _boltzmann(temperature_c)
        weight += w
    return _from_sums(weighted, weight) if weight > 0 else None


def mean_kinetic_temperature(
    series: Iterable[tuple[datetime, float]], *, max_gap: timedelta | None = None
) -> float | None:
    """Time-weighted MKT (°C) of (time, temperature_c) in time order; None under two times.

    With ``max_gap``, an interval longer than it counts for ``max_gap`` only."""
    pairs: list[tuple[float, float]] = []
    previous: tuple[datetime, float] | None = None
    for at, temperature_c in series:
        if previous is not None:
            held = at - previous[0]
            if max_gap is not None and held > max_gap:
                held = max_gap
            pairs.append((previous[1], held.total_seconds()))
        previous = (at, temperature_c)
    return mkt_of_weighted(pairs)


_Segment = tuple[float, float, float, float]
"""An interval of the rolling window: (start_s, end_s, boltzmann, seconds held), its times in
seconds on the window's own clock."""
_Link = tuple[_Segment, "_Link | None"]


class _Window(NamedTuple):
    """The rolling window's intervals as a persistent queue: a step builds a new queue that
    shares the old one's cells, so a state handed out is never changed.

    ``front[head:]`` holds the oldest intervals in order, ``back`` the newest as a linked list
    (newest first); ``front`` is rebuilt from ``back`` once exhausted (so each interval is
    moved once), and the sums are then recomputed from scratch, so the rounding errors of
    subtracting expired intervals do not build up.
    """

    front: tuple[_Segment, ...] = ()
    head: int = 0
    back: _Link | None = None
    weighted: float = 0.0
    """Σ boltzmann·seconds over the intervals held (whole intervals, even the oldest)."""
    seconds: float = 0.0
    clock_s: float = 0.0
    """Seconds since the first sample (real time, gaps included)."""


def _advance(
    window: _Window, boltzmann: float, elapsed_s: float, held_s: float, span_s: float
) -> tuple[_Window, float | None]:
    """The window after an interval of ``elapsed_s`` (counted for ``held_s``) at ``boltzmann``,
    and Σ wᵢ·exp(-ΔH/RTᵢ) / Σ wᵢ over its last ``span_s`` seconds."""
    front, head, back, weighted, seconds, clock = window
    start = clock
    clock += elapsed_s
    back = ((start, start + held_s, boltzmann, held_s), back)
    weighted += boltzmann * held_s
    seconds += held_s
    since = clock - span_s
    while True:
        if head >= len(front):
            if back is None:
                return _new(_Window, ((), 0, None, 0.0, 0.0, clock)), None
            front, head, back = _unlink(back), 0, None
            weighted = math.fsum(s[2] * s[3] for s in front)
            seconds = math.fsum(s[3] for s in front)
        oldest = front[head]
        if oldest[1] > since:
            break
        weighted -= oldest[2] * oldest[3]
        seconds -= oldest[3]
        head += 1
    window = _new(_Window, (front, head, back, weighted, seconds, clock))
    if oldest[0] < since:  # only the oldest interval's part after ``since`` counts
        cut = since - oldest[0]
        weighted -= oldest[2] * cut
        seconds -= cut
    return window, (weighted / seconds if seconds > 1e-9 else None)


def _unlink(back: _Link | None) -> tuple[_Segment, ...]:
    out: list[_Segment] = []
    node = back
    while node is not None:
        segment, node = node
        out.append(segment)
    out.reverse()
    return tuple(out)


class _Open(NamedTuple):
    since: datetime
    peak_c: float


class MktState(NamedTuple):
    last_at: datetime | None = None
    last_boltzmann: float | None = None
    """exp(-ΔH/RT) of the last temperature (computed once per sample)."""
    weighted: float = 0.0
    """Whole trip: Σ boltzmann·seconds."""
    weight_s: float = 0.0
    window: _Window | None = None
    """Rolling window: its intervals (None for the whole trip)."""
    ratio: float | None = None
    """Σ wᵢ·exp(-ΔH/RTᵢ) / Σ wᵢ as of the last sample."""
    open: _Open | None = None
    gap_s: float = 0.0
    """Seconds left out of the MKT: intervals beyond ``max_gap`` (missing data)."""

    @property
    def mkt_c(self) -> float | None:
        """The MKT (°C) as of the last sample (over the window, or the whole trip)."""
        return None if self.ratio is None else _from_ratio(self.ratio)

    @property
    def gap(self) -> timedelta:
        return timedelta(seconds=self.gap_s)


@dataclass(frozen=True, slots=True)
class MktRule:
    """Alerts while the MKT (whole trip, or over a rolling ``window``) is above ``limit_c``.

    The MKT is compared through Σ wᵢ·exp(-ΔH/RTᵢ) / Σ wᵢ, which grows with it, so a step
    takes no logarithm unless an alert is open (for its peak)."""

    name: str
    limit_c: float
    window: timedelta | None = None
    severity: Severity = "critical"
    hysteresis_c: float = 0.0
    max_gap: timedelta | None = DEFAULT_MAX_GAP
    _open_above: float = field(init=False, repr=False, compare=False)
    _close_at: float = field(init=False, repr=False, compare=False)
    _max_gap_s: float | None = field(init=False, repr=False, compare=False)
    _window_s: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.window is not None and self.window <= _ZERO:
            raise ValueError(f"MKT rule {self.name}: the window must be positive")
        if self.max_gap is not None and self.max_gap <= _ZERO:
            raise ValueError(f"MKT rule {self.name}: max_gap must be positive")
        object.__setattr__(self, "_open_above", _boltzmann(self.limit_c))
        object.__setattr__(self, "_close_at", _boltzmann(self.limit_c - self.hysteresis_c))
        max_gap_s = None if self.max_gap is None else self.max_gap.total_seconds()
        object.__setattr__(self, "_max_gap_s", max_gap_s)
        window_s = 0.0 if self.window is None else self.window.total_seconds()
        object.__setattr__(self, "_window_s", window_s)

    def initial(self) -> MktState:
        return MktState(window=None if self.window is None else _Window())

    def step(self, state: MktState, sample: Sample) -> tuple[MktState, list[Alert]]:
        temperature_c = sample.temperature_c
        if temperature_c is None:
            return state, []
        at = sample.at
        last_at = state.last_at
        if last_at is not None and at < last_at:
            check_order(last_at, sample, self.name)
        new_state = self._held(state, at, temperature_c)
        ratio, opened = new_state.ratio, new_state.open
        if ratio is None:
            return new_state, []
        if opened is None:
            if ratio <= self._open_above:
                return new_state, []
            opened = _Open(at, _from_ratio(ratio))
            return new_state._replace(open=opened), [self._alert(opened, None, at)]
        opened = _Open(opened.since, max(opened.peak_c, _from_ratio(ratio)))
        if ratio > self._close_at:
            return new_state._replace(open=opened), []
        return new_state._replace(open=None), [self._alert(opened, at, at)]

    def _held(self, state: MktState, at: datetime, temperature_c: float) -> MktState:
        """The state with the interval since the last temperature counted and ``temperature_c``
        (at ``at``, not before the last one) as the last one; its alert left as it was."""
        last_at, last_b, weighted, weight_s, window, ratio, opened, gap_s = state
        b = _exp(-_EA_K / (temperature_c + KELVIN))
        if last_at is not None and last_b is not None and at > last_at:
            elapsed = held = (at - last_at).total_seconds()
            max_gap = self._max_gap_s
            if max_gap is not None and held > max_gap:
                gap_s += held - max_gap
                held = max_gap
            if self.window is None:
                weighted += held * last_b
                weight_s += held
                ratio = weighted / weight_s
            else:
                window = window or _Window()
                window, ratio = _advance(window, last_b, elapsed, held, self._window_s)
        return _new(MktState, (at, b, weighted, weight_s, window, ratio, opened, gap_s))

    def advance_by_readings(self, state: MktState, readings: Readings) -> MktState | None:
        """The state after ``readings`` (plain readings in time order, see
        :meth:`alerts.events.RuleSet.step_readings`) if none of them opens an alert, as
        :meth:`step` one by one gives it (the same sums, in the same order); None if one does,
        or an alert is open: then step them one by one. The MKT's state changes with every
        temperature, so the batch is still accumulated reading by reading, without a sample."""
        if state.open is not None:
            return None
        open_above = self._open_above
        held = self._held
        for at, temperature_c in zip(readings.at, readings.temperature_c, strict=True):
            if temperature_c is None:
                continue
            state = held(state, at, temperature_c)
            ratio = state.ratio
            if ratio is not None and not ratio <= open_above:
                return None
        return state

    def _alert(self, opened: _Open, end: datetime | None, at: datetime) -> Alert:
        return Alert(
            rule=self.name,
            kind="mkt",
            severity=self.severity,
            start=opened.since,
            end=end,
            peak=opened.peak_c,
            limit=self.limit_c,
            duration=at - opened.since,
        )

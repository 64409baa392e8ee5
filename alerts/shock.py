"""Shocks above N g: one alert per episode (shocks closer together than ``quiet``), with its
peak and count, rather than one per shock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

from alerts.events import Alert, Readings, Sample, check_order, present
from alerts.profile_model import Severity


class _Episode(NamedTuple):
    start: datetime
    last: datetime
    peak_g: float
    shocks: int


class ShockState(NamedTuple):
    last_at: datetime | None = None
    """The last sample that changed the state (quiet samples between episodes do not)."""
    episode: _Episode | None = None
    total: int = 0
    """Shocks above the threshold over the whole trip."""
    peak_g: float = 0.0
    """The strongest shock of the whole trip."""


@dataclass(frozen=True, slots=True)
class ShockRule:
    name: str
    threshold_g: float
    quiet: timedelta = timedelta(minutes=1)
    """An episode closes at the first sample more than this after its last shock."""
    severity: Severity = "warning"

    def initial(self) -> ShockState:
        return ShockState()

    def unchanged_by_readings(self, state: ShockState, readings: Readings) -> bool:
        """Whether :meth:`step` leaves ``state`` as it is for every one of ``readings`` (plain
        readings in time order): no episode going on and no shock above the threshold."""
        if state.episode is not None:
            return False
        values = present(readings.shock_g)
        if not values:
            return True
        total = sum(values)
        if total != total:  # a NaN
            return False
        return max(values) <= self.threshold_g

    def _alert(self, episode: _Episode, end: datetime | None) -> Alert:
        return Alert(
            rule=self.name,
            kind="shock",
            severity=self.severity,
            start=episode.start,
            end=end,
            peak=episode.peak_g,
            limit=self.threshold_g,
            duration=episode.last - episode.start,
            count=episode.shocks,
        )

    def step(self, state: ShockState, sample: Sample) -> tuple[ShockState, list[Alert]]:
        at = sample.at
        last_at, episode, total, peak_g = state
        if last_at is not None and at < last_at:
            check_order(last_at, sample, self.name)
        g = sample.shock_g
        quiet = g is None or g <= self.threshold_g
        if episode is None and quiet:  # the fast path: nothing going on, nothing changes
            return state, []
        alerts: list[Alert] = []
        if episode is not None and at - episode.last > self.quiet:
            alerts.append(self._alert(episode, episode.last))
            episode = None
        if g is None or quiet:
            return ShockState(at, episode, total, peak_g), alerts
        if episode is None:
            episode = _Episode(at, at, g, 1)
            alerts.append(self._alert(episode, None))
        else:
            episode = _Episode(episode.start, at, max(episode.peak_g, g), episode.shocks + 1)
        return ShockState(at, episode, total + 1, max(peak_g, g)), alerts

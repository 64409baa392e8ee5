"""Shocks above N g: one alert per episode (shocks closer together than ``quiet``), with its
peak and count, rather than one per shock."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from alerts.events import Alert, Sample, check_order
from alerts.profile_model import Severity


@dataclass(frozen=True, slots=True)
class _Episode:
    start: datetime
    last: datetime
    peak_g: float
    count: int


@dataclass(frozen=True, slots=True)
class ShockState:
    last_at: datetime | None = None
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
            count=episode.count,
        )

    def step(self, state: ShockState, sample: Sample) -> tuple[ShockState, list[Alert]]:
        check_order(state.last_at, sample, self.name)
        alerts: list[Alert] = []
        episode = state.episode
        if episode is not None and sample.at - episode.last > self.quiet:
            alerts.append(self._alert(episode, episode.last))
            episode = None
        state = replace(state, last_at=sample.at, episode=episode)
        g = sample.shock_g
        if g is None or g <= self.threshold_g:
            return state, alerts
        if episode is None:
            episode = _Episode(sample.at, sample.at, g, 1)
            alerts.append(self._alert(episode, None))
        else:
            episode = _Episode(episode.start, sample.at, max(episode.peak_g, g), episode.count + 1)
        return (
            replace(state, episode=episode, total=state.total + 1, peak_g=max(state.peak_g, g)),
            alerts,
        )

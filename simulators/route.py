"""GPS along a route's waypoints as a delivery van drives it: realistic speeds (slower in
town, faster between), stops at each waypoint (a delivery), tunnels where there is no fix,
position jitter, and occasional jumps (multipath) that ingest's position tracker must reject.
Seeded and deterministic."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from itertools import pairwise

from simulators.sensors import TrackPoint, _bearing_deg, _distance_m


@dataclass(frozen=True, slots=True)
class GpsSample:
    point: TrackPoint | None  # None: no fix (tunnel)
    moving: bool
    at_stop: bool  # parked at a delivery stop (parcels are handled)
    stop_index: int | None


@dataclass(slots=True)
class Drive:
    """The van leaves waypoint 0, drives to each waypoint, stops there ``stop_s``, and at the
    end drives the route back, forever. A leg's cruising speed is drawn once per leg."""

    waypoints: tuple[tuple[float, float], ...]
    seed: int
    stop_s: float = 600.0
    speed_kmh: tuple[float, float] = (25.0, 55.0)
    tunnel_every_legs: int = 3  # every n-th leg has a tunnel in its middle fifth
    jitter_m: float = 4.0
    jump_rate: float = 0.002
    _rng: random.Random = field(init=False)
    _plan: list[tuple[float, float, int, bool]] = field(init=False)  # (start, end, leg, stop)
    _speeds: list[float] = field(init=False)
    _period: float = field(init=False)
    _legs: list[tuple[tuple[float, float], tuple[float, float]]] = field(init=False)

    def __post_init__(self) -> None:
        if len(self.waypoints) < 2:
            raise ValueError("a route needs at least two waypoints")
        self._rng = random.Random(self.seed)
        path = [*self.waypoints, *reversed(self.waypoints[:-1])]
        self._plan = []
        self._speeds = []
        t = 0.0
        for leg, (a, b) in enumerate(pairwise(path)):
            speed = self._rng.uniform(*self.speed_kmh)
            self._speeds.append(speed)
            duration = _distance_m(a, b) / (speed / 3.6)
            self._plan.append((t, t + duration, leg, False))
            t += duration
            self._plan.append((t, t + self.stop_s, leg, True))
            t += self.stop_s
        self._legs = list(pairwise(path))
        self._period = t

    def at(self, elapsed_s: float) -> GpsSample:
        t = elapsed_s % self._period
        for start, end, leg, stop in self._plan:
            if start <= t < end:
                a, b = self._legs[leg]
                if stop:
                    return GpsSample(self._noisy(b, 0.0, _bearing_deg(a, b)), False, True, leg)
                f = (t - start) / (end - start)
                if self.tunnel_every_legs and leg % self.tunnel_every_legs == 1 and 0.4 <= f < 0.6:
                    return GpsSample(None, True, False, None)
                lat = a[0] + (b[0] - a[0]) * f
                lon = a[1] + (b[1] - a[1]) * f
                speed = self._speeds[leg] * (0.8 + 0.2 * self._rng.random())
                return GpsSample(
                    self._noisy((lat, lon), speed, _bearing_deg(a, b)), True, False, None
                )
        raise AssertionError("unreachable: the plan covers the whole period")

    def _noisy(self, at: tuple[float, float], speed: float, heading: float) -> TrackPoint:
        metres = self.jitter_m
        if self._rng.random() < self.jump_rate:
            metres = 800.0  # a multipath jump
        dlat = self._rng.gauss(0, metres) / 111_000
        dlon = self._rng.gauss(0, metres) / 78_000
        return TrackPoint(
            round(at[0] + dlat, 6), round(at[1] + dlon, 6), round(speed, 1), round(heading, 1)
        )

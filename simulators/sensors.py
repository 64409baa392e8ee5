"""Models of what the simulated sensors measure, as functions of elapsed seconds. Seeded."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field


@dataclass(slots=True)
class ReeferTemperature:
    """A reefer compartment: set point, slow noise, and optionally a compressor failure at
    ``excursion_at_s`` after which the temperature climbs ``rise_c_per_s`` up to ``peak_c``."""

    seed: int
    set_point_c: float = 5.0
    excursion_at_s: float | None = None
    rise_c_per_s: float = 0.35
    peak_c: float = 12.0
    _rng: random.Random = field(init=False)
    _drift: float = field(init=False, default=0.0)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def at(self, elapsed_s: float) -> float:
        # AR(1) drift: a compressor cycling around the set point.
        self._drift = 0.9 * self._drift + self._rng.gauss(0, 0.08)
        value = self.set_point_c + 0.6 * math.sin(elapsed_s / 40.0) + self._drift
        if self.excursion_at_s is not None and elapsed_s > self.excursion_at_s:
            value = min(self.peak_c, value + (elapsed_s - self.excursion_at_s) * self.rise_c_per_s)
        return round(value, 2)


@dataclass(slots=True)
class Humidity:
    seed: int
    _rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def at(self, elapsed_s: float) -> float:
        return round(
            min(100.0, max(0.0, 62.0 + 4 * math.sin(elapsed_s / 90.0) + self._rng.gauss(0, 0.5))), 2
        )


def battery_pct(elapsed_s: float, start: float = 96.0) -> float:
    return max(0.0, round(start - elapsed_s / 3600.0, 0))


@dataclass(frozen=True, slots=True)
class TrackPoint:
    lat: float
    lon: float
    speed_kmh: float
    heading_deg: float


def _distance_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * 6_371_000 * math.asin(math.sqrt(h))


def _bearing_deg(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    y = math.sin(lon2 - lon1) * math.cos(lat2)
    x = math.cos(lat1) * math.sin(lat2) - math.sin(lat1) * math.cos(lat2) * math.cos(lon2 - lon1)
    return math.degrees(math.atan2(y, x)) % 360.0


@dataclass(slots=True)
class GpsTrack:
    """Drives along the waypoints at ``speed_kmh``, then back again, forever."""

    waypoints: tuple[tuple[float, float], ...]
    speed_kmh: float = 36.0

    def at(self, elapsed_s: float) -> TrackPoint:
        legs = list(zip(self.waypoints, self.waypoints[1:], strict=False))
        lengths = [_distance_m(a, b) for a, b in legs]
        total = sum(lengths)
        travelled = (elapsed_s * self.speed_kmh / 3.6) % (2 * total)
        forward = travelled <= total
        along = travelled if forward else 2 * total - travelled
        for (a, b), length in zip(legs, lengths, strict=True):
            if along <= length or (a, b) == legs[-1]:
                f = 0.0 if length == 0 else min(1.0, along / length)
                lat = a[0] + (b[0] - a[0]) * f
                lon = a[1] + (b[1] - a[1]) * f
                heading = _bearing_deg(a, b) if forward else _bearing_deg(b, a)
                return TrackPoint(round(lat, 6), round(lon, 6), self.speed_kmh, round(heading, 1))
            along -= length
        raise AssertionError("unreachable: the loop returns on its last leg")

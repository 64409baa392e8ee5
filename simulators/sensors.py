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


@dataclass(slots=True)
class Weather:
    """Outside air temperature: a daily cycle (warmest at 15:00, coldest at 03:00 of the
    simulated clock) around ``mean_c``, with slow seeded noise."""

    seed: int
    mean_c: float = 16.0
    daily_swing_c: float = 7.0
    start_hour: float = 8.0  # the simulated clock's hour at elapsed 0
    _rng: random.Random = field(init=False)
    _noise: float = field(init=False, default=0.0)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def at(self, elapsed_s: float) -> float:
        hour = (self.start_hour + elapsed_s / 3600.0) % 24
        self._noise = 0.98 * self._noise + self._rng.gauss(0, 0.05)
        cycle = math.cos(2 * math.pi * (hour - 15.0) / 24.0)  # warmest at 15:00, coldest 03:00
        return self.mean_c + self.daily_swing_c * cycle + self._noise


@dataclass(slots=True)
class Battery:
    """A coin cell: drains ``per_day_pct`` a day, faster in the cold, never below 0."""

    start_pct: float = 96.0
    per_day_pct: float = 0.4

    def at(self, elapsed_s: float, temperature_c: float = 20.0) -> float:
        cold = 1.5 if temperature_c < 0 else 1.0
        return max(0.0, round(self.start_pct - cold * self.per_day_pct * elapsed_s / 86400.0, 1))


@dataclass(slots=True)
class Handling:
    """Accelerations a parcel logger feels: road vibration while driving, a bump when a parcel
    is handled at a stop, and scripted drops (``drops_at_s``), each one shock of ``drop_g``."""

    seed: int
    drops_at_s: tuple[float, ...] = ()
    drop_g: float = 9.0
    _rng: random.Random = field(init=False)
    _done: set[float] = field(init=False, default_factory=set)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def peak_g(self, elapsed_s: float, moving: bool, handled: bool) -> float:
        """The largest acceleration since the previous call, in g."""
        for at in self.drops_at_s:
            if at <= elapsed_s and at not in self._done:
                self._done.add(at)
                return round(self.drop_g + self._rng.uniform(0, 1.5), 2)
        if handled:
            return round(self._rng.uniform(1.5, 3.0), 2)
        if moving:
            return round(1.0 + abs(self._rng.gauss(0, 0.15)), 2)
        return round(1.0 + abs(self._rng.gauss(0, 0.02)), 2)


@dataclass(slots=True)
class AdvertLoss:
    """Which BLE adverts the gateway misses: each with probability ``rate``, more in bursts
    (interference: a missed advert makes the next one likelier to be missed too)."""

    seed: int
    rate: float = 0.02
    burst: float = 0.3
    _rng: random.Random = field(init=False)
    _last_lost: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def lost(self) -> bool:
        p = self.burst if self._last_lost else self.rate
        self._last_lost = self._rng.random() < p
        return self._last_lost

"""A reefer compartment's air temperature, stepped in simulated time.

First-order thermal model: the air moves towards a target with a time constant (thermal
inertia). The target is the set point while the compressor runs; the outside air (see
:class:`simulators.sensors.Weather`) once it has failed; during a defrost cycle the evaporator
heats the air by a few degrees; an open door lets outside air in, with a much shorter time
constant. A thermostat hysteresis makes the temperature cycle around the set point.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from simulators.sensors import Weather


@dataclass(frozen=True, slots=True)
class Interval:
    start_s: float
    end_s: float

    def __contains__(self, t: float) -> bool:
        return self.start_s <= t < self.end_s


@dataclass(slots=True)
class Compartment:
    seed: int
    set_point_c: float = 5.0
    weather: Weather | None = None
    inertia_s: float = 1800.0  # closed, compressor off: e-folding time towards outside
    cooling_s: float = 300.0  # compressor on: e-folding time towards the set point
    door_s: float = 900.0  # door open (strip curtain): e-folding time towards outside
    hysteresis_c: float = 0.8
    defrost_every_s: float = 6 * 3600.0
    defrost_for_s: float = 20 * 60.0
    defrost_heat_c: float = 2.0  # the air warms towards set point + this while defrosting
    failures: tuple[Interval, ...] = ()  # compressor down
    doors: tuple[Interval, ...] = ()  # door open
    temperature_c: float = field(init=False)
    _rng: random.Random = field(init=False)
    _t: float = field(init=False, default=0.0)
    _cooling: bool = field(init=False, default=True)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self.temperature_c = self.set_point_c
        if self.weather is None:
            self.weather = Weather(self.seed + 1)

    def compressor_ok(self, t: float) -> bool:
        return not any(t in f for f in self.failures)

    def door_open(self, t: float) -> bool:
        return any(t in d for d in self.doors)

    def defrosting(self, t: float) -> bool:
        return self.defrost_every_s > 0 and t % self.defrost_every_s >= (
            self.defrost_every_s - self.defrost_for_s
        )

    def at(self, t: float, step_s: float = 10.0) -> float:
        """The air temperature at ``t`` seconds, stepping from the previous call."""
        assert self.weather is not None
        while self._t < t:
            dt = min(step_s, t - self._t)
            now = self._t + dt
            outside = self.weather.at(now)
            lo = self.set_point_c - self.hysteresis_c
            hi = self.set_point_c + self.hysteresis_c
            if self.temperature_c <= lo:
                self._cooling = False
            elif self.temperature_c >= hi:
                self._cooling = True
            if self.door_open(now):
                target, tau = outside, self.door_s
            elif self.compressor_ok(now) and self.defrosting(now):
                target, tau = self.set_point_c + self.defrost_heat_c, self.cooling_s
            elif self.compressor_ok(now) and self._cooling:
                target, tau = lo - 1.0, self.cooling_s
            else:
                target, tau = outside, self.inertia_s
            self.temperature_c += (target - self.temperature_c) * min(1.0, dt / tau)
            self._t = now
        return self.temperature_c

    def logger_reading(self, t: float, offset_c: float = 0.0) -> float:
        """What a logger in the compartment measures: the air plus its offset and noise."""
        return round(self.at(t) + offset_c + self._rng.gauss(0, 0.05), 2)


def humidity_pct(temperature_c: float, outside_c: float, door_open: bool, noise: float) -> float:
    """Relative humidity in the compartment: drier when cold and sealed, near the outside's
    (about 70 %) when the door is open."""
    base = 70.0 if door_open else 55.0 + 0.8 * (temperature_c - 5.0) + 0.1 * outside_c
    return round(min(100.0, max(0.0, base + noise)), 1)

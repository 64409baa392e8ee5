"""Excursions: time ranges in which readings were outside a profile's band. Pure functions over
one device's readings in time order, so the same code runs live and over history."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from alerts.profiles import Band


@dataclass(frozen=True, slots=True)
class Excursion:
    boundary: str
    """"high" or "low"."""
    limit_c: float
    start: datetime
    end: datetime | None
    """The first reading back in the band; None while the excursion goes on."""
    peak_c: float
    readings: int

    @property
    def ongoing(self) -> bool:
        return self.end is None


def find_excursions(readings: Iterable[tuple[datetime, float]], band: Band) -> list[Excursion]:
    """Excursions in ``readings`` ((time, temperature_c), ascending time)."""
    out: list[Excursion] = []
    current: tuple[str, datetime, float, int] | None = None  # boundary, start, peak, count

    def close(end: datetime | None) -> None:
        assert current is not None
        boundary, start, peak, count = current
        limit = band.high_c if boundary == "high" else band.low_c
        assert limit is not None
        out.append(Excursion(boundary, limit, start, end, peak, count))

    for time, temperature in readings:
        breach = band.breach(temperature)
        if current is not None and breach != current[0]:
            close(time)
            current = None
        if breach is None:
            continue
        if current is None:
            current = (breach, time, temperature, 1)
        else:
            worse = max if breach == "high" else min
            current = (breach, current[1], worse(current[2], temperature), current[3] + 1)
    if current is not None:
        close(None)
    return out

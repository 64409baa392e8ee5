"""The shopper's temperature chart: averaged per bucket, at most 500 points."""

from datetime import UTC, datetime, timedelta

import pytest

from api.tracking import thin_temperatures

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)  # on a 5-minute boundary


def at(minute: int) -> datetime:
    return T0 + timedelta(minutes=minute)


def test_five_minute_buckets_averaged() -> None:
    series = {"P1": [(at(m), float(m)) for m in range(11)]}
    points = [(p.time, p.temperature_c) for p in thin_temperatures(series)]
    assert points == [(at(0), 2.0), (at(5), 7.0), (at(10), 10.0)]  # mean of 0-4, 5-9, 10


def test_parcels_are_averaged_together() -> None:
    series = {"P1": [(at(1), 4.0)], "P2": [(at(2), 6.0), (at(7), 3.0)]}
    points = [(p.time, p.temperature_c) for p in thin_temperatures(series)]
    assert points == [(at(0), 5.0), (at(5), 3.0)]


def test_long_series_get_wider_buckets() -> None:
    # 3,000 minutes: 5-minute buckets would be 600; 10-minute ones are 300.
    series = {"P1": [(at(m), 5.0) for m in range(3000)]}
    points = thin_temperatures(series)
    assert len(points) == 300
    assert points[1].time - points[0].time == timedelta(minutes=10)
    assert len(thin_temperatures(series, max_points=50)) <= 50


def test_edge_cases() -> None:
    assert thin_temperatures({}) == [] == thin_temperatures({"P1": []})
    with pytest.raises(ValueError, match="at least 2"):
        thin_temperatures({"P1": [(at(0), 1.0)]}, max_points=1)

"""The shopper's temperature chart: every reading when they fit in 500 points, else each parcel's
lowest and highest reading per bucket of 5 minutes, wider when that would give over 500 points.

Picking the lowest and highest readings is done by the database
(tests/integration/api/test_api_track_chart.py)."""

from datetime import UTC, datetime, timedelta
from typing import get_args

import pytest

from alerts.events import AlertKind
from api.models_tracking import ParcelTemperature, TemperatureRange
from api.queries_chart import TEMPERATURE_ALERT_KINDS
from api.tracking import bucket_width, series_bucket

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
FIVE = timedelta(minutes=5)


def test_short_series_get_five_minute_buckets() -> None:
    assert bucket_width(T0, T0) == FIVE
    assert bucket_width(T0, T0 + timedelta(minutes=10)) == FIVE
    assert bucket_width(T0, T0 + 499 * FIVE) == FIVE  # 500 buckets: the most


def test_long_series_get_wider_buckets() -> None:
    # 3,000 minutes: 5-minute buckets would be 600; 10-minute ones are 300.
    assert bucket_width(T0, T0 + timedelta(minutes=2999)) == 2 * FIVE
    assert bucket_width(T0, T0 + 500 * FIVE) == 2 * FIVE
    width = bucket_width(T0, T0 + timedelta(days=30), max_points=50)
    assert width % FIVE == timedelta(0)
    assert timedelta(days=30) / width <= 49


def test_too_few_points_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        bucket_width(T0, T0, max_points=1)


def span(readings: int, parcels: int, minutes: float) -> TemperatureRange:
    low = ParcelTemperature(parcel_id="P1", time=T0, temperature_c=2.0)
    return TemperatureRange(
        readings=readings,
        parcels=parcels,
        first_at=T0,
        last_at=T0 + timedelta(minutes=minutes),
        min=low,
        max=low,
    )


def test_readings_that_fit_are_all_shown() -> None:
    assert series_bucket(span(1, 1, 0)) is None
    assert series_bucket(span(500, 4, 100_000)) is None  # a long trip, but 500 points
    assert series_bucket(span(10, 1, 60), max_points=10) is None


def test_readings_that_do_not_fit_get_two_points_per_parcel_and_bucket() -> None:
    # 501 readings over 3,000 minutes, one parcel: 250 buckets of two points at most, so
    # 3,000 / 249 = 12.05 minutes at least, rounded up to 15.
    assert series_bucket(span(501, 1, 3000)) == 3 * FIVE
    # Four parcels share the 500 points: 62 buckets each, 3,000 / 61 = 49.2 -> 50 minutes.
    width = series_bucket(span(10_000, 4, 3000))
    assert width == 10 * FIVE
    buckets = 3000 / (width / timedelta(minutes=1)) + 1  # aligned buckets the span touches
    assert 4 * 2 * buckets <= 500
    # Readings packed in a few minutes: 5-minute buckets.
    assert series_bucket(span(5_000, 1, 4)) == FIVE


def test_a_shipment_of_many_parcels_still_gets_two_buckets_each() -> None:
    assert series_bucket(span(1_000, 400, 60)) == bucket_width(T0, T0 + timedelta(hours=1), 2)


def test_the_shaded_alert_kinds_are_alert_kinds() -> None:
    # The chart shades the stored alerts of these kinds: a renamed kind must not go unshaded.
    assert set(TEMPERATURE_ALERT_KINDS) <= set(get_args(AlertKind))
    assert {"excursion", "budget", "mkt"} == set(TEMPERATURE_ALERT_KINDS)

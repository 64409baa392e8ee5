"""The shopper's temperature chart: buckets of 5 minutes, wider when that gives over 500 points.

The averaging itself is done by the database (tests/integration/api/test_api_track.py)."""

from datetime import UTC, datetime, timedelta

import pytest

from api.tracking import bucket_width

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

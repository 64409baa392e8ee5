"""gateway.health's own median (the status's GPS clock offset) is statistics.median."""

from __future__ import annotations

import statistics

import pytest

from gateway.health import _median


@pytest.mark.parametrize(
    "values", [[0.5], [3.0, -1.0], [0.2, 0.1, 0.4, 0.3], [1.0, 5.0, 2.0, 2.0, 9.0]]
)
def test_the_health_median_is_the_statistics_median(values: list[float]) -> None:
    assert _median(values) == statistics.median(values)

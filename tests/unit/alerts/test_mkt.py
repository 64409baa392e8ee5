import math
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alerts.events import Sample, fold
from alerts.mkt import MktRule, mean_kinetic_temperature, mkt_of_weighted
from tests.unit.alerts.helpers import T0, at, minutes


def test_reference_example_two_equal_periods_at_20_and_30_c() -> None:
    # Hand-derived from the definition (Haynes 1971; USP <1079.2>), with dH/R = 10,000 K:
    # MKT = 10000 / -ln((exp(-10000/293.15) + exp(-10000/303.15)) / 2) - 273.15 = 26.26 C,
    # above the arithmetic mean (25.0 C): a warm period weighs more than a cool one.
    assert mkt_of_weighted([(20.0, 1.0), (30.0, 1.0)]) == pytest.approx(26.26, abs=0.005)


def test_reference_example_by_the_hour() -> None:
    # The same example as a time series: 1 h at 20 C then 1 h at 30 C (the last sample closes it).
    series = [(T0, 20.0), (T0 + timedelta(hours=1), 30.0), (T0 + timedelta(hours=2), 30.0)]
    assert mean_kinetic_temperature(series) == pytest.approx(26.26, abs=0.005)


def test_time_weighting_by_the_intervals() -> None:
    # 3 h at 20 C then 1 h at 30 C, sampled unevenly, equals weights 3:1.
    series = [(T0, 20.0), (T0 + timedelta(hours=3), 30.0), (T0 + timedelta(hours=4), 5.0)]
    assert mean_kinetic_temperature(series) == pytest.approx(mkt_of_weighted([(20, 3), (30, 1)]))


@given(st.floats(-40, 60), st.integers(2, 50))
def test_a_constant_series_has_that_mkt(temperature: float, n: int) -> None:
    series = [(T0 + timedelta(minutes=i), temperature) for i in range(n)]
    mkt = mean_kinetic_temperature(series)
    assert mkt is not None and math.isclose(mkt, temperature, abs_tol=1e-9)


def test_under_two_times_there_is_no_mkt() -> None:
    assert mean_kinetic_temperature([]) is None
    assert mean_kinetic_temperature([(T0, 5.0)]) is None


def test_the_whole_trip_rule_equals_the_batch_function_and_alerts_above_the_limit() -> None:
    samples = minutes(*[24.0] * 60, *[32.0] * 30, *[20.0] * 300, every=1)
    rule = MktRule("crt/mkt", 25.0)
    state, alerts = fold(rule, samples)
    expected = mean_kinetic_temperature([(s.at, s.temperature_c or 0) for s in samples])
    assert state.mkt_c == pytest.approx(expected)
    opened, done = alerts
    assert opened.kind == "mkt" and opened.end is None and done.end is not None
    assert opened.start == done.start and done.peak > 25.0


def test_the_rolling_window_forgets_what_is_older() -> None:
    rule = MktRule("mkt-1h", 25.0, window=timedelta(hours=1))
    samples = minutes(*[40.0] * 60, *[5.0] * 121)
    state, alerts = fold(rule, samples)
    assert state.mkt_c == pytest.approx(5.0)
    assert [a.end is None for a in alerts] == [True, False]
    whole, _ = fold(MktRule("mkt", 25.0), samples)
    assert whole.mkt_c is not None and whole.mkt_c > 20.0


def test_samples_without_a_temperature_do_not_count() -> None:
    rule = MktRule("mkt", 25.0)
    state, _ = fold(rule, [Sample(at(0), temperature_c=10.0), Sample(at(5), shock_g=3.0)])
    assert state.mkt_c is None

import itertools
import math
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.events import Sample, fold
from alerts.mkt import (
    DELTA_H_J_PER_MOL,
    R_J_PER_MOL_K,
    MktRule,
    mean_kinetic_temperature,
    mkt_of_weighted,
)
from tests.unit.alerts.helpers import T0, at, minutes


def test_published_example_usp_1160_weekly_means() -> None:
    # USP <1160> (pharmaceutical calculations), MKT example 1: 52 weekly mean temperatures of
    # 25 C; dH/R = 83.144 / 0.0083144 = 10,000 K, dH/(R T) = 10,000 / 298.1 K = 33.5458, so
    # MKT = 10,000 K / 33.5458 = 298.1 K = 25.0 C. (The example takes 0 C = 273.1 K.)
    assert DELTA_H_J_PER_MOL / R_J_PER_MOL_K == pytest.approx(10_000.0)
    assert 10_000.0 / (25.0 + 273.1) == pytest.approx(33.5458, abs=5e-5)
    weekly = [(T0 + timedelta(weeks=i), 25.0) for i in range(53)]
    assert mean_kinetic_temperature(weekly) == pytest.approx(25.0, abs=0.05)


def test_published_example_a_day_in_three_places() -> None:
    # A published worked example (Isopharm's MKT FAQ): 2 h in a 20 C room, 4 h in a 2 C
    # refrigerator, 1 h on a 25 C loading dock is "thermally equivalent" to 15.7 C for 7 h
    # (the arithmetic mean is 10.4 C: the warm hours weigh more).
    series = [(T0, 20.0), (T0 + timedelta(hours=2), 2.0), (T0 + timedelta(hours=6), 25.0),
              (T0 + timedelta(hours=7), 25.0)]  # fmt: skip
    mkt = mean_kinetic_temperature(series)
    assert mkt is not None and round(mkt, 1) == 15.7


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


def test_a_hole_is_left_out_not_weighted_as_the_last_value() -> None:
    # 5 C every 15 min, then one reading at 30 C followed by 2 hours without data.
    samples = [
        *minutes(*[5.0] * 9, every=15),  # 0 .. 120 min
        Sample(at(135), temperature_c=30.0),
        *minutes(5.0, 5.0, every=15, start=255),
    ]
    rule = MktRule("mkt", 25.0, max_gap=timedelta(minutes=15))
    state, _ = fold(rule, samples)
    assert state.gap == timedelta(minutes=105)  # 120 minutes of hole, 15 held
    # The 30 C reading weighs 15 minutes, as if readings had gone on every 15 minutes.
    assert state.mkt_c == pytest.approx(mkt_of_weighted([(5.0, 135 + 15), (30.0, 15)]))
    series = [(s.at, s.temperature_c or 0.0) for s in samples]
    assert state.mkt_c == pytest.approx(
        mean_kinetic_temperature(series, max_gap=timedelta(minutes=15))
    )
    # Held for the whole hole, the same reading would weigh 2 hours.
    unbounded, _ = fold(MktRule("mkt", 25.0, max_gap=None), samples)
    assert unbounded.mkt_c is not None and state.mkt_c is not None
    assert unbounded.mkt_c > state.mkt_c + 5.0
    assert unbounded.gap == timedelta(0)


def test_hysteresis_keeps_the_alert_open_just_below_the_limit() -> None:
    rule = MktRule("mkt-1h", 25.0, window=timedelta(hours=1), hysteresis_c=1.0)
    # One hour at 26 C (MKT 26 > 25: open), then 24.5 C (MKT drifts to 24.5, above 25 - 1:
    # still open), then 20 C (MKT falls below 24: closed).
    samples = minutes(*[26.0] * 61, *[24.5] * 60, *[20.0] * 60)
    _, alerts = fold(rule, samples)
    assert [(a.start, a.end) for a in alerts] == [(at(1), None), (at(1), alerts[1].end)]
    closed = alerts[1].end
    assert closed is not None and at(121) < closed < at(181)
    assert alerts[1].peak == pytest.approx(26.0)


def _window_reference(samples: list[Sample], window: timedelta, max_gap: timedelta) -> float | None:
    """MKT over the last ``window`` before the last sample, straight from the definition."""
    end = samples[-1].at
    since = end - window
    pairs = []
    for a, b in itertools.pairwise(samples):
        held_end = min(b.at, a.at + max_gap)
        start = max(a.at, since)
        if held_end > start:
            pairs.append((a.temperature_c or 0.0, (held_end - start).total_seconds()))
    return mkt_of_weighted(pairs)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.integers(1, 40), st.floats(-30, 60)), min_size=2, max_size=120),
    st.integers(5, 300),
)
def test_the_rolling_window_equals_the_definition(
    raw: list[tuple[int, float]], window_min: int
) -> None:
    samples, minute = [], 0
    for gap, temperature in raw:
        minute += gap
        samples.append(Sample(at(minute), temperature_c=temperature))
    window, max_gap = timedelta(minutes=window_min), timedelta(minutes=15)
    rule = MktRule("mkt", 100.0, window=window, max_gap=max_gap)
    state, _ = fold(rule, samples)
    expected = _window_reference(samples, window, max_gap)
    if expected is None:
        assert state.mkt_c is None
    else:
        assert state.mkt_c is not None and math.isclose(state.mkt_c, expected, abs_tol=1e-6)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.floats(-5, 40), min_size=1, max_size=200),
    st.lists(st.floats(-5, 40), max_size=50),
    st.data(),
)
def test_a_state_is_never_changed_by_stepping_from_it(
    first: list[float], other: list[float], data: st.DataObject
) -> None:
    # Live and replay share states: branching from one state must not disturb the other branch.
    rule = MktRule("mkt", 20.0, window=timedelta(minutes=30))
    prefix = minutes(*first)
    state, _ = fold(rule, prefix)
    continuation = minutes(*data.draw(st.lists(st.floats(-5, 40), max_size=50)), start=len(first))
    expected = fold(rule, continuation, state=state)
    fold(rule, minutes(*other, start=len(first)), state=state)  # another branch
    assert fold(rule, continuation, state=state) == expected

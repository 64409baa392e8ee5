import itertools
from dataclasses import replace
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.events import Alert, OutOfOrderSample, Sample, fold
from alerts.profile_model import Scope
from alerts.threshold import Threshold
from tests.unit.alerts.helpers import at, minutes

ABOVE_8 = Threshold(
    name="above-8",
    field="temperature_c",
    direction="upper",
    limit=8.0,
    hysteresis=0.2,
    delay=timedelta(minutes=30),
    budget=timedelta(minutes=60),
)


def closed(alerts: list[Alert]) -> list[Alert]:
    return [a for a in alerts if a.kind == "excursion" and a.end is not None]


@pytest.mark.parametrize(
    ("case", "temps", "expected"),
    [
        # (start minute, end minute) of each closed excursion alert; readings 1 min apart.
        ("in band", [5.0] * 60, []),
        ("delay not reached", [5.0] + [9.0] * 29 + [5.0], []),
        ("delay reached exactly", [5.0] + [9.0] * 30 + [5.0], [(1, 31)]),
        ("hovering on the limit", [5.0] + [8.1, 7.9] * 30 + [7.5], [(1, 61)]),
        ("inside, not by the hysteresis", [5.0] + [9.0] * 40 + [7.9] * 5 + [7.8], [(1, 46)]),
        ("two excursions", [5.0] + [9.0] * 35 + [5.0] + [9.0] * 35 + [5.0], [(1, 36), (37, 72)]),
        ("the limit itself is inside", [8.0] * 60, []),
    ],
)  # fmt: skip
def test_excursions(case: str, temps: list[float], expected: list[tuple[int, int]]) -> None:
    _, alerts = fold(ABOVE_8, minutes(*temps))
    assert [(a.start, a.end) for a in closed(alerts)] == [(at(s), at(e)) for s, e in expected], case


def test_an_alert_opens_when_the_delay_is_reached_then_closes_with_peak_duration_area() -> None:
    temps = [5.0] + [9.0] * 30 + [11.0] * 10 + [5.0]
    state, alerts = fold(ABOVE_8, minutes(*temps))
    opened, done = alerts
    assert (opened.start, opened.end, opened.duration) == (at(1), None, timedelta(minutes=30))
    assert (done.start, done.end, done.peak, done.duration) == (
        at(1),
        at(41),
        11.0,
        timedelta(minutes=40),
    )
    assert done.area == pytest.approx(30 * 1.0 + 10 * 3.0)
    assert ABOVE_8.ongoing(state) is None


def test_a_gap_within_max_gap_beyond_the_limit_fires_on_the_sample_that_ends_it() -> None:
    rule = replace(ABOVE_8, max_gap=timedelta(hours=1))
    samples = [Sample(at(0), temperature_c=9.0), Sample(at(45), temperature_c=5.0)]
    _, alerts = fold(rule, samples)
    ((alert),) = alerts
    assert (alert.end, alert.duration, alert.area) == (at(45), timedelta(minutes=45), 45.0)


def test_a_hole_in_the_data_does_not_count_as_excursion() -> None:
    # 9 C, then nothing for 2 hours, then 9 C again for 20 minutes. With max_gap 15 min the
    # hole counts for 15 minutes only: the first excursion lasted 15 min (below the 30 min
    # delay: no alert), a new one starts after the hole, and the budget used is 15 + 20 min.
    samples = [Sample(at(0), temperature_c=9.0), *minutes(*[9.0] * 20, 5.0, start=120)]
    state, alerts = fold(ABOVE_8, samples)
    assert alerts == []
    assert state.used == timedelta(minutes=35)
    assert state.used_area == pytest.approx(35.0)
    # Without max_gap the same data is a 140-minute excursion and a spent budget.
    _, unbounded = fold(replace(ABOVE_8, max_gap=None), samples)
    assert [(a.kind, a.start, a.end) for a in unbounded] == [
        ("budget", at(60), None),
        ("excursion", at(0), None),
        ("excursion", at(0), at(140)),
    ]


def test_a_hole_ends_an_open_excursion_at_the_last_sample_plus_max_gap() -> None:
    temps = [9.0] * 40  # 40 minutes beyond the limit: alert open at minute 30
    samples = [*minutes(*temps), Sample(at(200), temperature_c=9.5), Sample(at(201), 5.0)]
    _, alerts = fold(ABOVE_8, samples)
    assert [(a.kind, a.start, a.end) for a in alerts] == [
        ("excursion", at(0), None),
        ("excursion", at(0), at(39 + 15)),  # closed by the hole, at the last sample + 15 min
    ]
    closed_by_hole = alerts[1]
    assert closed_by_hole.duration == timedelta(minutes=54)
    assert closed_by_hole.area == pytest.approx(54 * 1.0)


def test_max_gap_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_gap"):
        replace(ABOVE_8, max_gap=timedelta(0))


def test_an_ongoing_alert_as_of_the_last_sample() -> None:
    state, _ = fold(ABOVE_8, minutes(5.0, *[9.0] * 40))
    ongoing = ABOVE_8.ongoing(state)
    assert ongoing is not None and ongoing.ongoing
    assert ongoing.duration == timedelta(minutes=39)


def test_the_budget_accumulates_across_excursions_and_never_resets() -> None:
    door = [9.0] * 20 + [5.0] * 30  # a 20-minute door opening: below the 30-minute delay
    state, alerts = fold(ABOVE_8, minutes(*door * 3))
    assert closed(alerts) == []
    (budget,) = [a for a in alerts if a.kind == "budget"]
    assert budget.start == at(100 + 20)  # 20 + 20 minutes used, the third one exhausts it
    assert budget.duration == timedelta(minutes=60) and budget.end is None
    assert state.used == timedelta(minutes=60)
    state, more = fold(ABOVE_8, minutes(*door, start=150), state=state)
    assert more == [] and state.used == timedelta(minutes=80)  # counts on, fires once


def test_the_ignore_period_at_the_start() -> None:
    rule = replace(ABOVE_8, ignore_start=timedelta(minutes=60))
    temps = [12.0] * 59 + [5.0] + [12.0] * 31 + [5.0]
    _, alerts = fold(rule, minutes(*temps))
    assert [(a.start, a.end) for a in closed(alerts)] == [(at(60), at(91))]


def test_scope_ends_an_excursion_and_stops_the_clock() -> None:
    rule = replace(ABOVE_8, scopes=frozenset({"transit"}), delay=timedelta(0))
    samples = [
        Sample(at(0), temperature_c=9.0),
        Sample(at(10), temperature_c=9.0, scope="destination"),
        Sample(at(50), temperature_c=9.0, scope="destination"),
    ]
    state, alerts = fold(rule, samples)
    assert [(a.start, a.end) for a in alerts] == [(at(0), None), (at(0), at(10))]
    assert state.used == timedelta(minutes=10)


def test_a_lower_inclusive_limit_and_a_budget_only_boundary() -> None:
    frost = Threshold("frost", "temperature_c", "lower", -0.5, inclusive=True, delay=None,
                      budget=timedelta(minutes=5))  # fmt: skip
    _, alerts = fold(frost, minutes(1.0, -0.5, -0.5, -0.5, -3.0, -3.0, -3.0, 1.0))
    ((budget),) = alerts
    assert (budget.kind, budget.start, budget.peak) == ("budget", at(6), -3.0)
    assert budget.area == pytest.approx(3 * 0 + 2 * 2.5)


def test_samples_without_the_field_are_skipped_and_disorder_is_refused() -> None:
    state, alerts = ABOVE_8.step(ABOVE_8.initial(), Sample(at(0), humidity_pct=40))
    assert (state, alerts) == (ABOVE_8.initial(), [])
    state, _ = ABOVE_8.step(state, Sample(at(5), temperature_c=5.0))
    with pytest.raises(OutOfOrderSample, match="older than the last one"):
        ABOVE_8.step(state, Sample(at(4), temperature_c=5.0))


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 40), st.floats(0, 16), st.sampled_from(["transit", "origin"])),
        max_size=80,
    )
)
def test_the_budget_used_is_the_time_beyond_the_limit_up_to_max_gap(
    raw: list[tuple[int, float, Scope]],
) -> None:
    rule = replace(ABOVE_8, scopes=frozenset({"transit"}))
    samples, minute = [], 0
    for gap, temperature, scope in raw:
        minute += gap
        samples.append(Sample(at(minute), temperature_c=temperature, scope=scope))
    state, _ = fold(rule, samples)
    expected = timedelta(0)
    for a, b in itertools.pairwise(samples):
        if a.scope == "transit" and (a.temperature_c or 0.0) > 8.0:
            expected += min(b.at - a.at, timedelta(minutes=15))
    assert state.used == expected

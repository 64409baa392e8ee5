from datetime import timedelta

from alerts.events import Sample, fold
from alerts.rules import battery_low, humidity_rules, shock_above
from tests.unit.alerts.helpers import at


def test_shocks_are_grouped_into_episodes_with_peak_and_count() -> None:
    rule = shock_above(5.0, quiet=timedelta(minutes=1))
    gs = [0.5, 6.0, 9.5, 7.0, 1.0, 0.2, 0.1, 12.0]
    samples = [Sample(at(i * 0.5), shock_g=g) for i, g in enumerate(gs)]
    state, alerts = fold(rule, samples)
    first_open, first_closed, second_open = alerts
    assert (first_open.end, first_open.count) == (None, 1)
    assert (first_closed.start, first_closed.end) == (at(0.5), at(1.5))
    assert (first_closed.peak, first_closed.count) == (9.5, 3)
    assert (second_open.start, second_open.peak) == (at(3.5), 12.0)
    assert (state.total, state.peak_g) == (4, 12.0)


def test_humidity_bounds() -> None:
    (high,) = humidity_rules(None, 80.0, delay=timedelta(minutes=10))
    samples = [Sample(at(i), humidity_pct=h) for i, h in enumerate([60] + [85] * 12 + [77])]
    _, alerts = fold(high, samples)
    assert [(a.kind, a.start, a.end) for a in alerts] == [
        ("humidity", at(1), None),
        ("humidity", at(1), at(13)),
    ]


def test_battery_low_does_not_flap_around_the_limit() -> None:
    levels = [30, 19, 21, 19, 22, 24, 26]
    _, alerts = fold(battery_low(20), [Sample(at(i), battery_pct=b) for i, b in enumerate(levels)])
    assert [(a.kind, a.start, a.end) for a in alerts] == [
        ("battery", at(1), None),
        ("battery", at(1), at(6)),
    ]


def test_battery_levels_hold_however_rarely_they_come() -> None:
    # A battery reported every 6 hours: no max_gap, so one low-battery alert, no flapping.
    levels = [(0, 30.0), (360, 18.0), (720, 17.0), (1080, 26.0)]
    samples = [Sample(at(m), battery_pct=b) for m, b in levels]
    _, alerts = fold(battery_low(20), samples)
    assert [(a.start, a.end) for a in alerts] == [(at(360), None), (at(360), at(1080))]

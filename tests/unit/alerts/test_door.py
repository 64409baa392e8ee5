from datetime import timedelta

import pytest

from alerts.door import DoorOpenRule
from alerts.events import OutOfOrderSample, Sample, fold
from tests.unit.alerts.helpers import at

DOOR = DoorOpenRule(delay=timedelta(minutes=10), debounce=timedelta(seconds=30))


def door(minute: float, is_open: bool | None) -> Sample:
    return Sample(at(minute), door_open=is_open)


def reading(minute: float) -> Sample:
    return Sample(at(minute), temperature_c=5.0)


def test_short_openings_are_counted_without_an_alert() -> None:
    samples = [door(0, True), door(2, False), door(30, True), door(33, False)]
    state, alerts = fold(DOOR, samples)
    assert alerts == []
    assert (state.openings, state.open_time, state.longest) == (
        2,
        timedelta(minutes=5),
        timedelta(minutes=3),
    )


def test_a_door_left_open_is_caught_by_the_next_reading_after_the_delay() -> None:
    samples = [door(0, True), *[reading(m) for m in range(1, 13)], door(25, False)]
    state, alerts = fold(DOOR, samples)
    opened, closed = alerts
    assert (opened.kind, opened.start, opened.end, opened.count) == ("door", at(0), None, 1)
    assert opened.duration == timedelta(minutes=10)  # the reading at minute 10
    assert (closed.start, closed.end, closed.duration) == (at(0), at(25), timedelta(minutes=25))
    assert (closed.peak, closed.limit) == (25.0, 10.0)
    assert state.longest == timedelta(minutes=25) and not state.is_open


def test_a_long_opening_seen_only_at_its_close_is_raised_closed() -> None:
    _, alerts = fold(DOOR, [door(0, True), door(40, False)])
    ((closed),) = alerts
    assert (closed.start, closed.end, closed.duration) == (at(0), at(40), timedelta(minutes=40))


def test_a_bounce_is_the_same_opening() -> None:
    bounce = 10 / 60  # ten seconds
    samples = [door(0, True), door(4, False), door(4 + bounce, True), door(8, False)]
    state, alerts = fold(DOOR, samples)
    assert alerts == []
    assert state.openings == 1 and state.open_time == timedelta(minutes=8)
    # Reopened after the debounce: a second opening.
    state, _ = fold(DOOR, [door(0, True), door(4, False), door(5, True), door(8, False)])
    assert state.openings == 2 and state.open_time == timedelta(minutes=7)


def test_a_bounce_after_the_alert_reopens_the_same_alert() -> None:
    bounce = 5 / 60
    samples = [door(0, True), door(12, False), door(12 + bounce, True), door(20, False)]
    _, alerts = fold(DOOR, samples)
    assert [(a.start, a.end) for a in alerts] == [
        (at(0), at(12)),  # seen at the close: raised closed
        (at(0), None),  # the bounce: the same opening (same start) is open again
        (at(0), at(20)),
    ]
    assert {a.count for a in alerts} == {1}


def test_light_with_hysteresis() -> None:
    rule = DoorOpenRule(name="light/open", source="light", open_lux=50, close_lux=10,
                        delay=timedelta(minutes=3))  # fmt: skip
    lux = [0, 60, 30, 12, 40, 9, 30, 45, 80, 2]  # open at 60, stays open down to 10
    state, alerts = fold(rule, [Sample(at(m), light_lux=v) for m, v in enumerate(lux)])
    assert state.openings == 2  # 60 .. 9, then 80 .. 2 (30 and 45 are below open_lux)
    assert [(a.rule, a.start, a.end) for a in alerts] == [
        ("light/open", at(1), None),  # 3 minutes open at minute 4 (40 lux: still open)
        ("light/open", at(1), at(5)),
    ]


def test_invalid_settings_and_disorder() -> None:
    with pytest.raises(ValueError, match="close_lux"):
        DoorOpenRule(open_lux=10, close_lux=20)
    state, _ = DOOR.step(DOOR.initial(), door(5, True))
    with pytest.raises(OutOfOrderSample):
        DOOR.step(state, door(4, False))

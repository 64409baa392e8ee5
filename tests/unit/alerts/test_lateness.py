from collections.abc import Sequence
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.events import OutOfOrderSample
from alerts.lateness import EtaUpdate, LateArrivalRisk, LatenessState, estimate_eta
from tests.unit.alerts.helpers import at

RISK = LateArrivalRisk(margin=timedelta(minutes=30), hysteresis=timedelta(minutes=10),
                       confirm=timedelta(minutes=5))  # fmt: skip
PROMISED = at(600)


def run(
    rule: LateArrivalRisk, etas: Sequence[tuple[float, float | None]]
) -> tuple[LatenessState, list[tuple[float, float | None]]]:
    """(minute, ETA minute) updates; the alerts as (start minute, end minute)."""
    state, out = rule.initial(), []
    for minute, eta in etas:
        update = EtaUpdate(at(minute), PROMISED, eta=None if eta is None else at(eta))
        state, alerts = rule.step(state, update)
        out += alerts
    spans = [
        ((a.start - at(0)) / timedelta(minutes=1),
         None if a.end is None else (a.end - at(0)) / timedelta(minutes=1))
        for a in out
    ]  # fmt: skip
    return state, spans


def test_estimate_eta() -> None:
    assert estimate_eta(at(0), 30_000, 60) == at(30)
    assert estimate_eta(at(0), 30_000, 3) is None  # parked: no honest estimate
    assert estimate_eta(at(0), 0, 0, dwell=timedelta(minutes=2)) == at(2)
    with pytest.raises(ValueError, match="negative"):
        estimate_eta(at(0), -1, 50)


def test_trending_late_once_confirmed_then_cleared_with_hysteresis() -> None:
    # The line is 570 (promised 600 - 30 min); cleared only at 560 or earlier.
    etas = [(0, 540), (10, 575), (12, 580), (15, 590), (20, 565), (25, 561), (30, 555)]
    state, spans = run(RISK, etas)
    assert spans == [(10, None), (10, 30)]
    assert state.trend is None


def test_a_passing_slowdown_raises_nothing() -> None:
    _, spans = run(RISK, [(0, 540), (10, 575), (12, 569), (20, 575), (22, 550)])
    assert spans == []


def test_peak_is_the_worst_lateness_and_delivery_closes_it() -> None:
    state = RISK.initial()
    alerts = []
    for minute, eta in [(0, 620), (5, 650), (10, 630)]:
        state, new = RISK.step(state, EtaUpdate(at(minute), PROMISED, eta=at(eta)))
        alerts += new
    state, done = RISK.step(state, EtaUpdate(at(640), PROMISED, delivered=True))
    state, after = RISK.step(state, EtaUpdate(at(641), PROMISED, eta=at(700)))
    ((opened),) = alerts
    ((closed),) = done
    assert (opened.kind, opened.start, opened.peak, opened.limit) == ("late", at(0), 50.0, -30.0)
    assert (closed.start, closed.end) == (at(0), at(640)) and after == []


def test_an_eta_from_distance_and_speed_and_none_without() -> None:
    state, _ = RISK.step(
        RISK.initial(), EtaUpdate(at(0), at(60), remaining_m=80_000, speed_kmh=60)
    )  # ETA 80 min for a promise in 60: late
    assert state.eta == at(80) and state.trend is not None
    same, nothing = RISK.step(state, EtaUpdate(at(1), at(60), remaining_m=80_000, speed_kmh=0))
    assert nothing == [] and same.trend == state.trend and same.last_at == at(1)
    with pytest.raises(OutOfOrderSample):
        RISK.step(same, EtaUpdate(at(0), at(60)))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(540, 600), max_size=80))
def test_it_never_flaps_inside_the_hysteresis_band(etas: list[int]) -> None:
    # ETAs wandering in 560 .. 600 (between "clear" and well beyond the line) never close an
    # alert once opened; alerts alternate open, closed.
    _, spans = run(RISK, [(i, eta) for i, eta in enumerate(etas)])
    closes = [end for _, end in spans if end is not None]
    for end in closes:
        assert etas[int(end)] <= 560
    opens = [start for start, end in spans if end is None]
    assert len(opens) - len(closes) in (0, 1)

from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.builtin_profiles import BUILTIN_PROFILES
from alerts.door import DoorOpenRule
from alerts.events import OutOfOrderSample, RuleSet, Sample, fold
from alerts.geofence import GeofenceRule, Zone
from alerts.mkt import MktRule
from alerts.rules import battery_low, humidity_rules, parcel_rules, shock_above
from tests.unit.alerts.helpers import T0, at

Raw = tuple[int, float, Any, float | None, bool | None, float | None, float | None]
samples_st = st.lists(
    st.tuples(
        st.integers(0, 20),  # minutes since the previous sample
        st.floats(-25, 50, allow_nan=False),
        st.sampled_from(["origin", "transit", "destination"]),
        st.one_of(st.none(), st.floats(0, 20)),  # shock
        st.one_of(st.none(), st.booleans()),  # door
        st.one_of(st.none(), st.floats(0, 100)),  # light
        st.one_of(st.none(), st.floats(0, 400)),  # metres north of the depot
    ),
    max_size=80,
)
DEPOT = Zone("depot", "depot", 45.75, 4.85, radius_m=200)


def build(raw: list[Raw], start: int = 0) -> list[Sample]:
    out, minute = [], start
    for gap, temperature, scope, shock, door, lux, north in raw:
        minute += gap
        humidity = 50 + temperature
        lat = None if north is None else DEPOT.lat + north / 111_195.0
        lon = None if north is None else DEPOT.lon
        out.append(
            Sample(
                at(minute),
                temperature,
                humidity,
                shock,
                100 - minute % 100,
                scope,
                door_open=door,
                light_lux=lux,
                lat=lat,
                lon=lon,
            )
        )
    return out


def every_rule(profile: str) -> RuleSet:
    return parcel_rules(
        BUILTIN_PROFILES[profile],
        *humidity_rules(30, 80),
        battery_low(),
        shock_above(5),
        MktRule("mkt-1h", 8.0, window=timedelta(hours=1), hysteresis_c=0.5),
        DoorOpenRule(delay=timedelta(minutes=5), debounce=timedelta(minutes=1)),
        DoorOpenRule(name="light/open", source="light", delay=timedelta(minutes=5)),
        GeofenceRule((DEPOT,)),
    )


@settings(max_examples=150, deadline=None)
@given(samples_st, st.sampled_from(sorted(BUILTIN_PROFILES)), st.data())
def test_live_one_at_a_time_equals_replay(raw: list[Raw], name: str, data: st.DataObject) -> None:
    rules = every_rule(name)
    samples = build(raw)
    _, replayed = fold(rules, samples)
    # Live: one sample at a time, the state handed over (as ingest keeps it between messages).
    state, live = rules.initial(), []
    cut = data.draw(st.integers(0, len(samples)))
    for sample in samples[:cut]:
        state, alerts = rules.step(state, sample)
        live.extend(alerts)
    # A state is never changed by stepping from it: a branch (e.g. a replay started from the
    # live state) leaves the live run's alerts as they were.
    branch_start = cut and int((samples[cut - 1].at - T0).total_seconds() // 60)
    fold(rules, build(data.draw(samples_st), start=branch_start), state=state)
    state, rest = fold(rules, samples[cut:], state=state)  # e.g. after a restart
    assert live + rest == replayed
    for alert in replayed:
        assert alert.end is None or alert.end >= alert.start
        assert alert.area >= 0 and alert.duration >= timedelta(0)


def test_a_state_of_the_wrong_shape_is_refused() -> None:
    rules = every_rule("pharma-2-8")
    with pytest.raises(ValueError, match="start from initial"):
        rules.step((), Sample(T0, temperature_c=5.0))
    empty = RuleSet(())
    assert empty.step(empty.initial(), Sample(T0)) == ((T0,), [])


def test_the_rule_set_refuses_disorder_even_when_every_rule_is_idle() -> None:
    rules = parcel_rules(BUILTIN_PROFILES["pharma-2-8"], battery_low(), shock_above(5))
    state, _ = fold(rules, [Sample(at(m), temperature_c=5.0) for m in range(10)])
    with pytest.raises(OutOfOrderSample, match="older than the last one"):
        rules.step(state, Sample(at(8), temperature_c=5.0))
    assert set(rules.states(state)) == {r.name for r in rules.rules}

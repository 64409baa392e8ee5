from datetime import timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.builtin_profiles import BUILTIN_PROFILES
from alerts.events import Sample, fold
from alerts.excursions import find_excursions
from alerts.profiles import PROFILES
from alerts.rules import battery_low, humidity_rules, parcel_rules, shock_above
from alerts.threshold import Threshold
from tests.unit.alerts.helpers import T0, at

samples_st = st.lists(
    st.tuples(
        st.integers(0, 20),  # minutes since the previous sample
        st.floats(-25, 50, allow_nan=False),
        st.sampled_from(["origin", "transit", "destination"]),
        st.one_of(st.none(), st.floats(0, 20)),
    ),
    max_size=80,
)


def build(raw: list[tuple[int, float, Any, float | None]]) -> list[Sample]:
    out, minute = [], 0
    for gap, temperature, scope, shock in raw:
        minute += gap
        humidity = 50 + temperature
        out.append(Sample(at(minute), temperature, humidity, shock, 100 - minute % 100, scope))
    return out


@settings(max_examples=150, deadline=None)
@given(samples_st, st.sampled_from(sorted(BUILTIN_PROFILES)), st.data())
def test_live_one_at_a_time_equals_replay(
    raw: list[tuple[int, float, Any, float | None]], name: str, data: st.DataObject
) -> None:
    rules = parcel_rules(
        BUILTIN_PROFILES[name], *humidity_rules(30, 80), battery_low(), shock_above(5)
    )
    samples = build(raw)
    _, replayed = fold(rules, samples)
    # Live: one sample at a time, the state handed over (as ingest keeps it between messages).
    state, live = rules.initial(), []
    cut = data.draw(st.integers(0, len(samples)))
    for sample in samples[:cut]:
        state, alerts = rules.step(state, sample)
        live.extend(alerts)
    state, rest = fold(rules, samples[cut:], state=state)  # e.g. after a restart
    assert live + rest == replayed
    for alert in replayed:
        assert alert.end is None or alert.end >= alert.start
        assert alert.area >= 0 and alert.duration >= timedelta(0)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.floats(-25, 15, allow_nan=False), max_size=60))
def test_without_delay_or_hysteresis_excursions_match_find_excursions(temps: list[float]) -> None:
    band = PROFILES["pharma-2-8"]
    series = [(T0 + timedelta(minutes=i), t) for i, t in enumerate(temps)]
    expected = [(e.boundary, e.start, e.end, e.peak_c) for e in find_excursions(series, band)]
    got = []
    for boundary, direction, limit in (("high", "upper", 8.0), ("low", "lower", 2.0)):
        rule = Threshold(boundary, "temperature_c", direction, limit)  # type: ignore[arg-type]
        state, alerts = fold(rule, [Sample(t, temperature_c=c) for t, c in series])
        ends = {a.start: a for a in alerts if a.end is not None}
        for a in alerts:
            if a.end is None:
                final = ends.get(a.start)
                got.append((boundary, a.start, final.end if final else None, (final or a).peak))
        ongoing = rule.ongoing(state)
        if ongoing is not None:
            got[-1] = (boundary, ongoing.start, None, ongoing.peak)
    assert sorted(got, key=lambda g: g[1]) == expected

"""A parcel's condition is read off the rule engine's own state: it agrees with the alerts the
same rules raise, live and on replay, for every built-in profile and a user profile."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.builtin_profiles import BUILTIN_PROFILES, PHARMA_2_8
from alerts.button import ButtonRule
from alerts.condition import ParcelRules
from alerts.events import Alert, Sample, fold
from alerts.geofence import Zone
from alerts.profile_model import Boundary, Profile
from alerts.rules import door_rules, profile_rules, shock_above
from tests.unit.alerts.helpers import T0, at

USER = Profile(
    name="insulin-user",
    revision=3,
    boundaries=(
        Boundary(name="above-8", kind="upper", limit_c=8.0, severity="critical",
                 delay_min=10, budget_min=25, scopes=frozenset({"transit"})),
        Boundary(name="below-2", kind="lower", limit_c=2.0, severity="warning", delay_min=5,
                 hysteresis_c=0.5),
        Boundary(name="above-25-at-destination", kind="upper", limit_c=25.0, severity="info",
                 delay_min=0, scopes=frozenset({"destination"})),
    ),
    mkt_max_c=12.0,
)  # fmt: skip
PROFILES = {**BUILTIN_PROFILES, USER.name: USER}
DEPOT = Zone("Depot Lyon", "origin", 45.75, 4.85, radius_m=300)
SHOP = Zone("Pharmacie", "destination", 45.80, 4.85, radius_m=300)

step_st = st.tuples(
    st.integers(0, 25),  # minutes since the previous sample
    st.one_of(st.none(), st.floats(-30, 50, allow_nan=False)),  # temperature
    st.one_of(st.none(), st.sampled_from(["depot", "road", "shop"])),  # a fix
    st.one_of(st.none(), st.floats(0, 12)),  # shock
    st.booleans(),  # button
)


def parcel_rules_for(profile: Profile, zones: tuple[Zone, ...] = (DEPOT, SHOP)) -> ParcelRules:
    extra = (shock_above(6.0), ButtonRule(), *door_rules(profile))
    return ParcelRules.build(profile, (*profile_rules(profile), *extra), zones)


def build(raw: list[tuple[int, float | None, str | None, float | None, bool]]) -> list[Sample]:
    where = {"depot": (DEPOT.lat, DEPOT.lon), "shop": (SHOP.lat, SHOP.lon),
             "road": (45.775, 4.85)}  # fmt: skip
    out, minute = [], 0
    for gap, temperature, fix, shock, button in raw:
        minute += gap
        lat, lon = where[fix] if fix else (None, None)
        out.append(
            Sample(
                at(minute),
                temperature_c=temperature,
                lat=lat,
                lon=lon,
                shock_g=shock,
                button="press" if button else None,
            )
        )
    return out


def _fired(rules: ParcelRules, alerts: list[Alert]) -> set[tuple[str, Any]]:
    prefix = f"{rules.profile.name}@{rules.profile.revision}/" if rules.profile else "-"
    return {(a.rule, a.start) for a in alerts if a.rule.startswith(prefix) and a.severity != "info"}


@settings(max_examples=200, deadline=None)
@given(st.lists(step_st, max_size=70), st.sampled_from(sorted(PROFILES)), st.data())
def test_after_each_sample_the_condition_agrees_with_the_alerts(
    raw: list[Any], name: str, data: st.DataObject
) -> None:
    rules = parcel_rules_for(PROFILES[name])
    samples = build(raw)
    state, emitted = rules.initial(), []
    for i, sample in enumerate(samples):
        state, alerts = rules.step(state, sample)
        emitted.extend(alerts)
        verdict = rules.verdict(state)
        fired = _fired(rules, emitted)
        temperatures = [s.temperature_c for s in samples[: i + 1] if s.temperature_c is not None]
        # out of spec exactly when a warning or critical alert of the profile was emitted
        assert (verdict.state == "out_of_spec") == bool(fired)
        assert verdict.alerts == len(fired)
        if not temperatures:
            assert verdict.state == "no_data"
        else:
            assert verdict.readings == len(temperatures)
            assert (verdict.min_c, verdict.max_c) == (min(temperatures), max(temperatures))
            assert verdict.last_c == temperatures[-1]
        if verdict.state == "in_spec":
            assert all(not use.beyond and use.budget_used_min == 0 for use in verdict.allowance)
        for use in verdict.allowance:
            if use.beyond and use.delay_min is not None:
                assert use.delay_used_min is not None and use.delay_used_min >= 0
    # Replay from the stored history gives the same state, hence the same verdict.
    replayed_state, replayed = fold(rules, samples)
    assert replayed == emitted
    assert rules.verdict(replayed_state) == rules.verdict(state)
    # Live with a restart in the middle (the state handed over) gives it too.
    cut = data.draw(st.integers(0, len(samples)))
    mid, first = fold(rules, samples[:cut])
    end, rest = fold(rules, samples[cut:], state=mid)
    assert first + rest == emitted and rules.verdict(end) == rules.verdict(state)


def test_a_brief_excursion_is_within_the_allowance_until_the_delay_is_used_up() -> None:
    rules = parcel_rules_for(PHARMA_2_8, zones=())
    state = rules.initial()
    for minute, temperature in ((0, 5.0), (5, 9.0), (15, 9.5)):
        state, alerts = rules.step(state, Sample(at(minute), temperature_c=temperature))
        assert alerts == []
    verdict = rules.verdict(state)
    assert verdict.state == "excursion_within_allowance"
    above = next(u for u in verdict.allowance if u.boundary == "above-8")
    assert (above.beyond, above.delay_min, above.delay_used_min) == (True, 30.0, 10.0)
    assert above.budget_min == 60.0 and above.budget_used_min == 10.0
    # back in spec: still "within allowance" (the budget keeps what was used)
    state, _ = rules.step(state, Sample(at(20), temperature_c=5.0))
    verdict = rules.verdict(state)
    assert verdict.state == "excursion_within_allowance"
    assert next(u for u in verdict.allowance if u.boundary == "above-8").budget_used_min == 15.0
    # a long one: the 30-minute delay is used up, the alert fires, out of spec for good
    for minute in range(25, 70, 5):
        state, _ = rules.step(state, Sample(at(minute), temperature_c=10.0))
    state, _ = rules.step(state, Sample(at(75), temperature_c=5.0))
    assert rules.verdict(state).state == "out_of_spec"


def test_scope_comes_from_the_zones_so_scoped_boundaries_fire_only_there() -> None:
    rules = parcel_rules_for(USER)  # above-8 in transit only; above-25 at destination (info)
    series = [
        Sample(at(0), lat=DEPOT.lat, lon=DEPOT.lon),
        *(Sample(at(m), temperature_c=12.0) for m in range(1, 30)),  # warm at the depot
        Sample(at(30), lat=45.775, lon=4.85),  # left the depot
        Sample(at(31), temperature_c=5.0),
    ]
    state, alerts = fold(rules, series)
    geofence = [a for a in alerts if a.kind == "geofence"]
    assert [(a.rule, a.end is None) for a in geofence] == [
        ("geofence/origin/Depot Lyon", True),
        ("geofence/origin/Depot Lyon", False),
    ]
    assert not [a for a in alerts if a.rule.endswith("/above-8")]  # the depot is not transit
    assert rules.verdict(state).scope == "transit"
    state, alerts = fold(
        rules, [Sample(at(m), temperature_c=12.0) for m in range(32, 60)], state=state
    )
    opened = [(a.rule, a.kind) for a in alerts if a.end is None]
    assert opened == [("insulin-user@3/above-8", "excursion"), ("insulin-user@3/above-8", "budget")]
    assert rules.verdict(state).state == "out_of_spec"


def test_shock_and_button_events_reach_their_rules() -> None:
    rules = parcel_rules_for(PHARMA_2_8, zones=())
    _, alerts = fold(
        rules,
        [
            Sample(at(0), temperature_c=5.0),
            Sample(at(1), shock_g=9.5),
            Sample(at(2), button="long_press", button_number=1.0),
            Sample(at(4), temperature_c=5.0),
        ],
    )
    kinds = [(a.kind, a.severity) for a in alerts]
    assert ("shock", "warning") in kinds and ("button", "info") in kinds
    assert rules.verdict(fold(rules, [Sample(T0, temperature_c=5.0)])[0]).state == "in_spec"
    assert timedelta(0) == next(a for a in alerts if a.kind == "button").duration

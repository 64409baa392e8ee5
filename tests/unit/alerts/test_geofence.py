import math
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.events import Sample, fold
from alerts.geofence import EARTH_RADIUS_M, GeofenceRule, Zone, distance_m
from tests.unit.alerts.helpers import at

M_PER_DEG_LAT = math.pi / 180 * EARTH_RADIUS_M
ORIGIN = Zone("warehouse-lyon", "origin", 45.75, 4.85, radius_m=200, margin_m=50)
DEPOT = Zone("depot-macon", "depot", 46.30, 4.83, radius_m=300)
DESTINATION = Zone("pharmacy-dijon", "destination", 47.32, 5.04, radius_m=100, margin_m=30)
RULE = GeofenceRule((ORIGIN, DEPOT, DESTINATION))


def north_of(zone: Zone, metres: float, minute: float) -> Sample:
    return Sample(at(minute), lat=zone.lat + metres / M_PER_DEG_LAT, lon=zone.lon)


def test_distance() -> None:
    # Paris (Notre-Dame) to Lyon (Fourviere): about 392 km as the crow flies.
    assert distance_m(48.8530, 2.3499, 45.7623, 4.8225) == pytest.approx(392_000, rel=0.01)
    assert distance_m(45.0, 4.0, 45.0 + 100 / M_PER_DEG_LAT, 4.0) == pytest.approx(100, abs=0.01)


def test_a_trip_enters_and_leaves_each_zone_once() -> None:
    samples = [
        north_of(ORIGIN, 0, 0),
        north_of(ORIGIN, 150, 5),
        north_of(ORIGIN, 400, 10),  # left the origin
        north_of(DEPOT, 100, 60),
        north_of(DEPOT, 1000, 90),
        north_of(DESTINATION, 500, 170),
        north_of(DESTINATION, 20, 180),
    ]
    state, alerts = fold(RULE, samples)
    assert [(a.rule, a.start, a.end) for a in alerts] == [
        ("geofence/origin/warehouse-lyon", at(0), None),
        ("geofence/origin/warehouse-lyon", at(0), at(10)),
        ("geofence/depot/depot-macon", at(60), None),
        ("geofence/depot/depot-macon", at(60), at(90)),
        ("geofence/destination/pharmacy-dijon", at(180), None),
    ]
    assert {a.kind for a in alerts} == {"geofence"} and {a.severity for a in alerts} == {"info"}
    assert alerts[1].duration == timedelta(minutes=10)
    assert alerts[1].peak == pytest.approx(0, abs=0.01) and alerts[1].limit == 200
    assert state.entries == 3 and state.scope() == "destination"
    (ongoing,) = RULE.ongoing(state)
    assert ongoing.start == at(180) and ongoing.duration == timedelta(0)


def test_jitter_on_the_border_does_not_flap() -> None:
    # Positions between the radius (200 m) and radius + margin (250 m) keep the visit going.
    metres = [100, 210, 190, 240, 205, 199, 230, 260, 240, 199]
    samples = [north_of(ORIGIN, m, i) for i, m in enumerate(metres)]
    _, alerts = fold(RULE, samples)
    assert [(a.start, a.end) for a in alerts] == [
        (at(0), None),
        (at(0), at(7)),  # 260 m: beyond the margin
        (at(9), None),  # 199 m: inside the radius again
    ]


def test_scope_for_the_profile_boundaries() -> None:
    state = RULE.initial()
    scopes = []
    for sample in [north_of(ORIGIN, 0, 0), north_of(DEPOT, 0, 60), north_of(DESTINATION, 0, 90)]:
        state, _ = RULE.step(state, sample)
        scopes.append(state.scope())
    assert scopes == ["origin", "transit", "destination"]
    assert RULE.initial().scope() == "transit"


def test_samples_without_a_position_change_nothing() -> None:
    state, _ = fold(RULE, [north_of(ORIGIN, 0, 0)])
    assert RULE.step(state, Sample(at(5), temperature_c=4.0)) == (state, [])


def test_invalid_zones() -> None:
    with pytest.raises(ValueError, match="no such place"):
        Zone("x", "depot", 95.0, 0.0, radius_m=10)
    with pytest.raises(ValueError, match="radius_m"):
        Zone("x", "depot", 45.0, 0.0, radius_m=0)
    with pytest.raises(ValueError, match="unique"):
        GeofenceRule((ORIGIN, ORIGIN))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(0, 400), max_size=60))
def test_visits_alternate_and_never_overlap(metres: list[float]) -> None:
    samples = [north_of(ORIGIN, m, i) for i, m in enumerate(metres)]
    state, alerts = fold(GeofenceRule((ORIGIN,)), samples)
    opened = [a for a in alerts if a.end is None]
    closed = [a for a in alerts if a.end is not None]
    assert len(opened) - len(closed) == (1 if state.visits else 0)
    for before, after in zip(closed, opened[1:], strict=False):
        assert before.start < after.start and before.end is not None
        assert before.end <= after.start

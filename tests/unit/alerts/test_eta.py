"""The delivery estimate, against figures worked out by hand.

The van drives due north along a meridian, 0.01 degree of latitude a minute: 1,111.95 m a
minute (one degree is 6,371,008.8 m x pi / 180 = 111,195.08 m), 66.72 km/h. The destination is
one degree north of the latest fix: 100 minutes of driving at that speed.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import pytest

from alerts.eta import (
    EARTH_RADIUS_M,
    EtaInputs,
    EtaParams,
    Fix,
    LaneTrip,
    Point,
    estimate,
    great_circle_m,
    lane_speed_kmh,
    moving_speed_kmh,
)
from tests.unit.alerts.helpers import at

DEGREE_M = EARTH_RADIUS_M * math.pi / 180  # 111,195.08 m
PLAIN = EtaParams(detour=1.0, dwell_ratio=0.0)  # no detour, no stops: the bare arithmetic


def driving(minutes: int = 11, *, lat0: float = 45.0) -> list[Fix]:
    """A fix a minute from minute 0 to minutes - 1, 0.01 degree north each."""
    return [Fix(at(m), lat0 + 0.01 * m, 4.8) for m in range(minutes)]


def inputs(fixes: list[Fix], **more: object) -> EtaInputs:
    last = fixes[-1]
    defaults: dict[str, object] = {"now": last.time, "destination": Point(last.lat + 1, 4.8)}
    return EtaInputs(fixes=fixes, **{**defaults, **more})  # type: ignore[arg-type]


def minutes_after(eta_at: datetime, start: datetime) -> float:
    return (eta_at - start) / timedelta(minutes=1)


def test_great_circle_distance() -> None:
    assert great_circle_m(45, 4.8, 46, 4.8) == pytest.approx(DEGREE_M)
    assert DEGREE_M == pytest.approx(111_195.08, abs=0.01)
    # Along the equator a degree of longitude is a degree of arc too.
    assert great_circle_m(0, 0, 0, 1) == pytest.approx(DEGREE_M)
    # Paris (48.8566, 2.3522) to Lyon (45.7640, 4.8357): about 392 km as the crow flies.
    assert great_circle_m(48.8566, 2.3522, 45.7640, 4.8357) / 1000 == pytest.approx(391.5, abs=1)
    with pytest.raises(ValueError, match="not a place"):
        Point(91, 0)


def test_the_moving_speed_leaves_the_stops_out() -> None:
    fixes = driving(11)
    assert moving_speed_kmh(fixes) == pytest.approx(DEGREE_M / 100 / 1000 * 60)  # 66.72 km/h
    last = fixes[-1]
    parked = [Fix(last.time + timedelta(minutes=m), last.lat, last.lon) for m in (1, 2, 3)]
    assert moving_speed_kmh(fixes + parked) == pytest.approx(66.717, abs=0.001)
    assert moving_speed_kmh(parked) is None  # parked all along: no speed
    assert moving_speed_kmh(fixes[:1]) is None
    # Only the window before the latest fix counts: an hour-old fast leg is forgotten.
    old = [Fix(at(-120), 40.0, 4.8), Fix(at(-119), 41.0, 4.8)]
    assert moving_speed_kmh(old + fixes) == pytest.approx(66.717, abs=0.001)


def test_lane_speed_is_the_median_of_past_trips() -> None:
    trips = [
        LaneTrip(at(0), at(120), 100_000),  # 50 km/h
        LaneTrip(at(0), at(150), 100_000),  # 40 km/h
        LaneTrip(at(0), at(240), 100_000),  # 25 km/h
        LaneTrip(at(0), at(0), 100_000),  # no duration: ignored
    ]
    assert lane_speed_kmh(trips) == pytest.approx(40.0)
    assert lane_speed_kmh([]) is None


def test_from_the_recent_speed() -> None:
    fixes = driving()
    eta = estimate(inputs(fixes), PLAIN)
    assert eta is not None
    assert eta.basis == "recent_speed"
    assert minutes_after(eta.at, fixes[-1].time) == pytest.approx(100.0)
    assert eta.remaining_m == pytest.approx(DEGREE_M)
    # Defaults: roads 1.3 times the great circle, 15 % for stops: 100 x 1.3 x 1.15 = 149.5 min.
    eta = estimate(inputs(fixes))
    assert eta is not None
    assert minutes_after(eta.at, fixes[-1].time) == pytest.approx(149.5)


def test_from_the_lane_history_alone_and_blended() -> None:
    fixes = driving()
    here = fixes[-1]
    # Three past trips of the same distance as what remains, in 2 h, 3 h and 5 h: median 3 h.
    trips = [LaneTrip(at(0), at(60 * h), DEGREE_M) for h in (2, 3, 5)]
    parked = [Fix(here.time, here.lat, here.lon), Fix(here.time + timedelta(minutes=5), here.lat,
                                                      here.lon)]  # fmt: skip
    lane_only = estimate(inputs(parked, lane=trips), PLAIN)
    assert lane_only is not None and lane_only.basis == "lane_history"
    assert minutes_after(lane_only.at, parked[-1].time) == pytest.approx(180.0)
    assert lane_only.lane_trips == 3
    # Both: the lane weighs 3 / (3 + 5); 100 + (180 - 100) x 3/8 = 130 minutes.
    both = estimate(inputs(fixes, lane=trips), PLAIN)
    assert both is not None and both.basis == "recent_speed+lane_history"
    assert minutes_after(both.at, here.time) == pytest.approx(130.0)
    # Ten trips count as five: half and half, 140 minutes.
    many = estimate(inputs(fixes, lane=trips * 3 + trips[:1]), PLAIN)
    assert many is not None
    assert minutes_after(many.at, here.time) == pytest.approx(140.0)


def test_before_the_first_fix_the_origin_is_where_it_stands() -> None:
    origin = Point(45.0, 4.8)
    trips = [LaneTrip(at(0), at(120), DEGREE_M)]
    eta = estimate(
        EtaInputs(now=at(0), destination=Point(46.0, 4.8), origin=origin, lane=trips), PLAIN
    )
    assert eta is not None and eta.basis == "lane_history"
    assert eta.at == at(120)
    # Without a lane history there is nothing to go on.
    assert estimate(EtaInputs(now=at(0), destination=Point(46.0, 4.8), origin=origin)) is None


def test_trending_late_is_past_the_promise_plus_the_grace() -> None:
    fixes = driving()
    now = fixes[-1].time  # the estimate is now + 100 min; the grace is 15 min
    late = estimate(inputs(fixes, promised_at=now + timedelta(minutes=84)), PLAIN)
    on_the_line = estimate(inputs(fixes, promised_at=now + timedelta(minutes=85)), PLAIN)
    early = estimate(inputs(fixes, promised_at=now + timedelta(minutes=120)), PLAIN)
    assert late is not None and late.trending_late
    assert on_the_line is not None and not on_the_line.trending_late
    assert early is not None and not early.trending_late
    unpromised = estimate(inputs(fixes), PLAIN)
    assert unpromised is not None and not unpromised.trending_late


def test_delivered_at_the_destination_and_no_estimate() -> None:
    fixes = driving()
    delivered = estimate(inputs(fixes, delivered_at=at(3), promised_at=at(0)))
    assert delivered is not None
    assert (delivered.at, delivered.basis, delivered.trending_late) == (at(3), "delivered", False)
    # 0.002 degree (222 m) from the destination: there, now.
    last = fixes[-1]
    there = estimate(inputs(fixes, destination=Point(last.lat + 0.002, last.lon)))
    assert there is not None and (there.basis, there.at) == ("at_destination", last.time)
    assert estimate(inputs(fixes, destination=None)) is None
    still = [Fix(at(m), 45.0, 4.8) for m in range(5)]
    assert estimate(inputs(still)) is None  # parked, no lane history: no honest estimate


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="detour"):
        EtaParams(detour=0.5)
    with pytest.raises(ValueError, match="window"):
        EtaParams(window=timedelta(0))

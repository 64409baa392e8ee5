"""The delivery estimate (ETA) of a shipment, and whether it is trending late. Pure: no I/O,
the clock is an input.

Method (docs/api.md, "The delivery estimate"):

1. **Remaining distance**: the great-circle distance from the latest accepted fix (or the
   origin, before the first fix) to the destination's coordinates.
2. **Recent moving speed**: over the fixes of the last ``window`` (ending at the latest fix),
   the distance covered divided by the time spent *moving* (legs at ``min_moving_kmh`` or
   more); stops do not drag it down, they are allowed for separately. The estimate from it is
   ``now + remaining * detour / speed`` (roads are longer than the great circle) plus a dwell
   allowance of ``dwell_ratio`` times that driving time (stops, traffic lights, hand-overs).
3. **Lane history**: past trips on the same lane (origin -> destination), each giving a
   door-to-door speed (its great-circle distance over the time from departure to delivery:
   detours and stops are in it). Their median gives ``now + remaining / lane speed``.
4. With both, the two estimates are blended: the lane's weight is ``n / (n + lane_cap)``
   with ``n`` = min(trips, ``lane_cap``), so five trips weigh as much as the live speed.
   With one of them, that one. With neither, there is no honest estimate: None.

``trending_late`` is true when the estimate is later than the promised time plus ``grace``
(an estimate is not exact to the minute). Once delivered, the estimate is the delivery time
and nothing trends any more (``trending_late`` is false; compare ``at`` with the promise).
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

EARTH_RADIUS_M = 6_371_008.8
"""The mean Earth radius (IUGG), in metres."""

Basis = Literal[
    "delivered",
    "at_destination",
    "recent_speed",
    "lane_history",
    "recent_speed+lane_history",
    "carrier",
]


def great_circle_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """The haversine distance between two points given in degrees, in metres."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi = phi2 - phi1
    dlmb = math.radians(lon2 - lon1)
    h = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


@dataclass(frozen=True, slots=True)
class Point:
    lat: float
    lon: float

    def __post_init__(self) -> None:
        if not (-90 <= self.lat <= 90 and -180 <= self.lon <= 180):
            raise ValueError(f"not a place: lat {self.lat}, lon {self.lon}")

    def distance_m(self, other: Point) -> float:
        return great_circle_m(self.lat, self.lon, other.lat, other.lon)


@dataclass(frozen=True, slots=True)
class Fix:
    """An accepted position of the vehicle carrying the shipment."""

    time: datetime
    lat: float
    lon: float

    @property
    def point(self) -> Point:
        return Point(self.lat, self.lon)


@dataclass(frozen=True, slots=True)
class LaneTrip:
    """A past shipment on the same lane: when it left, when it was delivered, how far apart
    its origin and destination are (great circle)."""

    departed: datetime
    arrived: datetime
    distance_m: float

    @property
    def speed_kmh(self) -> float | None:
        hours = (self.arrived - self.departed).total_seconds() / 3600
        if hours <= 0:
            return None
        return self.distance_m / 1000 / hours


@dataclass(frozen=True, slots=True)
class EtaInputs:
    now: datetime
    destination: Point | None
    origin: Point | None = None
    promised_at: datetime | None = None
    fixes: Sequence[Fix] = ()
    """Accepted fixes of the carrying vehicle, in time order (the latest ones are enough)."""
    lane: Sequence[LaneTrip] = ()
    delivered_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class EtaParams:
    window: timedelta = timedelta(minutes=60)
    min_moving_kmh: float = 5.0
    detour: float = 1.3
    """Road distance over great-circle distance, for the estimate from the live speed."""
    dwell_ratio: float = 0.15
    """Stops allowed for, as a share of the remaining driving time."""
    arrived_m: float = 300.0
    """Closer than this to the destination: there (waiting to be handed over)."""
    lane_cap: int = 5
    grace: timedelta = timedelta(minutes=15)
    """How much later than promised the estimate may be before the shipment trends late."""

    def __post_init__(self) -> None:
        if self.window <= timedelta(0) or self.grace < timedelta(0):
            raise ValueError("window must be positive and grace not negative")
        if self.detour < 1 or self.dwell_ratio < 0 or self.lane_cap < 1:
            raise ValueError("detour must be >= 1, dwell_ratio >= 0 and lane_cap >= 1")
        if self.min_moving_kmh <= 0 or self.arrived_m < 0:
            raise ValueError("min_moving_kmh must be positive and arrived_m not negative")


@dataclass(frozen=True, slots=True)
class Eta:
    at: datetime
    basis: Basis
    remaining_m: float
    speed_kmh: float | None
    """The speed the estimate assumes (blended, door-to-door for the lane); None when there."""
    trending_late: bool
    lane_trips: int = 0


def moving_speed_kmh(fixes: Sequence[Fix], params: EtaParams = EtaParams()) -> float | None:
    """Distance over time spent moving, over the fixes of ``params.window`` up to the latest;
    None when the vehicle did not move in that window (or fewer than two fixes)."""
    if len(fixes) < 2:
        return None
    since = fixes[-1].time - params.window
    recent = [f for f in fixes if f.time >= since]
    distance_m = 0.0
    seconds = 0.0
    for a, b in itertools.pairwise(recent):
        dt = (b.time - a.time).total_seconds()
        if dt <= 0:
            continue
        leg_m = a.point.distance_m(b.point)
        if leg_m / dt * 3.6 >= params.min_moving_kmh:
            distance_m += leg_m
            seconds += dt
    if seconds == 0:
        return None
    return distance_m / seconds * 3.6


def lane_speed_kmh(trips: Sequence[LaneTrip]) -> float | None:
    """The median door-to-door speed of the past trips on the lane; None without any."""
    speeds = [s for s in (t.speed_kmh for t in trips) if s is not None and s > 0]
    return statistics.median(speeds) if speeds else None


def _late(at: datetime, promised_at: datetime | None, params: EtaParams) -> bool:
    return promised_at is not None and at > promised_at + params.grace


def estimate(inputs: EtaInputs, params: EtaParams = EtaParams()) -> Eta | None:
    """The ETA and its basis, or None when it cannot honestly be estimated (no destination
    coordinates, no position nor origin, or neither a live speed nor a lane history)."""
    if inputs.delivered_at is not None:
        return Eta(inputs.delivered_at, "delivered", 0.0, None, trending_late=False)
    if inputs.destination is None:
        return None
    here = inputs.fixes[-1].point if inputs.fixes else inputs.origin
    if here is None:
        return None
    now = inputs.now
    remaining_m = here.distance_m(inputs.destination)
    if remaining_m <= params.arrived_m:
        late = _late(now, inputs.promised_at, params)
        return Eta(now, "at_destination", remaining_m, None, trending_late=late)
    live = moving_speed_kmh(inputs.fixes, params)
    lane = lane_speed_kmh(inputs.lane)
    by_live = by_lane = None
    if live is not None:
        driving = timedelta(hours=remaining_m * params.detour / 1000 / live)
        by_live = now + driving * (1 + params.dwell_ratio)
    if lane is not None:
        by_lane = now + timedelta(hours=remaining_m / 1000 / lane)
    trips = sum(1 for t in inputs.lane if t.speed_kmh)
    basis: Basis
    if by_live is not None and by_lane is not None:
        n = min(trips, params.lane_cap)
        at = by_live + (by_lane - by_live) * (n / (n + params.lane_cap))
        basis = "recent_speed+lane_history"
    elif by_live is not None:
        at, basis = by_live, "recent_speed"
    elif by_lane is not None:
        at, basis = by_lane, "lane_history"
    else:
        return None
    hours = (at - now).total_seconds() / 3600
    speed = remaining_m / 1000 / hours if hours > 0 else None
    return Eta(
        at,
        basis,
        remaining_m,
        speed,
        trending_late=_late(at, inputs.promised_at, params),
        lane_trips=trips if lane is not None else 0,
    )


def carrier_estimate(
    at: datetime, promised_at: datetime | None, ours: Eta | None, params: EtaParams = EtaParams()
) -> Eta:
    """The carrier's own estimate, when a carrier carries the last leg: it knows its rounds
    better than our distance and speed do (docs/carriers.md). The remaining distance is ours,
    when we have one."""
    return Eta(
        at=at,
        basis="carrier",
        remaining_m=0.0 if ours is None else ours.remaining_m,
        speed_kmh=None,
        trending_late=_late(at, promised_at, params),
    )

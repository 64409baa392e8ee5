"""Geofences: entering and leaving named circles (origin, destination, depots).

A position enters a zone within ``radius_m`` of its centre and leaves it only beyond
``radius_m + margin_m``, so GPS jitter on the border does not flap. One alert per visit:
opened on entering (``end`` None), closed on leaving, with its duration; ``peak`` is the
closest distance to the centre during the visit (m) and ``limit`` the radius (m). Severity
``info``: a visit is a fact for the timeline, not an exception.

:meth:`GeofenceState.scope` gives the scope the profile boundaries use: ``origin`` inside an
origin zone, ``destination`` inside a destination zone, else ``transit``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, NamedTuple

from alerts.events import Alert, Sample, check_order
from alerts.profile_model import Scope, Severity

ZoneKind = Literal["origin", "destination", "depot", "hub", "customer", "rest_area"]
"""A shipment's own origin and destination, or a known place's kind (places table)."""
EARTH_RADIUS_M = 6_371_008.8
"""Mean Earth radius (IUGG), the usual choice for haversine distances."""
_M_PER_DEG_LAT = math.pi * EARTH_RADIUS_M / 180
"""A degree of latitude in metres: a lower bound of the distance between two points."""


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine) in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


@dataclass(frozen=True, slots=True)
class Zone:
    name: str
    kind: ZoneKind
    lat: float
    lon: float
    radius_m: float
    margin_m: float = 50.0
    """Hysteresis: a position leaves the zone only beyond ``radius_m + margin_m``."""

    def __post_init__(self) -> None:
        if not (-90 <= self.lat <= 90 and -180 <= self.lon <= 180):
            raise ValueError(f"zone {self.name}: no such place ({self.lat}, {self.lon})")
        if self.radius_m <= 0 or self.margin_m < 0:
            raise ValueError(f"zone {self.name}: radius_m must be positive, margin_m not negative")


class _Visit(NamedTuple):
    zone: str
    entered: datetime
    closest_m: float


class GeofenceState(NamedTuple):
    last_at: datetime | None = None
    """The last position's time."""
    visits: tuple[_Visit, ...] = ()
    """The zones the position is in now, in the order of the zones."""
    inside: tuple[ZoneKind, ...] = ()
    """Their kinds, in the same order."""
    entries: int = 0

    def scope(self) -> Scope:
        """``destination`` in a destination zone, ``origin`` in an origin zone, else
        ``transit`` (depots are on the way)."""
        if "destination" in self.inside:
            return "destination"
        if "origin" in self.inside:
            return "origin"
        return "transit"


@dataclass(frozen=True, slots=True)
class GeofenceRule:
    """Enter and exit alerts for ``zones`` over samples with a position (others are ignored)."""

    zones: Sequence[Zone]
    name: str = "geofence"
    severity: Severity = "info"

    def __post_init__(self) -> None:
        object.__setattr__(self, "zones", tuple(self.zones))
        names = [zone.name for zone in self.zones]
        if len(set(names)) != len(names):
            raise ValueError(f"{self.name}: zone names must be unique, got {names}")

    def initial(self) -> GeofenceState:
        return GeofenceState()

    def _rule(self, zone: Zone) -> str:
        return f"{self.name}/{zone.kind}/{zone.name}"

    def rule_names(self) -> list[str]:
        """The rule name of each zone's visits (what the stored alerts say)."""
        return [self._rule(zone) for zone in self.zones]

    def _alert(self, zone: Zone, visit: _Visit, end: datetime | None, now: datetime) -> Alert:
        return Alert(
            rule=self._rule(zone),
            kind="geofence",
            severity=self.severity,
            start=visit.entered,
            end=end,
            peak=visit.closest_m,
            limit=zone.radius_m,
            duration=(end or now) - visit.entered,
        )

    def step(self, state: GeofenceState, sample: Sample) -> tuple[GeofenceState, list[Alert]]:
        at = sample.at
        if state.last_at is not None and at < state.last_at:
            check_order(state.last_at, sample, self.name)
        lat, lon = sample.lat, sample.lon
        if lat is None or lon is None:
            return state, []
        current = {visit.zone: visit for visit in state.visits}
        visits: list[_Visit] = []
        kinds: list[ZoneKind] = []
        alerts: list[Alert] = []
        entries = state.entries
        for zone in self.zones:
            visit = current.get(zone.name)
            if visit is None and abs(zone.lat - lat) * _M_PER_DEG_LAT > zone.radius_m:
                continue  # far from a zone it is not in: no distance to compute
            d = distance_m(zone.lat, zone.lon, lat, lon)
            if visit is not None:
                if d > zone.radius_m + zone.margin_m:
                    alerts.append(self._alert(zone, visit, at, at))
                    continue
                visit = visit._replace(closest_m=min(visit.closest_m, d))
            elif d <= zone.radius_m:
                visit = _Visit(zone.name, at, d)
                entries += 1
                alerts.append(self._alert(zone, visit, None, at))
            else:
                continue
            visits.append(visit)
            kinds.append(zone.kind)
        return GeofenceState(at, tuple(visits), tuple(kinds), entries), alerts

    def ongoing(self, state: GeofenceState) -> list[Alert]:
        """The visits going on, as of the last sample."""
        if state.last_at is None:
            return []
        zones = {zone.name: zone for zone in self.zones}
        return [self._alert(zones[v.zone], v, None, state.last_at) for v in state.visits]

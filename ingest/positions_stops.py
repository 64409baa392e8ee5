"""Stops: where a vehicle dwelt at least N minutes within a radius, and for how long."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from ingest.positions_geo import haversine_m


@dataclass(frozen=True, slots=True)
class Stop:
    """A dwell of one device: from ``start`` (its first fix there) to ``end`` (its last fix
    there), or open (``end is None``) while the device is still there; ``last_seen`` is the
    newest fix of the dwell either way. ``lat``/``lon`` is the centroid of its fixes."""

    device_id: str
    start: datetime
    end: datetime | None
    last_seen: datetime
    lat: float
    lon: float
    fixes: int

    @property
    def is_open(self) -> bool:
        return self.end is None

    @property
    def duration(self) -> timedelta:
        """So far, for an open stop."""
        return self.last_seen - self.start


@dataclass(frozen=True, slots=True)
class Cluster:
    """Consecutive accepted fixes within a radius of their centroid: a stop in the making."""

    device_id: str
    start: datetime
    last_seen: datetime
    sum_lat: float
    sum_lon: float
    fixes: int

    @classmethod
    def first(cls, device_id: str, lat: float, lon: float, at: datetime) -> Cluster:
        return cls(device_id, at, at, lat, lon, 1)

    @property
    def lat(self) -> float:
        return self.sum_lat / self.fixes

    @property
    def lon(self) -> float:
        return self.sum_lon / self.fixes

    def holds(self, lat: float, lon: float, radius_m: float) -> bool:
        return haversine_m(self.lat, self.lon, lat, lon) <= radius_m

    def add(self, lat: float, lon: float, at: datetime) -> Cluster:
        return Cluster(
            self.device_id,
            self.start,
            at,
            self.sum_lat + lat,
            self.sum_lon + lon,
            self.fixes + 1,
        )

    def as_stop(self, min_duration: timedelta, *, closed: bool) -> Stop | None:
        """The stop this cluster is, if it lasted at least ``min_duration``."""
        if self.last_seen - self.start < min_duration:
            return None
        end = self.last_seen if closed else None
        return Stop(self.device_id, self.start, end, self.last_seen, self.lat, self.lon, self.fixes)

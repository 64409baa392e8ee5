"""The vocabulary of position tracking: outcomes, settings, verdicts and a device's state.

See :mod:`ingest.positions` for the rules.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import msgspec

from coldtrail.schema import Position
from ingest.positions_geo import accuracy_m
from ingest.positions_stops import Cluster, Stop


class Outcome(enum.StrEnum):
    MOVING = "moving"
    PARKED = "parked"
    REANCHORED = "reanchored"
    DUPLICATE = "duplicate"
    NO_FIX = "no_fix"
    POOR_PRECISION = "poor_precision"
    LATE = "late"
    JUMP = "jump"


ACCEPTED = frozenset({Outcome.MOVING, Outcome.PARKED, Outcome.REANCHORED})


@dataclass(frozen=True, slots=True)
class TrackerConfig:
    max_speed_kmh: float = 200.0
    """Above this implied speed between fixes, a fix is a jump (200 km/h suits road vehicles)."""
    max_hdop: float = 5.0
    min_satellites: int = 3
    metres_per_hdop: float = 5.0
    """Receiver range error (UERE): accuracy radius = HDOP x this."""
    min_accuracy_m: float = 15.0
    """No fix is taken as more accurate than this (multipath in streets and yards)."""
    assumed_hdop: float = 2.0
    """For fixes that carry no HDOP."""
    parked_speed_kmh: float = 3.0
    """At or below this speed, a fix within the accuracy radius is parked jitter."""
    reanchor_after: int = 3
    duplicate_window: int = 64
    """How many recent fix times per device are remembered to recognise duplicates."""
    stop_radius_m: float = 75.0
    stop_min_duration: timedelta = timedelta(minutes=5)

    def __post_init__(self) -> None:
        if self.max_speed_kmh <= 0 or self.reanchor_after < 1 or self.duplicate_window < 1:
            raise ValueError(
                "max_speed_kmh must be > 0, reanchor_after and duplicate_window >= 1,"
                f" got {self.max_speed_kmh}, {self.reanchor_after}, {self.duplicate_window}"
            )

    def accuracy_m(self, position: Position) -> float:
        return accuracy_m(
            position.hdop,
            metres_per_hdop=self.metres_per_hdop,
            min_m=self.min_accuracy_m,
            assumed_hdop=self.assumed_hdop,
        )


@dataclass(frozen=True, slots=True)
class Verdict:
    outcome: Outcome
    position: Position
    at: datetime
    reason: str
    """Why, in words a person can act on (speeds, distances, limits)."""
    distance_m: float = 0.0
    """Added to the device's distance by this fix."""
    closed_stop: Stop | None = None
    """A stop this fix ended (the device left it)."""

    @property
    def accepted(self) -> bool:
        return self.outcome in ACCEPTED


def fix_time(position: Position) -> datetime:
    """The receiver's time of the fix, else the time the gateway read it."""
    return position.measured_at if position.measured_at is not None else position.received_at


def sort_key(position: Position) -> tuple[str, datetime, int, bytes]:
    """A total order on fixes (device, time, then seq and content to break ties), so that
    sorting any permutation of the same fixes gives the same sequence."""
    return (position.device_id, fix_time(position), position.seq, msgspec.json.encode(position))


@dataclass(frozen=True, slots=True)
class DeviceTrack:
    """What the tracker knows of one device. Immutable: :func:`step` returns a new one."""

    device_id: str
    latest: Position | None = None
    """The newest accepted fix (moving, parked or re-anchored)."""
    latest_at: datetime | None = None
    origin: Position | None = None
    """Where distance is measured from: the last moving fix, or where the vehicle stopped."""
    distance_m: float = 0.0
    counts: Mapping[Outcome, int] = field(default_factory=dict)
    recent_times: tuple[datetime, ...] = ()
    jumps: tuple[Position, ...] = ()
    """Consecutive rejected jumps that agree with each other (candidates for a re-anchor)."""
    cluster: Cluster | None = None

    def open_stop(self, config: TrackerConfig) -> Stop | None:
        """The stop the device is in now, if it has dwelt long enough."""
        if self.cluster is None:
            return None
        return self.cluster.as_stop(config.stop_min_duration, closed=False)

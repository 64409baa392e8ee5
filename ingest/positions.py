"""Position tracking: raw GNSS fixes -> fixes people can trust, distance travelled and stops.

Pure logic, no I/O and no clock: every time comes from the fixes. A fix's time is its
``measured_at`` (the receiver's clock), else its ``received_at`` (when the gateway read the line,
within a second of the fix for a serial GPS).

Each fix of a device gets one :class:`Verdict`, in this order of checks:

1. ``duplicate``: the device already sent a fix with the same time (MQTT at-least-once).
2. ``no_fix``: ``fix_quality == 0`` (a tunnel, a car park); its lat/lon mean nothing.
3. ``poor_precision``: HDOP above ``max_hdop`` or fewer than ``min_satellites`` satellites.
4. ``late``: older than the last accepted fix. A late fix is **kept** in the verdict (and by the
   write path, which stores every fix) but the live track does not move back in time for it:
   it does not change the latest position, the distance or the stops. :func:`replay` over stored
   history, which sorts by time first, puts late fixes in their place (the result does not
   depend on arrival order).
5. ``jump``: the speed implied from the last accepted fix, after allowing both fixes their
   accuracy radius (HDOP x ``metres_per_hdop``), is above ``max_speed_kmh``. If
   ``reanchor_after`` consecutive jumps agree with each other, it is the previous anchor that was
   wrong: the last of them is accepted as ``reanchored`` (no distance added for the gap).
6. ``parked``: speed about zero (reported, else implied) and within the accuracy radius of where
   the vehicle stopped: GPS jitter, accepted as the latest position, adds no distance.
7. ``moving``: accepted; adds the haversine distance from the previous moving (or stop) point.

Every verdict is counted per device (:attr:`DeviceTrack.counts`), so a reader can say how many
fixes were rejected and why. Stops are dwells of at least ``stop_min_duration`` within
``stop_radius_m`` of their centroid, over accepted fixes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from coldtrail.schema import Position
from ingest.positions_core import (
    ACCEPTED,
    DeviceTrack,
    Outcome,
    TrackerConfig,
    Verdict,
    fix_time,
    sort_key,
)
from ingest.positions_geo import haversine_m
from ingest.positions_stops import Cluster, Stop

__all__ = [
    "ACCEPTED",
    "DeviceTrack",
    "Outcome",
    "PositionTracker",
    "Stop",
    "Track",
    "TrackerConfig",
    "Verdict",
    "fix_time",
    "haversine_m",
    "replay",
    "sort_key",
    "step",
]


def _implied_kmh(a: Position, b: Position, config: TrackerConfig) -> tuple[float, float]:
    """(distance in m, speed in km/h after allowing both fixes their accuracy radius)."""
    d = haversine_m(a.lat, a.lon, b.lat, b.lon)
    slack = max(0.0, d - config.accuracy_m(a) - config.accuracy_m(b))
    dt = (fix_time(b) - fix_time(a)).total_seconds()
    if dt <= 0:
        return d, 0.0 if slack == 0 else float("inf")
    return d, slack / dt * 3.6


def _agrees(jumps: tuple[Position, ...], position: Position, config: TrackerConfig) -> bool:
    """Whether ``position`` is plausible from the last rejected jump (the jumps form a track)."""
    return bool(jumps) and _implied_kmh(jumps[-1], position, config)[1] <= config.max_speed_kmh


def _reject(position: Position, config: TrackerConfig, last_at: datetime | None) -> Verdict | None:
    """The checks that need nothing but the fix itself and the last accepted time."""
    at = fix_time(position)
    if position.fix_quality == 0:
        return Verdict(Outcome.NO_FIX, position, at, "no GNSS fix (fix_quality 0)")
    if position.hdop is not None and position.hdop > config.max_hdop:
        reason = f"HDOP {position.hdop:g} above {config.max_hdop:g}"
        return Verdict(Outcome.POOR_PRECISION, position, at, reason)
    if position.satellites is not None and position.satellites < config.min_satellites:
        reason = f"{position.satellites} satellites, fewer than {config.min_satellites}"
        return Verdict(Outcome.POOR_PRECISION, position, at, reason)
    if last_at is not None and at < last_at:
        reason = (
            f"older than the last accepted fix ({last_at.isoformat()}) by"
            f" {(last_at - at).total_seconds():g} s: kept, not applied to the live track"
        )
        return Verdict(Outcome.LATE, position, at, reason)
    return None


def _classify(state: DeviceTrack, position: Position, config: TrackerConfig) -> Verdict:
    at = fix_time(position)
    if at in state.recent_times:
        return Verdict(Outcome.DUPLICATE, position, at, f"a fix at {at.isoformat()} already came")
    rejected = _reject(position, config, state.latest_at)
    if rejected is not None:
        return rejected
    if state.latest is None or state.origin is None:
        if position.speed_kmh is not None and position.speed_kmh <= config.parked_speed_kmh:
            return Verdict(Outcome.PARKED, position, at, "first fix, standing still")
        return Verdict(Outcome.MOVING, position, at, "first fix")
    _, speed = _implied_kmh(state.latest, position, config)
    if speed > config.max_speed_kmh:
        reason = (
            f"implied speed {speed:.0f} km/h from the last accepted fix, above"
            f" {config.max_speed_kmh:g} km/h"
        )
        chain, agrees = state.jumps, _agrees(state.jumps, position, config)
        if len(chain) + 1 >= config.reanchor_after and (agrees or config.reanchor_after == 1):
            reason = f"{config.reanchor_after} consecutive jumps agree: {reason}; new anchor"
            return Verdict(Outcome.REANCHORED, position, at, reason)
        return Verdict(Outcome.JUMP, position, at, reason)
    leg_m, _ = _implied_kmh(state.origin, position, config)
    radius = config.accuracy_m(state.origin) + config.accuracy_m(position)
    reported = position.speed_kmh
    still = (
        reported <= config.parked_speed_kmh
        if reported is not None
        else _implied_kmh(state.latest, position, config)[1] <= config.parked_speed_kmh
    )
    if still and leg_m <= radius:
        reason = f"standing still, {leg_m:.0f} m from where it stopped (within {radius:.0f} m)"
        return Verdict(Outcome.PARKED, position, at, reason)
    return Verdict(Outcome.MOVING, position, at, f"{leg_m:.0f} m travelled", distance_m=leg_m)


def step(
    state: DeviceTrack, position: Position, config: TrackerConfig | None = None
) -> tuple[DeviceTrack, Verdict]:
    """Apply one fix of ``state.device_id`` to its track: the new track and the fix's verdict."""
    config = config or TrackerConfig()
    if position.device_id != state.device_id:
        raise ValueError(
            f"a fix of device {position.device_id!r} given to the track of {state.device_id!r}"
        )
    verdict = _classify(state, position, config)
    counts = dict(state.counts)
    counts[verdict.outcome] = counts.get(verdict.outcome, 0) + 1
    recent = state.recent_times
    if verdict.outcome is not Outcome.DUPLICATE:
        recent = (*recent, verdict.at)[-config.duplicate_window :]
    new = replace(state, counts=counts, recent_times=recent)
    if verdict.outcome is Outcome.JUMP:
        chain, agrees = state.jumps, _agrees(state.jumps, position, config)
        jumps = (*chain, position) if agrees else (position,)
        return replace(new, jumps=jumps[-config.reanchor_after :]), verdict
    if not verdict.accepted:
        return new, verdict
    lat, lon, at = position.lat, position.lon, verdict.at
    cluster, closed = state.cluster, None
    if verdict.outcome is Outcome.REANCHORED or cluster is None:
        cluster = Cluster.first(state.device_id, lat, lon, at)
    elif cluster.holds(lat, lon, config.stop_radius_m):
        cluster = cluster.add(lat, lon, at)
    else:
        closed = cluster.as_stop(config.stop_min_duration, closed=True)
        cluster = Cluster.first(state.device_id, lat, lon, at)
    origin = state.origin if verdict.outcome is Outcome.PARKED and state.origin else position
    new = replace(
        new,
        latest=position,
        latest_at=at,
        origin=origin,
        distance_m=state.distance_m + verdict.distance_m,
        jumps=(),
        cluster=cluster,
    )
    return new, replace(verdict, closed_stop=closed) if closed else verdict


class PositionTracker:
    """Live tracking of many devices: one :class:`DeviceTrack` each, fed fix by fix."""

    def __init__(self, config: TrackerConfig | None = None) -> None:
        self.config = config or TrackerConfig()
        self._tracks: dict[str, DeviceTrack] = {}

    def accept(self, position: Position) -> Verdict:
        track = self.track(position.device_id)
        self._tracks[position.device_id], verdict = step(track, position, self.config)
        return verdict

    def track(self, device_id: str) -> DeviceTrack:
        return self._tracks.get(device_id) or DeviceTrack(device_id)

    def latest(self) -> dict[str, Position]:
        """The latest accepted position of every device that has one."""
        return {d: t.latest for d, t in self._tracks.items() if t.latest is not None}

    def counts(self) -> dict[Outcome, int]:
        """Verdicts over all devices, by outcome."""
        total: dict[Outcome, int] = {}
        for t in self._tracks.values():
            for outcome, n in t.counts.items():
                total[outcome] = total.get(outcome, 0) + n
        return total


@dataclass(frozen=True, slots=True)
class Track:
    """One device's history, replayed in time order."""

    device_id: str
    latest: Position | None
    distance_m: float
    stops: tuple[Stop, ...]
    """Closed stops, then the open one if the device is still dwelling."""
    counts: Mapping[Outcome, int]
    verdicts: tuple[Verdict, ...]


def replay(positions: Iterable[Position], config: TrackerConfig | None = None) -> dict[str, Track]:
    """Fold stored history (any order, any devices) into one :class:`Track` per device.

    The fixes are sorted by :func:`sort_key` first, so late fixes count in their place and the
    result does not depend on the order the fixes arrived in."""
    config = config or TrackerConfig()
    by_device: dict[str, list[Position]] = {}
    for p in sorted(positions, key=sort_key):
        by_device.setdefault(p.device_id, []).append(p)
    tracks: dict[str, Track] = {}
    for device_id, fixes in by_device.items():
        state = DeviceTrack(device_id)
        verdicts: list[Verdict] = []
        stops: list[Stop] = []
        for p in fixes:
            state, verdict = step(state, p, config)
            verdicts.append(verdict)
            if verdict.closed_stop is not None:
                stops.append(verdict.closed_stop)
        open_stop = state.open_stop(config)
        if open_stop is not None:
            stops.append(open_stop)
        tracks[device_id] = Track(
            device_id, state.latest, state.distance_m, tuple(stops), state.counts, tuple(verdicts)
        )
    return tracks

"""Position tracking in the rule runner's pass: every new fix gets its verdict (stored in
``positions.outcome``), and each device's latest trustworthy position, distance travelled and
stops are kept in ``tracks`` and ``stops``.

The verdicts come from :mod:`ingest.positions` (pure). The tracker's state of a device lives in
memory; after a restart (or a change of leader) it is rebuilt from the device's latest accepted
fixes, so a jump right after a restart is still caught. A late fix is judged ``late`` and kept:
it does not move the track back in time.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from coldtrail.schema import Position
from ingest import derive_queries as q
from ingest.positions import DeviceTrack, TrackerConfig, Verdict, step

log = logging.getLogger(__name__)

WARM_UP_FIXES = 200


@dataclass(slots=True)
class TrackingStats:
    judged: int = 0
    rejected: int = 0


def _position(row: Sequence[Any]) -> Position:
    (device_id, seq, seq_source, measured_at, received_at, lat, lon, speed, heading, alt, hdop,
     fix_quality, satellites) = row[:13]  # fmt: skip
    return Position(
        device_id=device_id,
        seq=seq,
        seq_source=seq_source,
        measured_at=measured_at,
        received_at=received_at,
        lat=lat,
        lon=lon,
        speed_kmh=speed,
        heading_deg=heading,
        altitude_m=alt,
        hdop=hdop,
        fix_quality=fix_quality,
        satellites=satellites,
    )


class Tracking:
    def __init__(self, config: TrackerConfig | None = None) -> None:
        self.config = config or TrackerConfig()
        self._tracks: dict[str, DeviceTrack] = {}
        self.stats = TrackingStats()

    def forget(self) -> None:
        """Drop every device's state (after a failed pass or a change of leader)."""
        self._tracks.clear()

    async def advance(
        self, conn: psycopg.AsyncConnection[Any], pending: dict[str, datetime]
    ) -> None:
        """Judge the unjudged fixes of the pending devices and store the results."""
        cur = await conn.execute(
            q.UNJUDGED_POSITIONS, (list(pending), [pending[d] for d in pending])
        )
        by_device: dict[str, list[Position]] = {}
        for row in await cur.fetchall():
            position = _position(row)
            by_device.setdefault(position.device_id, []).append(position)
        for device_id, fixes in by_device.items():
            track = self._tracks.get(device_id)
            if track is None:
                track = await self._warm_up(conn, device_id, fixes[0])
            verdicts: list[Verdict] = []
            for fix in fixes:
                track, verdict = step(track, fix, self.config)
                verdicts.append(verdict)
            self._tracks[device_id] = track
            await self._store(conn, track, verdicts)

    async def _warm_up(
        self, conn: psycopg.AsyncConnection[Any], device_id: str, first: Position
    ) -> DeviceTrack:
        at = first.measured_at or first.received_at
        cur = await conn.execute(q.RECENT_ACCEPTED_POSITIONS, (device_id, at, WARM_UP_FIXES))
        track = DeviceTrack(device_id)
        for row in await cur.fetchall():
            track, _ = step(track, _position(row), self.config)
        return track

    async def _store(
        self, conn: psycopg.AsyncConnection[Any], track: DeviceTrack, verdicts: list[Verdict]
    ) -> None:
        counts = Counter(str(v.outcome) for v in verdicts)
        self.stats.judged += len(verdicts)
        self.stats.rejected += sum(1 for v in verdicts if not v.accepted)
        async with conn.cursor() as cur:
            await cur.executemany(
                q.SET_OUTCOME,
                [(str(v.outcome), v.position.device_id, v.at, v.position.seq) for v in verdicts],
            )
            latest = track.latest
            if latest is not None and track.latest_at is not None:
                await cur.execute(
                    q.UPSERT_TRACK,
                    {
                        "device_id": track.device_id,
                        "time": track.latest_at,
                        "lat": latest.lat,
                        "lon": latest.lon,
                        "speed_kmh": latest.speed_kmh,
                        "distance_m": sum(v.distance_m for v in verdicts),
                        "counts": Jsonb(dict(counts)),
                    },
                )
            stops = [v.closed_stop for v in verdicts if v.closed_stop is not None]
            open_stop = track.open_stop(self.config)
            if open_stop is not None:
                stops.append(open_stop)
            for stop in stops:
                await cur.execute(
                    q.UPSERT_STOP,
                    {
                        "device_id": stop.device_id,
                        "started_at": stop.start,
                        "ended_at": stop.end,
                        "last_seen": stop.last_seen,
                        "lat": stop.lat,
                        "lon": stop.lon,
                        "fixes": stop.fixes,
                    },
                )
        for v in verdicts:
            if not v.accepted and v.outcome != "duplicate":
                log.info("position of %s at %s rejected: %s", v.position.device_id, v.at, v.reason)

"""Absences, on the rule runner's timer: a gateway offline (one alert per outage, from its
status and last will) and a sensor gone silent while its gateway is online (so that a gateway
outage gives one gateway alert, not one per sensor behind it). The rules are
:mod:`alerts.presence`; this module feeds them from the database and stores what they raise.

Only devices that watch a parcel now (an open custody) are judged: a tag seen once in a car
park is not a silent sensor. After a restart, the alerts still open are loaded back, so that
an outage or a silence that ended meanwhile is closed, not left open forever.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from alerts.events import Alert
from alerts.presence import (
    GatewayOffline,
    GatewayState,
    SensorSilent,
    SilenceState,
    check_devices,
)
from ingest.alert_sink import AlertSink
from ingest.subjects import SubjectInfo

GATEWAYS = """
SELECT g.gateway_id, g.state, g.state_since, v.vehicle_id
  FROM gateways g LEFT JOIN vehicles v ON v.gateway_id = g.gateway_id
 WHERE g.state IN ('online', 'offline')
"""

WATCHED_DEVICES = """
SELECT d.device_id, d.gateway_id, d.last_seen FROM devices d
 WHERE d.gateway_id IS NOT NULL
   AND EXISTS (SELECT 1 FROM custody c WHERE c.device_id = d.device_id AND c.to_time IS NULL)
"""

OPEN_PRESENCE_ALERTS = """
SELECT subject_kind, subject_id, started_at FROM alerts
 WHERE state = 'open' AND rule = ANY(%s)
"""


class PresenceWatch:
    def __init__(
        self,
        silent: SensorSilent | None = None,
        offline: GatewayOffline | None = None,
        every: timedelta = timedelta(seconds=10),
    ) -> None:
        self.silent = silent or SensorSilent()
        self.offline = offline or GatewayOffline()
        self.every = every
        self._gateways: dict[str, GatewayState] = {}
        self._devices: dict[str, SilenceState] = {}
        self._vehicles: dict[str, str | None] = {}
        self._loaded = False
        self._last: datetime | None = None

    def forget(self) -> None:
        self._gateways.clear()
        self._devices.clear()
        self._loaded = False
        self._last = None

    def due(self, now: datetime) -> bool:
        return self._last is None or now - self._last >= self.every

    async def tick(self, conn: psycopg.AsyncConnection[Any], now: datetime | None = None) -> None:
        """Check every gateway and watched device at ``now``, in one transaction."""
        now = now or datetime.now(UTC)
        async with conn.transaction():
            if not self._loaded:
                await self._load_open(conn)
            sink = AlertSink(conn)
            raised: list[tuple[SubjectInfo, Alert]] = []
            cur = await conn.execute(GATEWAYS)
            for gateway_id, state, since, vehicle_id in await cur.fetchall():
                self._vehicles[gateway_id] = vehicle_id
                gw = self._gateways.get(gateway_id, self.offline.initial())
                gw, alerts = self.offline.status(gw, state, since)
                gw, more = self.offline.check(gw, now)
                self._gateways[gateway_id] = gw
                raised += [(self._gateway_info(gateway_id), a) for a in (*alerts, *more)]
            cur = await conn.execute(WATCHED_DEVICES)
            behind: dict[str, dict[str, SilenceState]] = defaultdict(dict)
            for device_id, gateway_id, last_seen in await cur.fetchall():
                state = self._devices.get(device_id, self.silent.initial())
                state, alerts = self.silent.seen(state, last_seen)
                behind[gateway_id][device_id] = state
                raised += [(self._device_info(device_id, gateway_id), a) for a in alerts]
            for gateway_id, devices in behind.items():
                gw = self._gateways.get(gateway_id, self.offline.initial())
                states, silent = check_devices(self.silent, devices, gw, now)
                self._devices.update(states)
                raised += [(self._device_info(d, gateway_id), a) for d, a in silent]
            for info, alert in raised:
                await sink.record(info, [alert])
        self._last = now

    async def _load_open(self, conn: psycopg.AsyncConnection[Any]) -> None:
        cur = await conn.execute(OPEN_PRESENCE_ALERTS, ([self.silent.name, self.offline.name],))
        for kind, subject_id, started_at in await cur.fetchall():
            if kind == "gateway":
                self._gateways[subject_id] = GatewayState(False, started_at, True, 1)
            else:
                self._devices[subject_id] = SilenceState(started_at, True, 1)
        self._loaded = True

    def _gateway_info(self, gateway_id: str) -> SubjectInfo:
        return SubjectInfo(
            "gateway", gateway_id, (), self.offline.name, vehicle_id=self._vehicles.get(gateway_id)
        )

    def _device_info(self, device_id: str, gateway_id: str) -> SubjectInfo:
        return SubjectInfo(
            "device",
            device_id,
            (),
            self.silent.name,
            gateway_id=gateway_id,
            vehicle_id=self._vehicles.get(gateway_id),
        )

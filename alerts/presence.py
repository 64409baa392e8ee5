"""Sensor silent versus gateway offline.

These rules judge an absence, so they are evaluated at a time the caller gives (the runner's
timer, or a replay's clock): ``check(state, now)``. They read no clock themselves.

- :class:`SensorSilent`: no sample from a device for ``after``. One alert per silence: it
  opens at the check that finds it (``start`` = the last sample's time) and closes at the
  first sample after it (``end`` = that sample's time).
- :class:`GatewayOffline`: from the gateway's status transitions (the retained ``status``
  topic, whose last will says ``offline``). One alert per outage longer than ``grace``
  (``start`` = when it went offline), closed when it comes back online.
- :func:`check_devices`: the silent checks of the devices behind one gateway, with the
  gateway's state, so that a gateway outage gives one gateway alert, not one per sensor:
  while the gateway is offline (grace period included) no silent alert opens for its devices,
  and after it comes back their silence counts from its return (its outbox drains first).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, NamedTuple

from alerts.events import Alert
from alerts.profile_model import Severity

_MINUTE = timedelta(minutes=1)
_ZERO = timedelta(0)


class SilenceState(NamedTuple):
    last_seen: datetime | None = None
    """The (measured) time of the device's latest sample."""
    alerted: bool = False
    """An alert is open for the current silence."""
    silences: int = 0
    """Silent alerts raised so far."""


@dataclass(frozen=True, slots=True)
class SensorSilent:
    """No sample from a device for ``after`` (readings, positions or events alike)."""

    name: str = "presence/sensor-silent"
    after: timedelta = timedelta(minutes=15)
    severity: Severity = "warning"

    def __post_init__(self) -> None:
        if self.after <= _ZERO:
            raise ValueError(f"{self.name}: after must be positive")

    def initial(self) -> SilenceState:
        return SilenceState()

    def _alert(self, last_seen: datetime, end: datetime | None, now: datetime) -> Alert:
        duration = (end or now) - last_seen
        return Alert(
            rule=self.name,
            kind="sensor_silent",
            severity=self.severity,
            start=last_seen,
            end=end,
            peak=duration / _MINUTE,
            limit=self.after / _MINUTE,
            duration=duration,
        )

    def seen(self, state: SilenceState, at: datetime) -> tuple[SilenceState, list[Alert]]:
        """A sample measured at ``at`` arrived. Samples may arrive late (a gateway's outbox
        draining): one older than the latest changes nothing."""
        last_seen, alerted, silences = state
        if last_seen is not None and at <= last_seen:
            return state, []
        if alerted and last_seen is not None:
            return SilenceState(at, False, silences), [self._alert(last_seen, at, at)]
        return SilenceState(at, False, silences), []

    def check(
        self, state: SilenceState, now: datetime, *, since: datetime | None = None
    ) -> tuple[SilenceState, list[Alert]]:
        """Whether the device has been silent for ``after`` at ``now``.

        ``since``: when the device became reachable again (its gateway's return); its silence
        counts from the later of that and its last sample. A device never seen is not judged.
        """
        last_seen, alerted, silences = state
        if alerted or last_seen is None:
            return state, []
        counted_from = last_seen if since is None else max(last_seen, since)
        if now - counted_from < self.after:
            return state, []
        return SilenceState(last_seen, True, silences + 1), [self._alert(last_seen, None, now)]

    def ongoing(self, state: SilenceState, now: datetime) -> Alert | None:
        if not state.alerted or state.last_seen is None:
            return None
        return self._alert(state.last_seen, None, now)


class GatewayState(NamedTuple):
    online: bool | None = None
    """None until the first status."""
    changed_at: datetime | None = None
    """When it last went online or offline."""
    alerted: bool = False
    """An alert is open for the current outage."""
    outages: int = 0
    """Outages longer than the grace period so far."""

    @property
    def offline_since(self) -> datetime | None:
        return self.changed_at if self.online is False else None

    @property
    def online_since(self) -> datetime | None:
        return self.changed_at if self.online else None


@dataclass(frozen=True, slots=True)
class GatewayOffline:
    """A gateway offline for longer than ``grace``: one alert per outage."""

    name: str = "presence/gateway-offline"
    grace: timedelta = timedelta(minutes=5)
    severity: Severity = "warning"

    def __post_init__(self) -> None:
        if self.grace < _ZERO:
            raise ValueError(f"{self.name}: grace must not be negative")

    def initial(self) -> GatewayState:
        return GatewayState()

    def _alert(self, since: datetime, end: datetime | None, now: datetime) -> Alert:
        duration = (end or now) - since
        return Alert(
            rule=self.name,
            kind="gateway_offline",
            severity=self.severity,
            start=since,
            end=end,
            peak=duration / _MINUTE,
            limit=self.grace / _MINUTE,
            duration=duration,
        )

    def status(
        self, state: GatewayState, status: Literal["online", "offline"], at: datetime
    ) -> tuple[GatewayState, list[Alert]]:
        """The gateway said ``status`` at ``at`` (its own time, or when the broker published
        its last will). A repeated status changes nothing; one older than the last change is
        stale (a retained message delivered again) and is ignored."""
        online, changed_at, alerted, outages = state
        if changed_at is not None and at < changed_at:
            return state, []
        now_online = status == "online"
        if online is now_online:
            return state, []
        if now_online and online is False and changed_at is not None:
            # Back online: close the outage's alert, or raise it closed if it outlasted the
            # grace period without a check seeing it (a replay, a runner restart).
            if alerted:
                return GatewayState(True, at, False, outages), [self._alert(changed_at, at, at)]
            if at - changed_at >= self.grace:
                closed = self._alert(changed_at, at, at)
                return GatewayState(True, at, False, outages + 1), [closed]
        return GatewayState(now_online, at, False, outages), []

    def check(self, state: GatewayState, now: datetime) -> tuple[GatewayState, list[Alert]]:
        """Whether the gateway has been offline for longer than the grace period at ``now``."""
        online, changed_at, alerted, outages = state
        if online is not False or alerted or changed_at is None:
            return state, []
        if now - changed_at < self.grace:
            return state, []
        return GatewayState(False, changed_at, True, outages + 1), [
            self._alert(changed_at, None, now)
        ]


def check_devices(
    silent: SensorSilent,
    devices: Mapping[str, SilenceState],
    gateway: GatewayState,
    now: datetime,
) -> tuple[dict[str, SilenceState], list[tuple[str, Alert]]]:
    """The silent checks of the devices behind one gateway, at ``now``.

    While the gateway is offline (from the moment it went offline, grace period included), no
    silent alert opens for its devices: the gateway's own alert covers them. Once it is back,
    a device's silence counts from the gateway's return. Silent alerts opened before the
    outage stay open (they close when the device is heard from).

    Returns the devices' new states and their new alerts as (device_id, alert).
    """
    states = dict(devices)
    out: list[tuple[str, Alert]] = []
    if gateway.online is False:
        return states, out
    since = gateway.online_since
    for device_id, state in devices.items():
        new_state, alerts = silent.check(state, now, since=since)
        if alerts:
            states[device_id] = new_state
            out.extend((device_id, alert) for alert in alerts)
    return states, out

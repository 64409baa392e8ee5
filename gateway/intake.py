"""Frames in; contract items (readings, positions, events) and dead letters out.

Decodes each frame (firmware_bridge), stamps what came out with its idempotency key, notes
who was heard for the health report, and keeps what could not be decoded, with its raw bytes,
for the ``deadletter`` topic.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

import msgspec

from coldtrail import schema
from coldtrail.errors import DecodeError
from coldtrail.settings import SensorSettings
from firmware_bridge.ble.registry import SensorConfig
from firmware_bridge.frames import Frame
from gateway.calibration import Calibrator
from gateway.decoding import FrameDecoder
from gateway.health import HealthMonitor
from gateway.outbox import Item
from gateway.stamping import Stamper

log = logging.getLogger(__name__)

DEAD_LETTERS_KEPT = 10_000
T = TypeVar("T")


def sensor_configs(sensors: list[SensorSettings]) -> list[SensorConfig]:
    return [
        SensorConfig(
            mac=s.mac,
            kind=s.kind,
            bindkey=bytes.fromhex(s.bindkey.get_secret_value()) if s.bindkey else None,
            label=s.label,
        )
        for s in sensors
    ]


class Intake:
    def __init__(
        self,
        gateway_id: str,
        sensors: list[SensorConfig],
        health: HealthMonitor,
        calibrator: Calibrator | None = None,
    ) -> None:
        self._gateway_id = gateway_id
        self.calibrator = calibrator or Calibrator({})
        """Applied to every decoded sample before it is stamped (replace it to change the
        calibrations: the status reports this one)."""
        self._decoder = FrameDecoder(sensors)
        self._stamper = Stamper()
        self._health = health
        self.dead: deque[schema.GatewayDeadLetter] = deque(maxlen=DEAD_LETTERS_KEPT)

    def reconfigure(self, sensors: list[SensorConfig], calibrator: Calibrator) -> None:
        """New sensor configurations and calibrations (the serial streams' state and the
        stamping counters stay)."""
        self._decoder.reconfigure(sensors)
        self.calibrator = calibrator

    def take(self, frame: Frame) -> list[Item]:
        decoded = self._decoder.decode(frame)
        items: list[Item | None] = []
        for sample in map(self.calibrator.apply, decoded.samples):
            self._health.heard(sample.device_id, sample.received_at, sample.values.rssi_dbm)
            items.append(
                self._stamp(
                    sample.device_id,
                    sample.values,
                    self._stamper.reading,
                    sample,
                    sample.received_at,
                )
            )
        for fix in decoded.fixes:
            self._health.heard(fix.device_id, fix.received_at)
            self._health.gps_fix(fix.measured_at, fix.received_at)
            items.append(
                self._stamp(fix.device_id, fix.fix, self._stamper.position, fix, fix.received_at)
            )
        for event in decoded.events:
            self._health.heard(event.device_id, event.received_at)
            items.append(
                self._stamp(event.device_id, event, self._stamper.event, event, event.received_at)
            )
        for status in decoded.statuses:
            self._health.heard(status.device_id, status.received_at)
        for reject in decoded.rejects:
            self.reject(reject, frame.received_at)
        return [item for item in items if item is not None]

    def _stamp(
        self,
        device_id: str,
        values: object,
        stamp: Callable[[T], Item | None],
        decoded: T,
        received_at: datetime,
    ) -> Item | None:
        """The stamped item; None for a repeat, or a dead letter if it breaks the contract."""
        try:
            return stamp(decoded)
        except ValueError as exc:
            raw = msgspec.json.encode(values, enc_hook=repr)
            self.reject(
                DecodeError(
                    f"decoded values break the telemetry contract: {exc}", raw, device=device_id
                ),
                received_at,
            )
            return None

    def reject(self, error: DecodeError, received_at: datetime | None = None) -> None:
        """Keep what could not be decoded, stamped with when its frame arrived."""
        log.warning("undecodable frame: %s", error)
        if len(self.dead) == self.dead.maxlen:
            log.error(
                "more than %d undecodable frames waiting: dropping the oldest", self.dead.maxlen
            )
        self.dead.append(
            schema.GatewayDeadLetter(
                gateway_id=self._gateway_id,
                source=error.device or "unknown",
                received_at=received_at or datetime.now(UTC),
                raw_hex=error.raw.hex(),
                reason=error.reason,
            )
        )

"""Turns decoded samples into contract readings and positions: the idempotency key.

The sensor's own sequence number is used where it has one (``seq_source="sensor"``); else the
gateway counts per device (``"gateway"``). BLE sensors repeat each advert several times: a
repeat (same device, same sensor sequence number, within ``repeat_window``) is not a new reading.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TypeVar

from coldtrail import schema
from firmware_bridge.frames import EventSample, FixSample, Sample

T = TypeVar("T", schema.Reading, schema.Position, schema.Event)


class Stamper:
    def __init__(self, repeat_window: timedelta = timedelta(seconds=30)) -> None:
        self._repeat_window = repeat_window
        self._counters: Counter[str] = Counter()
        self._last_sensor_seq: dict[str, tuple[int, datetime]] = {}
        self.repeats = 0

    def _key(
        self, device_id: str, sensor_seq: int | None, received_at: datetime
    ) -> tuple[int, schema.SeqSource] | None:
        if sensor_seq is None:
            self._counters[device_id] += 1
            return self._counters[device_id], "gateway"
        last = self._last_sensor_seq.get(device_id)
        if last and last[0] == sensor_seq and received_at - last[1] < self._repeat_window:
            self.repeats += 1
            return None
        self._last_sensor_seq[device_id] = (sensor_seq, received_at)
        return sensor_seq, "sensor"

    def _stamp(
        self,
        device_id: str,
        sensor_seq: int | None,
        received_at: datetime,
        build: Callable[[int, schema.SeqSource], T],
    ) -> T | None:
        """``build(seq, seq_source)`` validated, or None for a repeated advert."""
        key = self._key(device_id, sensor_seq, received_at)
        if key is None:
            return None
        item = build(*key)
        schema.validate(item)
        return item

    def reading(self, sample: Sample) -> schema.Reading | None:
        """The contract reading of a sample, or None if it repeats the previous advert.

        Raises ``ValueError`` if the result would break the contract (so that one bad item
        never makes ingest refuse a whole batch)."""
        return self._stamp(
            sample.device_id,
            sample.sensor_seq,
            sample.received_at,
            lambda seq, source: schema.reading(
                sample.values,
                device_id=sample.device_id,
                measured_at=sample.measured_at,
                received_at=sample.received_at,
                seq=seq,
                seq_source=source,
                raw=sample.raw,
                calibration=None if sample.calibration is None else dict(sample.calibration),
            ),
        )

    def event(self, event: EventSample) -> schema.Event | None:
        return self._stamp(
            event.device_id,
            event.sensor_seq,
            event.received_at,
            lambda seq, source: schema.Event(
                device_id=event.device_id,
                kind=event.kind,
                state=event.state,
                value=event.value,
                measured_at=event.measured_at,
                received_at=event.received_at,
                seq=seq,
                seq_source=source,
            ),
        )

    def position(self, sample: FixSample) -> schema.Position | None:
        return self._stamp(
            sample.device_id,
            sample.sensor_seq,
            sample.received_at,
            lambda seq, source: schema.position(
                sample.fix,
                device_id=sample.device_id,
                measured_at=sample.measured_at,
                received_at=sample.received_at,
                seq=seq,
                seq_source=source,
            ),
        )

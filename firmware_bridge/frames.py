"""What sources hand to decoders (frames) and what decoders hand back (samples).

A frame is device bytes as they arrived, with the moment the gateway received them.
A sample is decoded values that still lack the gateway's idempotency key; the gateway
stamps them into :mod:`coldtrail.schema` readings and positions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from coldtrail.schema import Fix, Measurements


@dataclass(frozen=True, slots=True)
class BleAdvert:
    """One BLE advertisement, as bleak reports it (or as a simulator emits it)."""

    address: str
    received_at: datetime
    rssi: int | None = None
    service_data: Mapping[str, bytes] = field(default_factory=dict)
    """Full 128-bit service UUID in lower case -> payload bytes."""
    manufacturer_data: Mapping[int, bytes] = field(default_factory=dict)
    name: str | None = None


SerialProtocol = Literal["nmea", "board"]


@dataclass(frozen=True, slots=True)
class SerialChunk:
    """Bytes read from a serial port (a GPS receiver or a sensor board); any boundaries."""

    port: str
    """The device id of what is on the port (contract-valid: no '/')."""
    received_at: datetime
    data: bytes
    protocol: SerialProtocol = "nmea"
    """What the port speaks, as configured: NMEA 0183 or the sensor-board protocol."""


Frame = BleAdvert | SerialChunk


@dataclass(frozen=True, slots=True)
class Sample:
    """Measurements decoded from one frame of one device."""

    device_id: str
    values: Measurements
    received_at: datetime
    measured_at: datetime | None = None
    sensor_seq: int | None = None


@dataclass(frozen=True, slots=True)
class FixSample:
    """A position fix decoded from one fix epoch of one receiver."""

    device_id: str
    fix: Fix
    received_at: datetime
    measured_at: datetime | None = None
    sensor_seq: int | None = None

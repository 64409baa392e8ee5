"""What sources hand to decoders (frames) and what decoders hand back (samples).

A frame is device bytes as they arrived, with the moment the gateway received them.
A sample is decoded values that still lack the gateway's idempotency key; the gateway
stamps them into :mod:`coldtrail.schema` readings, positions and events.

Events come in two shapes: an :class:`EventSample` is something that happened once (a button
press, a board's door frame); a :class:`StateSample` is a state a sensor repeats in every
advert (a BTHome door contact says "open" in each one), which the gateway turns into an event
only when it changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from coldtrail.errors import DecodeError
from coldtrail.schema import (
    CalibratedQuantity,
    Calibration,
    EventKind,
    Fix,
    Measurements,
    RawValues,
)


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
    service_uuids: tuple[str, ...] = ()
    """The service UUIDs the advert lists (full 128-bit, lower case); some families are told
    apart by them (Inkbird and ThermoBeacon: 0xFFF0, Govee: 0xEC88)."""


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
    raw: RawValues | None = None
    """Set by the gateway's calibration: the values before it."""
    calibration: Mapping[CalibratedQuantity, Calibration] | None = None
    """Set by the gateway's calibration: what it applied, per quantity."""


@dataclass(frozen=True, slots=True)
class FixSample:
    """A position fix decoded from one fix epoch of one receiver."""

    device_id: str
    fix: Fix
    received_at: datetime
    measured_at: datetime | None = None
    sensor_seq: int | None = None


@dataclass(frozen=True, slots=True)
class EventSample:
    """Something a device reported once: a door opened, a button pressed, a shock, a light
    level. The gateway stamps it into a :class:`coldtrail.schema.Event`."""

    device_id: str
    kind: EventKind
    state: str | None
    value: float | None
    received_at: datetime
    measured_at: datetime | None = None
    sensor_seq: int | None = None
    """The device's own number for this event (a board's frame counter), None if it has none."""


@dataclass(frozen=True, slots=True)
class StateSample:
    """A state a sensor repeats in every advert (a door contact: ``open`` or ``closed``).

    Not an event by itself: the gateway sends an event when the state of ``(device_id,
    channel)`` changes, and the first time it is seen."""

    device_id: str
    channel: str
    """Which of the device's sensors: the decoder's name for it (``window``, ``door_2``)."""
    kind: EventKind
    state: str
    received_at: datetime
    measured_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class DecodedAdvert:
    """Everything one BLE advert carried."""

    samples: list[Sample] = field(default_factory=list)
    events: list[EventSample] = field(default_factory=list)
    """Things that happened once per advert (a button press, a light level): a repeat of the
    advert (same ``packet_id``) repeats them."""
    states: list[StateSample] = field(default_factory=list)
    packet_id: int | None = None
    """The advert's own number (BTHome's packet id): a sensor repeats an advert with the same
    one; None if the sensor sends none."""
    rejects: list[DecodeError] = field(default_factory=list)
    """Values the advert carried that break the telemetry contract (a RuuviTag's 163.835 %
    humidity): left out of the samples, kept here with the raw bytes for the dead letters."""

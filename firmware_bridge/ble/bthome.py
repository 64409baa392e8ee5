"""BTHome (https://bthome.io) service data: decoded by bthome-ble, encoded here for simulators.

:func:`decode` hands the advert to ``bthome_ble.BTHomeBluetoothDeviceData`` and maps what it
reports into the telemetry contract's :class:`~coldtrail.schema.Measurements`:

* temperature (°C), humidity (%), pressure (mbar = hPa), battery (%), and acceleration
  (m/s², BTHome carries one magnitude, not three axes) as ``shock_g`` in g;
* the packet id (object 0x00) becomes ``sensor_seq``, a timestamp object (0x50) ``measured_at``;
* the advert's RSSI becomes ``rssi_dbm`` (left out when outside -150..20 dBm: some Bluetooth
  stacks report 127 for "unknown").

Encrypted adverts (v2 with the encryption flag, v1 on UUID 0x181E) are decrypted by bthome-ble
with the sensor's 16-byte bindkey (``decode(advert, bindkey=...)``). The object walk of
:mod:`~firmware_bridge.ble.bthome_layout` runs on plaintext only: an encrypted payload is
authenticated by its AES-CCM tag, so a wrong bindkey or a tampered advert is rejected, and the
decrypted objects are left to bthome-ble.

When an advert carries several objects of one kind (bthome-ble names them ``temperature_1``,
``temperature_2``, ...) the first one is used.

:func:`decode_advert` returns everything the advert carried (a
:class:`~firmware_bridge.frames.DecodedAdvert`): the sample, the events (button presses,
illuminance as a ``light`` event) and the states (door, window, opening, garage door, light
detected) of :mod:`~firmware_bridge.ble.bthome_events`, and the packet id. :func:`decode`
returns its samples only:

* ``[sample]`` when the advert carries at least one of the measurements above;
* ``[]`` for a well-formed advert that carries none of them: only a packet id, button or dimmer
  events, binary sensors (door, window, low battery, ...), counters, illuminance, ...;

and both raise :class:`~coldtrail.errors.DecodeError` (raw service data in the message) for no
  BTHome service data, an encrypted advert without a bindkey (or one that the bindkey does not
  decrypt), a plaintext advert while a bindkey is configured (a downgrade: bthome-ble ignores
  those too), a version other than 1 or 2,
  an unknown object id or a truncated object anywhere in the payload (bthome-ble itself stops
  there quietly and keeps the objects before it; we reject the whole advert so that the gateway
  dead-letters it), or a value outside the contract (e.g. battery 255 %).

:func:`encode_v2` builds the service data the simulators send: measurements, a door contact
(object 0x1A) and button events (0x3A).

bthome-ble is stateful (it drops repeated packet ids for 4 s); each call uses a fresh parser,
so duplicates are left to the idempotency key downstream.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, cast

from bthome_ble import BTHomeBluetoothDeviceData, Units
from bthome_ble.event import BUTTON_EVENTS

from coldtrail.errors import DecodeError
from coldtrail.schema import Measurements
from firmware_bridge.ble import bthome_events, bthome_layout
from firmware_bridge.ble.bthome_layout import Malformed as _Malformed
from firmware_bridge.ble.measurements import measurements
from firmware_bridge.frames import BleAdvert, DecodedAdvert, Sample

if TYPE_CHECKING:
    from habluetooth import BluetoothServiceInfoBleak

SERVICE_UUID = bthome_layout.SERVICE_UUID
"""BTHome v2 (unencrypted or encrypted, told apart by the device info byte)."""
SERVICE_UUID_V1 = bthome_layout.SERVICE_UUID_V1
"""BTHome v1, unencrypted (deprecated by BTHome, still decoded)."""
SERVICE_UUID_V1_ENCRYPTED = bthome_layout.SERVICE_UUID_V1_ENCRYPTED
"""BTHome v1, encrypted."""

STANDARD_GRAVITY_MS2 = 9.80665

_DEVICE_INFO_V2 = 0x40  # version 2 in bits 5-7; not encrypted, no MAC, not sleepy


@dataclass(frozen=True, slots=True)
class _ServiceInfo:
    """The attributes of habluetooth's ``BluetoothServiceInfoBleak`` that bthome-ble reads.

    The real class wants a bleak ``BLEDevice`` and an int RSSI, which a simulated advert has not.
    """

    name: str
    address: str
    rssi: int | None
    service_data: Mapping[str, bytes]
    time: float
    manufacturer_data: Mapping[int, bytes] = field(default_factory=dict)
    service_uuids: list[str] = field(default_factory=list)
    source: str = "coldtrail"
    raw: bytes | None = None


def _same(value: float) -> float:
    return value


def _ms2_to_g(value: float) -> float:
    return abs(value) / STANDARD_GRAVITY_MS2


@dataclass(frozen=True, slots=True)
class _Mapped:
    field: str
    """The Measurements field."""
    key: str
    """bthome-ble's sensor key (its device class)."""
    unit: str
    """The unit bthome-ble reports the value in."""
    convert: Callable[[float], float]


_MAPPED: tuple[_Mapped, ...] = (
    _Mapped("temperature_c", "temperature", Units.TEMP_CELSIUS, _same),
    _Mapped("humidity_pct", "humidity", Units.PERCENTAGE, _same),
    _Mapped("pressure_hpa", "pressure", Units.PRESSURE_MBAR, _same),
    _Mapped("battery_pct", "battery", Units.PERCENTAGE, _same),
    _Mapped("shock_g", "acceleration", Units.ACCELERATION_METERS_PER_SQUARE_SECOND, _ms2_to_g),
)


@dataclass(frozen=True, slots=True)
class _Encoded:
    object_id: int
    field: str
    size: int
    signed: bool
    resolution: float


# BTHome v2 objects the simulators emit, in ascending object id order as the spec requires.
_PACKET_ID = 0x00
_ENCODED: tuple[_Encoded, ...] = (
    _Encoded(0x01, "battery_pct", 1, signed=False, resolution=1),
    _Encoded(0x02, "temperature_c", 2, signed=True, resolution=0.01),
    _Encoded(0x03, "humidity_pct", 2, signed=False, resolution=0.01),
    _Encoded(0x04, "pressure_hpa", 3, signed=False, resolution=0.01),
)
_DOOR = 0x1A  # binary sensor "door": 0 closed, 1 open
_BUTTON = 0x3A  # one per button of the device; its event code (0x00: no event)
_BUTTON_CODES = {name: code for code, name in BUTTON_EVENTS.items() if name is not None}


BINDKEY_LENGTH = 16


def decode(advert: BleAdvert, bindkey: bytes | None = None) -> list[Sample]:
    """The measurements of one advert (see the module's docstring); events are left out.

    ``bindkey``: the sensor's 16-byte AES key, needed for encrypted adverts only.
    """
    return decode_advert(advert, bindkey).samples


def decode_advert(advert: BleAdvert, bindkey: bytes | None = None) -> DecodedAdvert:
    """Everything one advert carried: measurements, events, states and its packet id."""
    if bindkey is not None and len(bindkey) != BINDKEY_LENGTH:
        raise ValueError(f"a BTHome bindkey is {BINDKEY_LENGTH} bytes, got {len(bindkey)}")
    device_id = advert.address.upper()
    uuid, data = _bthome_service_data(advert, device_id)
    try:
        encrypted = bthome_layout.layout_check(uuid)(data, bindkey)
        return _decode(advert, device_id, uuid, data, bindkey if encrypted else None)
    except _Malformed as exc:
        raise DecodeError(str(exc), data, device=device_id) from None


def encode_v2(
    values: Measurements | None,
    packet_id: int,
    *,
    door_open: bool | None = None,
    buttons: Sequence[str | None] = (),
) -> bytes:
    """The BTHome v2 service data (unencrypted), as a sensor would send it.

    Carries the packet id, battery, temperature, humidity and pressure of ``values``; the other
    fields (rssi, acceleration) are not part of what the simulators emit. ``door_open``: a door
    contact's state (object 0x1A). ``buttons``: one entry per button of the device, its event
    (``press``, ``double_press``, ``long_press``, ... as bthome-ble names them) or None.
    """
    if not 0 <= packet_id <= 0xFF:
        raise ValueError(f"a BTHome packet id is one byte (0-255), got {packet_id}")
    out = bytearray((_DEVICE_INFO_V2, _PACKET_ID, packet_id))
    for obj in () if values is None else _ENCODED:
        value = getattr(values, obj.field)
        if value is None:
            continue
        scaled = round(value / obj.resolution)
        try:
            encoded = scaled.to_bytes(obj.size, "little", signed=obj.signed)
        except OverflowError:
            raise ValueError(
                f"{obj.field}={value} does not fit BTHome object 0x{obj.object_id:02x}"
            ) from None
        out.append(obj.object_id)
        out += encoded
    if door_open is not None:
        out += bytes((_DOOR, int(door_open)))
    for event in buttons:
        code = 0 if event is None else _BUTTON_CODES.get(event)
        if code is None:
            raise ValueError(
                f"unknown BTHome button event {event!r}; known: {', '.join(_BUTTON_CODES)}"
            )
        out += bytes((_BUTTON, code))
    if len(out) == 3:
        raise ValueError(
            "nothing to encode: BTHome v2 carries "
            + ", ".join(obj.field for obj in _ENCODED)
            + f", a door state and button events; got {values}"
        )
    return bytes(out)


def _bthome_service_data(advert: BleAdvert, device_id: str) -> tuple[str, bytes]:
    for uuid in (SERVICE_UUID, SERVICE_UUID_V1, SERVICE_UUID_V1_ENCRYPTED):
        if uuid in advert.service_data:
            return uuid, bytes(advert.service_data[uuid])
    present = ", ".join(sorted(advert.service_data)) or "none"
    raise DecodeError(
        f"no BTHome service data (service data UUIDs: {present})", b"", device=device_id
    )


def _decode(
    advert: BleAdvert, device_id: str, uuid: str, data: bytes, bindkey: bytes | None
) -> DecodedAdvert:
    info = _ServiceInfo(
        name=advert.name or advert.address,
        address=advert.address,
        rssi=advert.rssi,
        service_data={uuid: data},
        time=advert.received_at.timestamp(),
    )
    parser = BTHomeBluetoothDeviceData(bindkey=bindkey)
    update = parser.update(cast("BluetoothServiceInfoBleak", info))
    if bindkey is not None and not getattr(parser, "bindkey_verified", False):
        raise _Malformed("the bindkey does not decrypt this BTHome advert (wrong bindkey?)")
    values = {key.key: value.native_value for key, value in update.entity_values.items()}
    units = {key.key: d.native_unit_of_measurement for key, d in update.entity_descriptions.items()}

    packet_key = _first(values, "packet_id")
    timestamp_key = _first(values, "timestamp")
    packet = values[packet_key] if packet_key else None
    timestamp = values[timestamp_key] if timestamp_key else None
    packet_id = packet if isinstance(packet, int) else None
    heard = bthome_events.Heard(
        device_id, advert.received_at, timestamp if isinstance(timestamp, datetime) else None
    )
    binary = {key.key: value.native_value for key, value in update.binary_entity_values.items()}
    fired = {key.key: event.event_type for key, event in update.events.items()}
    events = bthome_events.events(fired, heard)
    lux_key = _first(values, bthome_events.ILLUMINANCE)
    if lux_key is not None:
        try:
            events.append(bthome_events.illuminance(values[lux_key], units.get(lux_key), heard))
        except bthome_events.Unusable as exc:
            raise _Malformed(str(exc)) from None
    return DecodedAdvert(
        samples=_samples(advert, values, units, heard, packet_id),
        events=events,
        states=bthome_events.states(binary, heard),
        packet_id=packet_id,
    )


def _samples(
    advert: BleAdvert,
    values: Mapping[str, object],
    units: Mapping[str, object],
    heard: bthome_events.Heard,
    packet_id: int | None,
) -> list[Sample]:
    fields: dict[str, object] = {}
    for mapped in _MAPPED:
        key = _first(values, mapped.key)
        if key is None:
            continue
        value = values[key]
        if units.get(key) != mapped.unit:
            raise _Malformed(f"bthome-ble reports {key} in {units.get(key)}, not {mapped.unit}")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _Malformed(f"{key} is {value!r}, not a number")
        fields[mapped.field] = mapped.convert(value)
    if not fields:
        return []
    try:
        decoded = measurements(fields, advert.rssi)
    except ValueError as exc:
        raise _Malformed(str(exc)) from None

    return [
        Sample(
            device_id=heard.device_id,
            values=decoded,
            received_at=heard.received_at,
            measured_at=heard.measured_at,
            sensor_seq=packet_id,
        )
    ]


def _first(values: Mapping[str, object], key: str) -> str | None:
    """bthome-ble's key for the first object of a kind: ``key``, or ``key_1`` if repeated."""
    for candidate in (key, f"{key}_1"):
        if candidate in values:
            return candidate
    return None

"""The custom advertising formats of the LYWSD03MMC thermometer's open firmware, by hand.

pvvx's ATC_MiThermometer (https://github.com/pvvx/ATC_MiThermometer, a fork of atc1441's) runs
on the Xiaomi LYWSD03MMC and its Telink siblings (CGG1, CGDK2, MHO-C401, ...). Besides BTHome
(decoded by :mod:`firmware_bridge.ble.bthome`) it can advertise two formats of its own, both as
service data of the Environmental Sensing UUID 0x181A, told apart by their length:

* **pvvx** ("custom format", 15 bytes, little-endian): MAC (reversed), temperature int16 in
  0.01 °C, humidity uint16 in 0.01 %, battery uint16 in mV, battery uint8 in %, measurement
  counter uint8, flags uint8;
* **atc1441** (13 bytes, big-endian): MAC, temperature int16 in 0.1 °C, humidity uint8 in %,
  battery uint8 in %, battery uint16 in mV, frame counter uint8.

No maintained Python library decodes them, so each is a table of fields (:data:`PVVX`,
:data:`ATC1441`) read by one function. Temperature, humidity and the battery percentage that
the firmware computes go into the contract; the 8-bit counter becomes ``sensor_seq`` (it wraps
at 255); the battery voltage, the MAC and the flags are not part of the contract. The encrypted
variants of these formats (shorter service data) are not decoded.

:class:`~coldtrail.errors.DecodeError` (raw service data in the message) for no 0x181A service
data, a length other than the format's, or a value outside the telemetry contract (e.g.
humidity above 100 %, battery above 100 %).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from coldtrail.errors import DecodeError
from coldtrail.schema import Measurements
from firmware_bridge.ble.measurements import measurements
from firmware_bridge.frames import BleAdvert, Sample

SERVICE_UUID = "0000181a-0000-1000-8000-00805f9b34fb"
"""Environmental Sensing, the service data UUID both formats use."""

_MAC_LENGTH = 6


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    """A Measurements field, or ``sequence`` for the counter; others are read and left out."""
    offset: int
    size: int
    signed: bool = False
    scale: float = 1


@dataclass(frozen=True, slots=True)
class Layout:
    kind: str
    length: int
    byteorder: Literal["little", "big"]
    fields: tuple[Field, ...]


PVVX = Layout(
    "pvvx",
    15,
    "little",
    (
        Field("temperature_c", 6, 2, signed=True, scale=0.01),
        Field("humidity_pct", 8, 2, scale=0.01),
        Field("battery_mv", 10, 2),
        Field("battery_pct", 12, 1),
        Field("sequence", 13, 1),
        Field("flags", 14, 1),
    ),
)
ATC1441 = Layout(
    "atc1441",
    13,
    "big",
    (
        Field("temperature_c", 6, 2, signed=True, scale=0.1),
        Field("humidity_pct", 8, 1),
        Field("battery_pct", 9, 1),
        Field("battery_mv", 10, 2),
        Field("sequence", 12, 1),
    ),
)
LAYOUTS = {layout.kind: layout for layout in (PVVX, ATC1441)}

_CONTRACT_FIELDS = frozenset(Measurements.__struct_fields__)


def decode_pvvx(advert: BleAdvert) -> list[Sample]:
    """Decode pvvx's 15-byte custom format."""
    return decode(advert, PVVX)


def decode_atc1441(advert: BleAdvert) -> list[Sample]:
    """Decode atc1441's 13-byte format."""
    return decode(advert, ATC1441)


def decode(advert: BleAdvert, layout: Layout) -> list[Sample]:
    """Decode the 0x181A service data of one advert with ``layout``."""
    device_id = advert.address.upper()
    data = advert.service_data.get(SERVICE_UUID)
    if data is None:
        present = ", ".join(sorted(advert.service_data)) or "none"
        raise DecodeError(
            f"no 0x181A service data for the {layout.kind} format (service data UUIDs: {present})",
            b"",
            device=device_id,
        )
    data = bytes(data)
    if len(data) != layout.length:
        raise DecodeError(
            f"{layout.kind} service data is {layout.length} bytes, got {len(data)}",
            data,
            device=device_id,
        )
    fields, sequence = read(data, layout)
    try:
        values = measurements(fields, advert.rssi)
    except ValueError as exc:
        raise DecodeError(str(exc), data, device=device_id) from None
    return [
        Sample(
            device_id=device_id,
            values=values,
            received_at=advert.received_at,
            sensor_seq=sequence,
        )
    ]


def read(data: bytes, layout: Layout) -> tuple[dict[str, float], int]:
    """The contract fields of ``data`` (of ``layout.length`` bytes) and its counter."""
    fields: dict[str, float] = {}
    sequence = 0
    for field in layout.fields:
        raw = int.from_bytes(
            data[field.offset : field.offset + field.size], layout.byteorder, signed=field.signed
        )
        if field.name == "sequence":
            sequence = raw
        elif field.name in _CONTRACT_FIELDS:
            fields[field.name] = round(raw * field.scale, 2) if field.scale != 1 else raw
    return fields, sequence


def mac(data: bytes, layout: Layout) -> str:
    """The MAC address the sensor puts in its payload (pvvx reverses it, atc1441 does not)."""
    address = data[:_MAC_LENGTH]
    if layout.byteorder == "little":
        address = address[::-1]
    return address.hex(":").upper()

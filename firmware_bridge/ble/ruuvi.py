"""RuuviTag RAWv2 (data format 5) manufacturer data, decoded by ruuvitag-ble.

Format: https://docs.ruuvi.com/communication/bluetooth-advertisements/data-format-5-rawv2 —
24 bytes after the company id 0x0499, all fields big-endian. ruuvitag-ble's high-level parser
keeps neither the raw acceleration axes nor the measurement sequence number, so this module uses
its ``DataFormat5Decoder`` (the field layout and scaling) and maps what it gives:

* temperature (°C), humidity (%), pressure (hPa: ruuvitag-ble adds the 50 000 Pa offset and
  divides by 100), all rounded by ruuvitag-ble to 0.01;
* acceleration, in mg per axis, becomes ``accel_g`` (x, y, z in g) and ``shock_g`` = |a| in g,
  the magnitude of the acceleration vector. At rest |a| is about 1 g (gravity), so the excess
  over rest is ``shock_g - 1``: derivable downstream, the contract field stays the magnitude;
* the battery voltage becomes ``battery_pct`` by :func:`battery_pct` (linear, see there);
* the measurement sequence number (16 bit, wraps at 65 535) becomes ``sensor_seq``;
* the advert's RSSI becomes ``rssi_dbm`` (left out outside -150..20 dBm).

Ruuvi's "not available" values (the smallest signed value, the largest unsigned one: 0x8000
temperature and acceleration, 0xFFFF humidity, pressure and sequence, 2047 battery, 255
movement) leave their field out. A RAWv2 advert with none of the measurements gives ``[]``.

:class:`~coldtrail.errors.DecodeError` (raw manufacturer data in the message) for no 0x0499
manufacturer data, another data format (3, 6, 0xE1, ...), a length other than 24 bytes, or a
value outside the telemetry contract (e.g. humidity above 100 %, which Ruuvi's format can carry
up to 163.835 % and which "generally indicates a faulty or miscalibrated sensor" per Ruuvi).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ruuvitag_ble.df5_decoder import DataFormat5Decoder

from coldtrail.errors import DecodeError
from firmware_bridge.ble.measurements import measurements
from firmware_bridge.frames import BleAdvert, Sample

COMPANY_ID = 0x0499
"""Ruuvi Innovations Ltd., the Bluetooth SIG company id of the manufacturer data."""
DATA_FORMAT = 5
PAYLOAD_LENGTH = 24
"""Data format byte (1) + 23 bytes of fields, MAC address included."""

BATTERY_EMPTY_MV = 2000
"""0 %: below 2.0 V a RuuviTag browns out (its CR2477 cell is about 3.0 V when new)."""
BATTERY_FULL_MV = 3000
"""100 %: a fresh CR2477 coin cell."""

_MOVEMENT_NOT_AVAILABLE = 255
_SEQUENCE_NOT_AVAILABLE = 0xFFFF
_MAC_NOT_AVAILABLE = "FF:FF:FF:FF:FF:FF"


@dataclass(frozen=True, slots=True)
class RawV2:
    """One RAWv2 payload in its own units; ``None`` where Ruuvi says "not available"."""

    temperature_c: float | None
    humidity_pct: float | None
    pressure_hpa: float | None
    accel_mg: tuple[int, int, int] | None
    battery_mv: int | None
    tx_power_dbm: int | None
    movement_counter: int | None
    sequence: int | None
    mac: str | None


def parse_rawv2(payload: bytes) -> RawV2:
    """The fields of one RAWv2 payload (manufacturer data after the company id)."""
    if len(payload) != PAYLOAD_LENGTH:
        raise DecodeError(
            f"RuuviTag RAWv2 payload is {PAYLOAD_LENGTH} bytes, got {len(payload)}", payload
        )
    if payload[0] != DATA_FORMAT:
        raise DecodeError(
            f"RuuviTag data format {payload[0]} is not supported (only RAWv2, format 5)", payload
        )
    raw = DataFormat5Decoder(payload)
    x, y, z = raw.acceleration_vector_mg
    movement = raw.movement_counter
    sequence = raw.measurement_sequence_number
    return RawV2(
        temperature_c=raw.temperature_celsius,
        humidity_pct=raw.humidity_percentage,
        pressure_hpa=raw.pressure_hpa,
        accel_mg=None if x is None or y is None or z is None else (x, y, z),
        battery_mv=raw.battery_voltage_mv,
        tx_power_dbm=raw.tx_power_dbm,
        movement_counter=None if movement == _MOVEMENT_NOT_AVAILABLE else movement,
        sequence=None if sequence == _SEQUENCE_NOT_AVAILABLE else sequence,
        mac=None if raw.mac == _MAC_NOT_AVAILABLE else raw.mac,
    )


def battery_pct(battery_mv: int) -> float:
    """Battery charge from its voltage: linear from 2.0 V (0 %) to 3.0 V (100 %), clamped.

    A coin cell's voltage stays flat for most of its life and then drops, so this is a coarse
    "how close to empty" indication rather than a fuel gauge; it errs on the early side.
    """
    span = BATTERY_FULL_MV - BATTERY_EMPTY_MV
    return min(100.0, max(0.0, (battery_mv - BATTERY_EMPTY_MV) * 100 / span))


def decode(advert: BleAdvert) -> list[Sample]:
    """Decode the Ruuvi manufacturer data of one advert (see the module's docstring)."""
    device_id = advert.address.upper()
    payload = advert.manufacturer_data.get(COMPANY_ID)
    if payload is None:
        present = ", ".join(f"0x{company:04x}" for company in sorted(advert.manufacturer_data))
        raise DecodeError(
            f"no Ruuvi manufacturer data (company ids: {present or 'none'})", b"", device=device_id
        )
    payload = bytes(payload)
    try:
        raw = parse_rawv2(payload)
    except DecodeError as exc:
        raise DecodeError(exc.reason, payload, device=device_id) from None
    fields = _measurements(raw)
    if not fields:
        return []
    try:
        values = measurements(fields, advert.rssi)
    except ValueError as exc:
        raise DecodeError(str(exc), payload, device=device_id) from None
    return [
        Sample(
            device_id=device_id,
            values=values,
            received_at=advert.received_at,
            sensor_seq=raw.sequence,
        )
    ]


def _measurements(raw: RawV2) -> dict[str, object]:
    fields: dict[str, object] = {
        "temperature_c": raw.temperature_c,
        "humidity_pct": raw.humidity_pct,
        "pressure_hpa": raw.pressure_hpa,
    }
    if raw.accel_mg is not None:
        fields["accel_g"] = tuple(axis / 1000 for axis in raw.accel_mg)
        fields["shock_g"] = math.hypot(*raw.accel_mg) / 1000
    if raw.battery_mv is not None:
        fields["battery_pct"] = battery_pct(raw.battery_mv)
    return {name: value for name, value in fields.items() if value is not None}

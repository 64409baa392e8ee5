"""RuuviTag RAWv2 (data format 5) and RAWv1 (data format 3) manufacturer data, decoded by
ruuvitag-ble.

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

RAWv1 (https://docs.ruuvi.com/communication/bluetooth-advertisements/data-format-3-rawv1, 14
bytes, older firmware) carries humidity in 0.5 % steps, temperature as sign-and-magnitude with
hundredths, pressure, acceleration (mg) and the battery in mV; it has no sequence number (the
gateway counts) and no "not available" values. ruuvitag-ble's ``DataFormat3Decoder`` decodes it.

:class:`~coldtrail.errors.DecodeError` (raw manufacturer data in the message) for no 0x0499
manufacturer data, another data format (6, 0xE1, ...), a length other than 24 (RAWv2) or 14
(RAWv1) bytes, or a temperature fraction of 100 or more (RAWv1: a corrupt reading).

A value the format can carry but the telemetry contract refuses (humidity above 100 %, which
RAWv2 can encode up to 163.835 % and which "generally indicates a faulty or miscalibrated
sensor" per Ruuvi; a temperature below -100 °C): :func:`decode` rejects the whole advert;
:func:`decode_advert`, which the gateway uses, keeps the reading with the other values and
returns a :class:`DecodeError` per refused value in ``rejects``, so that the gateway
dead-letters the raw bytes and the reason while the temperature still reaches ingest.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ruuvitag_ble.df3_decoder import DataFormat3Decoder
from ruuvitag_ble.df5_decoder import DataFormat5Decoder

from coldtrail.errors import DecodeError
from firmware_bridge.ble.measurements import measurements, within_contract
from firmware_bridge.frames import BleAdvert, DecodedAdvert, Sample

COMPANY_ID = 0x0499
"""Ruuvi Innovations Ltd., the Bluetooth SIG company id of the manufacturer data."""
DATA_FORMAT = 5
PAYLOAD_LENGTH = 24
"""Data format byte (1) + 23 bytes of fields, MAC address included."""
DATA_FORMAT_V1 = 3
PAYLOAD_LENGTH_V1 = 14
"""RAWv1: data format byte (1) + 13 bytes of fields."""
DATA_FORMATS = (DATA_FORMAT_V1, DATA_FORMAT)

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


def parse_rawv1(payload: bytes) -> RawV2:
    """The fields of one RAWv1 payload, in :class:`RawV2`'s shape (RAWv1 has no transmit
    power, movement counter, sequence number nor MAC address: those are None)."""
    if len(payload) != PAYLOAD_LENGTH_V1:
        raise DecodeError(
            f"RuuviTag RAWv1 payload is {PAYLOAD_LENGTH_V1} bytes, got {len(payload)}", payload
        )
    if payload[0] != DATA_FORMAT_V1:
        raise DecodeError(f"RuuviTag data format {payload[0]} is not RAWv1 (format 3)", payload)
    raw = DataFormat3Decoder(payload)
    temperature = raw.temperature_celsius
    if temperature is None:
        raise DecodeError(
            f"RuuviTag RAWv1 temperature fraction {payload[3]} is not a hundredth (0-99)",
            payload,
        )
    x, y, z = raw.acceleration_vector_mg
    return RawV2(
        temperature_c=temperature,
        # ruuvitag-ble leaves out a humidity above 100 % (byte > 200); keep it, so that the
        # contract check names it rather than it vanishing
        humidity_pct=payload[1] / 2,
        pressure_hpa=raw.pressure_hpa,
        accel_mg=None if x is None or y is None or z is None else (x, y, z),
        battery_mv=raw.battery_voltage_mv,
        tx_power_dbm=None,
        movement_counter=None,
        sequence=None,
        mac=None,
    )


def parse(payload: bytes) -> RawV2:
    """A RAWv2 or RAWv1 payload, by its data format byte."""
    if payload[:1] == bytes((DATA_FORMAT_V1,)):
        return parse_rawv1(payload)
    if payload[:1] != bytes((DATA_FORMAT,)):
        found = payload[0] if payload else "none"
        raise DecodeError(
            f"RuuviTag data format {found} is not supported (RAWv1 format 3, RAWv2 format 5)",
            payload,
        )
    return parse_rawv2(payload)


def battery_pct(battery_mv: int) -> float:
    """Battery charge from its voltage: linear from 2.0 V (0 %) to 3.0 V (100 %), clamped.

    A coin cell's voltage stays flat for most of its life and then drops, so this is a coarse
    "how close to empty" indication rather than a fuel gauge; it errs on the early side.
    """
    span = BATTERY_FULL_MV - BATTERY_EMPTY_MV
    return min(100.0, max(0.0, (battery_mv - BATTERY_EMPTY_MV) * 100 / span))


def decode(advert: BleAdvert) -> list[Sample]:
    """Decode the Ruuvi manufacturer data of one advert (see the module's docstring); a value
    outside the telemetry contract rejects the whole advert."""
    decoded = decode_advert(advert)
    if decoded.rejects:
        raise decoded.rejects[0]
    return decoded.samples


def decode_advert(advert: BleAdvert) -> DecodedAdvert:
    """As :func:`decode`, but a value outside the contract is left out of the reading and
    returned in ``rejects`` (with the raw payload) instead of rejecting the whole advert."""
    device_id = advert.address.upper()
    payload = advert.manufacturer_data.get(COMPANY_ID)
    if payload is None:
        present = ", ".join(f"0x{company:04x}" for company in sorted(advert.manufacturer_data))
        raise DecodeError(
            f"no Ruuvi manufacturer data (company ids: {present or 'none'})", b"", device=device_id
        )
    payload = bytes(payload)
    try:
        raw = parse(payload)
    except DecodeError as exc:
        raise DecodeError(exc.reason, payload, device=device_id) from None
    fields, refused = within_contract(_measurements(raw))
    rejects = [
        DecodeError(
            f"outside the telemetry contract, left out of the reading: {reason}",
            payload,
            device=device_id,
        )
        for reason in refused
    ]
    if not fields:
        return DecodedAdvert(rejects=rejects)
    try:
        values = measurements(fields, advert.rssi)
    except ValueError as exc:
        raise DecodeError(str(exc), payload, device=device_id) from None
    sample = Sample(
        device_id=device_id, values=values, received_at=advert.received_at, sensor_seq=raw.sequence
    )
    return DecodedAdvert(samples=[sample], rejects=rejects)


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

"""Families decoded by Home Assistant's maintained parser libraries, through one adapter.

``inkbird-ble``, ``govee-ble``, ``thermobeacon-ble``, ``sensorpush-ble`` and ``xiaomi-ble`` share
one interface (``bluetooth-sensor-state-data``'s ``BluetoothData``): a parser object takes a
service info (name, address, RSSI, manufacturer data, service data, service UUIDs), recognises
the model itself and reports a ``SensorUpdate`` of values by device class and unit.
:func:`decode` hands it our :class:`~firmware_bridge.frames.BleAdvert` and maps what it reports
into the telemetry contract's :class:`~coldtrail.schema.Measurements`:

=====================================  ==================
library device class (unit)            contract field
=====================================  ==================
temperature (°C; °F converted)         ``temperature_c``
humidity (%)                           ``humidity_pct``
pressure (mbar or hPa)                 ``pressure_hpa``
battery (%)                            ``battery_pct``
=====================================  ==================

Other values (voltage, CO2, PM2.5, moisture, ...) are not part of the contract and are left
out; the advert's own RSSI becomes ``rssi_dbm`` as for every BLE family. A device with several
temperature sensors (a BBQ probe's ``temperature_probe_1``, ``_2``, ...) reports its first one
(the plain ``temperature`` when there is one, else the lowest-numbered probe).

Each library is imported on first use (:data:`PARSERS`), so a gateway loads only the parsers of
the kinds it hears. Each call uses a fresh parser: the libraries are stateful (they compare an
advert with the previous one of the same source), and repeats are left to the idempotency key
downstream.

* ``[sample]`` when the library recognised the device and reported at least one of the values
  above; ``[]`` when it recognised the device but the advert carried none (a Govee button, an
  Inkbird probe without a probe plugged in, a MiBeacon frame that only announces the device),
  or when the advert carries no manufacturer or service data at all (a scan response that only
  names the device: the gateway keeps the name for the device's next adverts);
* :class:`~coldtrail.errors.DecodeError` with the raw manufacturer and service data when the
  library does not recognise the advert at all (wrong kind configured, a model it does not
  know, a corrupt packet it refuses), fails on it (:data:`LIBRARY_ERRORS`), or reports a value
  outside the telemetry contract.
"""

from __future__ import annotations

import importlib
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from coldtrail.errors import DecodeError
from firmware_bridge.ble.measurements import measurements
from firmware_bridge.frames import BleAdvert, Sample


@dataclass(frozen=True, slots=True)
class Parser:
    """Where a kind's parser class lives in its library."""

    module: str
    cls: str
    takes_bindkey: bool = False


PARSERS: Final[Mapping[str, Parser]] = {
    "inkbird": Parser("inkbird_ble", "INKBIRDBluetoothDeviceData"),
    "govee": Parser("govee_ble", "GoveeBluetoothDeviceData"),
    "thermobeacon": Parser("thermobeacon_ble", "ThermoBeaconBluetoothDeviceData"),
    "sensorpush": Parser("sensorpush_ble", "SensorPushBluetoothDeviceData"),
    "xiaomi": Parser("xiaomi_ble", "XiaomiBluetoothDeviceData", takes_bindkey=True),
}
"""Kind -> its library's parser class, imported on first use."""

LIBRARY_ERRORS = (IndexError, KeyError, ValueError, TypeError, struct.error)
"""What the libraries raise on bytes they did not expect (a payload shorter than its model's):
turned into a :class:`DecodeError` with the raw bytes, like any undecodable advert."""


@dataclass(frozen=True, slots=True)
class _ServiceInfo:
    """The attributes of habluetooth's ``BluetoothServiceInfoBleak`` the parsers read."""

    name: str
    address: str
    rssi: int
    manufacturer_data: Mapping[int, bytes]
    service_data: Mapping[str, bytes]
    service_uuids: list[str]
    time: float
    source: str = "coldtrail"
    raw: bytes | None = None
    connectable: bool = False
    tx_power: int | None = None
    device: Any = None
    advertisement: Any = None


def _celsius(value: float) -> float:
    return value


def _fahrenheit(value: float) -> float:
    return (value - 32) * 5 / 9


@dataclass(frozen=True, slots=True)
class _Mapped:
    name: str
    device_class: str
    units: Mapping[str, Callable[[float], float]] = field(default_factory=dict)


# sensor-state-data's device classes and unit strings (sensor_state_data.Units values)
_MAPPED: tuple[_Mapped, ...] = (
    _Mapped("temperature_c", "temperature", {"°C": _celsius, "°F": _fahrenheit}),
    _Mapped("humidity_pct", "humidity", {"%": _celsius}),
    _Mapped("pressure_hpa", "pressure", {"mbar": _celsius, "hPa": _celsius}),
    _Mapped("battery_pct", "battery", {"%": _celsius}),
)


def parser_class(kind: str) -> Any:
    """The parser class of ``kind``'s library (imported now if it was not yet)."""
    parser = PARSERS[kind]
    return getattr(importlib.import_module(parser.module), parser.cls)


def decode(advert: BleAdvert, kind: str, bindkey: bytes | None = None) -> list[Sample]:
    """The measurements of one advert of ``kind``, decoded by its library (module docstring)."""
    device_id = advert.address.upper()
    if not advert.manufacturer_data and not advert.service_data:
        return []  # a scan response, or an advert that only names the device: no values
    parser_info = PARSERS[kind]
    cls = parser_class(kind)
    parser = cls(bindkey=bindkey) if parser_info.takes_bindkey else cls()
    info = _ServiceInfo(
        name=advert.name or advert.address,
        address=advert.address,
        rssi=advert.rssi if advert.rssi is not None else -127,
        manufacturer_data={k: bytes(v) for k, v in advert.manufacturer_data.items()},
        service_data={k: bytes(v) for k, v in advert.service_data.items()},
        service_uuids=list(advert.service_uuids),
        time=advert.received_at.timestamp(),
    )
    raw = _raw(advert)
    try:
        update = parser.update(info)
    except LIBRARY_ERRORS as exc:
        # e.g. inkbird-ble 1.7.1 indexes past the end of a short payload from an "sps"
        raise DecodeError(
            f"{_library(kind)} failed on this advert: {exc!r}", raw, device=device_id
        ) from None
    if not any(device.model for device in update.devices.values()):
        raise DecodeError(
            f"{_library(kind)} does not recognise this advert (name {advert.name!r}, "
            f"service UUIDs {', '.join(advert.service_uuids) or 'none'}): another kind of "
            "sensor, a model it does not know, or a packet it rejects",
            raw,
            device=device_id,
        )
    if parser_info.takes_bindkey:
        _check_encryption(parser, bindkey, raw, device_id)
    fields = _fields(update, kind, raw, device_id)
    if not fields:
        return []
    try:
        values = measurements(fields, advert.rssi)
    except ValueError as exc:
        raise DecodeError(str(exc), raw, device=device_id) from None
    return [Sample(device_id=device_id, values=values, received_at=advert.received_at)]


def _check_encryption(parser: Any, bindkey: bytes | None, raw: bytes, device_id: str) -> None:
    """An encrypted advert needs the bindkey that decrypts it: without one the library reports
    nothing, which would drop the sensor's readings without a word."""
    scheme = getattr(getattr(parser, "encryption_scheme", None), "value", "none")
    if scheme == "none":
        return
    if bindkey is None:
        raise DecodeError(
            f"an encrypted advert ({scheme}): configure the sensor's bindkey", raw, device=device_id
        )
    if not getattr(parser, "bindkey_verified", False):
        raise DecodeError(
            "the bindkey does not decrypt this advert (wrong bindkey?)", raw, device=device_id
        )


def _fields(update: Any, kind: str, raw: bytes, device_id: str) -> dict[str, float]:
    by_class: dict[str, list[tuple[tuple[int, str], float, str | None]]] = {}
    for key, description in update.entity_descriptions.items():
        value = update.entity_values.get(key)
        if value is None or value.native_value is None:
            continue
        device_class = getattr(description.device_class, "value", description.device_class)
        native = value.native_value
        if isinstance(native, bool) or not isinstance(native, int | float):
            continue
        order = (0 if key.device_id is None else 1, _rank(key.key))
        unit = description.native_unit_of_measurement
        by_class.setdefault(str(device_class), []).append(
            (order, float(native), None if unit is None else str(getattr(unit, "value", unit)))
        )
    fields: dict[str, float] = {}
    for mapped in _MAPPED:
        candidates = by_class.get(mapped.device_class)
        if not candidates:
            continue
        _order, native, unit = min(candidates, key=lambda c: c[0])
        convert = mapped.units.get(unit or "")
        if convert is None:
            raise DecodeError(
                f"{_library(kind)} reports {mapped.device_class} in {unit!r}, expected one of "
                + ", ".join(mapped.units),
                raw,
                device=device_id,
            )
        fields[mapped.name] = convert(native)
    return fields


def _rank(key: str) -> str:
    """``temperature`` before ``temperature_probe_1`` before ``temperature_probe_2``."""
    return "" if "_" not in key else key


def _library(kind: str) -> str:
    return PARSERS[kind].module.replace("_", "-")


def _raw(advert: BleAdvert) -> bytes:
    """The advert's name, manufacturer and service data as AD structures, for the dead letter."""
    out = bytearray()
    if advert.name:
        name = advert.name.encode()[:29]
        out += bytes((len(name) + 1, 0x09)) + name
    for company, data in advert.manufacturer_data.items():
        body = company.to_bytes(2, "little") + bytes(data)
        out += bytes((len(body) + 1, 0xFF)) + body
    for uuid, data in advert.service_data.items():
        if uuid.endswith("-0000-1000-8000-00805f9b34fb") and uuid.startswith("0000"):
            body = int(uuid[4:8], 16).to_bytes(2, "little") + bytes(data)
            out += bytes((len(body) + 1, 0x16)) + body
    return bytes(out)

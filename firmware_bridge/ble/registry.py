"""Which decoder reads which sensor: configured by MAC, or detected from the advert.

The kinds, and how each is recognised, are the registry of :mod:`coldtrail.sensor_kinds` (one
list for the settings, the decode CLI, the passive-scan patterns and this module; a test fails
when they drift). A :class:`SensorConfig` names a sensor's kind (one of those, or ``auto``)
and, for the kinds that can be encrypted (BTHome, Xiaomi MiBeacon), its bindkey.
:func:`decode` looks the kind up in one table (:data:`DECODERS`); ``auto`` asks
:func:`detect_kind`, which checks the advert against each kind's matches (service data UUID,
manufacturer id, service UUID, local name), in registry order:

=====================================================  ============
advert carries                                         kind
=====================================================  ============
service data 0xFCD2, 0x181C or 0x181E                  bthome
manufacturer 0x0499, first byte 3 or 5                 ruuvi (RAWv1, RAWv2)
service data 0x181A, 15 bytes                          pvvx
service data 0x181A, 13 bytes                          atc1441
name sps, tps, ibs-p02b, ith-*-b, ibbq*, xbbq*, ...    inkbird
manufacturer 0xEC88 or 0x8801, service 0xEC88, GVH*   govee
manufacturer 0x10-0x30 with service 0xFFF0            thermobeacon
SensorPush service UUIDs or name                       sensorpush
service data 0xFE95 (MiBeacon)                         xiaomi
=====================================================  ============

The kinds decoded by Home Assistant's parser libraries go through
:mod:`~firmware_bridge.ble.sensor_state`, which imports each library on first use.

:class:`SensorRegistry` holds the configured sensors of a gateway and decodes each advert with
its sensor's config (``auto`` for sensors nobody configured). :func:`decode_hex` decodes raw
advertisement bytes (and scan responses), for ``coldtrail decode ble HEX``.

:func:`decode` returns the measurements; :func:`decode_advert` everything an advert carried
(measurements, events, states, packet id, values refused by the contract), from
:data:`ADVERT_DECODERS` for the kinds that report more than measurements (BTHome: doors,
buttons, light; Ruuvi: values left out), else from :data:`DECODERS`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from coldtrail import sensor_kinds
from coldtrail.errors import ConfigError, DecodeError
from coldtrail.sensor_kinds import AdvertMatch
from firmware_bridge.ble import sensor_state
from firmware_bridge.frames import BleAdvert, DecodedAdvert, Sample

KINDS: Final[tuple[str, ...]] = sensor_kinds.CONFIG_KINDS
"""What a sensor's ``kind`` may be: a kind of the registry, or ``auto``."""
BINDKEY_LENGTH: Final = 16
"""A BTHome or MiBeacon bindkey's length in bytes (``bthome.BINDKEY_LENGTH``)."""

# The decoder modules of the configured kinds are imported when the registry is built (at the
# gateway's start, by check-config and on a configuration change: :func:`load_decoders`), so a
# broken parser install is a configuration error at start, not a surprise in the van, and the
# first advert does not wait for an import (211 ms for BTHome on the development machine). Those
# of ``auto`` sensors and of sensors nobody configured are imported on first use, as the parser
# libraries of ``sensor_state`` are: a gateway loads only the families it is configured for or
# hears (bthome-ble alone brings cryptography, habluetooth and bleak: ~17 MiB of its memory).

_MODULES: Final[Mapping[str, str]] = {
    "bthome": "firmware_bridge.ble.bthome",
    "ruuvi": "firmware_bridge.ble.ruuvi",
    "pvvx": "firmware_bridge.ble.pvvx",
    "atc1441": "firmware_bridge.ble.pvvx",
}
"""Kind -> the module of its decoder, for the kinds not decoded through ``sensor_state``."""


def load_decoders(kinds: Iterable[str]) -> list[str]:
    """Import the decoders of ``kinds`` now (``auto`` stays lazy); returns the kinds loaded.

    Raises :class:`ConfigError` naming the kind when its decoder or parser library cannot be
    imported (a broken or partial install)."""
    loaded: list[str] = []
    for kind in sorted(set(kinds) - {sensor_kinds.AUTO}):
        try:
            if kind in _MODULES:
                importlib.import_module(_MODULES[kind])
            elif kind in sensor_state.PARSERS:
                sensor_state.parser_class(kind)
            else:
                continue
        except ImportError as exc:
            raise ConfigError(
                f"sensors of kind {kind!r} are configured but their decoder cannot be imported"
                f" ({exc}): reinstall coldtrail with its gateway dependencies"
            ) from None
        loaded.append(kind)
    return loaded


_Decoder = Callable[[BleAdvert, "SensorConfig"], list[Sample]]


@dataclass(frozen=True, slots=True)
class SensorConfig:
    """One configured sensor. Raises :class:`ConfigError` for a configuration that cannot work."""

    mac: str
    kind: str = sensor_kinds.AUTO
    bindkey: bytes | None = None
    """The 16-byte AES key of an encrypted BTHome or Xiaomi MiBeacon sensor."""
    label: str | None = None
    """A name for people ("van 3, rear shelf"); not part of the readings."""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(
                f"sensor {self.mac}: unknown kind {self.kind!r}; choose one of {', '.join(KINDS)}"
            )
        if self.bindkey is not None:
            keyed = [kind.name for kind in sensor_kinds.KINDS if kind.bindkey]
            if self.kind not in (*keyed, sensor_kinds.AUTO):
                raise ConfigError(
                    f"sensor {self.mac}: a bindkey only applies to {' and '.join(keyed)} "
                    f"sensors, not to kind {self.kind!r}"
                )
            if len(self.bindkey) != BINDKEY_LENGTH:
                raise ConfigError(
                    f"sensor {self.mac}: a bindkey is {BINDKEY_LENGTH} bytes "
                    f"(32 hex digits), got {len(self.bindkey)}"
                )


def bindkey_from_hex(text: str) -> bytes:
    """A bindkey from its 32 hex digits (as BTHome devices and Home Assistant show it)."""
    try:
        key = bytes.fromhex(text.strip())
    except ValueError:
        raise ConfigError(f"a bindkey is 32 hex digits, got {text!r}") from None
    if len(key) != BINDKEY_LENGTH:
        raise ConfigError(f"a bindkey is 32 hex digits, got {len(text.strip())} characters")
    return key


def _bthome(advert: BleAdvert, config: SensorConfig) -> list[Sample]:
    return _bthome_advert(advert, config).samples


def _bthome_advert(advert: BleAdvert, config: SensorConfig) -> DecodedAdvert:
    from firmware_bridge.ble import bthome

    return bthome.decode_advert(advert, bindkey=config.bindkey)


def _ruuvi(advert: BleAdvert, config: SensorConfig) -> list[Sample]:
    from firmware_bridge.ble import ruuvi

    return ruuvi.decode(advert)


def _ruuvi_advert(advert: BleAdvert, config: SensorConfig) -> DecodedAdvert:
    from firmware_bridge.ble import ruuvi

    return ruuvi.decode_advert(advert)


def _pvvx(advert: BleAdvert, config: SensorConfig) -> list[Sample]:
    from firmware_bridge.ble import pvvx

    return pvvx.decode_pvvx(advert)


def _atc1441(advert: BleAdvert, config: SensorConfig) -> list[Sample]:
    from firmware_bridge.ble import pvvx

    return pvvx.decode_atc1441(advert)


def _by_library(kind: str) -> _Decoder:
    def decode_kind(advert: BleAdvert, config: SensorConfig) -> list[Sample]:
        return sensor_state.decode(advert, kind, bindkey=config.bindkey)

    return decode_kind


DECODERS: Final[Mapping[str, _Decoder]] = {
    "bthome": _bthome,
    "ruuvi": _ruuvi,
    "pvvx": _pvvx,
    "atc1441": _atc1441,
    **{kind: _by_library(kind) for kind in sensor_state.PARSERS},
}
"""Kind -> decoder: one per kind of :data:`coldtrail.sensor_kinds.KINDS`."""


def matches(advert: BleAdvert, match: AdvertMatch) -> bool:
    """Whether ``advert`` meets every condition of ``match``."""
    return _compiled(match)(advert)


_Check = Callable[[BleAdvert], bool]


def _compiled(match: AdvertMatch) -> _Check:
    """``match`` as one function of the advert, its constants computed once (auto-detection
    runs for every advert heard)."""
    checks: list[_Check] = []
    if match.service_data_uuid is not None:
        checks.append(
            _service_data(sensor_kinds.uuid16(match.service_data_uuid), match.service_data_lengths)
        )
    if match.company_id is not None:
        firsts = frozenset(bytes((b,)) for b in match.manufacturer_data_first)
        checks.append(_company(match.company_id, firsts))
    if match.manufacturer_ids:
        ids = match.manufacturer_ids
        checks.append(lambda a: not ids.isdisjoint(a.manufacturer_data))
    if match.service_uuid is not None:
        service = match.service_uuid
        checks.append(lambda a: service in a.service_uuids)
    if match.local_names:
        names = match.local_names
        checks.append(lambda a: a.name is not None and a.name.lower() in names)
    if match.local_name_prefixes:
        prefixes = match.local_name_prefixes
        checks.append(lambda a: a.name is not None and a.name.lower().startswith(prefixes))
    if len(checks) == 1:
        return checks[0]
    return lambda a: all(check(a) for check in checks)


def _service_data(uuid: str, lengths: frozenset[int]) -> _Check:
    def check(advert: BleAdvert) -> bool:
        data = advert.service_data.get(uuid)
        return data is not None and (not lengths or len(data) in lengths)

    return check


def _company(company: int, firsts: frozenset[bytes]) -> _Check:
    def check(advert: BleAdvert) -> bool:
        data = advert.manufacturer_data.get(company)
        return data is not None and (not firsts or data[:1] in firsts)

    return check


_DETECTORS: Final[tuple[tuple[str, tuple[_Check, ...]], ...]] = tuple(
    (kind.name, tuple(_compiled(match) for match in kind.matches)) for kind in sensor_kinds.KINDS
)


def detect_kind(advert: BleAdvert) -> str | None:
    """The kind of sensor that sent ``advert``: the first kind of the registry one of whose
    matches it meets (table above), or None."""
    for name, checks in _DETECTORS:
        for check in checks:
            if check(advert):
                return name
    return None


def decode(advert: BleAdvert, config: SensorConfig | None = None) -> list[Sample]:
    """Decode ``advert`` with the decoder of ``config.kind`` (auto-detected if ``auto`` or no
    config). Raises :class:`DecodeError` for an advert of no known kind, and whatever the
    decoder raises (a :class:`DecodeError` with the raw payload)."""
    config = config or SensorConfig(mac=advert.address)
    return DECODERS[_kind(advert, config)](advert, config)


ADVERT_DECODERS: Final[Mapping[str, Callable[[BleAdvert, SensorConfig], DecodedAdvert]]] = {
    "bthome": _bthome_advert,
    "ruuvi": _ruuvi_advert,
}
"""The kinds whose adverts carry more than measurements (events, states, refused values)."""


def decode_advert(advert: BleAdvert, config: SensorConfig | None = None) -> DecodedAdvert:
    """Everything ``advert`` carried: as :func:`decode`, plus events, states and packet id."""
    config = config or SensorConfig(mac=advert.address)
    kind = _kind(advert, config)
    full = ADVERT_DECODERS.get(kind)
    if full is not None:
        return full(advert, config)
    return DecodedAdvert(samples=DECODERS[kind](advert, config))


def _kind(advert: BleAdvert, config: SensorConfig) -> str:
    """The decoder kind of ``advert`` (a key of :data:`DECODERS`), or :class:`DecodeError`."""
    kind = detect_kind(advert) if config.kind == "auto" else config.kind
    if kind is None:
        raise DecodeError(
            f"no known sensor format ({_describe(advert)}); known kinds: " + ", ".join(DECODERS),
            b"",
            device=advert.address.upper(),
        )
    if kind not in DECODERS:
        raise DecodeError(
            f"unknown sensor kind {kind!r}; known kinds: {', '.join(DECODERS)}",
            b"",
            device=advert.address.upper(),
        )
    return kind


def decode_hex(
    hex_text: str,
    *,
    kind: str = "auto",
    bindkey: bytes | None = None,
    address: str = "00:00:00:00:00:00",
    received_at: datetime,
    scan_responses: Sequence[str] = (),
) -> list[Sample]:
    """Decode raw advertisement bytes given as hex (AD structures, as btmon prints them),
    joined with the device's ``scan_responses`` (hex too) when it sent any.

    Raises :class:`ConfigError` for an unknown ``kind`` or a bad bindkey, and
    :class:`DecodeError` carrying the whole advertisement's bytes for what cannot be decoded.
    """
    return decode_hex_advert(
        hex_text,
        kind=kind,
        bindkey=bindkey,
        address=address,
        received_at=received_at,
        scan_responses=scan_responses,
    ).samples


def decode_hex_advert(
    hex_text: str,
    *,
    kind: str = "auto",
    bindkey: bytes | None = None,
    address: str = "00:00:00:00:00:00",
    received_at: datetime,
    scan_responses: Sequence[str] = (),
) -> DecodedAdvert:
    """As :func:`decode_hex`, with everything the advert carried (:func:`decode_advert`)."""
    from firmware_bridge.ble import advertisement

    config = SensorConfig(mac=address, kind=kind, bindkey=bindkey)
    raw = advertisement.from_hex(hex_text)
    advert = advertisement.parse(raw, address=address, received_at=received_at)
    for response in scan_responses:
        advert = advertisement.join(
            advert,
            advertisement.parse_hex(response, address=address, received_at=received_at),
        )
    try:
        return decode_advert(advert, config)
    except DecodeError as exc:
        raise DecodeError(exc.reason, raw, device=exc.device) from None


class SensorRegistry:
    """The sensors a gateway is configured for, by MAC address (case-insensitive). Building it
    imports the configured kinds' decoders (:func:`load_decoders`: :class:`ConfigError` if one
    cannot be imported)."""

    def __init__(self, sensors: Iterable[SensorConfig] = ()) -> None:
        self._by_mac: dict[str, SensorConfig] = {}
        for sensor in sensors:
            mac = sensor.mac.upper()
            if mac in self._by_mac:
                raise ConfigError(f"sensor {mac} is configured twice")
            self._by_mac[mac] = sensor
        self.loaded = load_decoders(sensor.kind for sensor in self._by_mac.values())
        """The kinds whose decoders were imported for the configured sensors."""

    def config_for(self, address: str) -> SensorConfig | None:
        return self._by_mac.get(address.upper())

    def decode(self, advert: BleAdvert) -> list[Sample]:
        """Decode with the sensor's config, or auto-detect an unconfigured sensor."""
        return decode(advert, self.config_for(advert.address))

    def decode_advert(self, advert: BleAdvert) -> DecodedAdvert:
        """As :meth:`decode`, with everything the advert carried."""
        return decode_advert(advert, self.config_for(advert.address))


def _describe(advert: BleAdvert) -> str:
    service = ", ".join(f"{uuid}={data.hex()}" for uuid, data in advert.service_data.items())
    company = ", ".join(
        f"0x{company:04x}={data.hex()}" for company, data in advert.manufacturer_data.items()
    )
    return f"service data: {service or 'none'}; manufacturer data: {company or 'none'}"

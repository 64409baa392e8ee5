"""Which decoder reads which sensor: configured by MAC, or detected from the advert.

A :class:`SensorConfig` names a sensor's kind (``bthome``, ``ruuvi``, ``pvvx``, ``atc1441``,
or ``auto``) and, for encrypted BTHome, its bindkey. :func:`decode` looks the kind up in one
table (:data:`DECODERS`); ``auto`` asks :func:`detect_kind`, which goes by the service data
UUID or the manufacturer's company id:

=================================  ===========
advert carries                     kind
=================================  ===========
service data 0xFCD2                bthome (v2)
service data 0x181C or 0x181E      bthome (v1, plaintext or encrypted)
manufacturer 0x0499, first byte 5  ruuvi (RAWv2)
service data 0x181A, 15 bytes      pvvx
service data 0x181A, 13 bytes      atc1441
=================================  ===========

:class:`SensorRegistry` holds the configured sensors of a gateway and decodes each advert with
its sensor's config (``auto`` for sensors nobody configured). :func:`decode_hex` decodes raw
advertisement bytes, for ``coldtrail decode ble HEX``.

:func:`decode` returns the measurements; :func:`decode_advert` everything an advert carried
(measurements, events, states, packet id), from :data:`ADVERT_DECODERS` for the kinds that
report more than measurements (BTHome: doors, buttons, light), else from :data:`DECODERS`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal, get_args

from coldtrail.errors import ConfigError, DecodeError
from firmware_bridge.ble import advertisement, bthome, pvvx, ruuvi
from firmware_bridge.frames import BleAdvert, DecodedAdvert, Sample

SensorKind = Literal["bthome", "ruuvi", "pvvx", "atc1441"]
ConfigKind = Literal["bthome", "ruuvi", "pvvx", "atc1441", "auto"]
KINDS: Final[tuple[str, ...]] = get_args(ConfigKind)

_Decoder = Callable[[BleAdvert, "SensorConfig"], list[Sample]]


@dataclass(frozen=True, slots=True)
class SensorConfig:
    """One configured sensor. Raises :class:`ConfigError` for a configuration that cannot work."""

    mac: str
    kind: ConfigKind = "auto"
    bindkey: bytes | None = None
    """The 16-byte AES key of an encrypted BTHome sensor."""
    label: str | None = None
    """A name for people ("van 3, rear shelf"); not part of the readings."""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(
                f"sensor {self.mac}: unknown kind {self.kind!r}; choose one of {', '.join(KINDS)}"
            )
        if self.bindkey is not None:
            if self.kind not in ("bthome", "auto"):
                raise ConfigError(
                    f"sensor {self.mac}: a bindkey only applies to BTHome sensors, "
                    f"not to kind {self.kind!r}"
                )
            if len(self.bindkey) != bthome.BINDKEY_LENGTH:
                raise ConfigError(
                    f"sensor {self.mac}: a BTHome bindkey is {bthome.BINDKEY_LENGTH} bytes "
                    f"(32 hex digits), got {len(self.bindkey)}"
                )


def bindkey_from_hex(text: str) -> bytes:
    """A bindkey from its 32 hex digits (as BTHome devices and Home Assistant show it)."""
    try:
        key = bytes.fromhex(text.strip())
    except ValueError:
        raise ConfigError(f"a bindkey is 32 hex digits, got {text!r}") from None
    if len(key) != bthome.BINDKEY_LENGTH:
        raise ConfigError(f"a bindkey is 32 hex digits, got {len(text.strip())} characters")
    return key


def _bthome(advert: BleAdvert, config: SensorConfig) -> list[Sample]:
    return bthome.decode(advert, bindkey=config.bindkey)


def _ruuvi(advert: BleAdvert, config: SensorConfig) -> list[Sample]:
    return ruuvi.decode(advert)


def _pvvx(advert: BleAdvert, config: SensorConfig) -> list[Sample]:
    return pvvx.decode_pvvx(advert)


def _atc1441(advert: BleAdvert, config: SensorConfig) -> list[Sample]:
    return pvvx.decode_atc1441(advert)


DECODERS: Final[Mapping[str, _Decoder]] = {
    "bthome": _bthome,
    "ruuvi": _ruuvi,
    "pvvx": _pvvx,
    "atc1441": _atc1441,
}

_BTHOME_UUIDS = (bthome.SERVICE_UUID, bthome.SERVICE_UUID_V1, bthome.SERVICE_UUID_V1_ENCRYPTED)
_CUSTOM_BY_LENGTH = {layout.length: layout.kind for layout in pvvx.LAYOUTS.values()}


def detect_kind(advert: BleAdvert) -> SensorKind | None:
    """The kind of sensor that sent ``advert``, from its UUIDs and company ids (table above)."""
    if any(uuid in advert.service_data for uuid in _BTHOME_UUIDS):
        return "bthome"
    ruuvi_data = advert.manufacturer_data.get(ruuvi.COMPANY_ID)
    if ruuvi_data and ruuvi_data[0] == ruuvi.DATA_FORMAT:
        return "ruuvi"
    custom = advert.service_data.get(pvvx.SERVICE_UUID)
    if custom is not None:
        kind = _CUSTOM_BY_LENGTH.get(len(custom))
        if kind == "pvvx":
            return "pvvx"
        if kind == "atc1441":
            return "atc1441"
    return None


def decode(advert: BleAdvert, config: SensorConfig | None = None) -> list[Sample]:
    """Decode ``advert`` with the decoder of ``config.kind`` (auto-detected if ``auto`` or no
    config). Raises :class:`DecodeError` for an advert of no known kind, and whatever the
    decoder raises (a :class:`DecodeError` with the raw payload)."""
    config = config or SensorConfig(mac=advert.address)
    return DECODERS[_kind(advert, config)](advert, config)


ADVERT_DECODERS: Final[Mapping[str, Callable[[BleAdvert, SensorConfig], DecodedAdvert]]] = {
    "bthome": lambda advert, config: bthome.decode_advert(advert, bindkey=config.bindkey),
}
"""The kinds whose adverts carry more than measurements (events, states)."""


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
) -> list[Sample]:
    """Decode raw advertisement bytes given as hex (AD structures, as btmon prints them).

    Raises :class:`ConfigError` for an unknown ``kind`` or a bad bindkey, and
    :class:`DecodeError` carrying the whole advertisement's bytes for what cannot be decoded.
    """
    return decode_hex_advert(
        hex_text, kind=kind, bindkey=bindkey, address=address, received_at=received_at
    ).samples


def decode_hex_advert(
    hex_text: str,
    *,
    kind: str = "auto",
    bindkey: bytes | None = None,
    address: str = "00:00:00:00:00:00",
    received_at: datetime,
) -> DecodedAdvert:
    """As :func:`decode_hex`, with everything the advert carried (:func:`decode_advert`)."""
    config = SensorConfig(mac=address, kind=kind, bindkey=bindkey)  # type: ignore[arg-type]
    raw = advertisement.from_hex(hex_text)
    advert = advertisement.parse(raw, address=address, received_at=received_at)
    try:
        return decode_advert(advert, config)
    except DecodeError as exc:
        raise DecodeError(exc.reason, raw, device=exc.device) from None


class SensorRegistry:
    """The sensors a gateway is configured for, by MAC address (case-insensitive)."""

    def __init__(self, sensors: Iterable[SensorConfig] = ()) -> None:
        self._by_mac: dict[str, SensorConfig] = {}
        for sensor in sensors:
            mac = sensor.mac.upper()
            if mac in self._by_mac:
                raise ConfigError(f"sensor {mac} is configured twice")
            self._by_mac[mac] = sensor

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

"""The one registry of BLE sensor kinds: what each family is called and how its adverts look.

Pure data, so that every layer can derive from it without importing the decoders:

* the gateway's settings (``[[sensors]] kind = ...``: :data:`CONFIG_KINDS`);
* ``coldtrail decode ble --kind`` (same list);
* the decoders of ``firmware_bridge.ble.registry`` (one per kind; a test fails when a kind has
  no decoder or a decoder no kind) and its auto-detection (:attr:`SensorKind.matches`);
* the passive-scan patterns of ``gateway.ble_source`` (:func:`passive_prefixes`).

Each :class:`AdvertMatch` says how the family's parser library recognises an advert (local
name, manufacturer id, service UUID, service data UUID), as that library's own detection does;
an advert is of a kind when one of its matches holds (every condition of that match). The first
kind in :data:`KINDS` that matches wins, so the more specific kinds come first.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

AD_SERVICE_DATA_UUID16: Final = 0x16
AD_MANUFACTURER_SPECIFIC_DATA: Final = 0xFF


def uuid16(value: int) -> str:
    """The full 128-bit form (lower case) of a 16-bit Bluetooth SIG UUID."""
    return f"0000{value:04x}-0000-1000-8000-00805f9b34fb"


@dataclass(frozen=True, slots=True)
class AdvertMatch:
    """Conditions an advert must all meet to be of a kind (unset conditions are not checked)."""

    service_data_uuid: int | None = None
    """A 16-bit service data UUID the advert carries."""
    service_data_lengths: frozenset[int] = frozenset()
    """... with its service data of one of these lengths."""
    company_id: int | None = None
    """A manufacturer data key that is the family's own, stable company id (Ruuvi's 0x0499):
    also a passive-scan pattern."""
    manufacturer_ids: frozenset[int] = frozenset()
    """Manufacturer data keys of which one must be present. Some families put measurement bytes
    where the company id belongs (Inkbird's IBS-TH: the temperature), so these are not stable
    enough for a passive-scan pattern."""
    manufacturer_data_first: frozenset[int] = frozenset()
    """The first byte of that manufacturer data (a data format byte, e.g. Ruuvi's 3 and 5)."""
    service_uuid: str | None = None
    """A service UUID (full, lower case) in the advert's list of service UUIDs."""
    local_names: frozenset[str] = frozenset()
    """The local name is one of these (compared in lower case)."""
    local_name_prefixes: tuple[str, ...] = ()
    """The local name starts with one of these (compared in lower case)."""


@dataclass(frozen=True, slots=True)
class SensorKind:
    name: str
    """The ``kind`` of ``[[sensors]]``, of ``coldtrail decode ble --kind``, and in docs."""
    devices: str
    """Which devices, for people."""
    library: str | None
    """The maintained parser library that decodes it (None: decoded by hand here)."""
    matches: tuple[AdvertMatch, ...]
    bindkey: bool = False
    """Whether the kind can be encrypted with a per-device key (``bindkey``)."""
    name_in_scan_response: bool = False
    """Some models send their local name only in the scan response: the advert and its scan
    response are joined before decoding, and passive scanning (no scan requests) cannot tell
    those models apart."""


_INKBIRD_SERVICE = uuid16(0xFFF0)
_GOVEE_SERVICE = uuid16(0xEC88)

KINDS: Final[tuple[SensorKind, ...]] = (
    SensorKind(
        "bthome",
        "BTHome v1/v2 sensors (Shelly BLU, pvvx firmware in BTHome mode, ...)",
        "bthome-ble",
        (
            AdvertMatch(service_data_uuid=0xFCD2),
            AdvertMatch(service_data_uuid=0x181C),
            AdvertMatch(service_data_uuid=0x181E),
        ),
        bindkey=True,
    ),
    SensorKind(
        "ruuvi",
        "RuuviTag (RAWv1 data format 3, RAWv2 data format 5)",
        "ruuvitag-ble",
        (AdvertMatch(company_id=0x0499, manufacturer_data_first=frozenset({3, 5})),),
    ),
    SensorKind(
        "pvvx",
        "Xiaomi LYWSD03MMC and other Telink thermometers on pvvx firmware",
        None,
        (AdvertMatch(service_data_uuid=0x181A, service_data_lengths=frozenset({15})),),
    ),
    SensorKind(
        "atc1441",
        "the same on atc1441 firmware",
        None,
        (AdvertMatch(service_data_uuid=0x181A, service_data_lengths=frozenset({13})),),
    ),
    SensorKind(
        "inkbird",
        "Inkbird IBS-TH, IBS-TH2, IBS-P01B, IBS-P02B, ITH-11-B/13-B/21-B, IAM-T2, iBBQ/xBBQ",
        "inkbird-ble",
        (
            AdvertMatch(
                local_names=frozenset(
                    {"sps", "tps", "ibs-p02b", "ith-11-b", "ith-13-b", "ith-21-b", "ink@iam-t2"}
                )
            ),
            AdvertMatch(local_name_prefixes=("ibbq", "xbbq")),
            AdvertMatch(manufacturer_ids=frozenset({9289}), service_uuid=_INKBIRD_SERVICE),
        ),
        name_in_scan_response=True,
    ),
    SensorKind(
        "govee",
        "Govee H5072, H5074, H5075, H5100-H5105, H5108, H5110, H5177, H5179 and kin",
        "govee-ble",
        (
            AdvertMatch(company_id=0xEC88),
            AdvertMatch(company_id=0x8801),
            AdvertMatch(service_uuid=_GOVEE_SERVICE),
            AdvertMatch(local_name_prefixes=("gvh", "gv5", "govee")),
        ),
        name_in_scan_response=True,
    ),
    SensorKind(
        "thermobeacon",
        "ThermoBeacon hygrometers (Brifit, ORIA, SensorBlue)",
        "thermobeacon-ble",
        (
            AdvertMatch(
                manufacturer_ids=frozenset({0x10, 0x11, 0x14, 0x15, 0x18, 0x1B, 0x30}),
                service_uuid=_INKBIRD_SERVICE,
            ),
        ),
    ),
    SensorKind(
        "sensorpush",
        "SensorPush HT1, HT.w, HTP.xw, TC.x",
        "sensorpush-ble",
        (
            AdvertMatch(service_uuid="ef090000-11d6-42ba-93b8-9dd7ec090ab0"),
            AdvertMatch(service_uuid="ef090000-11d6-42ba-93b8-9dd7ec090aa9"),
            AdvertMatch(local_name_prefixes=("sensorpush",)),
        ),
    ),
    SensorKind(
        "xiaomi",
        "Xiaomi MiBeacon sensors (LYWSDCGQ, LYWSD02, MHO-C401, CGG1, ...), plain or encrypted",
        "xiaomi-ble",
        (AdvertMatch(service_data_uuid=0xFE95),),
        bindkey=True,
    ),
)

KIND_NAMES: Final[tuple[str, ...]] = tuple(kind.name for kind in KINDS)
AUTO: Final = "auto"
CONFIG_KINDS: Final[tuple[str, ...]] = (AUTO, *KIND_NAMES)
"""What ``[[sensors]] kind`` accepts: a kind, or ``auto`` (detected from the advert)."""
BY_NAME: Final[dict[str, SensorKind]] = {kind.name: kind for kind in KINDS}


def check_config_kind(kind: str) -> str:
    """``kind`` if the settings accept it, else ``ValueError`` naming the choices."""
    if kind not in CONFIG_KINDS:
        raise ValueError(f"unknown kind {kind!r}; choose one of {', '.join(CONFIG_KINDS)}")
    return kind


def passive_prefixes() -> Iterator[tuple[int, bytes]]:
    """(AD type, leading bytes) of the adverts each kind can be told by without a scan
    response, for BlueZ's passive scanning: its service data UUIDs and stable company ids.
    Each once, in registry order."""
    seen: set[tuple[int, bytes]] = set()
    for kind in KINDS:
        for match in kind.matches:
            found: list[tuple[int, bytes]] = []
            if match.service_data_uuid is not None:
                uuid_le = match.service_data_uuid.to_bytes(2, "little")
                found.append((AD_SERVICE_DATA_UUID16, uuid_le))
            if match.company_id is not None:
                company_le = match.company_id.to_bytes(2, "little")
                found.append((AD_MANUFACTURER_SPECIFIC_DATA, company_le))
            for prefix in found:
                if prefix not in seen:
                    seen.add(prefix)
                    yield prefix

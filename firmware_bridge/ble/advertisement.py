"""Raw advertisement bytes (AD structures, as btmon or hcidump show them) → :class:`BleAdvert`.

An advertisement is a sequence of AD structures, each ``length, type, data[length - 1]``
(Bluetooth Core Specification, Vol 3, Part C, §11). bluetooth-data-tools'
``parse_advertisement_data_bytes`` turns them into service data (keyed by full 128-bit UUID in
lower case), manufacturer data (keyed by company id) and the local name. It skips malformed
structures quietly; :func:`parse` walks the structures first and rejects the advert instead,
so that its bytes are dead-lettered rather than half-decoded:

* a structure whose length runs past the end, or that has a type but no data;
* service data or manufacturer data too short for its UUID or company id;
* no AD structure at all, or more than 1650 bytes (the most extended advertising carries).

A zero length byte ends the data early (the Core Specification allows this for padding): what
follows it is ignored.

:func:`join` merges an advert with its scan response (what an active scanner receives after
asking for it): some families send their local name only there (Inkbird's ``sps``/``tps``,
Govee's ``GVH5075_xxxx``), and their parser libraries tell the models apart by that name.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime

from bluetooth_data_tools import parse_advertisement_data_bytes

from coldtrail.errors import DecodeError
from firmware_bridge.frames import BleAdvert

MAX_LENGTH = 1650
"""The longest advertising data of Bluetooth 5 extended advertising."""

# AD type -> the fewest data bytes it needs (its UUID or company id), after the type byte
_MIN_DATA = {
    0x16: 2,  # service data, 16-bit UUID
    0x20: 4,  # service data, 32-bit UUID
    0x21: 16,  # service data, 128-bit UUID
    0xFF: 2,  # manufacturer specific data, company id
}
_SEPARATORS = re.compile(r"[\s:_-]")


def parse(
    raw: bytes,
    *,
    address: str,
    received_at: datetime,
    rssi: int | None = None,
) -> BleAdvert:
    """The advert that ``raw`` (the AD structures of one advertisement) describes."""
    raw = bytes(raw)
    data = _significant(raw, address)
    local_name, uuids, service_data, manufacturer_data, _tx_power = parse_advertisement_data_bytes(
        data
    )
    # bluetooth-data-tools caches and shares its dicts: copy them
    return BleAdvert(
        address=address,
        received_at=received_at,
        rssi=rssi,
        service_data={uuid.lower(): bytes(value) for uuid, value in service_data.items()},
        manufacturer_data={company: bytes(value) for company, value in manufacturer_data.items()},
        name=local_name,
        service_uuids=tuple(uuid.lower() for uuid in uuids),
    )


def join(advert: BleAdvert, scan_response: BleAdvert) -> BleAdvert:
    """``advert`` completed with what its ``scan_response`` carried, as BlueZ (and Home
    Assistant's habluetooth) merge them: the scan response's name when the advert has none,
    the union of service UUIDs, service data and manufacturer data (the advert's own values
    win where both carry the same key). Raises ``ValueError`` for two different devices."""
    if advert.address.upper() != scan_response.address.upper():
        raise ValueError(
            f"a scan response of {scan_response.address} does not belong to {advert.address}"
        )
    uuids = advert.service_uuids + tuple(
        uuid for uuid in scan_response.service_uuids if uuid not in advert.service_uuids
    )
    return replace(
        advert,
        name=advert.name or scan_response.name,
        service_uuids=uuids,
        service_data={**scan_response.service_data, **advert.service_data},
        manufacturer_data={**scan_response.manufacturer_data, **advert.manufacturer_data},
        rssi=advert.rssi if advert.rssi is not None else scan_response.rssi,
    )


def from_hex(text: str) -> bytes:
    """Advertisement bytes from hex text: ``0201060c16d2fc...``, with or without a ``0x``
    prefix, spaces, colons, dashes or underscores between bytes."""
    cleaned = _SEPARATORS.sub("", text.strip())
    if cleaned[:2].lower() == "0x":
        cleaned = cleaned[2:]
    try:
        return bytes.fromhex(cleaned)
    except ValueError:
        raise DecodeError(
            f"not hexadecimal advertisement bytes: {text[:80]!r}", text.encode()
        ) from None


def parse_hex(
    text: str, *, address: str, received_at: datetime, rssi: int | None = None
) -> BleAdvert:
    """:func:`parse` of :func:`from_hex`."""
    return parse(from_hex(text), address=address, received_at=received_at, rssi=rssi)


def _significant(raw: bytes, address: str) -> bytes:
    """``raw`` up to its early end (a zero length), after checking each AD structure."""
    device = address.upper()
    if len(raw) > MAX_LENGTH:
        raise DecodeError(
            f"{len(raw)} bytes of advertising data, more than the {MAX_LENGTH} Bluetooth allows",
            raw,
            device=device,
        )
    pos = 0
    while pos < len(raw):
        length = raw[pos]
        if length == 0:
            break
        end = pos + 1 + length
        if end > len(raw):
            raise DecodeError(
                f"AD structure at byte {pos} announces {length} bytes, "
                f"only {len(raw) - pos - 1} follow",
                raw,
                device=device,
            )
        if length == 1:
            raise DecodeError(
                f"AD structure at byte {pos} (type 0x{raw[pos + 1]:02x}) has no data",
                raw,
                device=device,
            )
        ad_type = raw[pos + 1]
        needed = _MIN_DATA.get(ad_type, 1)
        if length - 1 < needed:
            raise DecodeError(
                f"AD structure at byte {pos} (type 0x{ad_type:02x}) has {length - 1} data "
                f"bytes, needs at least {needed}",
                raw,
                device=device,
            )
        pos = end
    if pos == 0:
        raise DecodeError("no AD structure in the advertising data", raw, device=device)
    return raw[:pos]

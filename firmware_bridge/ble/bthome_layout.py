"""The layout checks of BTHome service data, before bthome-ble decodes it.

bthome-ble stops quietly at an unknown object id or a truncated object and keeps the objects
before it; these checks walk the objects with bthome-ble's own table (``MEAS_TYPES``) and raise
:class:`Malformed` instead, so that the whole advert is rejected (and dead-lettered). They also
decide what an encrypted advert needs: a bindkey, and room for its counter and integrity code.
Encrypted objects are walked by nobody: their AES-CCM tag authenticates them.
"""

from __future__ import annotations

from collections.abc import Callable

from bthome_ble.const import MEAS_TYPES

SERVICE_UUID = "0000fcd2-0000-1000-8000-00805f9b34fb"
SERVICE_UUID_V1 = "0000181c-0000-1000-8000-00805f9b34fb"
SERVICE_UUID_V1_ENCRYPTED = "0000181e-0000-1000-8000-00805f9b34fb"

_ENCRYPTED_FLAG = 0x01
_MAC_INCLUDED_FLAG = 0x02
_VARIABLE_LENGTH_FORMATS = frozenset({"raw", "string", "command"})
_ENCRYPTION_TRAILER = 8  # counter (4) + message integrity code (4)
_V1_DATA_FORMATS = frozenset(range(5))  # uint, int, float, string, raw: all that v1 defines


class Malformed(Exception):
    """A reason to reject the advert; :func:`bthome.decode` turns it into a DecodeError."""


def layout_check(uuid: str) -> Callable[[bytes, bytes | None], bool]:
    """The check of service data under ``uuid``: ``check(data, bindkey)`` raises
    :class:`Malformed` or returns whether the advert is encrypted."""
    return _LAYOUT_CHECKS[uuid]


def _needs_bindkey(bindkey: bytes | None, what: str) -> None:
    if bindkey is None:
        raise Malformed(f"encrypted BTHome {what} advert: a bindkey is needed to decode it")


def _check_encrypted_length(data: bytes, start: int) -> None:
    if len(data) - start <= _ENCRYPTION_TRAILER:
        raise Malformed(
            f"encrypted BTHome advert truncated: {len(data)} bytes leave no room for a payload, "
            "its counter and its integrity code"
        )


def _check_plaintext_allowed(bindkey: bytes | None) -> None:
    if bindkey is not None:
        raise Malformed(
            "plaintext BTHome advert from a sensor configured with a bindkey "
            "(a downgrade; bthome-ble ignores these too)"
        )


def _check_v2(data: bytes, bindkey: bytes | None) -> bool:
    """Reject what bthome-ble would drop quietly: walk the objects with its own table.

    Returns whether the advert is encrypted.
    """
    if not data:
        raise Malformed("empty BTHome service data")
    info = data[0]
    if info & _ENCRYPTED_FLAG:
        _needs_bindkey(bindkey, "v2")
    if info >> 5 != 2:
        raise Malformed(f"BTHome version {info >> 5} in the device info byte, expected 2")
    pos = 7 if info & _MAC_INCLUDED_FLAG else 1
    if pos > len(data):
        raise Malformed("device info byte announces a MAC address that is not there")
    if info & _ENCRYPTED_FLAG:
        _check_encrypted_length(data, pos)
        return True
    _check_plaintext_allowed(bindkey)
    while pos < len(data):
        object_id = data[pos]
        kind = MEAS_TYPES.get(object_id)
        if kind is None:
            raise Malformed(f"unknown BTHome object id 0x{object_id:02x} at byte {pos}")
        if kind.data_format in _VARIABLE_LENGTH_FORMATS:
            if pos + 1 >= len(data):
                raise Malformed(f"object 0x{object_id:02x} at byte {pos} lacks its length")
            length = data[pos + 1]
            if kind.data_format == "command":
                length = (length & 0x1F) + 1  # opcode + arguments
            pos += 2 + length
        else:
            pos += 1 + kind.data_length
        if pos > len(data):
            raise Malformed(f"object 0x{object_id:02x} truncated ({len(data)} bytes)")
    return False


def _check_v1(data: bytes, bindkey: bytes | None) -> bool:
    _check_plaintext_allowed(bindkey)
    pos = 0
    while pos < len(data):
        length = data[pos] & 0x1F  # object id + value bytes
        if length < 2 or pos + 1 >= len(data):
            raise Malformed(f"BTHome v1 object at byte {pos} has no value")
        if data[pos] >> 5 not in _V1_DATA_FORMATS:
            raise Malformed(f"BTHome v1 data format {data[pos] >> 5} at byte {pos}")
        object_id = data[pos + 1]
        kind = MEAS_TYPES.get(object_id)
        if kind is None or kind.meas_format is None:
            raise Malformed(f"unknown BTHome v1 object id 0x{object_id:02x} at byte {pos + 1}")
        pos += 1 + length
        if pos > len(data):
            raise Malformed(f"object 0x{object_id:02x} truncated ({len(data)} bytes)")
    return False


def _check_encrypted_v1(data: bytes, bindkey: bytes | None) -> bool:
    _needs_bindkey(bindkey, "v1")
    _check_encrypted_length(data, 0)
    return True


_LAYOUT_CHECKS: dict[str, Callable[[bytes, bytes | None], bool]] = {
    SERVICE_UUID: _check_v2,
    SERVICE_UUID_V1: _check_v1,
    SERVICE_UUID_V1_ENCRYPTED: _check_encrypted_v1,
}

"""Keyset cursors: opaque, URL-safe encodings of where the next page starts.

The timeline's is ``(time, kind, device_id, seq)``; lists ordered by ``(time, id)`` (the
exception queue, the alerts) use :class:`PageKey`, tagged with the list and its order so that
a cursor of one list is refused by another. A cursor only says where the next page starts;
every query still applies the caller's filters and access, so a forged cursor shows nothing a
caller could not already see.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

Kind = Literal["reading", "position"]
KINDS: tuple[Kind, ...] = ("position", "reading")  # the order of kinds at one instant

_VERSION = 1
MAX_LENGTH = 512


class InvalidCursor(ValueError):
    """A cursor this API did not produce (or a truncated one)."""


@dataclass(frozen=True, slots=True)
class TimelineKey:
    """The sort key of one timeline item; items are in strictly ascending key order."""

    time: datetime
    kind: Kind
    device_id: str
    seq: int


def encode(key: TimelineKey) -> str:
    raw = json.dumps(
        [_VERSION, key.time.isoformat(), key.kind, key.device_id, key.seq],
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode(cursor: str) -> TimelineKey:
    """The key ``cursor`` was made from, or :class:`InvalidCursor`."""
    if not cursor or len(cursor) > MAX_LENGTH:
        raise InvalidCursor("cursor is empty or too long")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        version, time, kind, device_id, seq = json.loads(raw)
        when = datetime.fromisoformat(time)
    except (binascii.Error, UnicodeDecodeError, ValueError, TypeError) as exc:
        raise InvalidCursor("cursor is not one this API returned") from exc
    if (
        version != _VERSION
        or kind not in KINDS
        or not isinstance(device_id, str)
        or not isinstance(seq, int)
        or isinstance(seq, bool)
        or not -(2**63) <= seq < 2**63
        or when.tzinfo is None
    ):
        raise InvalidCursor("cursor is not one this API returned")
    return TimelineKey(when, kind, device_id, seq)


@dataclass(frozen=True, slots=True)
class PageKey:
    """The sort key of one item of a list ordered by ``(time, id)``."""

    time: datetime
    id: int


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def encode_page(scope: str, key: PageKey) -> str:
    """A cursor for the list named ``scope`` (e.g. ``"exceptions:oldest"``)."""
    raw = json.dumps([_VERSION, scope, key.time.isoformat(), key.id], separators=(",", ":"))
    return _b64(raw.encode())


def decode_page(scope: str, cursor: str) -> PageKey:
    """The key ``cursor`` was made from for this ``scope``, or :class:`InvalidCursor`."""
    if not cursor or len(cursor) > MAX_LENGTH:
        raise InvalidCursor("cursor is empty or too long")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        version, tag, time, id_ = json.loads(raw)
        when = datetime.fromisoformat(time)
    except (binascii.Error, UnicodeDecodeError, ValueError, TypeError) as exc:
        raise InvalidCursor("cursor is not one this API returned") from exc
    if version != _VERSION or tag != scope:
        raise InvalidCursor(f"cursor is not one of this list ({scope}) with this order")
    if (
        not isinstance(id_, int)
        or isinstance(id_, bool)
        or not -(2**63) <= id_ < 2**63
        or when.tzinfo is None
    ):
        raise InvalidCursor("cursor is not one this API returned")
    return PageKey(when, id_)

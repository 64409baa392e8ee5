"""The timeline's keyset cursor: an opaque, URL-safe encoding of ``(time, kind, device_id, seq)``.

It only says where in one shipment's timeline the next page starts; every query still filters
by the shipment, so a forged cursor shows nothing a caller could not already see.
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

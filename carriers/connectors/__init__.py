"""One module per carrier API: ``request(base_url, tracking_number, key)`` builds the HTTP
request, ``parse(carrier, tracking_number, body)`` turns the documented response into
:class:`carriers.model.CarrierTracking`. Pure code: no I/O (the poller sends the requests)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from carriers.model import CarrierError


@dataclass(frozen=True, slots=True)
class HttpRequest:
    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None


def load_json(carrier: str, body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise CarrierError(carrier, f"response is not JSON: {exc}; starts {body[:80]!r}") from None


def aware(carrier: str, text: str) -> datetime:
    """An ISO 8601 time with its UTC offset (``+0100`` or ``+01:00`` or ``Z``); refuses one
    without an offset rather than guessing the zone."""
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        raise CarrierError(carrier, f"unreadable time {text!r}", retry=False) from None
    if value.tzinfo is None:
        raise CarrierError(carrier, f"time without a UTC offset: {text!r}", retry=False)
    return value

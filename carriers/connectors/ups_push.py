"""UPS Track Alert (developer.ups.com, "Track Alert API"): after a subscription, UPS POSTs each
event of a subscribed number to our URL, with the subscription's ``credential`` in a header of
the same name. An event: ``trackingNumber``, ``gmtActivityDate`` (YYYYMMDD) and
``gmtActivityTime`` (HHMMSS) in UTC, ``activityStatus {type, code, description}``,
``activityLocation {city, stateProvince, country}``, ``scheduledDeliveryDate``."""

from __future__ import annotations

from typing import Any

from carriers.connectors import aware, load_json
from carriers.model import CarrierError, CarrierEvent


def parse_event(carrier: str, body: bytes) -> tuple[str, CarrierEvent]:
    doc: Any = load_json(carrier, body)
    if not isinstance(doc, dict) or not doc.get("trackingNumber"):
        raise CarrierError(carrier, "event without a trackingNumber", retry=False)
    date, time = doc.get("gmtActivityDate"), doc.get("gmtActivityTime") or "000000"
    if not date:
        raise CarrierError(carrier, "event without gmtActivityDate", retry=False)
    status = doc.get("activityStatus") or {}
    place = doc.get("activityLocation") or {}
    location = ", ".join(
        str(p) for p in (place.get("city"), place.get("stateProvince"), place.get("country")) if p
    )
    event = CarrierEvent(
        time=aware(
            carrier, f"{date[:4]}-{date[4:6]}-{date[6:8]}T{time[:2]}:{time[2:4]}:{time[4:6]}Z"
        ),
        code=str(status.get("code") or status.get("type") or "?"),
        label=status.get("description") or None,
        location=location or None,
        group=status.get("type") or None,
        raw=doc,
    )
    return str(doc["trackingNumber"]), event

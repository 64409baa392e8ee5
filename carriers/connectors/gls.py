"""GLS's Track And Trace API V1 (GLS Developer Portal, "Track And Trace V1", OpenAPI 1.0.7):
``GET {base}/tracking/simple/trackids/{unitnos}`` with an OAuth bearer token
(``COLDTRAIL_CARRIER_GLS_KEY`` holds the token). ``parcels[]`` has, per parcel, ``unitno``,
``status`` (the parcel's current status: PLANNEDPICKUP, INPICKUP, NOTPICKEDUP, PREADVICE,
INTRANSIT, INWAREHOUSE, INDELIVERY, DELIVEREDPS, DELIVERED, NOTDELIVERED, CANCELED, FINAL),
``events[]`` newest first (``code`` such as ``INTIAL.PREADVICE`` or ``DELIVD.PARCELSHOP``,
``description``, ``city``, ``postalCode``, ``country``, ``eventDateTime`` with its offset) or
``errorCode``/``errorMessage`` (``E_404_01``: an unknown number)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from carriers.connectors import HttpRequest, aware, load_json
from carriers.model import CarrierError, CarrierEvent, CarrierTracking


def request(base_url: str, tracking_number: str, key: str | None) -> HttpRequest:
    headers = {"Accept": "application/json", "Accept-Language": "EN"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    number = quote(tracking_number, safe="")
    return HttpRequest("GET", f"{base_url.rstrip('/')}/tracking/simple/trackids/{number}", headers)


def _event(carrier: str, raw: dict[str, Any], status: str | None) -> CarrierEvent:
    when = raw.get("eventDateTime")  # offset without a colon (+0200): read as such
    if not when:
        raise CarrierError(carrier, f"event without an eventDateTime: {raw!r}", retry=False)
    place = ", ".join(
        str(p) for p in (raw.get("city"), raw.get("postalCode"), raw.get("country")) if p
    )
    return CarrierEvent(
        time=aware(carrier, str(when)),
        code=str(raw.get("code") or "?"),
        label=raw.get("description") or None,
        location=place or None,
        group=status,
        raw=raw,
    )


def parse(carrier: str, tracking_number: str, body: bytes) -> CarrierTracking:
    doc = load_json(carrier, body)
    if not isinstance(doc, dict):
        raise CarrierError(carrier, "response is not a JSON object", retry=False)
    parcels = doc.get("parcels")
    if not isinstance(parcels, list) or not parcels:
        fault = (doc.get("fault") or {}) if isinstance(doc.get("fault"), dict) else {}
        detail = doc.get("detail") or doc.get("title") or fault.get("faultstring")
        raise CarrierError(carrier, str(detail or "no parcel in the response"))
    parcel: dict[str, Any] = next(
        (p for p in parcels if tracking_number in (p.get("unitno"), p.get("requested"))),
        parcels[0],
    )
    if parcel.get("errorCode"):
        raise CarrierError(carrier, f"{parcel['errorCode']}: {parcel.get('errorMessage') or ''}")
    raws = [raw for raw in parcel.get("events") or [] if isinstance(raw, dict)]
    events = [_event(carrier, raw, None) for raw in raws]
    if events:
        # The parcel's status is its latest event's: the nearest status of that event only.
        latest = max(range(len(events)), key=lambda i: events[i].time)
        e = events[latest]
        events[latest] = CarrierEvent(
            e.time, e.code, e.label, e.location, parcel.get("status") or None, e.raw
        )
    return CarrierTracking(
        tracking_number=str(parcel.get("unitno") or tracking_number), events=events
    )

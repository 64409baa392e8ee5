"""DHL's Shipment Tracking - Unified API (developer.dhl.com, "Shipment Tracking - Unified"):
``GET {base}/track/shipments?trackingNumber=…`` with the ``DHL-API-Key`` header. Each event
has ``timestamp``, ``statusCode`` (pre-transit, transit, delivered, failure, unknown), a finer
``status``, a ``description`` and ``location.address.addressLocality``; 404 is an unknown
number."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from carriers.connectors import HttpRequest, aware, load_json
from carriers.model import CarrierError, CarrierEvent, CarrierTracking


def request(base_url: str, tracking_number: str, key: str | None) -> HttpRequest:
    headers = {"Accept": "application/json"}
    if key:
        headers["DHL-API-Key"] = key
    query = urlencode({"trackingNumber": tracking_number})
    return HttpRequest("GET", f"{base_url.rstrip('/')}/track/shipments?{query}", headers)


def event(carrier: str, raw: dict[str, Any]) -> CarrierEvent:
    if not raw.get("timestamp"):
        raise CarrierError(carrier, f"event without a timestamp: {raw!r}", retry=False)
    group = raw.get("statusCode") or "unknown"
    # The finer status names the event (e.g. "PARCEL_ARRIVED_AT_HUB"); DHL's parcel services
    # give one, others only the coarse statusCode.
    code = raw.get("status") or group
    address = (raw.get("location") or {}).get("address") or {}
    return CarrierEvent(
        time=aware(carrier, raw["timestamp"]),
        code=str(code),
        label=raw.get("description") or None,
        location=address.get("addressLocality") or None,
        group=str(group),
        raw=raw,
    )


def parse(carrier: str, tracking_number: str, body: bytes) -> CarrierTracking:
    doc = load_json(carrier, body)
    if not isinstance(doc, dict):
        raise CarrierError(carrier, "response is not a JSON object", retry=False)
    shipments = doc.get("shipments")
    if not shipments:
        detail = doc.get("detail") or doc.get("title") or "no shipment in the response"
        raise CarrierError(carrier, str(detail))
    shipment: dict[str, Any] = shipments[0]
    eta_text = shipment.get("estimatedTimeOfDelivery")
    return CarrierTracking(
        tracking_number=str(shipment.get("id") or tracking_number),
        events=[event(carrier, raw) for raw in shipment.get("events") or []],
        eta=aware(carrier, eta_text) if eta_text else None,
    )

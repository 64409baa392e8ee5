"""UPS's Tracking API (developer.ups.com, "Tracking API", v1):
``GET {base}/api/track/v1/details/{inquiryNumber}?locale=en_US`` with an OAuth bearer token
(``COLDTRAIL_CARRIER_UPS_KEY`` holds the token) and the ``transId``/``transactionSrc``
headers. ``trackResponse.shipment[0].package[0].activity`` lists the events newest first:
``date`` (YYYYMMDD), ``time`` (HHMMSS) local with ``gmtOffset``, ``status.type`` (M manifest,
P pickup, I in transit, D delivered, X exception, RS returned) and ``status.code``,
``location.address``; ``deliveryDate`` of type DEL is the scheduled delivery."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

from carriers.connectors import HttpRequest, aware, load_json
from carriers.model import CarrierError, CarrierEvent, CarrierTracking


def request(base_url: str, tracking_number: str, key: str | None) -> HttpRequest:
    headers = {"Accept": "application/json", "transId": "coldtrail", "transactionSrc": "coldtrail"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    number = quote(tracking_number, safe="")
    return HttpRequest(
        "GET", f"{base_url.rstrip('/')}/api/track/v1/details/{number}?locale=en_US", headers
    )


def _time(carrier: str, raw: dict[str, Any]) -> datetime:
    date, time, offset = raw.get("date"), raw.get("time") or "000000", raw.get("gmtOffset")
    if not date or not offset:
        raise CarrierError(carrier, f"activity without a date or gmtOffset: {raw!r}", retry=False)
    return aware(
        carrier, f"{date[:4]}-{date[4:6]}-{date[6:8]}T{time[:2]}:{time[2:4]}:{time[4:6]}{offset}"
    )


def _event(carrier: str, raw: dict[str, Any]) -> CarrierEvent:
    status = raw.get("status") or {}
    address = (raw.get("location") or {}).get("address") or {}
    place = ", ".join(
        str(part)
        for part in (address.get("city"), address.get("stateProvince"), address.get("countryCode"))
        if part
    )
    return CarrierEvent(
        time=_time(carrier, raw),
        code=str(status.get("code") or status.get("type") or "?"),
        label=status.get("description") or None,
        location=place or None,
        group=status.get("type") or None,
        raw=raw,
    )


def parse(carrier: str, tracking_number: str, body: bytes) -> CarrierTracking:
    doc = load_json(carrier, body)
    if not isinstance(doc, dict):
        raise CarrierError(carrier, "response is not a JSON object", retry=False)
    try:
        package: dict[str, Any] = doc["trackResponse"]["shipment"][0]["package"][0]
    except (KeyError, IndexError, TypeError):
        errors = (doc.get("response") or {}).get("errors") or []
        reason = "; ".join(f"{e.get('code')}: {e.get('message')}" for e in errors) or "no package"
        shipment = ((doc.get("trackResponse") or {}).get("shipment") or [{}])[0]
        warnings = shipment.get("warnings") if isinstance(shipment, dict) else None
        if warnings:
            reason = "; ".join(f"{w.get('code')}: {w.get('message')}" for w in warnings)
        raise CarrierError(carrier, reason) from None
    eta = None
    for item in package.get("deliveryDate") or []:
        if item.get("type") in ("SDD", "DEL", "RDD") and item.get("date"):
            d = item["date"]
            end = ((package.get("deliveryTime") or {}).get("endTime")) or "235959"
            eta = aware(carrier, f"{d[:4]}-{d[4:6]}-{d[6:8]}T{end[:2]}:{end[2:4]}:{end[4:6]}+00:00")
    return CarrierTracking(
        tracking_number=str(package.get("trackingNumber") or tracking_number),
        events=[_event(carrier, raw) for raw in package.get("activity") or []],
        eta=eta,
    )

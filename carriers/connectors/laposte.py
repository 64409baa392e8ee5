"""La Poste's tracking API "Suivi v2" (developer.laposte.fr, product "Suivi"): one API for
La Poste letters and parcels, Colissimo and Chronopost. ``GET {base}/idships/{id}?lang=fr_FR``
with the ``X-Okapi-Key`` header; events newest first, each ``{code, label, date}`` with an
offset; no event location. ``returnCode`` 200/207 is a result, 104/105 an unknown number,
400/401 a refused request."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from carriers.connectors import HttpRequest, aware, load_json
from carriers.model import CarrierError, CarrierEvent, CarrierTracking


def request(base_url: str, tracking_number: str, key: str | None) -> HttpRequest:
    headers = {"Accept": "application/json"}
    if key:
        headers["X-Okapi-Key"] = key
    url = f"{base_url.rstrip('/')}/idships/{quote(tracking_number, safe='')}?lang=fr_FR"
    return HttpRequest("GET", url, headers)


def parse(carrier: str, tracking_number: str, body: bytes) -> CarrierTracking:
    doc = load_json(carrier, body)
    if not isinstance(doc, dict):
        raise CarrierError(carrier, "response is not a JSON object", retry=False)
    code = doc.get("returnCode")
    if code not in (200, 207):
        message = doc.get("returnMessage") or doc.get("message") or "no message"
        raise CarrierError(carrier, f"returnCode {code}: {message}", retry=code in (104, 105))
    shipment: dict[str, Any] = doc.get("shipment") or {}
    events = []
    for raw in shipment.get("event") or []:
        if not isinstance(raw, dict) or not raw.get("code") or not raw.get("date"):
            raise CarrierError(carrier, f"event without a code or date: {raw!r}", retry=False)
        events.append(
            CarrierEvent(
                time=aware(carrier, raw["date"]),
                code=str(raw["code"]),
                label=raw.get("label") or None,
                raw=raw,
            )
        )
    eta_text = shipment.get("estimDate") or shipment.get("deliveryDate")
    return CarrierTracking(
        tracking_number=str(shipment.get("idShip") or tracking_number),
        events=events,
        eta=aware(carrier, eta_text) if eta_text and not shipment.get("isFinal") else None,
        url=shipment.get("url") or None,
    )

"""DHL's Shipment Tracking - Unified - Push (developer.dhl.com, "Shipment Tracking - Unified -
Push" and its "Push API 101" guide): after a subscription (``POST /tracking/push/v1/subscription``
with ``hook.uri``, ``hook.authentication {type: ApiKeyAuthentication, header, token}``, format
``Default``), DHL POSTs each update to the hook with the token in the header the subscription
named. A notification in the ``Default`` format has the shape of the Unified tracking API's
answer: ``shipments[]``, each with its ``id`` (the tracking number), ``events[]`` and
``estimatedTimeOfDelivery`` (:mod:`carriers.connectors.dhl` reads them)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from carriers.connectors import aware, dhl, load_json
from carriers.model import CarrierError, CarrierEvent

HEADER = "Coldtrail-Push-Token"
"""The header to name in the subscription's ``hook.authentication`` (its token is
``COLDTRAIL_CARRIER_DHL_PUSH_SECRET``)."""


@dataclass(frozen=True, slots=True)
class PushedShipment:
    number: str
    events: list[CarrierEvent]
    eta: datetime | None
    raw: dict[str, Any]


def parse_push(carrier: str, body: bytes) -> list[PushedShipment]:
    doc: Any = load_json(carrier, body)
    if not isinstance(doc, dict) or not isinstance(doc.get("shipments"), list):
        raise CarrierError(carrier, "notification without a shipments list", retry=False)
    out = []
    for shipment in doc["shipments"]:
        if not isinstance(shipment, dict) or not shipment.get("id"):
            raise CarrierError(carrier, "shipment without an id", retry=False)
        events = [dhl.event(carrier, raw) for raw in shipment.get("events") or []]
        eta_text = shipment.get("estimatedTimeOfDelivery")
        eta = aware(carrier, eta_text) if eta_text else None
        out.append(PushedShipment(str(shipment["id"]), events, eta, shipment))
    return out

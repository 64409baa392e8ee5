"""Mondial Relay's web service (api.mondialrelay.com/Web_Services.asmx, method
``WSI2_TracingColisDetaille``, documented in Mondial Relay's "Solution Web Service" guide):
a SOAP POST with ``Enseigne``, ``Expedition``, ``Langue`` and ``Security``, the upper-case MD5
of the parameters followed by the private key. The answer has ``STAT`` (80 registered, 81 in
transit, 82 delivered, 83 anomaly; other values are errors, 24 an unknown number) and a list
of events with a label, a local date (DD/MM/YY) and time (HH:MM) in France, and a place. No
event code: the label is the code. Written by hand: karrio has no Mondial Relay tracking."""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET
from datetime import datetime
from zoneinfo import ZoneInfo

from carriers.connectors import HttpRequest
from carriers.model import CarrierError, CarrierEvent, CarrierTracking

NS = "http://www.mondialrelay.fr/webservice/"
PARIS = ZoneInfo("Europe/Paris")
STATUSES = {"80", "81", "82", "83"}


def security(enseigne: str, expedition: str, langue: str, private_key: str) -> str:
    text = f"{enseigne}{expedition}{langue}{private_key}"
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest().upper()


def request(base_url: str, tracking_number: str, key: str | None) -> HttpRequest:
    """``key`` is ``ENSEIGNE:PRIVATEKEY`` (the merchant's code and its private key)."""
    enseigne, _, private = (key or "BDTEST13:PrivateK").partition(":")
    sec = security(enseigne, tracking_number, "FR", private)
    body = (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
        f'<soap:Body><WSI2_TracingColisDetaille xmlns="{NS}">'
        f"<Enseigne>{enseigne}</Enseigne><Expedition>{tracking_number}</Expedition>"
        f"<Langue>FR</Langue><Security>{sec}</Security>"
        "</WSI2_TracingColisDetaille></soap:Body></soap:Envelope>"
    ).encode()
    headers = {
        "Content-Type": "text/xml; charset=utf-8",
        "SOAPAction": f'"{NS}WSI2_TracingColisDetaille"',
    }
    return HttpRequest("POST", f"{base_url.rstrip('/')}/Web_Services.asmx", headers, body)


def _text(node: ET.Element, name: str) -> str | None:
    child = node.find(f"{{{NS}}}{name}")
    return None if child is None or not (child.text or "").strip() else (child.text or "").strip()


def parse(carrier: str, tracking_number: str, body: bytes) -> CarrierTracking:
    try:
        # Bodies come from the configured carrier URL and are bounded by the poller.
        root = ET.fromstring(body)  # noqa: S314
    except ET.ParseError as exc:
        raise CarrierError(carrier, f"response is not XML: {exc}") from None
    result = root.find(f".//{{{NS}}}WSI2_TracingColisDetailleResult")
    if result is None:
        raise CarrierError(carrier, "no WSI2_TracingColisDetailleResult in the response")
    stat = _text(result, "STAT") or "?"
    if stat not in STATUSES:
        raise CarrierError(carrier, f"STAT {stat}", retry=stat == "24")
    events = []
    items = result.findall(f"{{{NS}}}Tracing/{{{NS}}}ret_WSI2_sub_TracingColisDetaille")
    for i, item in enumerate(items):
        label, date, hour = _text(item, "Libelle"), _text(item, "Date"), _text(item, "Heure")
        if not label or not date:
            continue  # Mondial Relay pads the list with empty entries
        try:
            local = datetime.strptime(f"{date} {hour or '00:00'}", "%d/%m/%y %H:%M")
        except ValueError:
            raise CarrierError(carrier, f"unreadable date {date!r} {hour!r}", retry=False) from None
        raw = {child.tag.removeprefix(f"{{{NS}}}"): child.text for child in item}
        events.append(
            CarrierEvent(
                time=local.replace(tzinfo=PARIS),
                code=label.upper(),
                label=label,
                location=_text(item, "Emplacement"),
                # STAT is the shipment's status: the nearest status of its latest event only.
                group=stat if i == len(items) - 1 else None,
                raw=raw,
            )
        )
    if events:  # the latest event is the last in the list
        last = events[-1]
        events[-1] = CarrierEvent(last.time, last.code, last.label, last.location, stat, last.raw)
    return CarrierTracking(tracking_number=tracking_number, events=events)

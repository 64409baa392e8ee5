"""DPD's Parcel Lifecycle web service (DPD's "DPD Web Services" / myDPD API,
``ParcelLifeCycleService`` V2.0, operation ``getTrackingData``): a SOAP POST to
``{base}/soap/services/ParcelLifeCycleService/V2_0`` with an ``authentication`` header
(``delisId``, ``authToken`` from DPD's Login service, ``messageLanguage``). The answer's
``trackingresult`` lists ``statusInfo`` steps oldest first: ``status`` (the event code, e.g.
``BetweenDepots``, ``Courier``, ``Delivered``), ``label`` and ``description`` texts, a
``location`` ("Mechelen (BE)") and a ``date`` in the place's local time without an offset
(``8/17/2021 7:11:26 PM``). Steps with ``statusHasBeenReached`` false are the lifecycle still to
come (no date): skipped. A ``soap:Fault`` carries DPD's ``errorCode`` and ``errorMessage``."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

from carriers.connectors import HttpRequest
from carriers.model import CarrierError, CarrierEvent, CarrierTracking

NS = "http://dpd.com/common/service/types/ParcelLifeCycleService/2.0"
AUTH_NS = "http://dpd.com/common/service/types/Authentication/2.0"
SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
CET = ZoneInfo("Europe/Berlin")
"""DPD gives the depot's local time without an offset; its European network is on Central
European time (an event in another zone is off by the difference)."""


def request(base_url: str, tracking_number: str, key: str | None) -> HttpRequest:
    """``key`` is ``DELISID:AUTHTOKEN`` (the account and the token of DPD's Login service)."""
    delis, _, token = (key or ":").partition(":")
    body = (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<soapenv:Envelope xmlns:soapenv="{SOAP_NS}" xmlns:ns="{AUTH_NS}" xmlns:ns1="{NS}">'
        "<soapenv:Header><ns:authentication>"
        f"<delisId>{escape(delis)}</delisId><authToken>{escape(token)}</authToken>"
        "<messageLanguage>en_EN</messageLanguage>"
        "</ns:authentication></soapenv:Header>"
        "<soapenv:Body><ns1:getTrackingData>"
        f"<parcelLabelNumber>{escape(tracking_number)}</parcelLabelNumber>"
        "</ns1:getTrackingData></soapenv:Body></soapenv:Envelope>"
    ).encode()
    headers = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'}
    return HttpRequest(
        "POST", f"{base_url.rstrip('/')}/soap/services/ParcelLifeCycleService/V2_0", headers, body
    )


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(node: ET.Element, name: str) -> ET.Element | None:
    return next((c for c in node if _local(c.tag) == name), None)


def _content(node: ET.Element | None) -> str | None:
    """The text of DPD's ``<x><content>…</content></x>``, nested contents joined."""
    if node is None:
        return None
    parts = [
        (c.text or "").strip()
        for c in node.iter()
        if _local(c.tag) == "content" and (c.text or "").strip()
    ]
    return " ".join(parts) or None


def _fault(carrier: str, root: ET.Element) -> CarrierError | None:
    fault = next((n for n in root.iter() if _local(n.tag) == "Fault"), None)
    if fault is None:
        return None
    texts = {_local(n.tag): (n.text or "").strip() for n in fault.iter()}
    code = texts.get("errorCode") or texts.get("faultcode") or "?"
    message = texts.get("errorMessage") or texts.get("faultstring") or "SOAP fault"
    return CarrierError(carrier, f"{code}: {message}")


def parse(carrier: str, tracking_number: str, body: bytes) -> CarrierTracking:
    try:
        # Bodies come from the configured carrier URL and are bounded by the poller.
        root = ET.fromstring(body)  # noqa: S314
    except ET.ParseError as exc:
        raise CarrierError(carrier, f"response is not XML: {exc}") from None
    fault = _fault(carrier, root)
    if fault is not None:
        raise fault
    result = next((n for n in root.iter() if _local(n.tag) == "trackingresult"), None)
    if result is None:
        raise CarrierError(carrier, "no trackingresult in the response (unknown parcel number?)")
    events = []
    for info in (n for n in result if _local(n.tag) == "statusInfo"):
        reached = _child(info, "statusHasBeenReached")
        if reached is None or (reached.text or "").strip() != "true":
            continue  # a step of the lifecycle still to come
        code = (getattr(_child(info, "status"), "text", None) or "").strip() or "?"
        date = _content(_child(info, "date"))
        if not date:
            raise CarrierError(carrier, f"status {code!r} reached without a date", retry=False)
        try:
            local = datetime.strptime(date, "%m/%d/%Y %I:%M:%S %p")
        except ValueError:
            raise CarrierError(carrier, f"unreadable date {date!r}", retry=False) from None
        label = _content(_child(info, "label"))
        description = _content(_child(info, "description"))
        raw = {
            "status": code,
            "label": label,
            "description": description,
            "location": _content(_child(info, "location")),
            "date": date,
        }
        events.append(
            CarrierEvent(
                time=local.replace(tzinfo=CET),
                code=code,
                label=description or label,
                location=raw["location"],
                raw=raw,
            )
        )
    return CarrierTracking(tracking_number=tracking_number, events=events)

"""What a shopper's link leaves out, in one place: the shopper's tracking JSON
(``/v1/track/{token}``), a timeline or a shipment's alerts read with a tracking token and the
shopper's live events carry no identifier of the operation behind them (devices, sequence
numbers, alerts, exceptions, vehicles, the carrier's source) and no staff data (names, reasons,
comments).

The ops view of the same models carries everything; the shopper's is the same JSON without
these keys (docs/api.md lists what remains).
"""

from __future__ import annotations

from typing import Any

from api.models_exceptions import ShipmentAlerts
from api.models_tracking import ShipmentTimeline

OPS_ONLY_EVENT_KEYS = frozenset(
    {
        "alert_id",
        "exception_id",
        "actor",
        "reason",
        "assignee",
        "comment",
        "source",
        "vehicle_id",
        "compartment",
        "device_id",
    }
)
"""Keys of a timeline event that only the ops view has."""
OPS_ONLY_ITEM_KEYS = frozenset({"device_id", "seq"})
"""Keys of a timeline item (a reading or a position) that only the ops view has."""

FORBIDDEN_KEYS = OPS_ONLY_EVENT_KEYS | OPS_ONLY_ITEM_KEYS | {"gateway_id", "alert_ids"}
"""No key of a shopper's JSON, at any depth, is one of these."""

TRACK_EXCLUDE: dict[str, Any] = {"events": {"__all__": set(OPS_ONLY_EVENT_KEYS)}}
"""For ``TrackView`` (pydantic's ``exclude``)."""

TIMELINE_EXCLUDE: dict[str, Any] = {
    "events": {"__all__": set(OPS_ONLY_EVENT_KEYS)},
    "items": {"__all__": set(OPS_ONLY_ITEM_KEYS)},
    "parcels": {"__all__": {"latest_reading": {"device_id"}}},
}


ALERTS_EXCLUDE: dict[str, Any] = {"items": {"__all__": {"alert_id", "exception_id"}}}
"""For a shipment's alerts read with its token (``subject_id`` is already null there unless the
subject is a parcel)."""


def alerts(view: ShipmentAlerts) -> bytes:
    """A shipment's alerts as their JSON for a shopper."""
    return view.model_dump_json(exclude=ALERTS_EXCLUDE).encode()


def timeline(view: ShipmentTimeline) -> bytes:
    """A timeline as its JSON for a shopper (serialised by pydantic, as the ops view is: a
    dict through the standard library's JSON would cost more than the timeline's queries)."""
    return view.model_dump_json(exclude=TIMELINE_EXCLUDE).encode()


def live_event(event: str, data: dict[str, Any]) -> dict[str, Any]:
    """A shipment stream's event data for a shopper: a reading without its device, an alert
    without its id and with its subject only when that is a parcel (as the shopper's alerts)."""
    if event == "reading":
        return {k: v for k, v in data.items() if k != "device_id"}
    if event == "alert":
        shown = {k: v for k, v in data.items() if k != "alert_id"}
        if shown.get("subject_kind") != "parcel":
            shown["subject_id"] = None
        return shown
    return data

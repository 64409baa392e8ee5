"""The story ``coldtrail demo`` tells in three minutes, through the public API as an integrator
would tell it: a demo profile whose delays are minutes (so that the compressor failure opens its
exception within about two minutes, where pharma-2-8 waits 30), shipments with a promised date,
the merchant's brand and the shopper's e-mail address, and carrier checkpoints that take some
parcels to their delivery. Then what happened, for the summary: the exceptions and the e-mails.
"""

from __future__ import annotations

import asyncio
import logging
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from simulators import seeding
from simulators.fleet import FleetPlan, ParcelPlan

log = logging.getLogger(__name__)

DEMO_PROFILE: dict[str, Any] = {
    "name": "demo-2-8",
    "title": "Refrigerated medicines, 2-8 °C (demo timings)",
    "source": "coldtrail demo: pharma-2-8 with its delays and budgets cut from half an hour to"
    " minutes, so that the story fits in three minutes. Not for real goods.",
    "boundaries": [
        {
            "name": "above-8",
            "kind": "upper",
            "limit_c": 8.0,
            "severity": "critical",
            "delay_min": 1.5,
            "budget_min": 3.0,
        },
        {
            "name": "below-2",
            "kind": "lower",
            "limit_c": 2.0,
            "severity": "critical",
            "delay_min": 1.0,
            "budget_min": 2.0,
        },
    ],
}
BRAND = {"name": "Pharmacie du Parc", "primary_color": "#0b6e4f"}
CARRIER = "demo-express"
"""The ``source`` of the demo's checkpoints: the carrier the KPIs name."""
PROMISED_IN = timedelta(hours=2)
LATE_PROMISE_IN = timedelta(seconds=90)
"""One delivered parcel was promised sooner than it arrives: a late delivery on the KPIs."""


@dataclass(frozen=True, slots=True)
class Step:
    after_s: float
    status: str
    message: str


IN_TRANSIT = (
    Step(0, "InfoReceived", "Order received by the carrier"),
    Step(20, "InTransit", "Left the depot"),
)
DELIVERY = (
    *IN_TRANSIT,
    Step(60, "OutForDelivery", "Out for delivery"),
    Step(120, "Delivered", "Delivered to the recipient"),
)


def roles(plan: FleetPlan) -> dict[str, tuple[Step, ...]]:
    """Each parcel's checkpoints: two parcels without excursion are delivered, the others stay
    in transit (the excursion's parcel among them, so its story goes on)."""
    delivered = [p.parcel_id for p in plan.parcels if not p.excursion][:2]
    return {p.parcel_id: DELIVERY if p.parcel_id in delivered else IN_TRANSIT for p in plan.parcels}


def _email(parcel: ParcelPlan) -> str:
    name = unicodedata.normalize("NFKD", parcel.shopper_name).encode("ascii", "ignore").decode()
    return f"{name.lower().replace(' ', '.')}+{parcel.parcel_id}@example.com"


def shipment_fields(plan: FleetPlan, start: datetime) -> Callable[[ParcelPlan], dict[str, Any]]:
    """The demo's fields of each shipment: a promised date, the brand, the shopper's e-mail."""
    steps_of = roles(plan)
    late = {pid for pid, steps in steps_of.items() if steps is DELIVERY}
    late = set(sorted(late)[-1:])  # the last of the delivered parcels

    def fields(parcel: ParcelPlan) -> dict[str, Any]:
        promise = LATE_PROMISE_IN if parcel.parcel_id in late else PROMISED_IN
        return {
            "promised_at": (start + promise).isoformat(),
            "brand": BRAND,
            "shopper_contact": _email(parcel),
        }

    return fields


async def play_checkpoints(
    client: httpx.AsyncClient,
    plan: FleetPlan,
    shipments: list[seeding.RegisteredShipment],
    started: float,
    posted: list[dict[str, Any]],
) -> None:
    """Post each parcel's checkpoints when their time (seconds after ``started``, a monotonic
    time) comes; every one posted is appended to ``posted``. Runs until cancelled or done."""
    steps_of = roles(plan)
    by_parcel = {s.parcel_id: s for s in shipments}
    van_of = {p.parcel_id: van for van in plan.vans for p in van.parcels}
    timeline = sorted(
        (step.after_s, parcel_id, step) for parcel_id, steps in steps_of.items() for step in steps
    )
    for after_s, parcel_id, step in timeline:
        await asyncio.sleep(max(0.0, started + after_s - time.monotonic()))
        shipment, van = by_parcel[parcel_id], van_of[parcel_id]
        at_end = step.status in ("OutForDelivery", "Delivered")
        lat, lon = van.route[-1] if at_end else van.route[0]
        place = van.route_name.split(" -> ")[-1 if at_end else 0]
        body = {
            "tracking_number": shipment.tracking_number,
            "source": CARRIER,
            "external_id": f"{shipment.tracking_number}-{step.status}",
            "time": datetime.now(UTC).isoformat(),
            "status": step.status,
            "message": step.message,
            "location": place,
            "lat": lat,
            "lon": lon,
        }
        if step.status == "Delivered":
            body["received_by"] = shipment_shopper(plan, parcel_id)
        response = await client.post("/v1/checkpoints", json=body)
        if not response.is_success:
            log.error(
                "checkpoint %s of %s refused: HTTP %d %s",
                step.status,
                shipment.tracking_number,
                response.status_code,
                response.text[:300],
            )
            continue
        posted.append({k: body[k] for k in ("tracking_number", "status", "time", "location")})
        log.info("checkpoint %s: %s (%s)", shipment.tracking_number, step.status, place)


def shipment_shopper(plan: FleetPlan, parcel_id: str) -> str:
    return next(p.shopper_name for p in plan.parcels if p.parcel_id == parcel_id)


async def exceptions(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    """Every exception of the demo's database, oldest first, as the summary lists them."""
    response = await client.get("/v1/exceptions", params={"limit": 200, "order": "oldest"})
    response.raise_for_status()
    keys = ("exception_id", "tracking_number", "kind", "severity", "title", "state", "opened_at")
    return [{k: item.get(k) for k in keys} for item in response.json()["items"]]

"""Registers a simulated fleet through the public API, as an integrator would: vehicles,
shipments with their parcels, and custody (parcel -> van, watched by its logger)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from coldtrail.errors import ServiceUnavailable
from simulators.fleet import FleetPlan, ParcelPlan


@dataclass(frozen=True, slots=True)
class RegisteredShipment:
    tracking_number: str
    parcel_id: str
    vehicle_id: str
    logger_mac: str
    excursion: bool
    access_token: str
    tracking_url: str
    """The shipment's timeline as JSON, with the shopper's token."""
    page_url: str
    """The shopper's tracking page (/t/<token>)."""


def _check(response: httpx.Response, what: str) -> httpx.Response:
    if response.is_success:
        return response
    raise ServiceUnavailable(
        f"the API refused to {what}: HTTP {response.status_code} {response.text[:300]}"
    )


async def store_profile(client: httpx.AsyncClient, document: dict[str, Any]) -> int:
    """Store a profile document through the API (``PUT /v1/profiles/{name}``); its revision."""
    name = document["name"]
    response = _check(
        await client.put(f"/v1/profiles/{name}", json=document), f"store profile {name}"
    )
    return int(response.json()["revision"])


async def register(
    client: httpx.AsyncClient,
    plan: FleetPlan,
    *,
    since: datetime,
    profile: str = "pharma-2-8",
    extra: Callable[[ParcelPlan], dict[str, Any]] | None = None,
) -> list[RegisteredShipment]:
    """``client`` carries the API base URL and the ops bearer token. One shipment per parcel;
    ``extra``: more fields of each shipment (a promised date, a brand, the shopper's contact)."""
    out = []
    for van in plan.vans:
        _check(
            await client.post(
                "/v1/vehicles",
                json={"vehicle_id": van.vehicle_id, "name": van.name, "gateway_id": van.gateway_id},
            ),
            f"register vehicle {van.vehicle_id}",
        )
        for parcel in van.parcels:
            created = _check(
                await client.post(
                    "/v1/shipments",
                    json={
                        "tracking_number": parcel.tracking_number,
                        "shopper_name": parcel.shopper_name,
                        "shopper_language": parcel.shopper_language,
                        "profile": profile,
                        "origin": van.route_name.split(" -> ")[0],
                        "destination": van.route_name.split(" -> ")[-1],
                        # the route's ends: the parcel's origin and destination zones (scope
                        # of the profile's rules, departure and arrival on the timeline)
                        "origin_lat": van.route[0][0],
                        "origin_lon": van.route[0][1],
                        "destination_lat": van.route[-1][0],
                        "destination_lon": van.route[-1][1],
                        "parcels": [
                            {"parcel_id": parcel.parcel_id, "description": parcel.description}
                        ],
                        **(extra(parcel) if extra else {}),
                    },
                ),
                f"create shipment {parcel.tracking_number}",
            ).json()
            _check(
                await client.post(
                    "/v1/custody",
                    json={
                        "parcel_id": parcel.parcel_id,
                        "vehicle_id": van.vehicle_id,
                        "device_id": parcel.logger_mac,
                        "from_time": since.isoformat(),
                    },
                ),
                f"hand parcel {parcel.parcel_id} to {van.vehicle_id}",
            )
            out.append(
                RegisteredShipment(
                    tracking_number=parcel.tracking_number,
                    parcel_id=parcel.parcel_id,
                    vehicle_id=van.vehicle_id,
                    logger_mac=parcel.logger_mac,
                    excursion=parcel.excursion,
                    access_token=created["access_token"],
                    tracking_url=created["tracking_url"],
                    page_url=created["page_url"],
                )
            )
    return out

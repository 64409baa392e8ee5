"""A shipment's legs: ``POST /v1/shipments/{tracking_number}/legs`` (one more, after the last)
and ``GET`` (in journey order, with the carrier poller's state)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path

from api import auth, queries
from api import queries_legs as ql
from api.deps import Connection
from api.errors import ApiError
from api.models import Identifier
from api.models_legs import Leg, LegIn, ShipmentLegs
from api.routes.responses import AGENT, NOT_FOUND, OPS, error

router = APIRouter(tags=["legs"])


async def _shipment(conn: Connection, tracking_number: str) -> queries.ShipmentRef:
    shipment = await queries.find_shipment(conn, tracking_number, None)
    if shipment is None:
        raise ApiError(404, "shipment_not_found", f"no shipment {tracking_number!r}")
    return shipment


@router.post(
    "/v1/shipments/{tracking_number}/legs",
    status_code=201,
    summary="Add a leg after the shipment's last one (ops: agent)",
    description="A carrier leg (carrier and the carrier's tracking number) is polled by"
    " `coldtrail carriers poll` from now on; a vehicle leg is ours (its custody and"
    " telemetry). 409 when the shipment has that carrier's number already or the vehicle"
    " does not exist.",
    responses={**AGENT, **NOT_FOUND, 409: error("Duplicate carrier number or unknown vehicle.")},
    dependencies=[Depends(auth.require_agent)],
)
async def add_leg(
    tracking_number: Annotated[Identifier, Path()], body: LegIn, conn: Connection
) -> Leg:
    shipment = await _shipment(conn, tracking_number)
    try:
        await ql.add_leg(conn, shipment.shipment_id, body)
    except ql.LegConflict as exc:
        raise ApiError(409, "leg_conflict", str(exc)) from None
    return (await ql.legs(conn, shipment.shipment_id))[-1]


@router.get(
    "/v1/shipments/{tracking_number}/legs",
    summary="A shipment's legs in journey order (ops: viewer)",
    responses={**OPS, **NOT_FOUND},
    dependencies=[Depends(auth.require_viewer)],
)
async def list_legs(
    tracking_number: Annotated[Identifier, Path()], conn: Connection
) -> ShipmentLegs:
    shipment = await _shipment(conn, tracking_number)
    return ShipmentLegs(
        tracking_number=shipment.tracking_number, items=await ql.legs(conn, shipment.shipment_id)
    )

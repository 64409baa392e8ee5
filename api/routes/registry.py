"""Reading back what is registered: ``GET /v1/shipments/{tracking_number}`` (the shipment with its
parcels and their custody), ``GET /v1/devices`` and ``GET /v1/gateways`` (with their health)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from api import auth, queries_registry
from api.deps import Connection
from api.errors import ApiError
from api.models import Identifier
from api.models_registry import DevicePage, GatewayPage, ShipmentDetail
from api.routes.responses import NOT_FOUND, OPS

router = APIRouter(dependencies=[Depends(auth.require_viewer)])


@router.get(
    "/v1/shipments/{tracking_number}",
    tags=["shipments"],
    summary="One shipment, its parcels and their custody (ops: viewer)",
    description="Everything registered about the shipment, the shopper's contact included"
    " (ops only); never the shopper's token, which only its creation and rotation show.",
    responses={**OPS, **NOT_FOUND},
)
async def get_shipment(
    tracking_number: Annotated[Identifier, Path()], conn: Connection
) -> ShipmentDetail:
    shipment = await queries_registry.shipment_detail(conn, tracking_number)
    if shipment is None:
        raise ApiError(404, "shipment_not_found", f"no shipment {tracking_number!r}")
    return shipment


@router.get(
    "/v1/devices",
    tags=["devices"],
    summary="The devices ingest has heard from, by id (ops: viewer)",
    responses=OPS,
)
async def list_devices(
    conn: Connection,
    gateway_id: Annotated[str | None, Query(max_length=128)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0,
) -> DevicePage:
    items, total = await queries_registry.devices(conn, gateway_id, limit, offset)
    return DevicePage(items=items, total=total, limit=limit, offset=offset)


@router.get(
    "/v1/gateways",
    tags=["gateways"],
    summary="The gateways ingest has heard from, with their health (ops: viewer)",
    description="State (online/offline, from the retained status and its last will), last"
    " message, outbox depth and alarms, and the vehicle each is installed in.",
    responses=OPS,
)
async def list_gateways(conn: Connection) -> GatewayPage:
    return GatewayPage(items=await queries_registry.gateways(conn))

"""Reading back what is registered: ``GET /v1/shipments/{tracking_number}`` (the shipment with its
parcels and their custody), ``GET /v1/devices`` and ``GET /v1/gateways`` (with their health); and
binding a device to a vehicle, ``PUT``/``DELETE /v1/devices/{device_id}/binding``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response

from api import auth, queries_registry
from api.deps import Connection
from api.errors import ApiError
from api.models import Identifier
from api.models_registry import (
    DeviceBinding,
    DeviceBindingIn,
    DevicePage,
    GatewayPage,
    ShipmentDetail,
)
from api.routes.responses import ADMIN, NOT_FOUND, OPS

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


DeviceId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[^\s/+#]+$")]

_BINDING_HELP = (
    " Ingest accepts a bound device's readings, positions and events only from the gateway"
    " installed in its vehicle; from any other gateway they are dead letters (docs/api.md,"
    " docs/mqtt-contract.md). Handing a parcel to a vehicle with a device (POST /v1/custody)"
    " binds the device to that vehicle too."
)


@router.put(
    "/v1/devices/{device_id}/binding",
    tags=["devices"],
    summary="Bind a device to a vehicle (ops: admin)",
    description="Replaces the device's binding, if any; the same binding again changes nothing."
    " 404 for an unknown vehicle." + _BINDING_HELP,
    responses={**ADMIN, **NOT_FOUND},
)
async def bind_device(
    device_id: DeviceId, body: DeviceBindingIn, user: auth.Admin, conn: Connection
) -> DeviceBinding:
    binding = await queries_registry.bind_device(conn, device_id, body.vehicle_id, user.name)
    if binding is None:
        raise ApiError(404, "vehicle_not_found", f"no vehicle {body.vehicle_id!r}")
    return binding


@router.delete(
    "/v1/devices/{device_id}/binding",
    tags=["devices"],
    status_code=204,
    summary="Unbind a device: ingest accepts it from any gateway again (ops: admin)",
    description="404 when the device is bound to no vehicle.",
    responses={**ADMIN, **NOT_FOUND},
)
async def unbind_device(device_id: DeviceId, user: auth.Admin, conn: Connection) -> Response:
    if not await queries_registry.unbind_device(conn, device_id):
        raise ApiError(404, "binding_not_found", f"device {device_id!r} is bound to no vehicle")
    return Response(status_code=204)

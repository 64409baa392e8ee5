"""``/v1/vehicles``: the vans, the gateway installed in each, and the fleet's health."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from api import queries, queries_fleet
from api.auth import require_admin, require_viewer
from api.deps import Connection
from api.models import Vehicle, VehicleIn
from api.models_fleet import FleetPage
from api.routes.responses import ADMIN, CONFLICT, OPS

router = APIRouter(prefix="/v1/vehicles", tags=["vehicles"])


@router.post(
    "",
    status_code=201,
    summary="Create or update a vehicle (ops: admin)",
    description="Idempotent: posting the same vehicle again updates its name and gateway."
    " 409 when the gateway is already installed in another vehicle.",
    responses={**ADMIN, **CONFLICT},
    dependencies=[Depends(require_admin)],
)
async def upsert_vehicle(body: VehicleIn, conn: Connection) -> Vehicle:
    return await queries.upsert_vehicle(conn, body)


@router.get(
    "",
    summary="The fleet: each vehicle, its gateway's health and last position (ops: viewer)",
    description="Gateway health is what the gateway's last status message said (outbox depth,"
    " its oldest item's age, alarms) with the time it was last heard from; the position is the"
    " last fix the tracker accepted.",
    responses=OPS,
    dependencies=[Depends(require_viewer)],
)
async def list_fleet(conn: Connection) -> FleetPage:
    return FleetPage(items=await queries_fleet.fleet(conn))

"""``/v1/vehicles``: the vans, and the gateway installed in each."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from api import queries
from api.auth import require_admin
from api.deps import Connection
from api.models import Vehicle, VehicleIn
from api.routes.responses import ADMIN, CONFLICT

router = APIRouter(prefix="/v1/vehicles", tags=["vehicles"], dependencies=[Depends(require_admin)])


@router.post(
    "",
    status_code=201,
    summary="Create or update a vehicle (ops: admin)",
    description="Idempotent: posting the same vehicle again updates its name and gateway."
    " 409 when the gateway is already installed in another vehicle.",
    responses={**ADMIN, **CONFLICT},
)
async def upsert_vehicle(body: VehicleIn, conn: Connection) -> Vehicle:
    return await queries.upsert_vehicle(conn, body)

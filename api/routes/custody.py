"""``/v1/custody``: which vehicle carries a parcel, and which device watches it, from when."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path

from api import queries, queries_registry
from api.auth import Agent, require_agent
from api.deps import Connection
from api.models import Custody, CustodyEnd, CustodyIn, Identifier
from api.routes.responses import AGENT, CONFLICT, NOT_FOUND

router = APIRouter(prefix="/v1/custody", tags=["custody"], dependencies=[Depends(require_agent)])


@router.post(
    "",
    status_code=201,
    summary="Hand a parcel to a vehicle (ops: agent)",
    description="Closes the parcel's open custody at from_time (default now) and opens this one,"
    " in one transaction, which also binds the custody's device (if any) to the vehicle: from"
    " then on ingest accepts that device's data only from the vehicle's gateway. 404 for an"
    " unknown parcel or vehicle; 409 when from_time is not after"
    " the start of the parcel's latest custody (custody ranges never overlap).",
    responses={**AGENT, **NOT_FOUND, **CONFLICT},
)
async def start_custody(body: CustodyIn, user: Agent, conn: Connection) -> Custody:
    async with conn.transaction():
        custody = await queries.start_custody(conn, body)
        if body.device_id is not None:
            by = f"{user.name} (custody {custody.custody_id})"
            await queries_registry.bind_device(conn, body.device_id, body.vehicle_id, by)
    return custody


@router.post(
    "/{parcel_id}/end",
    summary="End a parcel's custody: delivered, or out of our hands (ops: agent)",
    description="Sets to_time (default now) on the parcel's open custody. From then on the"
    " parcel's timeline shows no vehicle's positions and no logger's readings: a delivered"
    " parcel's tracking link must not follow the van to the next customers. 404 for an"
    " unknown parcel; 409 when it has no open custody that started before to_time.",
    responses={**AGENT, **NOT_FOUND, **CONFLICT},
)
async def end_custody(
    parcel_id: Annotated[Identifier, Path()], body: CustodyEnd, conn: Connection
) -> Custody:
    return await queries.end_custody(conn, parcel_id, body.to_time)

"""``/v1/places``: known places (depots, customers, hubs, rest areas), and
``/v1/vehicles/{vehicle_id}/stops``: where a vehicle stopped, each stop at its place."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from pydantic import AwareDatetime

from api import queries_places as queries
from api.auth import require_admin, require_viewer
from api.deps import Connection
from api.models import Identifier
from api.models_places import PlaceIn, PlaceList, PlaceOut, VehicleStops
from api.routes.responses import ADMIN, NOT_FOUND, OPS

router = APIRouter(tags=["places"])

MAX_ID = 2**63 - 1


@router.get(
    "/v1/places",
    summary="Known places (ops: viewer)",
    description="Every place, by name. Stops are matched to them when read.",
    responses={**OPS},
    dependencies=[Depends(require_viewer)],
)
async def list_places(conn: Connection) -> PlaceList:
    return PlaceList(places=await queries.list_places(conn))


@router.post(
    "/v1/places",
    status_code=201,
    summary="Add or update a place (ops: admin)",
    description="Idempotent by name: posting a stored name updates its kind, position and"
    " radius. A stop whose centroid is within radius_m of a place is at that place (the nearest"
    " one); this applies at once to the stops already stored.",
    responses={**ADMIN},
    dependencies=[Depends(require_admin)],
)
async def upsert_place(body: PlaceIn, conn: Connection) -> PlaceOut:
    return await queries.upsert_place(conn, body)


@router.delete(
    "/v1/places/{place_id}",
    summary="Delete a place (ops: admin)",
    description="Returns the deleted place. Stops at it lose their place (or take the next"
    " nearest one). 404 if unknown.",
    responses={**ADMIN, **NOT_FOUND},
    dependencies=[Depends(require_admin)],
)
async def delete_place(
    place_id: Annotated[int, Path(ge=1, le=MAX_ID)], conn: Connection
) -> PlaceOut:
    return await queries.delete_place(conn, place_id)


@router.get(
    "/v1/vehicles/{vehicle_id}/stops",
    summary="Where a vehicle stopped (ops: viewer)",
    description="Dwells longer than 5 minutes seen by the GPS devices reporting through the"
    " vehicle's gateway, newest first, each with the nearest known place whose radius contains"
    " it (null if none). 404 for an unknown vehicle.",
    responses={**OPS, **NOT_FOUND},
    dependencies=[Depends(require_viewer)],
)
async def vehicle_stops(
    vehicle_id: Annotated[Identifier, Path()],
    conn: Connection,
    since: Annotated[
        AwareDatetime | None, Query(description="Only stops still going on at or after this time.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> VehicleStops:
    stops = await queries.vehicle_stops(conn, vehicle_id, since, limit)
    return VehicleStops(vehicle_id=vehicle_id, stops=stops)

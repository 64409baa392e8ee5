"""``/v1/shipments``: create (returns the shopper's token once) and list."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request, Response

from api import auth, queries
from api.deps import Connection, Settings
from api.models import ShipmentCreated, ShipmentIn, ShipmentPage
from api.routes.responses import ADMIN, CONFLICT, OPS

router = APIRouter(
    prefix="/v1/shipments", tags=["shipments"], dependencies=[Depends(auth.require_ops)]
)


def tracking_url(base: str, tracking_number: str, token: str) -> str:
    return (
        f"{base.rstrip('/')}/v1/shipments/{quote(tracking_number, safe='')}/timeline"
        f"?{auth.TRACKING_TOKEN_QUERY}={quote(token, safe='')}"
    )


@router.post(
    "",
    status_code=201,
    summary="Create a shipment and its parcels (ops: admin)",
    description="Returns the shopper's access token and tracking link. They are shown only"
    " this once: the API keeps a SHA-256 of the token, never the token."
    " 409 when the tracking number or a parcel id already exists.",
    responses={**ADMIN, **CONFLICT},
    dependencies=[Depends(auth.require_admin)],
)
async def create_shipment(
    body: ShipmentIn, conn: Connection, settings: Settings, request: Request, response: Response
) -> ShipmentCreated:
    token, digest = auth.new_access_token()
    parcels = await queries.create_shipment(
        conn, body, digest, link_ttl_days=settings.link_ttl_days
    )
    response.headers["Cache-Control"] = "no-store"
    base = settings.public_url or str(request.base_url)
    return ShipmentCreated(
        tracking_number=body.tracking_number,
        access_token=token,
        tracking_url=tracking_url(base, body.tracking_number, token),
        track_url=f"{base.rstrip('/')}/v1/track/{quote(token, safe='')}",
        page_url=f"{base.rstrip('/')}/t/{quote(token, safe='')}",
        parcels=parcels,
    )


@router.get("", summary="List or search shipments, newest first (ops: viewer)", responses=OPS)
async def list_shipments(
    conn: Connection,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0,  # PostgreSQL's OFFSET is a bigint
    q: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=100,
            description="Search: a part (any case) of the tracking number, the shopper's name,"
            " the origin or the destination. total counts the matches.",
        ),
    ] = None,
) -> ShipmentPage:
    items, total = await queries.list_shipments(conn, limit, offset, q)
    return ShipmentPage(items=items, total=total, limit=limit, offset=offset)

"""``GET /v1/shipments/{tracking_number}/timeline``: a shipment's temperatures and positions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from api import auth, cursor, queries, response_cache, shopper_view, tracking
from api import queries_condition as qc
from api import queries_tracking as qt
from api.deps import Conn, Connection
from api.errors import ApiError
from api.models import Alert, Identifier
from api.models_tracking import ShipmentTimeline
from api.routes.responses import NOT_FOUND, VALIDATION, Responses, error

router = APIRouter(tags=["timeline"])

DEFAULT_LIMIT = 500
MAX_LIMIT = 5000

_RESPONSES: Responses = {
    400: error("The cursor is not one this API returned."),
    401: error("No tracking token (or an invalid ops bearer token)."),
    **NOT_FOUND,
    503: error("The database is unreachable."),
    **VALIDATION,
}


_PRIVATE = {"Cache-Control": "private, no-store", "Referrer-Policy": "no-referrer"}


def _not_found(tracking_number: str) -> ApiError:
    # The same answer for an unknown tracking number and a token that is not this shipment's.
    return ApiError(
        404,
        "shipment_not_found",
        f"no shipment {tracking_number!r} for this token",
    )


@router.get(
    "/v1/shipments/{tracking_number}/timeline",
    summary="A shipment's readings and positions in time order (ops or shopper token)",
    description="Items are the readings of each parcel's custody device and the positions of"
    " its custody vehicle's gateway, within each custody range, strictly ascending by"
    " (time, kind, device_id, seq). Follow next_cursor until it is null. Events are the carrier"
    " checkpoints, the custody changes, the stored alerts and the exceptions' steps, in time"
    " order; with a shopper token they carry no staff names, reasons, assignments, comments,"
    " vehicles or devices. The summary tells the current status, last position and"
    " temperatures, the goods' condition (the rule engine's stored verdict per parcel: in_spec,"
    " excursion_within_allowance, out_of_spec, no_data) and the delivery estimate (ETA,"
    " trending_late). alerts are the stored temperature alerts.",
    responses=_RESPONSES,
    response_model=ShipmentTimeline,
)
async def timeline(
    request: Request,
    tracking_number: Annotated[Identifier, Path()],  # as created: refuses NUL and the like
    access: Annotated[auth.TimelineAccess, Depends(auth.timeline_access)],
    conn: Connection,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor_: Annotated[str | None, Query(alias="cursor", max_length=cursor.MAX_LENGTH)] = None,
) -> Response:
    after = None
    if cursor_ is not None:
        try:
            after = cursor.decode(cursor_)
        except cursor.InvalidCursor as exc:
            raise ApiError(400, "invalid_cursor", str(exc)) from None
    # Access first, never from the cache: a revoked link is refused at once.
    shipment = await queries.find_shipment(conn, tracking_number, access.token_sha256)
    if shipment is None:
        raise _not_found(tracking_number)
    # Labels in the shopper's language for the shopper, in English for the ops team.
    language = "en" if access.ops else shipment.shopper_language
    key = ("timeline", access.ops, language, limit, cursor_)

    async def compute() -> bytes:
        view = await _view(conn, shipment, after, limit, language, ops=access.ops)
        return view.model_dump_json().encode() if access.ops else shopper_view.timeline(view)

    # The shoppers' views only (the operations team reads the database), and pages of at most
    # the default limit: a page of 5,000 items would weigh 10 of them in the cache.
    cache = None if access.ops or limit > DEFAULT_LIMIT else response_cache.of(request.app.state)
    body = await response_cache.through(cache, shipment.shipment_id, key, compute)
    return Response(body, media_type="application/json", headers=_PRIVATE)


async def _view(
    conn: Conn,
    shipment: queries.ShipmentRef,
    after: cursor.TimelineKey | None,
    limit: int,
    language: str,
    *,
    ops: bool,
) -> ShipmentTimeline:
    parcels = await queries.timeline_parcels(conn, shipment.shipment_id)
    condition = await qc.shipment_condition(conn, shipment.shipment_id)
    alerts = [
        Alert(
            parcel_id=a["parcel_id"],
            kind=a["kind"],
            severity=a["severity"],
            boundary=qc.boundary_of(a["rule"]),
            limit_c=a["limit_value"],
            start=a["started_at"],
            end=a["ended_at"],
            peak_c=a["peak"],
            duration_min=round(a["duration_s"] / 60, 1),
        )
        for a in await qc.temperature_alerts(conn, shipment.shipment_id)
    ]
    items, next_key = await queries.timeline_items(conn, shipment.shipment_id, after, limit)
    checkpoints = await qt.checkpoints(conn, shipment.shipment_id, language)
    events = await qt.merged_events(conn, shipment.shipment_id, checkpoints, ops=ops)
    summary = await tracking.summary(conn, shipment, parcels, checkpoints, condition, language)
    return ShipmentTimeline(
        tracking_number=shipment.tracking_number,
        shopper_language=shipment.shopper_language,
        profile=shipment.profile,
        in_spec=condition.in_spec,
        alerts=alerts,
        events=events,
        parcels=parcels,
        items=items,
        next_cursor=cursor.encode(next_key) if next_key else None,
        summary=summary,
    )

"""``GET /v1/alerts`` (ops) and ``GET /v1/shipments/{tracking_number}/alerts`` (ops or the
shipment's own token): the alerts the rule runner stored, i.e. those that notified people."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response

from api import auth, cursor, queries, shopper_view
from api import queries_exceptions as qx
from api.auth import Viewer
from api.deps import Connection
from api.errors import ApiError
from api.models import Identifier
from api.models_exceptions import AlertPage, AlertState, Severity, ShipmentAlerts, SubjectKind
from api.routes.exceptions import KindName, decode_cursor
from api.routes.responses import NOT_FOUND, OPS, VALIDATION, Responses, error

router = APIRouter(tags=["alerts"])

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
DEFAULT_STATES: tuple[AlertState, ...] = ("open", "closed")

SubjectId = Annotated[str, Query(min_length=1, max_length=128, pattern=r"^[^\x00-\x20]+$")]


@router.get(
    "/v1/alerts",
    summary="Stored alerts, newest first (ops: viewer)",
    description="Filters combine with AND; repeat state, kind or severity for several values."
    " Without state: open and closed (superseded alerts were replaced when history was"
    " replayed). Follow next_cursor until it is null.",
    responses={**OPS, 400: error("The cursor is not one this list returned.")},
)
async def list_alerts(
    _user: Viewer,
    conn: Connection,
    state: Annotated[list[AlertState] | None, Query()] = None,
    kind: Annotated[list[KindName] | None, Query()] = None,
    severity: Annotated[list[Severity] | None, Query()] = None,
    subject_kind: Annotated[SubjectKind | None, Query()] = None,
    subject_id: SubjectId | None = None,
    tracking_number: Annotated[Identifier | None, Query()] = None,
    order: Annotated[qx.Order, Query(description="By start time.")] = "newest",
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor_: Annotated[str | None, Query(alias="cursor", max_length=cursor.MAX_LENGTH)] = None,
) -> AlertPage:
    scope = f"alerts:{order}"
    filters = qx.AlertFilter(
        states=state or DEFAULT_STATES,
        kinds=kind or (),
        severities=severity or (),
        subject_kind=subject_kind,
        subject_id=subject_id,
        tracking_number=tracking_number,
    )
    items, next_key = await qx.list_alerts(
        conn, filters, order, decode_cursor(scope, cursor_), limit
    )
    return AlertPage(
        items=items, next_cursor=cursor.encode_page(scope, next_key) if next_key else None
    )


_SHIPMENT_RESPONSES: Responses = {
    401: error("No tracking token (or an invalid ops bearer token)."),
    **NOT_FOUND,
    503: error("The database is unreachable."),
    **VALIDATION,
}


@router.get(
    "/v1/shipments/{tracking_number}/alerts",
    summary="A shipment's stored alerts, oldest first (ops or shopper token)",
    description="With the shipment's tracking token: its alerts only, with the parcel watched"
    " but not the device or gateway ids, and without alert_id and exception_id. An unknown"
    " tracking number and a token of another shipment get the same 404.",
    responses=_SHIPMENT_RESPONSES,
    response_model=ShipmentAlerts,
)
async def shipment_alerts(
    tracking_number: Annotated[Identifier, Path()],
    access: Annotated[auth.TimelineAccess, Depends(auth.timeline_access)],
    conn: Connection,
    response: Response,
    state: Annotated[list[AlertState] | None, Query()] = None,
) -> ShipmentAlerts | Response:
    shipment = await queries.find_shipment(conn, tracking_number, access.token_sha256)
    if shipment is None:
        raise ApiError(404, "shipment_not_found", f"no shipment {tracking_number!r} for this token")
    items = await qx.shipment_alerts(
        conn, shipment.shipment_id, state or DEFAULT_STATES, ops=access.ops
    )
    private = {"Cache-Control": "private, no-store", "Referrer-Policy": "no-referrer"}
    response.headers.update(private)
    view = ShipmentAlerts(tracking_number=shipment.tracking_number, items=items)
    if access.ops:
        return view
    return Response(shopper_view.alerts(view), media_type="application/json", headers=private)

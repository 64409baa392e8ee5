"""Carrier checkpoints: ``POST /v1/checkpoints`` (the carriers' webhook, one event or a batch)
and ``GET /v1/shipments/{tracking_number}/checkpoints``.

One checkpoint: 201 when stored, 200 when that source and external_id were stored before
(nothing changes), 404 when no shipment has its tracking number. A batch (a JSON array) is
answered 207 with one result per item in order (created, duplicate, not_found): the known ones
are stored, and the answer names each one that was not. A batch with an invalid item is
refused whole (422, naming the item's index): nothing is stored.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Path, Response
from fastapi.responses import JSONResponse

from api import auth, queries
from api import queries_tracking as qt
from api.deps import Connection
from api.errors import ApiError, error_body
from api.models import Identifier
from api.models_tracking import (
    MAX_BATCH,
    CheckpointBatchResult,
    CheckpointIn,
    CheckpointResult,
    CheckpointsIn,
    ShipmentCheckpoints,
)
from api.routes.responses import AGENT, NOT_FOUND, OPS, Responses, error

router = APIRouter(tags=["checkpoints"])

_NOT_FOUND_MESSAGE = "no shipment {!r}"

_POST_RESPONSES: Responses = {
    **AGENT,
    200: {"model": CheckpointResult, "description": "Stored before: a duplicate, unchanged."},
    201: {"model": CheckpointResult, "description": "Stored."},
    207: {
        "model": CheckpointBatchResult,
        "description": "A batch: one result per item (created, duplicate or not_found).",
    },
    404: error("One checkpoint whose tracking number no shipment has (nothing stored)."),
}


def _result(item: CheckpointIn, stored: qt.Stored, index: int | None) -> CheckpointResult:
    failure = None
    if stored.outcome == "not_found":
        failure = error_body("shipment_not_found", _NOT_FOUND_MESSAGE.format(item.tracking_number))[
            "error"
        ]
    return CheckpointResult(
        index=index,
        tracking_number=item.tracking_number,
        source=item.source,
        external_id=item.external_id,
        result=stored.outcome,
        checkpoint_id=stored.checkpoint_id,
        error=failure,
    )


@router.post(
    "/v1/checkpoints",
    status_code=201,
    summary="Carrier checkpoints in: one event or a batch (ops: agent)",
    description="The body is one checkpoint, or a JSON array of 1 to"
    f" {MAX_BATCH}. Idempotent: a checkpoint is identified by its shipment, source and"
    " external_id, and one delivered again is stored once (the first one stored is kept)."
    " One checkpoint: 201 created, 200 duplicate, 404 unknown tracking number. A batch: 207"
    " with a result per item, in order; items whose tracking number is unknown are reported"
    " not_found and not stored, the others are. Any invalid item refuses the whole request"
    " (422, naming the item's index) and nothing is stored.",
    responses=_POST_RESPONSES,
    response_model=None,
    dependencies=[Depends(auth.require_agent)],
)
async def post_checkpoints(
    body: Annotated[CheckpointsIn, Body()],
    conn: Connection,
    response: Response,
) -> CheckpointResult | JSONResponse:
    if isinstance(body, CheckpointIn):
        (stored,) = await qt.store_checkpoints(conn, [body])
        if stored.outcome == "not_found":
            raise ApiError(
                404, "shipment_not_found", _NOT_FOUND_MESSAGE.format(body.tracking_number)
            )
        response.status_code = 201 if stored.outcome == "created" else 200
        return _result(body, stored, None)
    results = [
        _result(item, stored, index)
        for index, (item, stored) in enumerate(
            zip(body, await qt.store_checkpoints(conn, body), strict=True)
        )
    ]
    batch = CheckpointBatchResult(
        created=sum(r.result == "created" for r in results),
        duplicates=sum(r.result == "duplicate" for r in results),
        failed=sum(r.result == "not_found" for r in results),
        results=results,
    )
    return JSONResponse(batch.model_dump(mode="json"), status_code=207)


@router.get(
    "/v1/shipments/{tracking_number}/checkpoints",
    summary="A shipment's carrier checkpoints in time order (ops: viewer)",
    responses={**OPS, **NOT_FOUND},
    dependencies=[Depends(auth.require_viewer)],
)
async def list_checkpoints(
    tracking_number: Annotated[Identifier, Path()], conn: Connection
) -> ShipmentCheckpoints:
    shipment = await queries.find_shipment(conn, tracking_number, None)
    if shipment is None:
        raise ApiError(404, "shipment_not_found", _NOT_FOUND_MESSAGE.format(tracking_number))
    items = await qt.checkpoints(conn, shipment.shipment_id, shipment.shopper_language)
    return ShipmentCheckpoints(tracking_number=shipment.tracking_number, items=items)

"""``POST /v1/webhooks/{integrator}/checkpoints``: the checkpoint webhook for integrators and
carriers that push, signed with the integrator's own HMAC secret instead of an ops token
(:mod:`api.webhooks`). The body and the answers are those of ``POST /v1/checkpoints``; every
checkpoint's ``source`` must be the integrator's name, so one integrator cannot write
another's events."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import TypeAdapter, ValidationError

from api import webhooks
from api.deps import Connection
from api.errors import ApiError
from api.models import Identifier
from api.models_tracking import (
    CheckpointBatchResult,
    CheckpointIn,
    CheckpointResult,
    CheckpointsIn,
)
from api.routes.checkpoints import post_checkpoints
from api.routes.responses import error

router = APIRouter(tags=["checkpoints"])
_BODY: TypeAdapter[Any] = TypeAdapter(CheckpointsIn)


@router.post(
    "/v1/webhooks/{integrator}/checkpoints",
    status_code=201,
    summary="Carrier checkpoints in, signed by the integrator (HMAC-SHA256)",
    description="The body of POST /v1/checkpoints. Headers: X-Coldtrail-Timestamp (Unix"
    " seconds, within 5 minutes of ours) and X-Coldtrail-Signature: sha256=<hex of"
    " HMAC-SHA256(secret, timestamp + '.' + body)>. 401 for an unknown integrator, a bad"
    " signature or an old timestamp (the same answer); 403 when a checkpoint's source is not"
    " the integrator.",
    responses={
        200: {"model": CheckpointResult, "description": "Stored before: a duplicate, unchanged."},
        201: {"model": CheckpointResult, "description": "Stored."},
        207: {"model": CheckpointBatchResult, "description": "A batch: one result per item."},
        401: error("Unknown integrator, bad signature or timestamp."),
        403: error("A checkpoint whose source is not the integrator."),
        404: error("One checkpoint whose tracking number no shipment has."),
        422: error("Invalid body."),
    },
    response_model=None,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/CheckpointIn"}}
            },
        }
    },
)
async def signed_checkpoints(
    integrator: Annotated[Identifier, Path()],
    request: Request,
    conn: Connection,
    response: Response,
) -> CheckpointResult | JSONResponse:
    raw = await request.body()
    secrets = webhooks.secrets_by_integrator(request.app.state.settings.webhook_secrets)
    if not webhooks.verify(
        secrets,
        integrator,
        request.headers.get(webhooks.TIMESTAMP_HEADER),
        request.headers.get(webhooks.SIGNATURE_HEADER),
        raw,
    ):
        raise ApiError(401, "bad_signature", "unknown integrator, bad signature or timestamp")
    try:
        body = _BODY.validate_json(raw)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]
        ) from None
    items = [body] if isinstance(body, CheckpointIn) else body
    others = sorted({item.source for item in items if item.source != integrator})
    if others:
        raise ApiError(
            403, "wrong_source", f"checkpoints of {integrator} must have source {integrator!r}"
        )
    return await post_checkpoints(body, conn, response)

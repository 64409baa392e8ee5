"""The shopper link's lifecycle: rotate (``POST``) or revoke (``DELETE``) a shipment's token.

A link is created with the shipment (expiring ``link_ttl_days`` after the promised date, or
after the creation when that is later). Rotating issues a new token, shown once, and the old
one stops working at once; revoking stops the current one until the next rotation. An expired,
revoked or replaced token gets the same 404 as an unknown one everywhere.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Body, Path, Request, Response

from api import auth
from api import queries_links as ql
from api.deps import Connection, Settings
from api.errors import ApiError
from api.models import Identifier
from api.models_links import AccessTokenIn, AccessTokenIssued
from api.routes.responses import AGENT, NOT_FOUND
from api.routes.shipments import tracking_url

log = logging.getLogger(__name__)

router = APIRouter(prefix="/v1/shipments", tags=["shipments"])


def _not_found(tracking_number: str) -> ApiError:
    return ApiError(404, "shipment_not_found", f"no shipment {tracking_number!r}")


@router.post(
    "/{tracking_number}/access-token",
    summary="Issue a new shopper link; the old one stops working (ops: agent)",
    description="Returns the new token and links, shown only this once. Clears a revocation."
    " expires_at must be in the future; without it the link lives link_ttl_days from the"
    " promised date (or from now when that is earlier).",
    responses={**AGENT, **NOT_FOUND},
)
async def rotate_access_token(
    tracking_number: Annotated[Identifier, Path()],
    user: auth.Agent,
    conn: Connection,
    settings: Settings,
    request: Request,
    response: Response,
    body: Annotated[AccessTokenIn | None, Body()] = None,
) -> AccessTokenIssued:
    expires_at = body.expires_at if body is not None else None
    if expires_at is not None and expires_at <= datetime.now(UTC):
        raise ApiError(422, "validation_error", "body.expires_at: must be in the future")
    token, digest = auth.new_access_token()
    expiry = await ql.rotate(conn, tracking_number, digest, expires_at, settings.link_ttl_days)
    if expiry is None:
        raise _not_found(tracking_number)
    # Who changed a shopper's access, and when (never the token).
    log.info(
        "shopper link of %s replaced by %s (expires %s)",
        tracking_number,
        user.name,
        expiry.isoformat(),
    )
    response.headers["Cache-Control"] = "no-store"
    base = (settings.public_url or str(request.base_url)).rstrip("/")
    quoted = quote(token, safe="")
    return AccessTokenIssued(
        tracking_number=tracking_number,
        access_token=token,
        expires_at=expiry,
        tracking_url=tracking_url(base, tracking_number, token),
        track_url=f"{base}/v1/track/{quoted}",
        page_url=f"{base}/t/{quoted}",
    )


@router.delete(
    "/{tracking_number}/access-token",
    status_code=204,
    summary="Revoke the shopper link (ops: agent)",
    description="The current token stops working at once (404 everywhere, open live streams"
    " end); a later POST issues a new one.",
    responses={**AGENT, **NOT_FOUND},
)
async def revoke_access_token(
    tracking_number: Annotated[Identifier, Path()], user: auth.Agent, conn: Connection
) -> Response:
    if not await ql.revoke(conn, tracking_number):
        raise _not_found(tracking_number)
    log.info("shopper link of %s revoked by %s", tracking_number, user.name)
    return Response(status_code=204)

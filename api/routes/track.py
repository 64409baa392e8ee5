"""``GET /v1/track/{token}``: the shopper's tracking link, as JSON (the page /t/{token} is built
on it). Public: the token in the path is the only key, and it opens one shipment.

An unknown, expired or revoked token, or one of a deleted shipment, is the same 404: the
answer never says which. Nothing of the shopper (name, contact) nor of the staff (names,
vehicles, devices, reasons, comments) is in it, and nothing of another shipment.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Path, Request, Response

from api import auth, queries, queries_kpis, response_cache, shopper_view, tracking
from api.deps import Connection
from api.errors import ApiError
from api.models_tracking import TrackView
from api.routes.responses import Responses, error

router = APIRouter(tags=["tracking"])

MAX_TOKEN_LENGTH = 256

_RESPONSES: Responses = {
    404: error("Unknown, expired or revoked link (the same answer for each)."),
    503: error("The database is unreachable."),
}
_PRIVATE = {"Cache-Control": "private, no-store", "Referrer-Policy": "no-referrer"}


def _not_found() -> ApiError:
    # The code the other link routes (timeline, live) give for a link that opens nothing.
    return ApiError(404, "shipment_not_found", "no shipment for this link", headers=_PRIVATE)


@router.get(
    "/v1/track/{token}",
    summary="A shopper's tracking link: status, ETA, condition, route, timeline (public)",
    description="The token is the shipment's access token, as handed out at creation (the"
    " shopper's link). Answers 404 alike for an unknown, expired or revoked token. The route"
    " and the temperatures are thinned to at most 500 points each. live_url is the server-sent"
    " events stream of the same shipment.",
    responses=_RESPONSES,
    response_model=TrackView,
    response_model_exclude=shopper_view.TRACK_EXCLUDE,
)
async def track(
    request: Request,
    token: Annotated[str, Path(description="The shipment's access token.")],
    conn: Connection,
) -> Response:
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise _not_found()
    try:
        digest = auth.sha256(token)
    except UnicodeEncodeError:  # not text any token could be
        raise _not_found() from None
    # The link is checked on every request, never from the cache.
    shipment = await queries.shipment_for_token(conn, digest)
    if shipment is None:
        raise _not_found()
    await queries_kpis.count_view(conn, shipment.shipment_id, page=False)
    live_url = f"/v1/track/{quote(token, safe='')}/live"

    async def compute() -> bytes:
        view = await tracking.track_view(conn, shipment, live_url)
        return view.model_dump_json(exclude=shopper_view.TRACK_EXCLUDE).encode()

    cache = response_cache.of(request.app.state)
    try:
        # Keyed by the link: live_url names it.
        body = await response_cache.through(cache, shipment.shipment_id, ("track", digest), compute)
    except LookupError:  # deleted between the token lookup and now
        raise _not_found() from None
    return Response(body, media_type="application/json", headers=_PRIVATE)

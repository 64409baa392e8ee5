"""Live updates as server-sent events: a shipment's (shopper or ops) and the exception queue's.

Events: ``reading``, ``position`` (accepted fixes), ``status`` (checkpoints), ``alert`` on the
shipment streams; ``exception`` on the queue's; ``ping`` every 15 s on all. Each event's id is a
cursor: send it back as ``Last-Event-ID`` (or ``?last_event_id=``) to get exactly the events
after it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from api import auth, deps, live, live_hub, queries, queries_users, shopper_view
from api import queries_live as ql
from api.errors import ApiError
from api.models import Identifier
from api.routes.responses import NOT_FOUND, OPS, VALIDATION, Responses, error
from api.stream_limits import StreamLimits

router = APIRouter(tags=["live"])

_SSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "An endless text/event-stream.",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    }
}
_COMMON: Responses = {
    400: error("Last-Event-ID is not an id of this stream."),
    503: error("Too many live streams open, or the database is unreachable."),
    **VALIDATION,
}
_TOO_MANY = "Too many requests from this address, or too many streams open for this link or address"
_LAST_EVENT_ID = Header(alias="Last-Event-ID", max_length=64, include_in_schema=True)
_LAST_EVENT_QUERY = Query(
    alias="last_event_id", max_length=64, description="Resume after this event id."
)


def _limits(request: Request) -> StreamLimits:
    limits = getattr(request.app.state, "live_limits", None)
    if not isinstance(limits, StreamLimits):
        limits = StreamLimits.from_settings(request.app.state.settings)
        request.app.state.live_limits = limits
    return limits


def _place(request: Request, shopper_link: bytes | None) -> live.Slot:
    """A stream's place: from the ops pool, or for a shopper's link (its token's digest) from
    the shoppers' pool within the link's and the address's share."""
    limits = _limits(request)
    if shopper_link is None:
        return limits.acquire_ops()
    return limits.acquire_shopper(shopper_link, limits.client(request))


class _StreamResponse(StreamingResponse):
    """Releases the stream's slot when the response ends, also when the client went away
    before the body was first read (the body's own ``finally`` then never runs)."""

    def __init__(self, body: AsyncIterator[bytes], slot: live.Slot) -> None:
        super().__init__(body, media_type="text/event-stream", headers=live.HEADERS)
        self._slot = slot

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._slot.release()


def _hub(request: Request) -> live_hub.LiveHub:
    hub = getattr(request.app.state, "live_hub", None)
    if not isinstance(hub, live_hub.LiveHub):
        raise RuntimeError(
            "app.state.live_hub is missing: was the app started through its lifespan?"
        )
    return hub


def _response(
    request: Request,
    channel: live_hub.Channel,
    start: ql.ChangeKey,
    still_allowed: live.StillAllowed | None = None,
    *,
    shopper_view_: bool,
    allowed_key: object = None,
    shopper_link: bytes | None,
) -> StreamingResponse:
    slot = _place(request, shopper_link)
    settings = request.app.state.settings
    subscription = live_hub.Subscription(
        channel=channel,
        cursor=start,
        render=_render_shopper if shopper_view_ else live.sse_event,
        view=shopper_view_,
        queue_bytes=settings.live_queue_bytes,
        still_allowed=still_allowed,
        allowed_key=allowed_key,
    )
    body = live.stream(_hub(request), subscription, slot=slot)
    return _StreamResponse(body, slot)


async def _start(conn: deps.Conn, header: str | None, query: str | None) -> ql.ChangeKey:
    after = live.resume_point(header, query)
    return after if after is not None else await ql.horizon(conn)


def _for_shopper(change: ql.Change) -> ql.Change:
    return ql.Change(change.key, change.event, shopper_view.live_event(change.event, change.data))


def _render_shopper(change: ql.Change) -> bytes:
    return live.sse_event(_for_shopper(change))


def _not_found() -> ApiError:
    return ApiError(404, "shipment_not_found", "no shipment for this link")


@router.get(
    "/v1/track/{token}/live",
    summary="A shopper's live updates (SSE; the link's token in the path)",
    description="reading, position, status and alert events of the link's shipment, and a ping"
    " every 15 s. 404 for an unknown, expired or revoked link; the stream ends when the link is"
    " revoked or expires.",
    response_class=StreamingResponse,
    responses={**_SSE, **NOT_FOUND, 429: error(_TOO_MANY), **_COMMON},
)
async def track_live(
    request: Request,
    token: Annotated[str, Path(min_length=1, max_length=128)],
    last_event_id: Annotated[str | None, _LAST_EVENT_ID] = None,
    last_event_id_query: Annotated[str | None, _LAST_EVENT_QUERY] = None,
) -> StreamingResponse:
    digest = auth.sha256(token)
    async with deps.pool(request).connection(timeout=deps.POOL_TIMEOUT_S) as conn:
        shipment = await queries.shipment_for_token(conn, digest)
        if shipment is None:
            raise _not_found()
        start = await _start(conn, last_event_id, last_event_id_query)

    async def still_allowed(conn: deps.Conn) -> bool:
        return await queries.shipment_for_token(conn, digest) is not None

    return _response(
        request,
        shipment.shipment_id,
        start,
        still_allowed,
        shopper_view_=True,
        allowed_key=digest,
        shopper_link=digest,
    )


@router.get(
    "/v1/shipments/{tracking_number}/live",
    summary="A shipment's live updates (SSE; ops bearer token or the shopper's token)",
    description="reading, position, status and alert events, and a ping every 15 s; the same"
    " access as the timeline. A shopper's stream ends when the link is revoked or expires.",
    response_class=StreamingResponse,
    responses={
        **_SSE,
        401: error("No tracking token (or an invalid ops bearer token)."),
        **NOT_FOUND,
        429: error(f"{_TOO_MANY} (without a bearer token)"),
        **_COMMON,
    },
)
async def shipment_live(
    request: Request,
    tracking_number: Annotated[Identifier, Path()],
    access: Annotated[auth.TimelineAccess, Depends(auth.timeline_access)],
    last_event_id: Annotated[str | None, _LAST_EVENT_ID] = None,
    last_event_id_query: Annotated[str | None, _LAST_EVENT_QUERY] = None,
) -> StreamingResponse:
    digest = access.token_sha256
    async with deps.pool(request).connection(timeout=deps.POOL_TIMEOUT_S) as conn:
        shipment = await queries.find_shipment(conn, tracking_number, digest)
        if shipment is None:
            raise ApiError(
                404, "shipment_not_found", f"no shipment {tracking_number!r} for this token"
            )
        start = await _start(conn, last_event_id, last_event_id_query)

    still_allowed: live.StillAllowed | None = None
    allowed_key: object = digest
    if digest is not None:

        async def still_allowed(conn: deps.Conn) -> bool:
            return await queries.find_shipment(conn, tracking_number, digest) is not None

    elif access.user is not None:
        still_allowed = _still_signed_in(access.user)
        allowed_key = (access.user.name, access.user.signed_in_at)

    return _response(
        request,
        shipment.shipment_id,
        start,
        still_allowed,
        shopper_view_=not access.ops,
        allowed_key=(tracking_number, allowed_key),
        shopper_link=digest,
    )


@router.get(
    "/v1/exceptions/live",
    summary="The exception queue's live updates (SSE; ops: viewer)",
    description="An ``exception`` event for each entry of the exceptions' audit trail (opened,"
    " alert_added, escalated, acknowledged, investigating, assigned, resolved, comment): the"
    " entry (action, actor, at, detail, reason) and the exception's current fields; a ping every"
    " 15 s.",
    response_class=StreamingResponse,
    responses={**_SSE, **OPS, 403: error("The user's role may not read this."), **_COMMON},
)
async def exceptions_live(
    request: Request,
    user: auth.Viewer,
    last_event_id: Annotated[str | None, _LAST_EVENT_ID] = None,
    last_event_id_query: Annotated[str | None, _LAST_EVENT_QUERY] = None,
) -> StreamingResponse:
    async with deps.pool(request).connection(timeout=deps.POOL_TIMEOUT_S) as conn:
        start = await _start(conn, last_event_id, last_event_id_query)

    return _response(
        request,
        live_hub.EXCEPTIONS,
        start,
        _still_signed_in(user),
        shopper_view_=False,
        allowed_key=(user.name, user.signed_in_at),
        shopper_link=None,
    )


def _still_signed_in(user: auth.OpsUser) -> live.StillAllowed | None:
    """For a user signed in with a password, a check that the sign-in still holds (not disabled,
    no new password since): the stream ends when it does not. None for an API key (its
    configuration is fixed while the API runs)."""
    signed_in_at = user.signed_in_at
    if signed_in_at is None:
        return None

    async def still_allowed(conn: deps.Conn) -> bool:
        return await queries_users.active_role(conn, user.name, signed_in_at) is not None

    return still_allowed

"""``GET /v1/dead-letters`` (ops: viewer): what ingest refused, why, and how often, so that
operators can see rejected messages without a database client."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api import cursor
from api import queries_dead_letters as qd
from api.auth import Viewer
from api.deps import Connection
from api.models_dead_letters import DeadLetterPage
from api.routes.exceptions import decode_cursor
from api.routes.responses import OPS, error

router = APIRouter(tags=["dead letters"])

DEFAULT_LIMIT = 100
MAX_LIMIT = 500
_SCOPE = "dead_letters:newest"


@router.get(
    "/v1/dead-letters",
    summary="Messages ingest refused, newest first (ops: viewer)",
    description="Each dead letter is one payload on one topic with the reason it was refused,"
    " how many times it came and when it was first and last seen, and the start of the payload"
    f" ({qd.PREVIEW_BYTES} bytes at most) as text or hex. Filter by a part of the reason (any"
    " case) and by gateway; filters combine with AND. Ordered by last_seen, newest first;"
    " follow next_cursor until it is null.",
    responses={**OPS, 400: error("The cursor is not one this list returned.")},
)
async def list_dead_letters(
    _user: Viewer,
    conn: Connection,
    reason: Annotated[
        str | None, Query(min_length=1, max_length=200, description="A part of the reason.")
    ] = None,
    gateway_id: Annotated[str | None, Query(min_length=1, max_length=128)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor_: Annotated[str | None, Query(alias="cursor", max_length=cursor.MAX_LENGTH)] = None,
) -> DeadLetterPage:
    filters = qd.DeadLetterFilter(reason=reason, gateway_id=gateway_id)
    items, next_key = await qd.dead_letters(conn, filters, decode_cursor(_SCOPE, cursor_), limit)
    return DeadLetterPage(
        items=items, next_cursor=cursor.encode_page(_SCOPE, next_key) if next_key else None
    )

"""``/v1/exceptions``: the queue of cases people work, their detail and audit trail, and the
workflow's changes (acknowledge, investigate, resolve, assign, comment).

Reading needs the viewer role; changing needs agent (or admin). Every change appends one
hash-chained audit entry naming the user, in the same transaction as the change.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Path, Query
from pydantic import AwareDatetime

from api import cursor, workflow
from api import queries_exceptions as qx
from api.auth import Agent, Viewer
from api.deps import Connection, Settings
from api.errors import ApiError
from api.models import Identifier
from api.models_exceptions import (
    MAX_ID,
    AssignIn,
    AuditTrail,
    CommentIn,
    ExceptionChange,
    ExceptionDetail,
    ExceptionPage,
    ExceptionState,
    ResolveIn,
    Severity,
    TransitionIn,
    UserName,
)
from api.routes.responses import AGENT, NOT_FOUND, OPS, Responses, error
from coldtrail.settings import ApiSettings

router = APIRouter(prefix="/v1/exceptions", tags=["exceptions"])

DEFAULT_LIMIT = 50
MAX_LIMIT = 500

KindName = Annotated[str, Query(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]
ExceptionPath = Annotated[int, Path(ge=1, le=MAX_ID, description="The exception's number.")]

_BAD_CURSOR: Responses = {400: error("The cursor is not one this list returned.")}
_CHANGE: Responses = {
    **AGENT,
    404: error("No such exception."),
    409: error(
        "Not allowed from the exception's state (a resolved exception is final); the message"
        " names the allowed transitions."
    ),
}


def sla_targets(settings: ApiSettings) -> qx.SlaTargets:
    return qx.SlaTargets(
        critical_s=settings.sla_ack_critical_s,
        warning_s=settings.sla_ack_warning_s,
        info_s=settings.sla_ack_info_s,
    )


def decode_cursor(scope: str, value: str | None) -> cursor.PageKey | None:
    if value is None:
        return None
    try:
        return cursor.decode_page(scope, value)
    except cursor.InvalidCursor as exc:
        raise ApiError(400, "invalid_cursor", str(exc)) from None


@router.get(
    "",
    summary="The exception queue, oldest first (ops: viewer)",
    description="Filters combine with AND; repeat state, kind or severity for several values."
    " Each exception has its age and its SLA: the time allowed to acknowledge it for its"
    " severity (COLDTRAIL_API_SLA_ACK_CRITICAL_S, ..._WARNING_S, ..._INFO_S); sla_breached"
    " when it was not acknowledged in time. Follow next_cursor until it is null.",
    responses={**OPS, **_BAD_CURSOR},
)
async def queue(
    _user: Viewer,
    conn: Connection,
    settings: Settings,
    state: Annotated[list[ExceptionState] | None, Query()] = None,
    kind: Annotated[list[KindName] | None, Query()] = None,
    severity: Annotated[list[Severity] | None, Query()] = None,
    assignee: Annotated[UserName | None, Query()] = None,
    assigned: Annotated[bool | None, Query(description="Only (un)assigned ones.")] = None,
    tracking_number: Annotated[Identifier | None, Query()] = None,
    opened_since: Annotated[AwareDatetime | None, Query(description="opened_at >= this")] = None,
    opened_until: Annotated[AwareDatetime | None, Query(description="opened_at < this")] = None,
    sla_breached: Annotated[bool | None, Query()] = None,
    order: Annotated[qx.Order, Query(description="By opening time.")] = "oldest",
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor_: Annotated[str | None, Query(alias="cursor", max_length=cursor.MAX_LENGTH)] = None,
) -> ExceptionPage:
    scope = f"exceptions:{order}"
    filters = qx.QueueFilter(
        states=state or (),
        kinds=kind or (),
        severities=severity or (),
        assignee=assignee,
        assigned=assigned,
        tracking_number=tracking_number,
        opened_since=opened_since,
        opened_until=opened_until,
        sla_breached=sla_breached,
    )
    items, next_key = await qx.list_exceptions(
        conn, filters, sla_targets(settings), order, decode_cursor(scope, cursor_), limit
    )
    return ExceptionPage(
        items=items, next_cursor=cursor.encode_page(scope, next_key) if next_key else None
    )


@router.get(
    "/{exception_id}",
    summary="An exception with its alerts, comments and checked audit trail (ops: viewer)",
    description="chain_intact is false when an audit entry was edited, removed or reordered"
    " after it was written; first_broken_seq names the first one that does not match.",
    responses={**OPS, **NOT_FOUND},
)
async def detail(
    exception_id: ExceptionPath, _user: Viewer, conn: Connection, settings: Settings
) -> ExceptionDetail:
    return await qx.exception_detail(conn, exception_id, sla_targets(settings))


@router.get(
    "/{exception_id}/audit",
    summary="An exception's hash-chained audit trail, checked (ops: viewer)",
    description="Each entry's hash is sha256(prev_hash || canonical JSON of the entry); see"
    " docs/api.md to check it independently.",
    responses={**OPS, **NOT_FOUND},
)
async def audit(exception_id: ExceptionPath, _user: Viewer, conn: Connection) -> AuditTrail:
    return await qx.audit_trail(conn, exception_id)


async def _transition(
    conn: Connection,
    settings: ApiSettings,
    exception_id: int,
    actor: str,
    to: ExceptionState,
    reason: str | None,
) -> ExceptionChange:
    return await qx.apply_change(
        conn,
        exception_id,
        actor,
        lambda current: workflow.transition(current, to, reason),
        sla_targets(settings),
    )


@router.post(
    "/{exception_id}/acknowledge",
    summary="Acknowledge an open exception (ops: agent)",
    description="open → acknowledged. The body (a reason) is optional.",
    responses=_CHANGE,
)
async def acknowledge(
    exception_id: ExceptionPath,
    user: Agent,
    conn: Connection,
    settings: Settings,
    body: Annotated[TransitionIn | None, Body()] = None,
) -> ExceptionChange:
    reason = body.reason if body else None
    return await _transition(conn, settings, exception_id, user.name, "acknowledged", reason)


@router.post(
    "/{exception_id}/investigate",
    summary="Start investigating an acknowledged exception (ops: agent)",
    description="acknowledged → investigating. The body (a reason) is optional.",
    responses=_CHANGE,
)
async def investigate(
    exception_id: ExceptionPath,
    user: Agent,
    conn: Connection,
    settings: Settings,
    body: Annotated[TransitionIn | None, Body()] = None,
) -> ExceptionChange:
    reason = body.reason if body else None
    return await _transition(conn, settings, exception_id, user.name, "investigating", reason)


@router.post(
    "/{exception_id}/resolve",
    summary="Resolve an exception with a resolution and a reason (ops: agent)",
    description="open, acknowledged or investigating → resolved. Final: a resolved exception"
    " takes no further change or comment.",
    responses=_CHANGE,
)
async def resolve(
    exception_id: ExceptionPath, body: ResolveIn, user: Agent, conn: Connection, settings: Settings
) -> ExceptionChange:
    return await qx.apply_change(
        conn,
        exception_id,
        user.name,
        lambda current: workflow.transition(current, "resolved", body.reason, body.resolution),
        sla_targets(settings),
    )


@router.post(
    "/{exception_id}/assign",
    summary="Give an exception to someone, or to nobody (ops: agent)",
    description="Assigning the current assignee again changes nothing and writes no audit"
    " entry (entry is null).",
    responses=_CHANGE,
)
async def assign(
    exception_id: ExceptionPath, body: AssignIn, user: Agent, conn: Connection, settings: Settings
) -> ExceptionChange:
    return await qx.apply_change(
        conn,
        exception_id,
        user.name,
        lambda current: workflow.assign(current, body.assignee, body.reason),
        sla_targets(settings),
    )


@router.post(
    "/{exception_id}/comments",
    status_code=201,
    summary="Comment on an exception (ops: agent)",
    description="Kept as an audit entry (action comment), with its author.",
    responses=_CHANGE,
)
async def add_comment(
    exception_id: ExceptionPath, body: CommentIn, user: Agent, conn: Connection, settings: Settings
) -> ExceptionChange:
    return await qx.apply_change(
        conn,
        exception_id,
        user.name,
        lambda current: workflow.comment(current, body.text),
        sla_targets(settings),
    )

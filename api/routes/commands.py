"""``/v1/gateways/{gateway_id}/commands``: remote configuration and commands (ops: admin).

A command is checked with the gateway's own settings models (the same check the gateway makes)
and refused with 422 before anything is stored; a stored one is audited in the gateway's
hash-chained trail and published by the relay (api/command_relay.py) until the gateway's result
comes back through ingest. See docs/api.md, "Gateway commands".
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Query, Request

from api import deps, queries_commands
from api.auth import Admin, Viewer
from api.deps import Connection
from api.errors import ApiError
from api.models import GatewayId
from api.models_commands import (
    CommandIn,
    CommandList,
    CommandOut,
    GatewayAuditEntryOut,
    GatewayAuditTrail,
)
from api.routes.responses import ADMIN, NOT_FOUND, OPS
from coldtrail import commands

log = logging.getLogger(__name__)

router = APIRouter(prefix="/v1/gateways/{gateway_id}", tags=["gateways"])


def _out(stored: queries_commands.StoredCommand) -> CommandOut:
    row = asdict(stored)
    row["body"] = commands.redacted(stored.body)
    if stored.result is not None:
        row["result"] = commands.redacted(stored.result)
    return CommandOut(**row)


@router.post(
    "/commands",
    status_code=201,
    summary="Send a command to a gateway (ops: admin)",
    description="Stored (pending), audited, then published on the gateway's cmd topic until"
    " its result comes back. 422 with the reason for a command the gateway would refuse"
    " (unknown kind, a body that does not fit the kind, an invalid sensor, bindkey,"
    " calibration or configuration); 404 for a gateway never heard from.",
    responses={**ADMIN, **NOT_FOUND},
)
async def send(
    gateway_id: GatewayId, command: CommandIn, admin: Admin, request: Request
) -> CommandOut:
    # The role and the command are checked before a database connection is taken.
    try:
        commands.check(command.kind, command.body)
    except ValueError as exc:
        raise ApiError(422, "invalid_command", str(exc)) from None
    async with deps.pool(request).connection(timeout=deps.POOL_TIMEOUT_S) as conn:
        if not await queries_commands.gateway_exists(conn, gateway_id):
            raise ApiError(404, "unknown_gateway", f"no gateway {gateway_id!r} has been heard from")
        stored = await queries_commands.create(
            conn, gateway_id, command.kind, command.body, admin.name
        )
    log.info(
        "command %s (%s) for gateway %r stored by %r",
        stored.command_id,
        stored.kind,
        gateway_id,
        admin.name,
    )
    relay = getattr(request.app.state, "command_relay", None)
    if relay is not None:
        relay.wake()
    return _out(stored)


@router.get(
    "/commands",
    summary="A gateway's commands with their results, newest first (ops: viewer)",
    responses=OPS,
)
async def list_commands(
    gateway_id: GatewayId,
    _user: Viewer,
    conn: Connection,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> CommandList:
    rows = await queries_commands.listing(conn, gateway_id, limit)
    return CommandList(gateway_id=gateway_id, commands=[_out(row) for row in rows])


@router.get(
    "/commands/{command_id}",
    summary="One command with its result (ops: viewer)",
    responses={**OPS, **NOT_FOUND},
)
async def one_command(
    gateway_id: GatewayId, command_id: uuid.UUID, _user: Viewer, conn: Connection
) -> CommandOut:
    stored = await queries_commands.one(conn, gateway_id, command_id)
    if stored is None:
        raise ApiError(
            404, "unknown_command", f"gateway {gateway_id!r} has no command {command_id}"
        )
    return _out(stored)


@router.get(
    "/audit",
    summary="A gateway's audit trail: commands issued and their results, checked (ops: viewer)",
    responses=OPS,
)
async def audit(gateway_id: GatewayId, _user: Viewer, conn: Connection) -> GatewayAuditTrail:
    trail = await queries_commands.audit_trail(conn, gateway_id)
    return GatewayAuditTrail(
        gateway_id=gateway_id,
        chain_intact=trail.broken_at is None,
        first_broken_seq=trail.broken_at,
        entries=[
            GatewayAuditEntryOut(
                seq=entry.seq,
                at=entry.at,
                actor=entry.actor,
                action=entry.action,
                detail=dict(entry.detail),
                reason=entry.reason,
                prev_hash=prev.hex(),
                hash=digest.hex(),
            )
            for entry, prev, digest in trail.entries
        ],
    )

"""SQL of the gateway commands (migration 0025): store one (with its audit entry), list them,
and the relay's claim of the commands due (``FOR UPDATE SKIP LOCKED``: several API processes
never send one command at the same time)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from alerts.audit import GatewayAuditEntry, verify
from alerts.io.audit_writer import append_gateway_entry
from api.deps import Conn
from coldtrail import commands


@dataclass(frozen=True, slots=True)
class StoredCommand:
    command_id: uuid.UUID
    gateway_id: str
    kind: str
    body: dict[str, Any]
    status: str
    created_by: str
    created_at: datetime
    sent_at: datetime | None
    sends: int
    result_at: datetime | None
    message: str | None
    config_revision: str | None
    result: dict[str, Any] | None
    duplicates: int


_COLUMNS = """command_id, gateway_id, kind, body, status, created_by, created_at, sent_at, sends,
       result_at, message, config_revision, result, duplicates"""

GATEWAY_EXISTS = "SELECT 1 FROM gateways WHERE gateway_id = %s"

INSERT = f"""
INSERT INTO gateway_commands (command_id, gateway_id, kind, body, created_by)
VALUES (%s, %s, %s, %s, %s)
RETURNING {_COLUMNS}
"""

LIST = f"""
SELECT {_COLUMNS} FROM gateway_commands WHERE gateway_id = %s
 ORDER BY created_at DESC, command_id LIMIT %s
"""

ONE = f"SELECT {_COLUMNS} FROM gateway_commands WHERE gateway_id = %s AND command_id = %s"

CLAIM_DUE = f"""
SELECT {_COLUMNS} FROM gateway_commands
 WHERE status IN ('pending', 'sent')
   AND (sent_at IS NULL OR sent_at < clock_timestamp() - make_interval(secs => %s))
 ORDER BY created_at
 LIMIT %s
   FOR UPDATE SKIP LOCKED
"""

MARK_SENT = """
UPDATE gateway_commands
   SET status = CASE WHEN status = 'pending' THEN 'sent' ELSE status END,
       sent_at = clock_timestamp(), sends = sends + 1
 WHERE command_id = ANY(%s)
"""

AUDIT = """
SELECT gateway_id, seq, at, actor, action, detail, reason, prev_hash, hash FROM gateway_audit
 WHERE gateway_id = %s ORDER BY seq
"""


async def gateway_exists(conn: Conn, gateway_id: str) -> bool:
    cur = await conn.execute(GATEWAY_EXISTS, (gateway_id,))
    return await cur.fetchone() is not None


async def create(
    conn: Conn, gateway_id: str, kind: str, body: dict[str, Any], actor: str
) -> StoredCommand:
    """Store a new command (pending) and its audit entry, in one transaction."""
    command_id = uuid.uuid4()
    async with conn.transaction():
        async with conn.cursor(row_factory=class_row(StoredCommand)) as cur:
            await cur.execute(INSERT, (command_id, gateway_id, kind, Jsonb(body), actor))
            stored = await cur.fetchone()
        assert stored is not None
        await append_gateway_entry(
            conn,
            gateway_id,
            actor,
            "command.issued",
            {"command_id": str(command_id), "kind": kind, "body": commands.redacted(body)},
        )
    return stored


async def listing(conn: Conn, gateway_id: str, limit: int) -> list[StoredCommand]:
    async with conn.cursor(row_factory=class_row(StoredCommand)) as cur:
        await cur.execute(LIST, (gateway_id, limit))
        return await cur.fetchall()


async def one(conn: Conn, gateway_id: str, command_id: uuid.UUID) -> StoredCommand | None:
    async with conn.cursor(row_factory=class_row(StoredCommand)) as cur:
        await cur.execute(ONE, (gateway_id, command_id))
        return await cur.fetchone()


async def claim_due(conn: Conn, resend_s: float, limit: int) -> list[StoredCommand]:
    """The commands to publish now, locked until the caller's transaction ends."""
    async with conn.cursor(row_factory=class_row(StoredCommand)) as cur:
        await cur.execute(CLAIM_DUE, (resend_s, limit))
        return await cur.fetchall()


async def mark_sent(conn: Conn, command_ids: list[uuid.UUID]) -> None:
    await conn.execute(MARK_SENT, (command_ids,))


@dataclass(frozen=True, slots=True)
class AuditTrail:
    entries: list[tuple[GatewayAuditEntry, bytes, bytes]]
    broken_at: int | None


async def audit_trail(conn: Conn, gateway_id: str) -> AuditTrail:
    cur = await conn.execute(AUDIT, (gateway_id,))
    entries = [
        (GatewayAuditEntry(*row[:7]), bytes(row[7]), bytes(row[8])) for row in await cur.fetchall()
    ]
    return AuditTrail(entries, verify(entries))

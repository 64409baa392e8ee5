"""SQL of the gateway commands (migration 0025): store one (with its audit entry), list them,
and the relay's claim of the commands due (``FOR UPDATE SKIP LOCKED`` and marked sent in the same
statement: several API processes never send one command at the same time, and no lock is held
while a command is published)."""

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
UPDATE gateway_commands AS c
   SET status = 'sent', sent_at = clock_timestamp(), sends = c.sends + 1
  FROM (SELECT command_id FROM gateway_commands
         WHERE status IN ('pending', 'sent')
           AND (sent_at IS NULL OR sent_at < clock_timestamp()
                - make_interval(secs => %s * 2 ^ least(greatest(sends - 1, 0), %s)))
         ORDER BY created_at
         LIMIT %s
           FOR UPDATE SKIP LOCKED) AS due
 WHERE c.command_id = due.command_id
RETURNING {", ".join("c." + column.strip() for column in _COLUMNS.split(","))}
"""

EXPIRING_GATEWAYS = """
SELECT DISTINCT gateway_id FROM gateway_commands
 WHERE status IN ('pending', 'sent') AND created_at < clock_timestamp() - make_interval(secs => %s)
"""

LOCK_GATEWAY = "SELECT 1 FROM gateways WHERE gateway_id = %s FOR UPDATE"

EXPIRE = """
UPDATE gateway_commands SET status = 'expired'
 WHERE command_id IN (
       SELECT command_id FROM gateway_commands
        WHERE gateway_id = %s AND status IN ('pending', 'sent')
          AND created_at < clock_timestamp() - make_interval(secs => %s)
          FOR UPDATE SKIP LOCKED)
RETURNING command_id, kind, sends, body
"""

REDACT_BODY = "UPDATE gateway_commands SET body = %s WHERE command_id = %s"

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
        # The gateway's row first (the audit entry needs it): inserting the command first would
        # hold a key-share lock on it that two concurrent commands then both try to upgrade.
        await conn.execute(LOCK_GATEWAY, (gateway_id,))
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


async def claim_due(conn: Conn, resend_s: float, doublings: int, limit: int) -> list[StoredCommand]:
    """The commands to publish now, oldest first, marked sent (``sends`` counts this one) in
    one statement: the caller commits before it publishes, so no row stays locked while it
    waits for the broker. A command is sent again ``resend_s`` after its first send, then
    after twice as long each time, up to ``resend_s * 2**doublings``."""
    async with conn.cursor(row_factory=class_row(StoredCommand)) as cur:
        await cur.execute(CLAIM_DUE, (resend_s, doublings, limit))
        claimed = await cur.fetchall()
    return sorted(claimed, key=lambda stored: (stored.created_at, stored.command_id))


async def expire(conn: Conn, expire_s: float, actor: str) -> int:
    """Close as ``expired`` the open commands older than ``expire_s`` (their bodies redacted: no
    secret is kept once a command is closed), each with its audit entry
    (one transaction per gateway, its row locked before its commands' rows, in the order ingest
    locks them); returns how many."""
    cur = await conn.execute(EXPIRING_GATEWAYS, (expire_s,))
    expired = 0
    for (gateway_id,) in await cur.fetchall():
        async with conn.transaction():
            await conn.execute(LOCK_GATEWAY, (gateway_id,))
            rows = await (await conn.execute(EXPIRE, (gateway_id, expire_s))).fetchall()
            for command_id, kind, sends, body in rows:
                await conn.execute(REDACT_BODY, (Jsonb(commands.redacted(body)), command_id))
                await append_gateway_entry(
                    conn,
                    gateway_id,
                    actor,
                    "command.expired",
                    {"command_id": str(command_id), "kind": kind, "sends": sends},
                    reason=f"no result from the gateway within {expire_s:.0f} s",
                )
            expired += len(rows)
    return expired


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

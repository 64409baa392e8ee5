"""The one writer of an exception's audit trail: ingest (the rule runner opens, joins and
escalates exceptions) and the API (people work them) both append through :func:`append_entry`,
so every chain is built the same way (hashes of :mod:`alerts.audit`) with one clock.

In the caller's transaction (no commit here), :func:`append_entry`:

1. locks the exception's row (``SELECT ... FOR UPDATE``; a caller that holds it already simply
   keeps it): two writers of one exception queue here, so the chain never forks;
2. reads the last entry and the time, *after* the lock: the time is the database server's
   ``clock_timestamp()``, never a worker's own clock nor ``now()`` (the start of a transaction
   that may have waited for the lock); and never earlier than the last entry's, so the times of
   one chain never go back, even if the server's clock is stepped back;
3. computes the hash and inserts the entry with ``seq = last + 1``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import tuple_row
from psycopg.types.json import Jsonb

from alerts.audit import GENESIS, AuditEntry, GatewayAuditEntry, entry_hash

LOCK_EXCEPTION = "SELECT 1 FROM exceptions WHERE exception_id = %s FOR UPDATE"

# The last entry (if any) and the time of the new one, in one statement after the lock.
LAST_ENTRY_AND_TIME = """
SELECT last.seq, last.hash, greatest(clock_timestamp(), last.at)
  FROM (SELECT 1) one
  LEFT JOIN LATERAL (
      SELECT seq, hash, at FROM exception_audit WHERE exception_id = %s
       ORDER BY seq DESC LIMIT 1) last ON true
"""

INSERT_ENTRY = """
INSERT INTO exception_audit (exception_id, seq, at, actor, action, detail, reason, prev_hash, hash)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
"""


@dataclass(frozen=True, slots=True)
class StoredEntry:
    """An entry as appended: the entry, the hash it is chained to and its own."""

    entry: AuditEntry
    prev_hash: bytes
    hash: bytes


class UnknownException(LookupError):
    def __init__(self, exception_id: int) -> None:
        super().__init__(f"no exception {exception_id}: nothing to append an audit entry to")
        self.exception_id = exception_id


async def append_entry(
    conn: psycopg.AsyncConnection[Any],
    exception_id: int,
    actor: str,
    action: str,
    detail: Mapping[str, Any] | None = None,
    reason: str | None = None,
) -> StoredEntry:
    """Append one entry to ``exception_id``'s chain in the caller's transaction; returns it
    (its ``at`` is the time to stamp the change it records with). Raises
    :class:`UnknownException` when there is no such exception."""
    detail = dict(detail or {})
    stored = await _append(
        conn,
        (LOCK_EXCEPTION, LAST_ENTRY_AND_TIME, INSERT_ENTRY),
        exception_id,
        lambda seq, at: AuditEntry(exception_id, seq, at, actor, action, detail, reason),
    )
    if stored is None:
        raise UnknownException(exception_id)
    entry, prev_hash, digest = stored
    assert isinstance(entry, AuditEntry)
    return StoredEntry(entry, prev_hash, digest)


async def _append(
    conn: psycopg.AsyncConnection[Any],
    sql: tuple[str, str, str],
    key: object,
    make: Callable[[int, datetime], AuditEntry | GatewayAuditEntry],
) -> tuple[AuditEntry | GatewayAuditEntry, bytes, bytes] | None:
    """Lock the chain's owner row, read its last entry and the time, insert ``make(seq, at)``
    chained to it: (entry, prev_hash, hash); None when there is no owner row. ``sql``: the
    lock, last-entry and insert statements of one chain (exception or gateway)."""
    lock, last, insert = sql
    async with conn.cursor(row_factory=tuple_row) as cur:  # whatever the connection's default
        await cur.execute(lock, (key,))
        if await cur.fetchone() is None:
            return None
        await cur.execute(last, (key,))
        row = await cur.fetchone()
        assert row is not None  # one row, always
        last_seq, last_hash, at = row
        seq, prev_hash = (last_seq + 1, bytes(last_hash)) if last_seq is not None else (1, GENESIS)
        entry = make(seq, at)
        digest = entry_hash(prev_hash, entry)
        await cur.execute(
            insert,
            (
                key,
                seq,
                at,
                entry.actor,
                entry.action,
                Jsonb(dict(entry.detail)),
                entry.reason,
                prev_hash,
                digest,
            ),
        )
    return entry, prev_hash, digest


LOCK_GATEWAY = "SELECT 1 FROM gateways WHERE gateway_id = %s FOR UPDATE"

GATEWAY_LAST_ENTRY_AND_TIME = """
SELECT last.seq, last.hash, greatest(clock_timestamp(), last.at)
  FROM (SELECT 1) one
  LEFT JOIN LATERAL (
      SELECT seq, hash, at FROM gateway_audit WHERE gateway_id = %s
       ORDER BY seq DESC LIMIT 1) last ON true
"""

INSERT_GATEWAY_ENTRY = """
INSERT INTO gateway_audit (gateway_id, seq, at, actor, action, detail, reason, prev_hash, hash)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
"""


class UnknownGateway(LookupError):
    def __init__(self, gateway_id: str) -> None:
        super().__init__(f"no gateway {gateway_id!r}: nothing to append an audit entry to")
        self.gateway_id = gateway_id


async def append_gateway_entry(
    conn: psycopg.AsyncConnection[Any],
    gateway_id: str,
    actor: str,
    action: str,
    detail: Mapping[str, Any] | None = None,
    reason: str | None = None,
) -> GatewayAuditEntry:
    """Append one entry to ``gateway_id``'s chain (remote commands) in the caller's transaction,
    as :func:`append_entry` does for an exception (the gateway's row is the lock)."""
    detail = dict(detail or {})
    stored = await _append(
        conn,
        (LOCK_GATEWAY, GATEWAY_LAST_ENTRY_AND_TIME, INSERT_GATEWAY_ENTRY),
        gateway_id,
        lambda seq, at: GatewayAuditEntry(gateway_id, seq, at, actor, action, detail, reason),
    )
    if stored is None:
        raise UnknownGateway(gateway_id)
    entry = stored[0]
    assert isinstance(entry, GatewayAuditEntry)
    return entry

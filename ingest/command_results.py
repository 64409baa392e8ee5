"""The gateways' command results (``<prefix>/v1/<gw>/cmdresult``), stored on their commands.

In the write transaction, the rows of the gateways it touches are locked first, sorted
(:func:`lock_gateways`: the order bookkeeping takes them in), then, for each result, the command's
row is locked; a result for no known
command, or from another gateway than the command's, becomes a dead letter with the reason
(the topic is the gateway's identity). The first ``applied``/``refused``/``failed`` result closes
the command (status, message, the gateway's configuration revision, the whole result; its
body keeps no secret from then on: bindkeys and passwords become ``***``) and is
appended to the gateway's audit trail; the same result delivered again changes nothing. A
``duplicate`` (the gateway saw the id before) is counted, and closes a command still open with
the first outcome it names.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from alerts.io.audit_writer import append_gateway_entry
from coldtrail import commands
from coldtrail.commands import CommandResult

log = logging.getLogger(__name__)

FINAL = ("applied", "refused", "failed")

LOCK_GATEWAYS = """
SELECT gateway_id FROM gateways WHERE gateway_id = ANY(%s) ORDER BY gateway_id FOR UPDATE
"""

LOCK_COMMAND = """
SELECT gateway_id, status, body FROM gateway_commands WHERE command_id = %s FOR UPDATE
"""

CLOSE_COMMAND = """
UPDATE gateway_commands
   SET status = %s, result_at = %s, message = %s, config_revision = %s, result = %s, body = %s
 WHERE command_id = %s
"""

COUNT_DUPLICATE = """
UPDATE gateway_commands SET duplicates = duplicates + 1 WHERE command_id = %s
"""


@dataclass(frozen=True, slots=True)
class ReceivedResult:
    topic: str
    gateway_id: str
    """The gateway of the topic it came on."""
    payload: bytes
    result: CommandResult


async def lock_gateways(
    conn: psycopg.AsyncConnection[Any], results: list[ReceivedResult], others: Iterable[str]
) -> None:
    """With results to store, lock the rows of their gateways and of ``others`` (the gateways
    the rest of the transaction touches), sorted, before any of them or of the commands' rows:
    two ingest workers then take gateway rows in one order and never deadlock. Nothing without
    results (the telemetry path stays as it is)."""
    if results:
        gateway_ids = sorted({received.gateway_id for received in results}.union(others))
        await conn.execute(LOCK_GATEWAYS, (gateway_ids,))


async def store_results(
    conn: psycopg.AsyncConnection[Any], results: list[ReceivedResult]
) -> list[tuple[ReceivedResult, str]]:
    """Store each result on its command, in the caller's transaction; returns those that
    cannot be stored, each with the reason (for the dead letters)."""
    refused: list[tuple[ReceivedResult, str]] = []
    for received in results:
        reason = await _store(conn, received)
        if reason is not None:
            refused.append((received, reason))
    return refused


async def _store(conn: psycopg.AsyncConnection[Any], received: ReceivedResult) -> str | None:
    result = received.result
    if result.command_id is None:
        return f"a command result that names no command ({result.outcome}: {result.message})"
    cur = await conn.execute(LOCK_COMMAND, (result.command_id,))
    row = await cur.fetchone()
    if row is None:
        return f"a result for command {result.command_id}, which is not a known command"
    gateway_id, status, body = row[0], row[1], row[2]
    if gateway_id != received.gateway_id:
        return (
            f"a result for command {result.command_id}, sent to gateway {gateway_id!r}, came"
            f" from {received.gateway_id!r}"
        )
    outcome = result.outcome if result.outcome != "duplicate" else result.first_outcome
    if result.outcome == "duplicate":
        await conn.execute(COUNT_DUPLICATE, (result.command_id,))
    if status in FINAL or outcome is None or outcome == "duplicate":
        return None  # closed already (a result delivered again), or nothing to close it with
    await conn.execute(
        CLOSE_COMMAND,
        (
            outcome,
            result.at,
            result.message,
            result.config_revision,
            Jsonb(commands.to_builtins(result)),
            Jsonb(commands.redacted(body)),  # no secret is kept once the command is closed
            result.command_id,
        ),
    )
    await append_gateway_entry(
        conn,
        gateway_id,
        f"gateway:{gateway_id}",
        f"command.{outcome}",
        {
            "command_id": str(result.command_id),
            "message": result.message,
            "config_revision": result.config_revision,
        },
    )
    log.info("command %s on gateway %s: %s", result.command_id, gateway_id, outcome)
    return None

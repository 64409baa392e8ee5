"""Two ingest workers, each storing one gateway's status and a command result of the other
gateway, on a real PostgreSQL: the gateway rows are locked in one order before any command row,
so neither waits on the other in a cycle (no deadlock, both commands closed). A closed command
keeps no secret."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime

import psycopg
import pytest
from psycopg.types.json import Jsonb

from coldtrail import commands, schema, topics
from ingest import migrate
from ingest.command_results import ReceivedResult
from ingest.store import PsycopgTelemetryStore, WriteBatch

pytestmark = pytest.mark.integration


def received(gateway_id: str, command_id: uuid.UUID) -> ReceivedResult:
    result = commands.result(command_id, gateway_id, "applied", "ok", datetime.now(UTC))
    return ReceivedResult(topics.cmdresult(gateway_id), gateway_id, commands.encode(result), result)


def lock_waiters(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        ).fetchone()
        assert row is not None
        return int(row[0])


def wait_for_waiters(url: str, n: int) -> None:
    deadline = time.monotonic() + 30
    while lock_waiters(url) < n:
        assert time.monotonic() < deadline, f"{n} transactions never waited on a lock"
        time.sleep(0.05)


async def test_results_of_crossed_gateways_do_not_deadlock(database_url: str) -> None:
    await asyncio.to_thread(migrate.migrate, database_url)
    cmd_a, cmd_b = uuid.uuid4(), uuid.uuid4()
    with psycopg.connect(database_url) as conn:
        conn.execute("INSERT INTO gateways (gateway_id) VALUES ('gw-a'), ('gw-b')")
        for command_id, gateway_id in ((cmd_a, "gw-a"), (cmd_b, "gw-b")):
            conn.execute(
                "INSERT INTO gateway_commands (command_id, gateway_id, kind, created_by, status)"
                " VALUES (%s, %s, 'status', 'ops', 'sent')",
                (command_id, gateway_id),
            )
    # Something else (the relay) holds both command rows a moment, so that each worker has
    # done its gateway bookkeeping before it reaches its result.
    blocker = await psycopg.AsyncConnection.connect(database_url)
    await blocker.execute(
        "SELECT 1 FROM gateway_commands WHERE command_id = ANY(%s) FOR UPDATE", ([cmd_a, cmd_b],)
    )
    stores = [await PsycopgTelemetryStore.connect(database_url) for _ in range(2)]
    batches = [
        WriteBatch(
            statuses=[schema.GatewayStatus(gateway_id="gw-a", state="online")],
            command_results=[received("gw-b", cmd_b)],
        ),
        WriteBatch(
            statuses=[schema.GatewayStatus(gateway_id="gw-b", state="online")],
            command_results=[received("gw-a", cmd_a)],
        ),
    ]
    try:
        writes = [asyncio.create_task(s.write(b)) for s, b in zip(stores, batches, strict=True)]
        await asyncio.to_thread(wait_for_waiters, database_url, 2)
        await blocker.commit()
        outcomes = await asyncio.gather(*writes, return_exceptions=True)
        assert [type(o).__name__ for o in outcomes] == ["WriteResult", "WriteResult"]
    finally:
        await blocker.close()
        for store in stores:
            await store.close()
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT status FROM gateway_commands").fetchall()
    assert [r[0] for r in rows] == ["applied", "applied"]


async def test_a_closed_command_keeps_no_secret_in_its_body(database_url: str) -> None:
    await asyncio.to_thread(migrate.migrate, database_url)
    key = "231d39c1d7cc1ab1aee224cd096db932"
    command_id = uuid.uuid4()
    body = {"mac": "A4:C1:38:00:00:01", "bindkey": key}
    with psycopg.connect(database_url) as conn:
        conn.execute("INSERT INTO gateways (gateway_id) VALUES ('gw-a')")
        conn.execute(
            "INSERT INTO gateway_commands (command_id, gateway_id, kind, body, created_by)"
            " VALUES (%s, 'gw-a', 'set_bindkey', %s, 'ops')",
            (command_id, Jsonb(body)),
        )
    store = await PsycopgTelemetryStore.connect(database_url)
    try:
        await store.write(WriteBatch(command_results=[received("gw-a", command_id)]))
    finally:
        await store.close()
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT status, body FROM gateway_commands").fetchone()
    assert row == ("applied", {"mac": "A4:C1:38:00:00:01", "bindkey": "***"})

"""The API's command relay on a real PostgreSQL and broker: two relays (two API processes) over
one table send each pending command once (FOR UPDATE SKIP LOCKED), and a command without a
result is sent again after the resend interval, with the same id."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from api.command_relay import CommandRelay
from api.deps import Conn
from coldtrail import commands, topics
from coldtrail.mqtt import MqttConnection
from coldtrail.settings import MqttSettings, parse_mqtt_url
from ingest import migrate
from tests.integration.gateway.support import wait_for

pytestmark = pytest.mark.integration

COMMANDS = 40


async def test_two_relays_send_each_command_once_then_again_until_a_result(
    database_url: str, mqtt_url: str, topic_prefix: str
) -> None:
    await asyncio.to_thread(migrate.migrate, database_url)
    mqtt = MqttSettings(**parse_mqtt_url(mqtt_url), topic_prefix=topic_prefix)
    ids = [uuid.uuid4() for _ in range(COMMANDS)]
    with psycopg.connect(database_url) as conn:
        conn.execute("INSERT INTO gateways (gateway_id) VALUES ('gw-a'), ('gw-b')")
        for i, command_id in enumerate(ids):
            conn.execute(
                "INSERT INTO gateway_commands (command_id, gateway_id, kind, body, created_by)"
                " VALUES (%s, %s, 'set_intervals', '{\"status_interval_s\": 60}', 'ops')",
                (command_id, "gw-a" if i % 2 else "gw-b"),
            )

    received: Counter[uuid.UUID] = Counter()
    gateway_of: dict[uuid.UUID, str] = {}
    listener = MqttConnection(
        mqtt,
        f"listener-{uuid.uuid4().hex[:6]}",
        clean_session=True,
        subscriptions=[(topics.subscription("cmd", topic_prefix), 1)],
    )
    await listener.start(wait_s=10)

    async def listen() -> None:
        async for message in listener.messages():
            command = commands.decode_command(message.payload)
            received[command.id] += 1
            gateway_of[command.id] = topics.parse(message.topic).gateway_id

    def sent_rows() -> list[tuple[str, int]]:
        with psycopg.connect(database_url) as conn:
            return [
                (str(r[0]), int(r[1]))
                for r in conn.execute("SELECT status, sends FROM gateway_commands").fetchall()
            ]

    pool: AsyncConnectionPool[Conn] = AsyncConnectionPool(
        database_url, kwargs={"autocommit": True}, min_size=2, max_size=4, open=False
    )
    await pool.open(wait=True)
    listening = asyncio.create_task(listen())
    relays = [
        CommandRelay(pool, mqtt, f"relay-{n}-{uuid.uuid4().hex[:6]}", resend_s=3.0, poll_s=0.05)
        for n in range(2)
    ]
    tasks = [asyncio.create_task(relay.run()) for relay in relays]
    try:
        await wait_for(lambda: sum(received.values()) >= COMMANDS, 30, "every command sent")
        await asyncio.sleep(1.0)  # both relays keep polling: nothing is sent twice meanwhile
        assert set(received) == set(ids)
        assert set(received.values()) == {1}
        assert sum(relay.sent for relay in relays) == COMMANDS
        assert set(sent_rows()) == {("sent", 1)}
        for i, command_id in enumerate(ids):
            assert gateway_of[command_id] == ("gw-a" if i % 2 else "gw-b")

        # a result closes half of them; the others are sent again after resend_s
        with psycopg.connect(database_url) as conn:
            conn.execute(
                "UPDATE gateway_commands SET status = 'applied', result = '{}'"
                " WHERE command_id = ANY(%s)",
                (ids[: COMMANDS // 2],),
            )
        await wait_for(lambda: sum(received.values()) >= COMMANDS + COMMANDS // 2, 30, "resends")
        await asyncio.sleep(0.5)
        assert {received[c] for c in ids[: COMMANDS // 2]} == {1}
        assert {received[c] for c in ids[COMMANDS // 2 :]} == {2}
    finally:
        for task in [*tasks, listening]:
            task.cancel()
        await asyncio.gather(*tasks, listening, return_exceptions=True)
        await listener.close()
        await pool.close()
